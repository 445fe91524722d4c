"""Invoices: the seed's examples, totals, numbering, the status table, lists, tenancy."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest

from models import db
from models.events import Event
from models.invoices import Invoice, InvoiceLine, business_today
from models.numbering import NumberSeries
from models.payments import Payment
from tests.querycount import count_queries

ACME = {"name": "Acme BV", "email": "info@acme.nl", "company_name": "Acme BV",
        "address": "Keizersgracht 1", "postal_code": "1015 CJ", "city": "Amsterdam",
        "vat_number": "NL123456789B01", "kvk_number": "12345678", "external_id": "CRM-12345"}
LICENCE = {"name": "Spont POS Licentie", "unit_price_incl": 89.00, "tax_percentage": 21}

# The reference's own examples, character for character; only the two ids are replaced.
SEED_INVOICE = """{
  "contact_id": "uuid-of-customer",
  "status": "verzonden",
  "invoice_date": "2026-04-11",
  "due_date": "2026-05-11",
  "lines": [
    {
      "description": "Spont POS Licentie",
      "quantity": 1,
      "unit_price_incl": 89.00,
      "tax_percentage": 21,
      "product_id": "uuid-of-product"
    },
    {
      "description": "Installatie",
      "quantity": 2,
      "unit_price_incl": 125.00,
      "tax_percentage": 21
    },
    {
      "description": "Notitie: Levering binnen 5 werkdagen",
      "is_text_line": true
    }
  ]
}"""
SEED_PAYMENT = """{
  "invoice_id": "uuid-of-invoice",
  "amount": 339.00,
  "payment_date": "2026-04-11",
  "external_method": "bank_transfer",
  "external_reference": "TXN-12345",
  "note": "Betaling ontvangen via extern systeem"
}"""


def post_raw(tenant, url, text):
    return tenant.client.post(url, content=text.encode(), headers={
        "X-API-Key": tenant.key, "Content-Type": "application/json"})


def make_contact(tenant, **fields) -> str:
    response = tenant.post("/api/contacts", {**ACME, "external_id": None, **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def make_product(tenant, **fields) -> str:
    response = tenant.post("/api/products", {**LICENCE, **fields})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def line(description="Installatie", quantity=1, price=125.00, rate=21, **extra) -> dict:
    return {"description": description, "quantity": quantity, "unit_price_incl": price,
            "tax_percentage": rate, **extra}


def make_invoice(tenant, contact_id=None, status="concept", lines=None, **fields) -> dict:
    body = {"contact_id": contact_id or make_contact(tenant), "status": status,
            "lines": lines or [line()], **fields}
    response = tenant.post("/api/invoices", body)
    assert response.status_code == 201, response.text
    return response.json()


def events(tenant, *types) -> list[dict]:
    with db.database.connection_context():
        rows = Event.of(tenant.administration_id).order_by(Event.created_at, Event.id)
        payloads = [json.loads(e.payload) for e in rows]
    return [p for p in payloads if not types or p["type"] in types]


def snapshot(tenant) -> dict:
    """Everything an invoice operation could change for this tenant."""
    admin = tenant.administration_id
    with db.database.connection_context():
        return {
            "invoices": sorted((str(i.id), i.number, i.status, i.amount_paid, i.total_incl, i.due_date,
                                i.note, i.contact_id, i.updated_at) for i in Invoice.of(admin)),
            "lines": sorted((str(x.id), x.invoice_id, x.quantity, x.unit_price_incl, x.description)
                            for x in InvoiceLine.of(admin)),
            "payments": sorted((str(p.id), p.amount) for p in Payment.of(admin)),
            "events": Event.of(admin).count(),
            "series": sorted((s.kind, s.year, s.last_number) for s in NumberSeries.of(admin)),
        }


# ------------------------------------------------------------------ the seed's examples

def test_seed_examples_verbatim(tenant):
    contact_id = make_contact(tenant)
    product_id = make_product(tenant)
    created = post_raw(tenant, "/api/invoices", SEED_INVOICE.replace("uuid-of-customer", contact_id)
                       .replace("uuid-of-product", product_id))
    assert created.status_code == 201, created.text
    invoice = created.json()
    assert created.headers["location"] == f"/api/invoices/{invoice['id']}"
    assert '"total_incl": 339.00' in created.text and "339.00" in created.text
    assert (invoice["total_incl"], invoice["total_vat"], invoice["total_excl"]) == (339.00, 58.83, 280.17)
    assert '"total_vat": 58.83' in created.text and '"total_excl": 280.17' in created.text
    assert invoice["status"] == "verzonden" and invoice["number"] == "2026-0001"
    assert (invoice["amount_paid"], invoice["open_amount"]) == (0, 339.00)
    assert invoice["vat_breakdown"] == [{"tax_percentage": 21, "total_incl": 339.00, "total_vat": 58.83,
                                         "total_excl": 280.17}]
    first, second, text = invoice["lines"]
    assert (first["product_id"], first["total_incl"], first["total_vat"], first["total_excl"]) == (
        product_id, 89.00, 15.45, 73.55)
    assert (second["quantity"], second["total_incl"], second["total_vat"]) == (2, 250.00, 43.39)
    assert text == {"id": text["id"], "position": 3, "description": "Notitie: Levering binnen 5 werkdagen",
                    "quantity": None, "unit_price_incl": None, "tax_percentage": None, "product_id": None,
                    "is_text_line": True, "total_incl": None, "total_excl": None, "total_vat": None}
    assert invoice["contact"]["name"] == "Acme BV" and invoice["contact"]["id"] == contact_id

    paid = post_raw(tenant, "/api/payments", SEED_PAYMENT.replace("uuid-of-invoice", invoice["id"]))
    assert paid.status_code == 201, paid.text
    assert '"amount": 339.00' in paid.text
    assert paid.json()["invoice_id"] == invoice["id"] and paid.json()["contact_id"] == contact_id

    after = tenant.get(f"/api/invoices/{invoice['id']}")
    assert after.json()["status"] == "betaald"
    assert '"amount_paid": 339.00' in after.text and '"open_amount": 0.00' in after.text
    assert [e["type"] for e in events(tenant, "invoice.created", "invoice.updated", "payment.created")] == [
        "invoice.created", "payment.created", "invoice.updated"]
    assert events(tenant, "invoice.updated")[0]["previous_status"] == "verzonden"
