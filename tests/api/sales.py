"""Factories for the quote, subscription and portal tests: they go through the API."""

from __future__ import annotations

import json
from itertools import count

from models import db
from models.events import Event

ACME = {"name": "Acme BV", "email": "info@acme.nl", "company_name": "Acme BV",
        "address": "Keizersgracht 1", "postal_code": "1015 CJ", "city": "Amsterdam",
        "vat_number": "NL123456789B01", "kvk_number": "12345678"}
_serial = count(1)


def make_contact(tenant, **fields) -> str:
    response = tenant.post("/api/contacts", {**ACME, **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def make_product(tenant, **fields) -> str:
    body = {"name": "Spont POS Licentie", "unit_price_incl": 89.00, "tax_percentage": 21, **fields}
    response = tenant.post("/api/products", body)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def line(description="Installatie", quantity=1, price=125.00, rate=21, **extra) -> dict:
    return {"description": description, "quantity": quantity, "unit_price_incl": price,
            "tax_percentage": rate, **extra}


def make_quote(tenant, contact_id=None, lines=None, **fields) -> dict:
    body = {"contact_id": contact_id or make_contact(tenant), "lines": lines or [line()], **fields}
    response = tenant.post("/api/quotes", body)
    assert response.status_code == 201, response.text
    return response.json()


def make_subscription(tenant, contact_id=None, lines=None, **fields) -> dict:
    body = {"contact_id": contact_id or make_contact(tenant), "interval": "month",
            "start_date": "2026-01-01", "lines": lines or [line("Spont POS Licentie", price=89.00)],
            **fields}
    response = tenant.post("/api/subscriptions", body)
    assert response.status_code == 201, response.text
    return response.json()


def make_invoice(tenant, contact_id, status="verzonden", lines=None, **fields) -> dict:
    body = {"contact_id": contact_id, "status": status, "lines": lines or [line()], **fields}
    response = tenant.post("/api/invoices", body)
    assert response.status_code == 201, response.text
    return response.json()


def pay(tenant, invoice_id, amount, **fields) -> dict:
    response = tenant.post("/api/payments", {"invoice_id": invoice_id, "amount": amount, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def events(tenant, *types) -> list[dict]:
    with db.database.connection_context():
        rows = Event.of(tenant.administration_id).order_by(Event.created_at, Event.id)
        payloads = [json.loads(e.payload) for e in rows]
    return [p for p in payloads if not types or p["type"] in types]


def unique(prefix: str) -> str:
    """An external_id no other test uses (the test databases live for the whole session)."""
    return f"{prefix}-{next(_serial)}"
