"""Property tests over the spec's own rules (Hypothesis): every `pattern` and `format` of a
request is honoured (a value the spec accepts is stored and returned unchanged; any string
at all gets an answer, never a 500), and invoices built from arbitrary spec-valid text
render as PDF and as UBL that passes the XSD. Example counts are kept small: the suite runs
these on both backends in about a minute."""

from __future__ import annotations

import re
import socket
from datetime import date

import httpx
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from peppol import validate_xsd

from paydock import SPEC
from paydock.validation import FORBIDDEN_TEXT, FORMATS, ecma_regex
from tests.api.sales import make_contact
from tests.documents.invoices import SELLER

SPEC_DOC = yaml.safe_load(SPEC.read_text())
SCHEMAS = SPEC_DOC["components"]["schemas"]
# No shrinking: a failure reports the example as found, and the time stays bounded.
FEW = settings(max_examples=10, deadline=None, derandomize=True,
               phases=(Phase.explicit, Phase.reuse, Phase.generate),
               suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                      HealthCheck.filter_too_much])


def pattern_of(schema: str, field: str | None = None) -> str:
    node = SCHEMAS[schema] if field is None else SCHEMAS[schema]["properties"][field]
    if "pattern" not in node and "allOf" in node:
        node = SCHEMAS[node["allOf"][0]["$ref"].rsplit("/", 1)[-1]]
    return node["pattern"]


def matching(pattern: str) -> st.SearchStrategy[str]:
    """Strings the pattern accepts (ECMA-262 anchors), free of forbidden text."""
    regex = re.compile(ecma_regex(pattern))
    return st.from_regex(regex).filter(lambda s: regex.search(s) and not FORBIDDEN_TEXT.search(s))


def valid_email() -> st.SearchStrategy[str]:
    return matching(pattern_of("ContactInput", "email")).filter(
        lambda s: len(s) <= 254 and FORMATS.conforms(s, "email"))


#: Spec-valid free text: anything but the characters the `Text` pattern leaves out.
def text(max_size: int, min_size: int = 0) -> st.SearchStrategy[str]:
    return st.text(st.characters(codec="utf-8"), min_size=min_size, max_size=max_size).filter(
        lambda s: not FORBIDDEN_TEXT.search(s))


ANY = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=60)


def answered(response) -> None:
    assert response.status_code < 500, response.text[:500]


# ------------------------------------------------------------------ (b) patterns and formats

#: Every request field with a `pattern` or `format` in the spec, and the test that covers it.
COVERED = {
    "ContactInput.email", "ContactInput.country", "ContactUpdate.email", "ContactUpdate.country",
    "InvoiceInput.currency", "InvoiceUpdate.currency", "QuoteInput.currency", "QuoteUpdate.currency",
    "SubscriptionInput.currency", "SubscriptionInput.end_date", "SubscriptionUpdate.end_date",
    "AdministrationUpdate.country", "AdministrationUpdate.email", "AdministrationUpdate.iban",
    "AdministrationUpdate.bic", "AdministrationUpdate.invoice_number_prefix",
    "ContactInput.iban", "ContactUpdate.iban", "InvoiceSendInput.email",
    "Date", "Uuid", "Text", "WebhookUrl", "param:IdempotencyKey", "param:UpdatedSince",
}


def test_every_request_pattern_and_format_is_covered():
    """A field whose pattern is the `Text` pattern itself is covered by the `Text` tests."""
    text_pattern = SCHEMAS["Text"]["pattern"]
    found = set()
    for name, schema in SCHEMAS.items():
        if name.endswith(("Input", "Update")):
            for field, node in schema.get("properties", {}).items():
                if node.get("type") != "string" or ("pattern" not in node and "format" not in node):
                    continue
                if node.get("pattern", text_pattern) != text_pattern or "format" in node:
                    found.add(f"{name}.{field}")
        elif schema.get("type") == "string" and "pattern" in schema:
            found.add(name)
    for name, parameter in SPEC_DOC["components"]["parameters"].items():
        if {"pattern", "format"} & set(parameter.get("schema", {})):
            found.add(f"param:{name}")
    assert found - COVERED == set(), "add the new pattern or format to a property test"


@FEW
@given(country=matching(pattern_of("ContactInput", "country")), email=valid_email(),
       notes=text(300), name=text(200, min_size=1))
def test_contact_fields_the_spec_accepts_come_back_unchanged(tenant, country, email, notes, name):
    created = tenant.post("/api/contacts", {"name": name, "country": country, "email": email,
                                            "notes": notes})
    answered(created)
    if not name.strip():
        return
    assert created.status_code == 201, created.text
    stored = tenant.get(f"/api/contacts/{created.json()['id']}").json()
    assert (stored["name"], stored["country"], stored["email"], stored["notes"]) == (
        name, country, email, notes)
    patched = tenant.patch(f"/api/contacts/{stored['id']}", {"country": country, "email": email})
    assert patched.status_code == 200, patched.text
    assert (patched.json()["country"], patched.json()["email"]) == (country, email)


@FEW
@given(currency=matching(pattern_of("InvoiceInput", "currency")),
       day=matching(pattern_of("Date")), reference=text(200))
def test_document_fields_the_spec_accepts_come_back_unchanged(tenant, currency, day, reference):
    contact = make_contact(tenant)
    line = {"description": "Regel", "quantity": 1, "unit_price_incl": 10.00, "tax_percentage": 21}
    for path in ("/api/invoices", "/api/quotes"):
        date_field = "invoice_date" if path == "/api/invoices" else "quote_date"
        created = tenant.post(path, {"contact_id": contact, "currency": currency, date_field: day,
                                     "reference": reference, "lines": [line]})
        answered(created)
        try:
            real_day = date.fromisoformat(day) <= date(date.today().year + 1, 1, 1)
        except ValueError:
            real_day = False
        if not real_day:
            assert created.status_code in (201, 422), created.text
            continue
        assert created.status_code == 201, created.text
        body = tenant.get(f"{path}/{created.json()['id']}").json()
        assert (body["currency"], body[date_field], body["reference"]) == (currency, day, reference)
    subscription = tenant.post("/api/subscriptions", {
        "contact_id": contact, "interval": "month", "start_date": "2026-01-01", "currency": currency,
        "end_date": day, "lines": [line]})
    answered(subscription)
    if subscription.status_code == 201:
        body = tenant.get(f"/api/subscriptions/{subscription.json()['id']}").json()
        assert (body["currency"], body["end_date"]) == (currency, day)


@FEW
@given(country=matching(pattern_of("AdministrationUpdate", "country")), email=valid_email(),
       bic=matching(pattern_of("AdministrationUpdate", "bic")),
       iban=matching(pattern_of("AdministrationUpdate", "iban")),
       prefix=matching(pattern_of("AdministrationUpdate", "invoice_number_prefix")).filter(
           lambda s: len(s) <= 20))
def test_administration_fields_the_spec_accepts_come_back_as_documented(tenant, country, email, bic,
                                                                       iban, prefix):
    response = tenant.patch("/api/administration", {"country": country, "email": email, "bic": bic,
                                                    "invoice_number_prefix": prefix})
    answered(response)
    assert response.status_code == 200, response.text
    body = tenant.get("/api/administration").json()
    assert (body["country"], body["email"], body["invoice_number_prefix"]) == (country, email, prefix)
    assert body["bic"].upper() == bic.upper()
    answered(tenant.patch("/api/administration", {"iban": iban}))  # a checksum rule may refuse it
    # A contact's IBAN has the same pattern and the same checksum rule: 201 or a named 422.
    contact = tenant.post("/api/contacts", {"name": "Iban", "iban": iban})
    assert contact.status_code in (201, 422), contact.text
    if contact.status_code == 201:
        assert contact.json()["iban"] == iban.replace(" ", "").upper()
        patched = tenant.patch(f"/api/contacts/{contact.json()['id']}", {"iban": iban})
        assert patched.status_code == 200, patched.text


@FEW
@given(email=matching(pattern_of("InvoiceSendInput", "email")).filter(
    lambda s: len(s) <= 254 and FORMATS.conforms(s, "email")))
def test_a_send_address_the_spec_accepts_is_the_recipient(tenant, email):
    contact = make_contact(tenant)
    line = {"description": "Regel", "quantity": 1, "unit_price_incl": 10.00, "tax_percentage": 21}
    invoice = tenant.post("/api/invoices", {"contact_id": contact, "lines": [line]}).json()
    sent = tenant.post(f"/api/invoices/{invoice['id']}/send", {"email": email, "attach_ubl": False})
    assert sent.status_code == 202, sent.text
    assert sent.json()["recipient"] == email


@FEW
@given(value=ANY)
def test_any_string_in_a_patterned_place_is_answered_never_a_500(tenant, value, monkeypatch):
    # Webhook URLs are resolved: answer every name here, so no lookup leaves the machine.
    def no_dns(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "not resolved in tests")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    path_safe = value.replace("?", "").replace("#", "") or "x"
    requests = [
        lambda: tenant.post("/api/contacts", {"name": "A", "country": value, "email": value}),
        lambda: tenant.post("/api/contacts", {"name": value or "A", "notes": value,
                                              "external_id": value or None}),
        lambda: tenant.patch("/api/administration", {"iban": value}),
        lambda: tenant.post("/api/contacts", {"name": "A", "iban": value}),
        lambda: tenant.patch("/api/administration", {"bic": value, "invoice_number_prefix": value[:20]}),
        lambda: tenant.post("/api/webhook-endpoints", {"url": value}),
        lambda: tenant.post("/api/webhook-endpoints", {"url": "https://" + value}),
        lambda: tenant.get("/api/invoices", params={"status": value, "updated_since": value}),
        lambda: tenant.get("/api/contacts", params={"updated_since": value}),
        lambda: tenant.get(f"/api/contacts/{path_safe}"),
        lambda: tenant.get(f"/api/client-portal/{path_safe}"),
        lambda: tenant.post("/api/contacts", {"name": "Idem"}, headers={"Idempotency-Key": value}),
    ]
    for send in requests:
        try:
            response = send()
        except (httpx.InvalidURL, httpx.LocalProtocolError, UnicodeEncodeError):
            continue  # the client itself refuses to send it
        answered(response)


# ------------------------------------------------------------------ (a) documents

LINE_TEXT = text(2000, min_size=1).filter(lambda s: s.strip() != "")


@FEW
@given(description=LINE_TEXT, text_line=LINE_TEXT, note=text(2000), reference=text(200),
       name=text(200, min_size=1).filter(lambda s: s.strip() != ""), address=text(200))
def test_invoices_of_any_spec_valid_text_render_as_pdf_and_valid_ubl(tenant, description, text_line,
                                                                    note, reference, name, address):
    seller = {k: SELLER[k] for k in ("address", "postal_code", "city", "kvk_number", "vat_number", "iban")}
    assert tenant.patch("/api/administration", seller).status_code == 200
    contact = tenant.post("/api/contacts", {"name": name, "address": address.strip() and address or "x",
                                            "postal_code": "1015 CJ", "city": "Amsterdam"})
    assert contact.status_code == 201, contact.text
    invoice = tenant.post("/api/invoices", {
        "contact_id": contact.json()["id"], "status": "verzonden", "note": note or None,
        "reference": reference or None,
        "lines": [{"description": description, "quantity": 1.5, "unit_price_incl": 12.34,
                   "tax_percentage": 21},
                  {"description": text_line, "is_text_line": True}]})
    assert invoice.status_code == 201, invoice.text
    pdf = tenant.get(f"/api/invoices/{invoice.json()['id']}/pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-"), pdf.text[:300]
    ubl = tenant.get(f"/api/invoices/{invoice.json()['id']}/ubl")
    assert ubl.status_code == 200, ubl.text[:300]
    ok, errors = validate_xsd(ubl.content)
    assert ok, errors[:3]
