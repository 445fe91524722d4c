"""One invoice document everywhere: the list, the detail, the client portal, the webhook
payload and the PDF/UBL input are the same JSON, read from stored values (the VAT breakdown
included) without recomputing anything."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

from models import db, invoices, serialize
from models.invoices import Invoice
from models.migrations import m0013_invoice_vat_breakdown
from tests.api.sales import events, line, make_contact, make_invoice, make_product, pay

MIXED = [line("Consultancy", 8, 121.00, 21), line("Boeken", 3, 24.50, 9), line("Reiskosten", 1, 45.00, 0),
         {"is_text_line": True, "description": "Levering binnen 5 werkdagen"},
         line("Licentie", 2.5, 80.00, 21), line("Porto", 1, 6.95, 21)]


def detail_text(tenant, invoice_id: str) -> str:
    response = tenant.get(f"/api/invoices/{invoice_id}")
    assert response.status_code == 200, response.text
    return response.text


def test_the_list_detail_portal_and_event_show_the_same_invoice(tenant):
    contact = make_contact(tenant, external_id=f"READ-{uuid.uuid4().hex[:8]}")
    product = make_product(tenant)
    invoice = make_invoice(tenant, contact, lines=[*MIXED, line(product_id=product, quantity=2)])
    pay(tenant, invoice["id"], 100.00)
    credit = tenant.post(f"/api/invoices/{invoice['id']}/credit", {}).json()
    concept = make_invoice(tenant, contact, status="concept", lines=MIXED)

    page = tenant.get("/api/invoices", params={"contact_id": contact}).json()
    listed = {row["id"]: row for row in page["data"]}
    assert set(listed) == {invoice["id"], credit["id"], concept["id"]}
    for invoice_id, row in listed.items():
        assert json.loads(detail_text(tenant, invoice_id)) == row
    external_id = tenant.get(f"/api/contacts/{contact}").json()["external_id"]
    portal = tenant.get(f"/api/client-portal/{external_id}").json()
    for row in portal["invoices"]:
        # The portal adds the invoice's payment reminder state to the same document.
        assert row.pop("reminders")["state"] == "none"
        assert row == listed[row["id"]]
    # The last event of each invoice carries what a GET shows now.
    last = {}
    for event in events(tenant, "invoice.created", "invoice.updated"):
        last[event["data"]["id"]] = event["data"]
    for invoice_id, data in last.items():
        assert data == listed[invoice_id]

    shown = listed[invoice["id"]]
    assert [(r["tax_percentage"], r["total_incl"], r["total_vat"], r["total_excl"])
            for r in shown["vat_breakdown"]] == [
        (0, 45.0, 0.0, 45.0), (9, 73.5, 6.07, 67.43), (21, 1424.95, 247.31, 1177.64)]
    assert '"vat_breakdown": [{"tax_percentage": 0, "total_incl": 45.00, "total_vat": 0.00' in \
        detail_text(tenant, invoice["id"])
    assert shown["status"] == "gecrediteerd" and listed[credit["id"]]["total_incl"] == -1543.45


def test_the_document_dict_is_the_api_document_with_decimals(tenant):
    contact = make_contact(tenant)
    invoice = make_invoice(tenant, contact, lines=MIXED)
    with db.database.connection_context():
        as_dict = serialize.invoice(invoices.get_invoice(tenant.administration_id, invoice["id"]))
    assert as_dict == json.loads(detail_text(tenant, invoice["id"]), parse_float=Decimal)
    assert as_dict["total_vat"] == Decimal("209.99") and str(as_dict["total_incl"]) == "1293.45"


def test_an_invoice_without_a_stored_breakdown_reads_the_same_and_the_migration_fills_it(tenant):
    contact = make_contact(tenant)
    first = make_invoice(tenant, contact, lines=MIXED)
    second = make_invoice(tenant, contact, status="concept", lines=[line(quantity=-1.5, rate=9)])
    empty = make_invoice(tenant, contact, status="concept",
                         lines=[{"is_text_line": True, "description": "Alleen tekst"}])
    ids = [first["id"], second["id"], empty["id"]]
    before = {i: detail_text(tenant, i) for i in ids}
    with db.database.connection_context():
        stored = {str(i.id): i.vat_breakdown for i in Invoice.of(tenant.administration_id)}
        assert stored[empty["id"]] == "[]" and stored[first["id"]].startswith('[{"tax_percentage": 0, ')
        Invoice.update(vat_breakdown=None).where(Invoice.administration == tenant.administration_id).execute()
    assert {i: detail_text(tenant, i) for i in ids} == before
    with db.database.connection_context(), db.database.atomic():
        m0013_invoice_vat_breakdown.up(db.database.obj)
    with db.database.connection_context():
        assert {str(i.id): i.vat_breakdown for i in Invoice.of(tenant.administration_id)} == stored
    assert {i: detail_text(tenant, i) for i in ids} == before


def test_an_unknown_or_malformed_invoice_id_is_404(tenant):
    assert tenant.get(f"/api/invoices/{uuid.uuid4()}").status_code == 404
    with db.database.connection_context():
        try:
            invoices.read_invoice(tenant.administration_id, "not-an-id")
        except Exception as exc:  # noqa: BLE001 - the type is what is asserted
            assert type(exc).__name__ == "NotFound"
        else:
            raise AssertionError("read_invoice accepted a malformed id")
