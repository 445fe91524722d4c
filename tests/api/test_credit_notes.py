"""Credit notes: negated lines, same number series, settlement with the original, refunds."""

from __future__ import annotations

import json

import pytest

from tests.api.test_invoices import events, issued_in, line, make_invoice, snapshot
from tests.api.test_payments import pay

LINES = [line("Licentie", 1, 89.00, 21), line("Installatie", 2, 125.00, 21),
         {"is_text_line": True, "description": "Levering binnen 5 werkdagen"},
         line("Taart", 1.5, 0.03, 9)]  # 0.045 → 0.05


def credit(tenant, invoice_id, body=None):
    return tenant.post(f"/api/invoices/{invoice_id}/credit", {} if body is None else body)


def test_crediting_an_unpaid_invoice_in_full(tenant):
    invoice = make_invoice(tenant, status="verzonden", lines=LINES)
    assert (invoice["number"], invoice["total_incl"], invoice["total_vat"]) == ("2026-0001", 339.05, 58.83)
    response = credit(tenant, invoice["id"])
    assert response.status_code == 201, response.text
    note = response.json()
    assert response.headers["location"] == f"/api/invoices/{note['id']}"
    assert (note["number"], note["is_credit_note"], note["credit_of"], note["contact_id"]) == (
        "2026-0002", True, invoice["id"], invoice["contact_id"])
    assert (note["total_incl"], note["total_vat"], note["total_excl"]) == (-339.05, -58.83, -280.22)
    shown = [(x["description"], x["quantity"], x["unit_price_incl"], x["total_incl"]) for x in note["lines"]]
    assert shown == [
        ("Licentie", -1, 89.00, -89.00), ("Installatie", -2, 125.00, -250.00),
        ("Levering binnen 5 werkdagen", None, None, None), ("Taart", -1.5, 0.03, -0.05)]
    assert note["note"] == "Creditnota bij factuur 2026-0001"
    # The open 339.05 is settled against the credit note: both are done, nothing is owed.
    assert (note["status"], note["amount_paid"], note["open_amount"]) == ("betaald", -339.05, 0)
    original = tenant.get(f"/api/invoices/{invoice['id']}").json()
    assert (original["status"], original["amount_paid"], original["open_amount"]) == ("gecrediteerd",
                                                                                       339.05, 0)
    settlements = tenant.get("/api/payments").json()["data"]
    assert [(p["invoice_id"], p["amount"], p["external_method"], p["external_reference"])
            for p in settlements] == [(invoice["id"], 339.05, "credit_note", "2026-0002"),
                                      (note["id"], -339.05, "credit_note", "2026-0001")]
    created = events(tenant, "invoice.created")[-1]
    updated = events(tenant, "invoice.updated")[-1]
    assert (created["data"]["id"], updated["data"]["id"]) == (note["id"], invoice["id"])
    assert (updated["data"]["status"], updated["previous_status"]) == ("gecrediteerd", "verzonden")


def test_crediting_a_paid_invoice_leaves_a_refund_to_make(tenant):
    invoice = make_invoice(tenant, status="verzonden", lines=LINES)
    assert pay(tenant, invoice["id"], 339.05).status_code == 201
    note = credit(tenant, invoice["id"]).json()
    assert (note["status"], note["amount_paid"], note["open_amount"], note["overdue"]) == (
        "verzonden", 0, -339.05, False)
    assert tenant.get(f"/api/invoices/{invoice['id']}").json()["status"] == "gecrediteerd"
    assert pay(tenant, invoice["id"], -339.05).status_code == 409  # the original takes no more payments
    assert pay(tenant, note["id"], 10.00).status_code == 409       # would owe the customer more
    refund = pay(tenant, note["id"], -339.05, external_method="bank_transfer")
    assert refund.status_code == 201, refund.text
    assert [e["type"] for e in events(tenant, "payment.refunded")] == ["payment.refunded"]
    done = tenant.get(f"/api/invoices/{note['id']}").json()
    assert (done["status"], done["amount_paid"], done["open_amount"]) == ("betaald", -339.05, 0)


def test_crediting_lines_one_at_a_time(tenant):
    invoice = make_invoice(tenant, status="verzonden", lines=LINES)
    installatie = invoice["lines"][1]["id"]
    first = credit(tenant, invoice["id"], {"line_ids": [installatie], "note": "Installatie vervalt"})
    assert first.status_code == 201, first.text
    note = first.json()
    assert (note["total_incl"], note["total_vat"], note["note"]) == (-250.00, -43.39, "Installatie vervalt")
    assert (note["status"], note["open_amount"]) == ("betaald", 0)
    after_one = tenant.get(f"/api/invoices/{invoice['id']}").json()
    # 250.00 of 339.05 settled by the credit note: the customer still owes 89.05.
    assert (after_one["status"], after_one["amount_paid"], after_one["open_amount"]) == (
        "deels_betaald", 250.00, 89.05)

    before = snapshot(tenant)
    again = credit(tenant, invoice["id"], {"line_ids": [installatie]})
    assert again.status_code == 409 and "already credited" in again.json()["detail"]
    assert snapshot(tenant) == before

    rest = credit(tenant, invoice["id"]).json()  # every line not credited yet
    assert [x["description"] for x in rest["lines"]] == ["Licentie", "Levering binnen 5 werkdagen", "Taart"]
    assert (rest["total_incl"], rest["status"]) == (-89.05, "betaald")
    final = tenant.get(f"/api/invoices/{invoice['id']}").json()
    assert (final["status"], final["amount_paid"], final["open_amount"]) == ("gecrediteerd", 339.05, 0)
    before = snapshot(tenant)
    assert credit(tenant, invoice["id"]).status_code == 409
    assert snapshot(tenant) == before


def test_partly_paid_then_credited_owes_the_difference(tenant):
    invoice = make_invoice(tenant, status="verzonden", lines=[line("A", 1, 100.00), line("B", 1, 239.00)])
    pay(tenant, invoice["id"], 300.00)
    note = credit(tenant, invoice["id"], {"line_ids": [invoice["lines"][1]["id"]]}).json()
    # 39.00 was still open: settled; of the 239.00 credit 200.00 is to be refunded.
    assert (note["amount_paid"], note["open_amount"], note["status"]) == (-39.00, -200.00, "deels_betaald")
    original = tenant.get(f"/api/invoices/{invoice['id']}").json()
    assert (original["status"], original["amount_paid"], original["open_amount"]) == ("betaald", 339.00, 0)


@pytest.mark.parametrize("status", ["concept", "oninbaar", "gecrediteerd"])
def test_only_issued_open_or_paid_invoices_can_be_credited(tenant, status):
    invoice = issued_in(tenant, status)
    before = snapshot(tenant)
    response = credit(tenant, invoice["id"])
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert snapshot(tenant) == before


def test_a_credit_note_cannot_be_credited_or_edited(tenant):
    invoice = issued_in(tenant, "verzonden")
    note = credit(tenant, invoice["id"]).json()
    before = snapshot(tenant)
    assert credit(tenant, note["id"]).status_code == 409
    assert tenant.patch(f"/api/invoices/{note['id']}", {"lines": [line()]}).status_code == 409
    assert tenant.delete(f"/api/invoices/{note['id']}").status_code == 409
    assert snapshot(tenant) == before


def test_lines_of_another_invoice_are_422(tenant):
    invoice = issued_in(tenant, "verzonden")
    other = issued_in(tenant, "verzonden")
    before = snapshot(tenant)
    response = credit(tenant, invoice["id"], {"line_ids": [other["lines"][0]["id"]]})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "line_ids.0"
    assert snapshot(tenant) == before


def test_a_text_line_alone_is_nothing_to_credit(tenant):
    invoice = make_invoice(tenant, status="verzonden", lines=LINES)
    before = snapshot(tenant)
    assert credit(tenant, invoice["id"], {"line_ids": [invoice["lines"][2]["id"]]}).status_code == 409
    assert snapshot(tenant) == before


@pytest.mark.parametrize("body, field", [({"line_ids": []}, "line_ids"), ({"line_ids": ["x"]}, "line_ids.0"),
                                         ({"reason": "x"}, "reason")])
def test_invalid_credit_requests_are_422(tenant, body, field):
    invoice = issued_in(tenant, "verzonden")
    response = credit(tenant, invoice["id"], body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]


def test_credit_with_a_body_needs_its_content_type_and_without_one_credits_everything(tenant):
    invoice = make_invoice(tenant, status="verzonden", lines=[line(), line(price=10.00)])
    # A body is JSON only when it says so (415 otherwise, and nothing is credited).
    untyped = tenant.client.post(f"/api/invoices/{invoice['id']}/credit", headers={"X-API-Key": tenant.key},
                                 content=json.dumps({"line_ids": [invoice["lines"][1]["id"]]}).encode())
    assert untyped.status_code == 415, untyped.text
    assert tenant.get("/api/invoices", params={"status": "concept,verzonden"}).json()["total"] == 1
    response = tenant.client.post(f"/api/invoices/{invoice['id']}/credit",
                                  headers={"X-API-Key": tenant.key, "Content-Type": "application/json"},
                                  content=json.dumps({"line_ids": [invoice["lines"][1]["id"]]}).encode())
    assert response.status_code == 201 and response.json()["total_incl"] == -10.00
    bare = tenant.client.post(f"/api/invoices/{invoice['id']}/credit", headers={"X-API-Key": tenant.key})
    assert bare.status_code == 201 and bare.json()["total_incl"] == -125.00
