"""Invoices: the seed's examples, totals, numbering, the status table, lists, tenancy."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest

from models import db
from models.deliveries import InvoiceDelivery
from models.events import Event
from models.invoices import Invoice, InvoiceLine, business_today
from models.numbering import NumberSeries
from models.payments import Payment
from tests.api.test_invoice_documents import SELLER_DETAILS
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
            "deliveries": sorted((str(d.id), d.status, d.attempts) for d in InvoiceDelivery.of(admin)),
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



# ------------------------------------------------------------------ creating

def test_product_lines_take_what_they_leave_out_from_the_product(tenant):
    product_id = make_product(tenant, name="Brood van de week", unit_price_incl=3.49, tax_percentage=9)
    invoice = make_invoice(tenant, lines=[
        {"product_id": product_id, "quantity": 3},
        {"product_id": product_id, "description": "Brood (actie)", "unit_price_incl": 2.99},
        {"product_id": product_id},
    ])
    bare, override, single = invoice["lines"]
    assert (bare["description"], bare["unit_price_incl"], bare["tax_percentage"], bare["total_incl"]) == (
        "Brood van de week", 3.49, 9, 10.47)
    assert (override["description"], override["unit_price_incl"], override["tax_percentage"]) == (
        "Brood (actie)", 2.99, 9)
    assert (single["quantity"], single["total_incl"]) == (1, 3.49)
    # 10.47 + 2.99 + 3.49 = 16.95 at 9 %: 16.95 × 9/109 = 1.3995… → 1.40
    assert (invoice["total_incl"], invoice["total_vat"], invoice["total_excl"]) == (16.95, 1.40, 15.55)


def test_several_rates_fractional_quantities_and_a_discount(tenant):
    invoice = make_invoice(tenant, lines=[
        line("Uren", 1.5, 95.00, 21),         # 142.50
        line("Korting", -1, 20.00, 21),       # -20.00 → 122.50 at 21 %: 21.26
        line("Taart", 0.3333, 30.00, 9),      # 9.999 → 10.00 at 9 %: 0.83
        line("Porto", 1, 7.45, 0),            # 7.45 at 0 %
    ])
    assert '"quantity": 0.3333' in json.dumps(invoice)
    assert invoice["vat_breakdown"] == [
        {"tax_percentage": 0, "total_incl": 7.45, "total_vat": 0.00, "total_excl": 7.45},
        {"tax_percentage": 9, "total_incl": 10.00, "total_vat": 0.83, "total_excl": 9.17},
        {"tax_percentage": 21, "total_incl": 122.50, "total_vat": 21.26, "total_excl": 101.24},
    ]
    assert (invoice["total_incl"], invoice["total_vat"], invoice["total_excl"]) == (139.95, 22.09, 117.86)


def test_client_totals_are_never_taken(tenant):
    contact_id = make_contact(tenant)
    response = tenant.post("/api/invoices", {"contact_id": contact_id, "total_incl": 1.00,
                                             "lines": [line()]})
    assert response.status_code == 422
    assert "total_incl" in [e["field"] for e in response.json()["errors"]]
    response = tenant.post("/api/invoices", {"contact_id": contact_id,
                                             "lines": [{**line(), "total_incl": 1.00}]})
    assert response.status_code == 422
    assert snapshot(tenant)["invoices"] == []


def test_defaults(tenant):
    invoice = make_invoice(tenant)
    today = business_today()
    assert invoice["invoice_date"] == today.isoformat()
    assert invoice["due_date"] == (today + timedelta(days=30)).isoformat()
    assert (invoice["status"], invoice["number"], invoice["currency"], invoice["overdue"]) == (
        "concept", None, "EUR", False)
    assert (invoice["is_credit_note"], invoice["credit_of"]) == (False, None)


@pytest.mark.parametrize("body_change, field", [
    ({"lines": []}, "lines"),
    ({"lines": [{"description": "Geen prijs", "quantity": 1, "tax_percentage": 21}]}, "lines.0"),
    ({"lines": [{"description": "Geen btw", "unit_price_incl": 10}]}, "lines.0"),
    ({"lines": [{"is_text_line": True}]}, "lines.0"),
    ({"lines": [{"is_text_line": True, "description": "x", "unit_price_incl": 10}]}, "lines.0"),
    ({"lines": [line(price=10.001)]}, "lines.0"),
    ({"lines": [line(quantity=1.00001)]}, "lines.0"),
    ({"lines": [line(rate=-1)]}, "lines.0"),
    ({"lines": [line(price=10000000.00)]}, "lines.0"),
    ({"lines": [line()] * 1001}, "lines"),
    ({"status": "betaald"}, "status"),
    ({"invoice_date": "2026-02-30"}, "invoice_date"),
    ({"due_date": "11-05-2026"}, "due_date"),
    ({"currency": "euro"}, "currency"),
    ({"contact_id": "not-a-uuid"}, "contact_id"),
    ({"number": "2026-0001"}, "number"),
    ({"invoice_date": "2026-04-11", "due_date": "2026-04-10"}, "due_date"),
])
def test_invalid_invoices_are_422_and_write_nothing(tenant, body_change, field):
    before = snapshot(tenant)
    body = {"contact_id": make_contact(tenant), "lines": [line()], **body_change}
    response = tenant.post("/api/invoices", body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert snapshot(tenant)["invoices"] == before["invoices"] == []


def test_unknown_contact_or_product_in_a_body_is_422_and_writes_nothing(tenant):
    # 404 always means the resource in the URL does not exist; a body naming nothing is a 422.
    contact_id = make_contact(tenant)
    concept = make_invoice(tenant, contact_id)
    missing = "6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f"
    before = snapshot(tenant)
    response = tenant.post("/api/invoices", {"contact_id": missing, "lines": [line()]})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "contact_id",
                                          "message": "no such contact in this administration"}]
    response = tenant.post("/api/invoices", {"contact_id": contact_id, "status": "verzonden",
                                             "lines": [line(), {"product_id": missing}]})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "lines.1.product_id",
                                          "message": "no such product in this administration"}]
    url = f"/api/invoices/{concept['id']}"
    assert tenant.patch(url, {"contact_id": missing}).status_code == 422
    assert tenant.patch(url, {"status": "verzonden", "lines": [{"product_id": missing}]}).status_code == 422
    assert snapshot(tenant) == before  # not even a number was used up


def test_a_product_priced_beyond_a_line_is_422(tenant):
    product_id = make_product(tenant, unit_price_incl=50000000.00)
    response = tenant.post("/api/invoices", {"contact_id": make_contact(tenant),
                                             "lines": [{"product_id": product_id}]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "lines.0.unit_price_incl"
    assert snapshot(tenant)["invoices"] == []


# ------------------------------------------------------------------ numbering and the contact copy

def test_issuing_numbers_per_year_and_freezes_the_contact(tenant):
    contact_id = make_contact(tenant)
    concept = make_invoice(tenant, contact_id, invoice_date="2026-03-01")
    first = make_invoice(tenant, contact_id, status="verzonden", invoice_date="2026-01-05")
    older = make_invoice(tenant, contact_id, status="verzonden", invoice_date="2025-12-31")
    assert (concept["number"], first["number"], older["number"]) == (None, "2026-0001", "2025-0001")

    tenant.put(f"/api/contacts/{contact_id}", {"name": "Acme Holding BV", "city": "Rotterdam"})
    sent = tenant.patch(f"/api/invoices/{concept['id']}", {"status": "verzonden"})
    assert sent.status_code == 200, sent.text
    assert sent.json()["number"] == "2026-0002"
    assert sent.json()["contact"]["name"] == "Acme Holding BV"  # copied when issued

    tenant.put(f"/api/contacts/{contact_id}", {"name": "Acme Nieuw BV"})
    frozen = tenant.get(f"/api/invoices/{first['id']}").json()["contact"]
    assert (frozen["name"], frozen["city"], frozen["vat_number"]) == ("Acme BV", "Amsterdam",
                                                                      "NL123456789B01")
    assert tenant.get(f"/api/invoices/{sent.json()['id']}").json()["contact"]["city"] == "Rotterdam"
    live = make_invoice(tenant, contact_id)
    assert tenant.get(f"/api/invoices/{live['id']}").json()["contact"]["name"] == "Acme Nieuw BV"
    with db.database.connection_context():
        assert sorted((s.year, s.last_number) for s in NumberSeries.of(tenant.administration_id)) == [
            (2025, 1), (2026, 2)]


def test_each_administration_has_its_own_series(tenant, other_tenant):
    assert make_invoice(tenant, status="verzonden", invoice_date="2026-04-11")["number"] == "2026-0001"
    assert make_invoice(other_tenant, status="verzonden", invoice_date="2026-04-11")["number"] == "2026-0001"
    assert make_invoice(tenant, status="verzonden", invoice_date="2026-04-11")["number"] == "2026-0002"


# ------------------------------------------------------------------ the status table

def issued_in(tenant, status) -> dict:
    """An invoice of 125.00 brought to `status` through the API."""
    invoice = make_invoice(tenant, status="concept" if status == "concept" else "verzonden")
    url = f"/api/invoices/{invoice['id']}"
    if status == "deels_betaald":
        assert tenant.post("/api/payments", {"invoice_id": invoice["id"], "amount": 25.00}).status_code == 201
    elif status in ("betaald", "oninbaar"):
        assert tenant.patch(url, {"status": status}).status_code == 200
    elif status == "gecrediteerd":
        assert tenant.post(f"{url}/credit", {}).status_code == 201
    current = tenant.get(url).json()
    assert current["status"] == status
    return current


ILLEGAL = [
    ("concept", "deels_betaald", ["verzonden"]),
    ("concept", "betaald", ["verzonden"]),
    ("concept", "oninbaar", ["verzonden"]),
    ("concept", "gecrediteerd", ["verzonden"]),
    ("verzonden", "concept", ["betaald", "oninbaar"]),
    ("verzonden", "deels_betaald", ["betaald", "oninbaar"]),
    ("verzonden", "gecrediteerd", ["betaald", "oninbaar"]),
    ("deels_betaald", "verzonden", ["betaald", "oninbaar"]),
    ("deels_betaald", "concept", ["betaald", "oninbaar"]),
    ("betaald", "verzonden", []),
    ("betaald", "deels_betaald", []),
    ("betaald", "oninbaar", []),
    ("betaald", "concept", []),
    ("oninbaar", "verzonden", []),
    ("oninbaar", "betaald", []),
    ("oninbaar", "concept", []),
    ("gecrediteerd", "betaald", []),
    ("gecrediteerd", "verzonden", []),
    ("gecrediteerd", "oninbaar", []),
]


@pytest.mark.parametrize("start, target, allowed", ILLEGAL)
def test_illegal_transitions_are_409_and_change_nothing(tenant, start, target, allowed):
    invoice = issued_in(tenant, start)
    before = snapshot(tenant)
    response = tenant.patch(f"/api/invoices/{invoice['id']}",
                            {"status": target, "note": "mag niet", "due_date": "2030-01-01"})
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == 409 and problem["allowed"] == allowed
    assert f"to {target}" in problem["detail"]
    assert snapshot(tenant) == before
    assert tenant.get(f"/api/invoices/{invoice['id']}").json() == invoice


@pytest.mark.parametrize("start", ["verzonden", "deels_betaald"])
def test_write_off(tenant, start):
    invoice = issued_in(tenant, start)
    response = tenant.patch(f"/api/invoices/{invoice['id']}", {"status": "oninbaar"})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["overdue"]) == ("oninbaar", False)
    assert events(tenant, "invoice.updated")[-1]["previous_status"] == start


def test_asking_for_the_current_status_changes_nothing_but_the_fields(tenant):
    invoice = issued_in(tenant, "verzonden")
    response = tenant.patch(f"/api/invoices/{invoice['id']}", {"status": "verzonden", "note": "herinnering"})
    assert response.status_code == 200
    assert (response.json()["status"], response.json()["number"], response.json()["note"]) == (
        "verzonden", invoice["number"], "herinnering")
    assert "previous_status" not in events(tenant, "invoice.updated")[-1]


@pytest.mark.parametrize("start", ["verzonden", "deels_betaald"])
def test_marking_paid_registers_a_payment_for_the_open_amount(tenant, start):
    invoice = issued_in(tenant, start)
    response = tenant.patch(f"/api/invoices/{invoice['id']}", {"status": "betaald"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["amount_paid"], body["open_amount"]) == ("betaald", 125.00, 0)
    payments = tenant.get("/api/payments", params={"invoice_id": invoice["id"]}).json()["data"]
    assert [p["amount"] for p in payments] == ([125.00] if start == "verzonden" else [25.00, 100.00])
    assert Decimal(str(events(tenant, "payment.created")[-1]["data"]["amount"])) == Decimal(
        str(payments[-1]["amount"]))
    assert events(tenant, "invoice.updated")[-1]["previous_status"] == start


# ------------------------------------------------------------------ issued invoices are immutable

@pytest.mark.parametrize("change", [
    {"lines": [line(price=1.00)]},
    {"contact_id": None},
    {"invoice_date": "2026-01-01"},
    {"reference": "PO-1"},
    {"currency": "USD"},
    {"lines": [line(price=1.00)], "due_date": "2030-01-01", "note": "samen"},
])
@pytest.mark.parametrize("start", ["verzonden", "betaald", "gecrediteerd"])
def test_editing_an_issued_invoice_is_409_and_changes_nothing(tenant, start, change):
    invoice = issued_in(tenant, start)
    if "contact_id" in change:
        change = {"contact_id": make_contact(tenant, name="Ander BV")}
    before = snapshot(tenant)
    response = tenant.patch(f"/api/invoices/{invoice['id']}", change)
    assert response.status_code == 409, response.text
    assert "credit note" in response.json()["detail"]
    assert snapshot(tenant) == before


@pytest.mark.parametrize("start", ["verzonden", "deels_betaald", "betaald", "oninbaar", "gecrediteerd"])
def test_deleting_an_issued_invoice_is_409_and_changes_nothing(tenant, start):
    invoice = issued_in(tenant, start)
    before = snapshot(tenant)
    response = tenant.delete(f"/api/invoices/{invoice['id']}")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert snapshot(tenant) == before


def test_due_date_and_note_of_an_issued_invoice_can_change(tenant):
    invoice = issued_in(tenant, "verzonden")
    response = tenant.patch(f"/api/invoices/{invoice['id']}", {"due_date": "2030-01-31", "note": None})
    assert response.status_code == 200, response.text
    assert (response.json()["due_date"], response.json()["note"]) == ("2030-01-31", None)
    assert response.json()["lines"] == invoice["lines"]


def test_a_concept_can_change_everything_and_be_deleted(tenant):
    concept = make_invoice(tenant, reference="oud")
    other_contact = make_contact(tenant, name="Bakkerij BV", city="Utrecht")
    response = tenant.patch(f"/api/invoices/{concept['id']}", {
        "contact_id": other_contact, "invoice_date": "2026-02-01", "reference": "PO-9", "currency": "USD",
        "lines": [line("Taart", 2, 12.50, 9), {"is_text_line": True, "description": "Bedankt!"}],
    })
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["contact"]["name"], body["invoice_date"], body["reference"], body["currency"]) == (
        "Bakkerij BV", "2026-02-01", "PO-9", "USD")
    # 25.00 at 9 %: 25 × 9/109 = 2.0642… → 2.06
    assert (body["total_incl"], body["total_vat"], len(body["lines"])) == (25.00, 2.06, 2)
    assert tenant.get(f"/api/invoices/{concept['id']}").json() == body
    with db.database.connection_context():
        assert InvoiceLine.of(tenant.administration_id).count() == 2

    assert tenant.delete(f"/api/invoices/{concept['id']}").status_code == 204
    assert tenant.get(f"/api/invoices/{concept['id']}").status_code == 404
    with db.database.connection_context():
        assert InvoiceLine.of(tenant.administration_id).count() == 0
    assert [e["type"] for e in events(tenant, "invoice.created", "invoice.updated", "invoice.deleted")] == [
        "invoice.created", "invoice.updated", "invoice.deleted"]


def test_overdue(tenant):
    late = make_invoice(tenant, status="verzonden", invoice_date="2026-01-01", due_date="2026-01-31")
    assert late["overdue"] is True
    concept_late = make_invoice(tenant, invoice_date="2026-01-01", due_date="2026-01-31")
    assert concept_late["overdue"] is False
    future = (business_today() + timedelta(days=10)).isoformat()
    on_time = make_invoice(tenant, status="verzonden", due_date=future)
    assert on_time["overdue"] is False
    assert [i["id"] for i in tenant.get("/api/invoices", params={"overdue": "true"}).json()["data"]] == [
        late["id"]]
    assert len(tenant.get("/api/invoices", params={"overdue": "false"}).json()["data"]) == 2
    tenant.patch(f"/api/invoices/{late['id']}", {"status": "betaald"})
    assert tenant.get("/api/invoices", params={"overdue": "true"}).json()["total"] == 0


# ------------------------------------------------------------------ lists

def test_list_filters(tenant):
    acme, bakker = make_contact(tenant), make_contact(tenant, name="Bakker")
    concept = make_invoice(tenant, acme, invoice_date="2026-01-10")
    sent = make_invoice(tenant, acme, status="verzonden", invoice_date="2026-02-10")
    paid = make_invoice(tenant, bakker, status="verzonden", invoice_date="2026-03-10")
    tenant.patch(f"/api/invoices/{paid['id']}", {"status": "betaald"})

    def ids(**params):
        response = tenant.get("/api/invoices", params=params)
        assert response.status_code == 200, response.text
        return [i["id"] for i in response.json()["data"]]

    assert ids() == [concept["id"], sent["id"], paid["id"]]
    assert ids(status="verzonden") == [sent["id"]]
    assert ids(status="concept,betaald") == [concept["id"], paid["id"]]
    assert ids(contact_id=bakker) == [paid["id"]]
    assert ids(contact_id=acme, status="verzonden") == [sent["id"]]
    assert ids(date_from="2026-02-01") == [sent["id"], paid["id"]]
    assert ids(date_to="2026-02-10") == [concept["id"], sent["id"]]
    assert ids(date_from="2026-02-10", date_to="2026-02-10") == [sent["id"]]
    assert ids(number=sent["number"]) == [sent["id"]]
    assert ids(limit=1, offset=1) == [sent["id"]]
    page = tenant.get("/api/invoices", params={"limit": 2}).json()
    assert (page["total"], page["limit"], page["offset"], len(page["data"])) == (3, 2, 0, 2)
    since = tenant.get(f"/api/invoices/{paid['id']}").json()["updated_at"]
    assert ids(updated_since=since) == [paid["id"]]


@pytest.mark.parametrize("params", [{"status": "open"}, {"status": "verzonden,,betaald"},
                                    {"status": "Verzonden"}, {"contact_id": "123"},
                                    {"date_from": "2026-13-01"}, {"date_to": "2026-02-30"},
                                    {"overdue": "soms"}, {"limit": 501}, {"offset": -1}, {"bogus": 1}])
def test_bad_list_parameters_are_400(tenant, params):
    response = tenant.get("/api/invoices", params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_list_and_detail_use_a_fixed_number_of_queries(tenant):
    contact_id = make_contact(tenant)
    product_id = make_product(tenant)

    def measure(url) -> int:
        tenant.get(url)  # the key is verified and cached: not counted below
        with count_queries() as seen:
            response = tenant.get(url)
        assert response.status_code == 200
        return seen.count

    first = make_invoice(tenant, contact_id, status="verzonden", lines=[line(), {"product_id": product_id}])
    one = measure("/api/invoices")
    detail_small = measure(f"/api/invoices/{first['id']}")
    for index in range(19):
        make_invoice(tenant, contact_id, status="verzonden" if index % 2 else "concept",
                     lines=[line(price=index + 1)] * 20 + [{"is_text_line": True, "description": "x"}])
    big = tenant.get("/api/invoices").json()
    assert big["total"] == 20 and sum(len(i["lines"]) for i in big["data"]) == 2 + 19 * 21
    # A short first page implies `total`: invoices with contacts, then lines; no count.
    assert measure("/api/invoices") == one == 2
    assert measure(f"/api/invoices/{big['data'][-1]['id']}") == detail_small == 2
    assert measure("/api/invoices?status=concept,verzonden&limit=500") == 2
    # A page with more after it adds the (bounded) count, whatever its size.
    assert measure("/api/invoices?limit=1") == measure("/api/invoices?limit=15") == 3


# ------------------------------------------------------------------ tenancy

def test_other_tenants_invoices_are_404(tenant, other_tenant):
    # Both could send (seller details UBL needs), so only tenancy stands between them.
    for each in (tenant, other_tenant):
        assert each.patch("/api/administration", SELLER_DETAILS).status_code == 200
    invoice = issued_in(tenant, "verzonden")
    concept = make_invoice(tenant)
    assert tenant.post(f"/api/invoices/{invoice['id']}/send", {}).status_code == 202
    before = snapshot(tenant)
    assert len(before["deliveries"]) == 1
    for url in (f"/api/invoices/{invoice['id']}", f"/api/invoices/{concept['id']}"):
        assert other_tenant.get(url).status_code == 404
        assert other_tenant.patch(url, {"status": "betaald"}).status_code == 404
        assert other_tenant.patch(url, {"note": "overgenomen"}).status_code == 404
        assert other_tenant.delete(url).status_code == 404
        assert other_tenant.post(f"{url}/credit", {}).status_code == 404
        # Sending by e-mail, its deliveries and the reminder state.
        assert other_tenant.post(f"{url}/send", {}).status_code == 404
        assert other_tenant.post(f"{url}/send", {"email": "dief@example.nl", "attach_ubl": False},
                                 headers={"Idempotency-Key": f"steal-{url[-12:]}"}).status_code == 404
        assert other_tenant.get(f"{url}/deliveries").status_code == 404
        assert other_tenant.get(f"{url}/reminders").status_code == 404
    payment = {"invoice_id": invoice["id"], "amount": 1.00}
    assert other_tenant.post("/api/payments", payment).status_code == 422
    assert other_tenant.get("/api/invoices").json()["total"] == 0
    by_contact = other_tenant.get("/api/invoices", params={"contact_id": invoice["contact_id"]})
    assert by_contact.json()["total"] == 0
    assert snapshot(tenant) == before


def test_other_tenants_contacts_and_products_are_never_linked(tenant, other_tenant):
    their_contact = make_contact(other_tenant, name="Hun klant")
    their_product = make_product(other_tenant, name="Hun product")
    mine = make_invoice(tenant)
    assert tenant.post("/api/invoices", {"contact_id": their_contact, "lines": [line()]}).status_code == 422
    response = tenant.post("/api/invoices", {"contact_id": make_contact(tenant),
                                             "lines": [{"product_id": their_product}]})
    assert response.status_code == 422
    before = snapshot(tenant)
    assert tenant.patch(f"/api/invoices/{mine['id']}", {"contact_id": their_contact}).status_code == 422
    assert tenant.patch(f"/api/invoices/{mine['id']}",
                        {"lines": [{"product_id": their_product}]}).status_code == 422
    assert snapshot(tenant) == before
    assert other_tenant.get("/api/invoices").json()["total"] == 0


def test_unknown_and_malformed_ids(tenant):
    assert tenant.get("/api/invoices/6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f").status_code == 404
    assert tenant.get("/api/invoices/not-a-uuid").status_code == 400
    assert tenant.delete("/api/invoices/6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f").status_code == 404


# ------------------------------------------------------------------ contacts with invoices

def test_a_contact_with_invoices_cannot_be_deleted(tenant):
    contact_id = make_contact(tenant)
    concept = make_invoice(tenant, contact_id)
    response = tenant.delete(f"/api/contacts/{contact_id}")
    assert response.status_code == 409 and "concept" in response.json()["detail"]
    tenant.patch(f"/api/invoices/{concept['id']}", {"status": "verzonden"})
    response = tenant.delete(f"/api/contacts/{contact_id}")
    assert response.status_code == 409 and "archive" in response.json()["detail"]
    assert tenant.get(f"/api/contacts/{contact_id}").status_code == 200

    unused = make_contact(tenant, name="Zonder facturen")
    draft = make_invoice(tenant, unused)
    assert tenant.delete(f"/api/invoices/{draft['id']}").status_code == 204
    assert tenant.delete(f"/api/contacts/{unused}").status_code == 204


def test_deleting_a_product_keeps_the_lines(tenant):
    product_id = make_product(tenant)
    invoice = make_invoice(tenant, status="verzonden", lines=[{"product_id": product_id}])
    assert tenant.delete(f"/api/products/{product_id}").status_code == 204
    kept = tenant.get(f"/api/invoices/{invoice['id']}").json()["lines"][0]
    assert (kept["description"], kept["unit_price_incl"], kept["product_id"]) == (
        "Spont POS Licentie", 89.00, None)


def test_the_administrations_payment_term_and_number_prefix(tenant):
    response = tenant.patch("/api/administration", {"payment_term_days": 14, "invoice_number_prefix": "F"})
    assert response.status_code == 200, response.text
    invoice = make_invoice(tenant, status="verzonden", invoice_date="2026-04-11")
    assert (invoice["number"], invoice["due_date"]) == ("F2026-0001", "2026-04-25")
    assert make_invoice(tenant, status="verzonden", invoice_date="2026-04-12",
                        due_date="2026-04-12")["due_date"] == "2026-04-12"
    assert tenant.post(f"/api/invoices/{invoice['id']}/credit", {}).json()["number"] == "F2026-0003"


def test_due_date_may_not_come_before_the_invoice_date(tenant):
    invoice = make_invoice(tenant, status="verzonden", invoice_date="2026-04-11")
    concept = make_invoice(tenant, invoice_date="2026-04-11", due_date="2026-04-11")
    assert concept["due_date"] == "2026-04-11"  # due the same day is fine
    before = snapshot(tenant)
    response = tenant.patch(f"/api/invoices/{invoice['id']}", {"due_date": "2026-04-10"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "due_date"
    assert tenant.patch(f"/api/invoices/{concept['id']}", {"invoice_date": "2026-04-12"}).status_code == 422
    assert snapshot(tenant) == before
