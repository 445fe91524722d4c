"""Bodies sent with `Transfer-Encoding: chunked` (no Content-Length), over a real socket.

A chunked body is a body: it is read, validated and handed to the operation like any other.
An operation with an optional body must never fall back to its default because the client
streamed the body (a credit note for the whole invoice instead of one line is irreversible),
and the body-size limit counts the streamed bytes."""

from __future__ import annotations

import datetime as dt
import json

import httpx
import pytest

from tests.reliability.conftest import GENEROUS_LIMITS, new_tenant_key
from tests.server import GunicornServer


def chunked(document, pieces: int = 3):
    """`document` as JSON, sent in `pieces` chunks (httpx sends a generator chunked)."""
    raw = json.dumps(document).encode()
    step = max(1, len(raw) // pieces)
    return (raw[i:i + step] for i in range(0, len(raw), step))


@pytest.fixture(scope="module")
def server(database_url, app):
    with GunicornServer(database_url, workers=1, PAYDOCK_MAX_BODY_BYTES="4096",
                        **GENEROUS_LIMITS) as running:
        yield running


@pytest.fixture
def api(server, database_url):
    _, key = new_tenant_key(database_url)
    with httpx.Client(base_url=server.url + "/api", timeout=30,
                      headers={"X-API-Key": key, "Content-Type": "application/json"}) as client:
        yield client


def _contact(api) -> str:
    response = api.post("/contacts", json={"name": "Chunked BV"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def _line(description, price):
    return {"description": description, "quantity": 1, "unit_price_incl": price, "tax_percentage": 21}


def test_a_chunked_body_is_read(api):
    created = api.post("/contacts", content=chunked({"name": "Gestreamd BV", "city": "Delft"}))
    assert created.status_code == 201, created.text
    assert created.request.headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in created.request.headers
    assert created.json()["name"] == "Gestreamd BV" and created.json()["city"] == "Delft"


def test_a_chunked_credit_request_credits_only_the_chosen_line(api):
    contact = _contact(api)
    invoice = api.post("/invoices", json={"contact_id": contact, "status": "verzonden",
                                          "lines": [_line("Installatie", 125.00), _line("Kabel", 10.00)]})
    assert invoice.status_code == 201, invoice.text
    second_line = invoice.json()["lines"][1]["id"]
    credit = api.post(f"/invoices/{invoice.json()['id']}/credit",
                      content=chunked({"line_ids": [second_line], "note": "Kabel retour"}))
    assert credit.status_code == 201, credit.text
    assert credit.request.headers.get("transfer-encoding") == "chunked"
    assert credit.json()["total_incl"] == -10.00
    assert [(line["description"], line["quantity"]) for line in credit.json()["lines"]] == [("Kabel", -1)]
    original = api.get(f"/invoices/{invoice.json()['id']}").json()
    # One of two lines credited: the original is settled against it, not gecrediteerd.
    assert original["status"] == "deels_betaald" and original["amount_paid"] == 10.00


def test_a_chunked_quote_conversion_honours_its_body(api):
    contact = _contact(api)
    quote = api.post("/quotes", json={"contact_id": contact, "lines": [_line("Advies", 242.00)]}).json()
    for status in ("verzonden", "geaccepteerd"):
        assert api.patch(f"/quotes/{quote['id']}", json={"status": status}).status_code == 200
    invoice_date = (dt.date.today() - dt.timedelta(days=3)).isoformat()
    converted = api.post(f"/quotes/{quote['id']}/invoice",
                         content=chunked({"status": "verzonden", "invoice_date": invoice_date}))
    assert converted.status_code == 201, converted.text
    assert converted.json()["status"] == "verzonden"
    assert converted.json()["invoice_date"] == invoice_date
    assert converted.json()["number"]


def test_an_empty_chunked_body_is_no_body(api):
    contact = _contact(api)
    invoice = api.post("/invoices", json={"contact_id": contact, "status": "verzonden",
                                          "lines": [_line("Installatie", 125.00), _line("Kabel", 10.00)]})
    credit = api.post(f"/invoices/{invoice.json()['id']}/credit", content=iter([b""]))
    assert credit.status_code == 201, credit.text
    assert credit.json()["total_incl"] == -135.00
    needs_body = api.post("/contacts", content=iter([b""]))
    assert needs_body.status_code == 400, needs_body.text


def test_a_chunked_body_over_the_limit_is_413(api):
    before = api.get("/contacts").json()["total"]
    big = {"name": "Te groot", "notes": "x" * 1500}
    response = api.post("/contacts", content=chunked({**big, "address": "y" * 3000}, pieces=20))
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert api.get("/contacts").json()["total"] == before
    # Just under the limit is read and handled.
    fits = api.post("/contacts", content=chunked(big, pieces=20))
    assert fits.status_code == 201, fits.text
