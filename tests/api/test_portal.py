"""GET /client-portal/{external_id}: the seed's shape, exact summary figures, bounds, scopes, queries."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from models import db, invoices, payments, quotes, subscriptions
from models.deliveries import InvoiceDelivery
from models.invoices import business_today
from models.reminders import run_reminders
from tests.api.sales import line, make_contact, make_invoice, make_quote, make_subscription, pay, unique
from tests.querycount import count_queries

TODAY = business_today()
LATER = (TODAY + timedelta(days=60)).isoformat()
KEYS = {"contact", "summary", "invoices", "quotes", "subscriptions", "recent_payments"}


def portal(tenant, external_id):
    return tenant.get(f"/api/client-portal/{external_id}")


def test_seed_example_shape_and_summary_figures(tenant):
    """A customer with open, partly paid, paid, credited, written-off and overpaid invoices."""
    contact_id = make_contact(tenant, external_id="CRM-12345")
    other_customer = make_contact(tenant, name="Bakkerij", external_id="CRM-99999")

    def invoice(total, date, **fields):
        return make_invoice(tenant, contact_id, lines=[line("Werk", 1, total)], invoice_date=date,
                            due_date=date, **fields)

    open_one = invoice(100.00, "2026-01-10")
    partly = invoice(339.00, "2026-02-10")
    pay(tenant, partly["id"], 89.00, payment_date="2026-02-20")
    paid = invoice(50.00, "2026-03-10")
    pay(tenant, paid["id"], 50.00, payment_date="2026-03-11")
    credited_open = invoice(200.00, "2026-04-10")
    settled_note = tenant.post(f"/api/invoices/{credited_open['id']}/credit", {}).json()
    credited_paid = invoice(80.00, "2026-05-10")
    pay(tenant, credited_paid["id"], 80.00, payment_date="2026-05-11")
    owed_note = tenant.post(f"/api/invoices/{credited_paid['id']}/credit", {}).json()
    written_off = invoice(30.00, "2026-06-10")
    assert tenant.patch(f"/api/invoices/{written_off['id']}", {"status": "oninbaar"}).status_code == 200
    overpaid = invoice(10.00, "2026-07-10")
    pay(tenant, overpaid["id"], 15.00, payment_date="2026-07-11", allow_overpayment=True)
    invoice(999.00, "2026-08-10", status="concept")
    make_invoice(tenant, other_customer, lines=[line("Brood", 1, 500.00)])

    for status in ("actief", "gepauzeerd", "opgezegd"):
        sub = make_subscription(tenant, contact_id)
        if status != "actief":
            assert tenant.patch(f"/api/subscriptions/{sub['id']}", {"status": status}).status_code == 200
    open_quote = make_quote(tenant, contact_id, status="verzonden", valid_until=LATER)
    make_quote(tenant, contact_id, status="verzonden", quote_date="2026-01-01", valid_until="2026-01-31")
    make_quote(tenant, contact_id, valid_until=LATER)

    response = portal(tenant, "CRM-12345")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == KEYS
    assert (body["contact"]["id"], body["contact"]["name"], body["contact"]["email"]) == (
        contact_id, "Acme BV", "info@acme.nl")
    # open: 100.00 + (339.00 − 89.00); balance adds the written-off 30.00, the credit note
    # still owed to the customer (−80.00) and the overpayment (−5.00); the rest nets to 0.
    assert body["summary"] == {"open_invoice_count": 2, "open_invoice_amount": 350.00,
                               "active_subscriptions": 1, "balance": 295.00}
    assert '"open_invoice_amount": 350.00' in response.text and '"balance": 295.00' in response.text

    shown = [(i["number"], i["status"], i["is_credit_note"]) for i in body["invoices"]]
    assert shown[:2] == [(open_one["number"], "verzonden", False), (partly["number"], "deels_betaald", False)]
    assert sorted(shown[2:]) == sorted([
        (paid["number"], "betaald", False), (credited_open["number"], "gecrediteerd", False),
        (settled_note["number"], "betaald", True), (credited_paid["number"], "gecrediteerd", False),
        (owed_note["number"], "verzonden", True), (written_off["number"], "oninbaar", False),
        (overpaid["number"], "betaald", False)])
    assert [i["invoice_date"] for i in body["invoices"][2:]] == sorted(
        (i["invoice_date"] for i in body["invoices"][2:]), reverse=True)
    assert all(i["lines"] for i in body["invoices"])
    assert [q["id"] for q in body["quotes"]] == [open_quote["id"]]
    assert [s["status"] for s in body["subscriptions"]] == ["actief", "gepauzeerd"]
    recent = [(p["payment_date"], p["amount"]) for p in body["recent_payments"]]
    assert [d for d, _ in recent] == sorted((d for d, _ in recent), reverse=True)
    assert sorted(recent) == sorted([("2026-02-20", 89.00), ("2026-03-11", 50.00), ("2026-05-11", 80.00),
                                     ("2026-07-11", 15.00), (settled_note["invoice_date"], 200.00),
                                     (settled_note["invoice_date"], -200.00)])


def test_unknown_or_foreign_external_id_is_404(tenant, other_tenant):
    external_id = unique("CRM")
    make_contact(tenant, external_id=external_id)
    assert portal(tenant, external_id).status_code == 200
    missing = portal(tenant, unique("NOPE"))
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert portal(other_tenant, external_id).status_code == 404
    own = make_contact(other_tenant, name="Eigen klant", external_id=external_id)
    assert portal(other_tenant, external_id).json()["contact"]["id"] == own
    assert portal(tenant, external_id).json()["contact"]["id"] != own


def test_an_empty_customer_has_zero_figures(tenant):
    external_id = unique("CRM")
    make_contact(tenant, external_id=external_id)
    body = portal(tenant, external_id).json()
    assert body["summary"] == {"open_invoice_count": 0, "open_invoice_amount": 0, "active_subscriptions": 0,
                               "balance": 0}
    assert body["invoices"] == body["quotes"] == body["subscriptions"] == body["recent_payments"] == []


@pytest.mark.parametrize(("scopes", "portal_status", "other_status"), [
    (("portal",), 200, 403), (("read",), 200, 200), (("read", "write"), 200, 200), (("admin",), 200, 200)])
def test_scopes(make_tenant, scopes, portal_status, other_status):
    owner = make_tenant()
    external_id = unique("CRM")
    contact_id = make_contact(owner, external_id=external_id)
    key = owner.post("/api/api-keys", {"name": "chatbot", "scopes": list(scopes)}).json()["key"]
    headers = {"X-API-Key": key}
    assert owner.client.get(f"/api/client-portal/{external_id}", headers=headers).status_code == portal_status
    for url in ("/api/contacts", "/api/quotes", "/api/subscriptions", "/api/invoices", "/api/payments",
                f"/api/contacts/{contact_id}"):
        assert owner.client.get(url, headers=headers).status_code == other_status, url
    if scopes == ("portal",):
        quote = {"contact_id": contact_id, "lines": [line()]}
        assert owner.client.post("/api/quotes", json=quote, headers=headers).status_code == 403
        assert owner.client.get("/api/api-keys", headers=headers).status_code == 403


def _history(tenant, contact_id, n_invoices: int, n_paid: int, n_other: int) -> None:
    """Invoices (the first n_paid paid in full), payments, quotes and subscriptions, made directly."""
    admin = tenant.administration_id
    with db.database.connection_context():
        for n in range(n_invoices):
            made = invoices.create_invoice(admin, {
                "contact_id": contact_id, "status": "verzonden", "invoice_date": "2026-03-01",
                "lines": [line(f"Regel {n}", 1, 10.00), line("Extra", 2, 2.50)]})
            if n < n_paid:
                payments.register_payment(admin, {"invoice_id": made.id, "amount": 15.00})
        for _ in range(n_other):
            quotes.create_quote(admin, {"contact_id": contact_id, "status": "verzonden",
                                        "valid_until": LATER, "lines": [line()]})
            subscriptions.create_subscription(admin, {"contact_id": contact_id, "interval": "month",
                                                      "start_date": "2026-01-01", "lines": [line()]})


def test_portal_queries_do_not_grow_with_the_history(tenant):
    small, large = unique("SMALL"), unique("LARGE")
    _history(tenant, make_contact(tenant, external_id=small), n_invoices=1, n_paid=1, n_other=1)
    _history(tenant, make_contact(tenant, external_id=large), n_invoices=500, n_paid=380, n_other=60)
    # Every open invoice (due 2026-03-31) has had its first payment reminder.
    assert tenant.patch("/api/reminder-settings", {"enabled": True}).status_code == 200
    with db.database.connection_context():
        assert run_reminders(datetime(2026, 4, 7, 6)) >= 120
        InvoiceDelivery.update(status="sent", sent_at=datetime(2026, 4, 7, 6, 5), next_attempt_at=None).where(
            InvoiceDelivery.administration == tenant.administration_id).execute()
    assert tenant.patch("/api/reminder-settings", {"enabled": False}).status_code == 200
    portal(tenant, small)  # the key is verified (and cached) outside the counted blocks

    with count_queries() as few:
        assert portal(tenant, small).status_code == 200
    with count_queries() as many:
        response = portal(tenant, large)
    assert response.status_code == 200
    assert few.count == many.count == 12, many.sql

    body = response.json()
    assert body["summary"] == {"open_invoice_count": 120, "open_invoice_amount": 1800.00,
                               "active_subscriptions": 60, "balance": 1800.00}
    assert len(body["invoices"]) == 110
    assert [i["status"] for i in body["invoices"]] == ["verzonden"] * 100 + ["betaald"] * 10
    assert [(i["reminders"]["state"], i["reminders"]["reminders_sent"]) for i in body["invoices"][:100]] == [
        ("reminded", 1)] * 100
    assert (len(body["quotes"]), len(body["subscriptions"]), len(body["recent_payments"])) == (50, 50, 10)


def test_sums_beyond_64_bit_cents_are_exact_and_never_an_outage(tenant):
    """Ten invoices at the largest total the API allows (1,000 lines at the per-line maxima):
    about 10^19 cents in all, past SQLite's 64-bit integers (which it reports as an error)."""
    import json
    from decimal import Decimal

    from models.invoices import Invoice

    external_id = unique("BIG")
    contact = make_contact(tenant, external_id=external_id)
    largest = make_invoice(tenant, contact, lines=[line("Maximaal", 999999.9999, 9999999.99, 21)] * 1000)
    total = json.loads(tenant.get(f"/api/invoices/{largest['id']}").text, parse_float=Decimal)["total_incl"]
    assert total == Decimal("9999999989000000.00")  # 1,000 × round2(999999.9999 × 9999999.99)
    # Nine more like it: built small, then given the same total (1,000 lines each is slow).
    others = [make_invoice(tenant, contact)["id"] for _ in range(9)]
    with db.database.connection_context():
        Invoice.update(total_incl=total).where(Invoice.id.in_(others)).execute()
    response = portal(tenant, external_id)
    assert response.status_code == 200, response.text
    summary = json.loads(response.text, parse_float=Decimal)["summary"]
    assert summary["open_invoice_amount"] == summary["balance"] == 10 * total
    assert summary["open_invoice_count"] == 10
