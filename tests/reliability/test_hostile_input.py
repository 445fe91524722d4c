"""Hostile input: every case gets a 4xx problem+json that leaks nothing and changes nothing.

Also: SQL and HTML in text are stored verbatim and come back as JSON, and the body limit
holds for bodies streamed without a Content-Length.
"""

from __future__ import annotations

import json

import pytest

from models import db
from models.api_keys import ApiKey
from models.audit import AuditEntry
from models.contacts import Contact
from models.events import Event
from models.idempotency import IdempotencyKey
from models.invoices import Invoice
from models.payments import Payment
from models.products import Product
from tests.conftest import count_rows

JSON = {"content-type": "application/json"}
MIB = 1024 * 1024
UUID = "6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f"
LINE = {"description": "Installatie", "quantity": 1, "unit_price_incl": 125.00, "tax_percentage": 21}
#: Text that must never appear in an error body: stack traces, driver and SQL internals.
LEAKS = ("Traceback", 'File "', "site-packages", "psycopg", "sqlite3", "peewee", "OperationalError",
         "IntegrityError", "ProgrammingError", "KeyError", "AttributeError", "SELECT ", "INSERT INTO",
         "UPDATE ", "DELETE FROM", " WHERE ", "/work/")


def post_raw(path: str, content: bytes | str, headers: dict | None = None):
    return lambda t, _: t.post(path, content=content, headers=headers if headers is not None else JSON)


def get(path: str, headers: dict | None = None):
    return lambda t, _: t.get(path, headers=headers or {})


def api_key(value, **headers):
    """GET /contacts sending `value` as the X-API-Key (instead of the tenant's key)."""
    return lambda t, _: t.client.get("/api/contacts", headers={"X-API-Key": value, **headers})


def typed(content, content_type: str | None):
    """POST /contacts with this body and Content-Type (None: no Content-Type at all)."""
    return post_raw("/api/contacts", content, {"content-type": content_type} if content_type else {})


def nested(depth: int, leaf: str = "1") -> str:
    return "[" * depth + leaf + "]" * depth


CASES = {
    # size
    "body over 1 MiB (Content-Length)": (413, typed(b'{"name": "' + b"x" * MIB + b'"}', "application/json")),
    "body over 1 MiB of whitespace": (413, typed(b" " * (MIB + 1) + b"{}", "application/json")),
    "body over 1 MiB streamed without Content-Length": (413, lambda t, _: t.post(
        "/api/contacts", content=iter([b'{"name": "', *[b"x" * 65536] * 17, b'"}']), headers=JSON)),
    "chunked body without Content-Type": (415, lambda t, _: t.post(
        "/api/contacts", content=iter([b'{"name": ', b'"chunked"}']))),
    "huge string under the limit": (422, typed(json.dumps({"name": "A", "notes": "x" * 900_000}),
                                               "application/json")),
    "array of 100k items as body": (422, typed("[" + ",".join(["1"] * 100_000) + "]", "application/json")),
    # structure
    "array nested 100k deep": (400, post_raw("/api/contacts", nested(100_000))),
    "object nested 50k deep": (400, typed('{"a":' * 50_000 + "1" + "}" * 50_000, "application/json")),
    "nested 500 deep in an unknown field": (422, typed('{"name": "A", "x": ' + nested(500) + "}",
                                                       "application/json")),
    "number with 5000 digits": (400, post_raw("/api/products",
                                              '{"name": "A", "unit_price_incl": ' + "9" * 5000 + "}")),
    "NaN": (422, post_raw("/api/products", '{"name": "A", "unit_price_incl": NaN}')),
    "Infinity": (422, post_raw("/api/products", '{"name": "A", "unit_price_incl": Infinity}')),
    "1e400 (overflows to infinity)": (422, post_raw("/api/products",
                                                    '{"name": "A", "unit_price_incl": 1e400}')),
    "three decimals in money": (422, post_raw("/api/products", '{"name": "A", "unit_price_incl": 1.005}')),
    # encoding
    "invalid UTF-8": (400, post_raw("/api/contacts", b'{"name": "\xff\xfe\xc3"}')),
    "UTF-16 body": (400, post_raw("/api/contacts", '{"name": "A"}'.encode("utf-16"))),
    "UTF-8 byte order mark": (400, post_raw("/api/contacts", b'\xef\xbb\xbf{"name": "A"}')),
    "NUL character in a string": (422, post_raw("/api/contacts", '{"name": "A\\u0000B"}')),
    "unpaired surrogate in a string": (422, post_raw("/api/contacts", '{"name": "\\ud800"}')),
    "NUL in a query parameter": (400, get("/api/contacts?q=a%00b")),
    # JSON syntax and shape
    "not JSON": (400, post_raw("/api/contacts", "{name: A}")),
    "truncated JSON": (400, post_raw("/api/contacts", '{"name": "A"')),
    "empty body": (400, post_raw("/api/contacts", b"")),
    "JSON null": (400, post_raw("/api/contacts", "null")),
    "JSON string as body": (422, post_raw("/api/contacts", '"Acme"')),
    "unknown field": (422, post_raw("/api/contacts", '{"name": "A", "is_admin": true}')),
    "__proto__ field": (422, post_raw("/api/contacts", '{"name": "A", "__proto__": {"admin": true}}')),
    "wrong type": (422, post_raw("/api/contacts", '{"name": 123}')),
    "empty required string": (422, post_raw("/api/contacts", '{"name": ""}')),
    "string over maxLength": (422, post_raw("/api/contacts", json.dumps({"name": "x" * 201}))),
    "scopes not in the enum": (422, post_raw("/api/api-keys", '{"name": "k", "scopes": ["root"]}')),
    # content types
    "text/plain": (415, typed('{"name": "A"}', "text/plain")),
    "form-urlencoded": (415, typed("name=A", "application/x-www-form-urlencoded")),
    "multipart": (415, typed(b"--b\r\n\r\nA\r\n--b--", "multipart/form-data; boundary=b")),
    "no Content-Type": (415, typed('{"name": "A"}', None)),
    "JSON in latin-1": (415, typed('{"name": "é"}'.encode("latin-1"), "application/json; charset=latin-1")),
    "XML": (415, typed("<contact><name>A</name></contact>", "application/xml")),
    # query and path
    "huge offset": (400, get("/api/contacts?offset=9459710470052626515456")),
    "offset one over the maximum": (400, get("/api/contacts?offset=1000000001")),
    "negative limit": (400, get("/api/contacts?limit=-1")),
    "limit not a number": (400, get("/api/contacts?limit=ten")),
    "unknown query parameter": (400, get("/api/contacts?is_admin=true")),
    "updated_since not a timestamp": (400, get("/api/contacts?updated_since=yesterday")),
    "id not a UUID": (400, get("/api/contacts/not-a-uuid")),
    "SQL as an id": (400, get("/api/contacts/1%27%20OR%20%271%27%3D%271")),
    "encoded path traversal": (404, get("/api/contacts/%2e%2e/%2e%2e/api-keys")),
    "path of 10k characters": (404, get("/api/" + "a" * 10_000)),
    "another tenant's contact": (404, lambda t, ctx: t.get(f"/api/contacts/{ctx['other_contact']}")),
    "delete another tenant's contact": (404, lambda t, c: t.delete(f"/api/contacts/{c['other_contact']}")),
    "method not allowed": (405, lambda t, _: t.post(f"/api/contacts/{UUID}", {"name": "A"})),
    # headers
    "no API key": (401, lambda t, _: t.client.get("/api/contacts")),
    "API key of 10k characters": (401, api_key("ftj_" + "a" * 10_000)),
    "API key with SQL": (401, api_key("ftj_' OR '1'='1")),
    "API key in latin-1 bytes": (401, api_key(b"ftj_\xe9\xff\xfe")),
    "API key with a NUL": (401, api_key("ftj_\x00")),
    "key that is only the prefix": (401, api_key("ftj_")),
    "header of 64 KiB beside a bad key": (401, api_key("nope", **{"X-Padding": "p" * 65536})),
    "Idempotency-Key of 300 characters": (400, lambda t, _: t.post(
        "/api/contacts", {"name": "A"}, headers={"Idempotency-Key": "k" * 300})),
    "Idempotency-Key with a space": (400, lambda t, _: t.post(
        "/api/contacts", {"name": "A"}, headers={"Idempotency-Key": "a b"})),
    # text and patterns
    "country with a trailing newline": (422, post_raw("/api/contacts", '{"name": "A", "country": "NL\\n"}')),
    "currency with a trailing newline": (422, lambda t, ctx: t.post("/api/invoices", {
        "contact_id": ctx["contact"], "currency": "EUR\n", "lines": [LINE]})),
    "number prefix with a newline": (422, lambda t, _: t.patch(
        "/api/administration", {"invoice_number_prefix": "F\n"})),
    "e-mail with CRLF and a Bcc header": (422, post_raw(
        "/api/contacts", '{"name": "A", "email": "a@b.nl\\r\\nBcc: x@y.nl"}')),
    "vertical tab in a description": (422, lambda t, ctx: t.post("/api/invoices", {
        "contact_id": ctx["contact"], "lines": [{**LINE, "description": "a\x0bb"}]})),
    "escape character in a name": (422, post_raw("/api/contacts", '{"name": "A\\u001b[31mB"}')),
    "U+FFFE in a note": (422, post_raw("/api/contacts", '{"name": "A", "notes": "\\ufffe"}')),
    "status filter with a trailing newline": (400, get("/api/invoices?status=verzonden%0A")),
    # dates and amounts
    "invoice dated 1900": (422, lambda t, ctx: t.post("/api/invoices", {
        "contact_id": ctx["contact"], "invoice_date": "1900-01-01", "lines": [LINE]})),
    "subscription starting in 1900": (422, lambda t, ctx: t.post("/api/subscriptions", {
        "contact_id": ctx["contact"], "interval": "month", "start_date": "1900-01-01", "lines": [LINE]})),
    "payment of 999,999,999,999.99 on 121.00": (409, lambda t, ctx: t.post("/api/payments", {
        "invoice_id": ctx["invoice"], "amount": 999999999999.99})),
    "overpayment even when allowed": (409, lambda t, ctx: t.post("/api/payments", {
        "invoice_id": ctx["invoice"], "amount": 242.01, "allow_overpayment": True})),
    # authentication and bodies
    "read key writing": (403, lambda t, ctx: ctx["reader"].post("/api/contacts", {"name": "A"})),
    "write key reading the audit log": (403, lambda t, ctx: ctx["writer"].get("/api/audit-log")),
}


def _counts() -> dict:
    return {model.__name__: count_rows(model)
            for model in (Contact, Product, Event, ApiKey, IdempotencyKey, AuditEntry, Invoice, Payment)}


@pytest.fixture
def context(tenant, other_tenant, make_tenant):
    other_contact = other_tenant.post("/api/contacts", {"name": "Theirs"}).json()["id"]
    contact = tenant.post("/api/contacts", {"name": "Ours"}).json()["id"]
    invoice = tenant.post("/api/invoices", {"contact_id": contact, "status": "verzonden",
                                            "lines": [{**LINE, "unit_price_incl": 121.00}]}).json()["id"]
    return {"other_contact": other_contact, "contact": contact, "invoice": invoice,
            "reader": make_tenant(scopes=("read",)), "writer": make_tenant(scopes=("read", "write"))}


def test_the_list_is_long_enough():
    assert len(CASES) >= 30


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_refused_cleanly(name, tenant, context):
    expected, send = CASES[name]
    before = _counts()
    response = send(tenant, context)
    assert response.status_code == expected, (name, response.status_code, response.text[:500])
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == expected and problem["title"] and problem["detail"]
    assert len(response.content) < 20_000  # an error never echoes a huge input back
    for leak in LEAKS:
        assert leak not in response.text, (name, leak, response.text[:500])
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-request-id"]
    assert _counts() == before, name


def test_the_body_limit_counts_streamed_bytes():
    """A body with no (or a lying) Content-Length is counted as it arrives and refused past the limit."""
    import asyncio

    from models.errors import PayloadTooLarge
    from paydock.middleware import RouteAndLimits

    async def app(scope, receive, send):
        while (await receive()).get("more_body"):
            pass

    chunks = [{"type": "http.request", "body": b"x" * 400, "more_body": True}] * 3 + [
        {"type": "http.request", "body": b"", "more_body": False}]

    async def run(limit):
        messages = iter(chunks)

        async def receive():
            return next(messages)

        scope = {"type": "http", "path": "/api/contacts", "headers": [], "query_string": b""}
        await RouteAndLimits(app, max_body_bytes=limit, routes={})(scope, receive, None)

    asyncio.run(run(1200))  # exactly at the limit: fine
    with pytest.raises(PayloadTooLarge):
        asyncio.run(run(1199))


@pytest.mark.parametrize("text", [
    "Robert'); DROP TABLE contact;--",
    "' OR '1'='1",
    "1; SELECT * FROM api_key",
    '<script>alert("x")</script>',
    "<img src=x onerror=alert(1)>",
    "{{7*7}} ${7*7} %s %n",
    "Ünïcödé ✓ 🧾 עברית",
])
def test_sql_and_html_in_text_are_stored_verbatim_and_returned_as_json(tenant, text):
    created = tenant.post("/api/contacts", {"name": text, "notes": text, "external_id": text[:100]})
    assert created.status_code == 201, created.text
    assert created.headers["content-type"] == "application/json"
    assert created.headers["x-content-type-options"] == "nosniff"
    contact = created.json()
    assert contact["name"] == contact["notes"] == text
    fetched = tenant.get(f"/api/contacts/{contact['id']}").json()
    assert fetched["name"] == text
    found = tenant.get("/api/contacts", params={"external_id": text[:100]}).json()
    assert [c["id"] for c in found["data"]] == [contact["id"]]
    with db.database.connection_context():
        assert Contact.get_by_id(contact["id"]).name == text
    # The tables are all still there and untouched apart from this one contact.
    assert count_rows(Contact, administration=tenant.administration_id) == 1
    assert count_rows(ApiKey, administration=tenant.administration_id) == 1


#: Input the attack run answered with a 500 (or a wrong answer) that is valid and must work.
VALID_BUT_ONCE_FATAL = {
    "updated_since with lower-case t and z": "/api/invoices?updated_since=2026-04-01t00:00:00z",
    "updated_since in year 1 with an offset": "/api/contacts?updated_since=0001-01-01T00:00:00%2B01:00",
    "updated_since in 9999 with a negative offset": "/api/quotes?updated_since=9999-12-31T23:59:59-01:00",
    "updated_since on payments": "/api/payments?updated_since=0001-01-01T00:00:00%2B01:00",
    "updated_since on subscriptions": "/api/subscriptions?updated_since=9999-12-31T23:59:59-01:00",
    "updated_since on products": "/api/products?updated_since=2026-04-01t00:00:00z",
    "PDF of a description with 60 newlines": "pdf",
}


@pytest.mark.parametrize("name", list(VALID_BUT_ONCE_FATAL))
def test_valid_input_that_was_once_a_500_is_answered(name, tenant, context):
    url = VALID_BUT_ONCE_FATAL[name]
    if url == "pdf":
        issued = tenant.post("/api/invoices", {
            "contact_id": context["contact"], "status": "verzonden",
            "lines": [{**LINE, "description": "\n" * 60 + "x"}, {**LINE, "description": "K" * 2000}]})
        assert issued.status_code == 201, issued.text
        url = f"/api/invoices/{issued.json()['id']}/pdf"
    response = tenant.get(url)
    assert response.status_code == 200, (name, response.text[:300])


def test_a_redirect_never_points_at_the_host_header(client):
    response = client.get("/api/health/", headers={"Host": "evil.example"}, follow_redirects=False)
    assert response.status_code == 307
    assert response.headers["location"] == "/api/health"
