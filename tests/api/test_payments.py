"""Payments and refunds: amount_paid is the exact sum, the status follows, 409s change nothing."""

from __future__ import annotations

import pytest

from tests.api.test_invoices import events, issued_in, line, make_contact, make_invoice, snapshot
from tests.querycount import count_queries


def pay(tenant, invoice_id, amount, **fields):
    return tenant.post("/api/payments", {"invoice_id": invoice_id, "amount": amount, **fields})


def test_partial_full_over_and_refunds(tenant):
    invoice = make_invoice(tenant, status="verzonden", lines=[line("Uren", 3, 33.33, 21)])  # 99.99
    url = f"/api/invoices/{invoice['id']}"
    steps = [
        (0.01, "deels_betaald", 0.01, 99.98),
        (49.99, "deels_betaald", 50.00, 49.99),
        (49.99, "betaald", 99.99, 0.00),
        (10.00, "betaald", 109.99, -10.00),     # paid too much: the customer is owed 10.00
        (-10.00, "betaald", 99.99, 0.00),       # refunded
        (-99.98, "deels_betaald", 0.01, 99.98),
        (-0.01, "verzonden", 0.00, 99.99),
    ]
    for amount, status, paid, open_amount in steps:
        response = pay(tenant, invoice["id"], amount, allow_overpayment=amount == 10.00)
        assert response.status_code == 201, response.text
        body = tenant.get(url).json()
        assert (body["status"], body["amount_paid"], body["open_amount"]) == (status, paid, open_amount)
    assert '"amount_paid": 0.00' in tenant.get(url).text
    types = [e["type"] for e in events(tenant, "payment.created", "payment.refunded")]
    assert types == ["payment.created"] * 4 + ["payment.refunded"] * 3
    statuses = [(e["data"]["status"], e.get("previous_status")) for e in events(tenant, "invoice.updated")]
    assert statuses == [("deels_betaald", "verzonden"), ("deels_betaald", None), ("betaald", "deels_betaald"),
                        ("betaald", None), ("betaald", None), ("deels_betaald", "betaald"),
                        ("verzonden", "deels_betaald")]


def test_overpayment_needs_allow_overpayment_and_stops_at_twice_the_total(tenant):
    invoice = make_invoice(tenant, status="verzonden", lines=[line("Licentie", 1, 121.00, 21)])
    url = f"/api/invoices/{invoice['id']}"
    before = snapshot(tenant)
    for amount, flag in [(999_999_999_999.99, False), (999_999_999_999.99, True), (121.01, False),
                         (242.01, True)]:
        refused = pay(tenant, invoice["id"], amount, allow_overpayment=flag)
        assert refused.status_code == 409, (amount, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
    assert snapshot(tenant) == before
    assert pay(tenant, invoice["id"], 100.00).status_code == 201
    over = pay(tenant, invoice["id"], 30.00)
    assert over.status_code == 409 and "21.00 still open" in over.json()["detail"]
    assert pay(tenant, invoice["id"], 21.00).status_code == 201  # exactly the open amount
    assert pay(tenant, invoice["id"], 0.01).status_code == 409
    assert pay(tenant, invoice["id"], 121.00, allow_overpayment=True).status_code == 201  # paid twice
    assert pay(tenant, invoice["id"], 0.01, allow_overpayment=True).status_code == 409
    body = tenant.get(url).json()
    assert (body["status"], body["amount_paid"], body["open_amount"]) == ("betaald", 242.00, -121.00)


def test_a_refund_beyond_what_was_paid_is_409_and_changes_nothing(tenant):
    invoice = make_invoice(tenant, status="verzonden")
    assert pay(tenant, invoice["id"], 25.00).status_code == 201
    before = snapshot(tenant)
    response = pay(tenant, invoice["id"], -25.01)
    assert response.status_code == 409, response.text
    assert "no more than was paid" in response.json()["detail"]
    assert snapshot(tenant) == before


@pytest.mark.parametrize("status", ["concept", "oninbaar", "gecrediteerd"])
def test_no_payment_on_an_invoice_that_takes_none(tenant, status):
    invoice = issued_in(tenant, status)
    before = snapshot(tenant)
    for amount in (125.00, -1.00):
        response = pay(tenant, invoice["id"], amount)
        assert response.status_code == 409, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert status in response.json()["detail"]
    assert snapshot(tenant) == before


@pytest.mark.parametrize("body, field", [
    ({"amount": 0}, "amount"),
    ({"amount": 0.00}, "amount"),
    ({"amount": 10.001}, "amount"),
    ({"amount": "10.00"}, "amount"),
    ({"amount": 1e13}, "amount"),
    ({"payment_date": "2026-02-30"}, "payment_date"),
    ({"payment_date": "morgen"}, "payment_date"),
    ({"external_method": "x" * 51}, "external_method"),
    ({"extra": 1}, "extra"),
])
def test_invalid_payments_are_422_and_write_nothing(tenant, body, field):
    invoice = make_invoice(tenant, status="verzonden")
    before = snapshot(tenant)
    response = tenant.post("/api/payments", {"invoice_id": invoice["id"], "amount": 10.00, **body})
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert snapshot(tenant) == before


def test_missing_fields(tenant):
    assert tenant.post("/api/payments", {"amount": 10.00}).status_code == 422
    invoice = make_invoice(tenant, status="verzonden")
    assert tenant.post("/api/payments", {"invoice_id": invoice["id"]}).status_code == 422


def test_get_and_list_with_filters(tenant):
    acme, bakker = make_contact(tenant), make_contact(tenant, name="Bakker")
    first = make_invoice(tenant, acme, status="verzonden")
    second = make_invoice(tenant, bakker, status="verzonden")
    a = pay(tenant, first["id"], 10.00, payment_date="2026-03-01", external_method="ideal",
            external_reference="TR-1", note="eerste").json()
    b = pay(tenant, second["id"], 20.00, payment_date="2026-03-15").json()
    c = pay(tenant, first["id"], -5.00, payment_date="2026-04-01").json()

    fetched = tenant.get(f"/api/payments/{a['id']}")
    assert fetched.status_code == 200 and fetched.json() == a
    assert (a["amount"], a["payment_date"], a["external_method"], a["external_reference"], a["note"],
            a["contact_id"]) == (10.00, "2026-03-01", "ideal", "TR-1", "eerste", acme)

    def ids(**params):
        response = tenant.get("/api/payments", params=params)
        assert response.status_code == 200, response.text
        return [p["id"] for p in response.json()["data"]]

    assert ids() == [a["id"], b["id"], c["id"]]
    assert ids(invoice_id=first["id"]) == [a["id"], c["id"]]
    assert ids(contact_id=bakker) == [b["id"]]
    assert ids(date_from="2026-03-15") == [b["id"], c["id"]]
    assert ids(date_to="2026-03-15") == [a["id"], b["id"]]
    assert ids(limit=1, offset=2) == [c["id"]]
    assert ids(updated_since=c["updated_at"]) == [c["id"]]
    assert tenant.get("/api/payments", params={"limit": 1}).json()["total"] == 3
    for params in ({"invoice_id": "x"}, {"date_from": "2026-3-1"}, {"limit": 0}, {"nope": 1}):
        assert tenant.get("/api/payments", params=params).status_code == 400


def test_default_payment_date_is_today(tenant):
    from models.invoices import business_today

    invoice = make_invoice(tenant, status="verzonden")
    assert pay(tenant, invoice["id"], 1.00).json()["payment_date"] == business_today().isoformat()


def test_payment_list_and_detail_use_a_fixed_number_of_queries(tenant):
    invoice = make_invoice(tenant, status="verzonden", lines=[line(price=1000.00)])

    def measure(url) -> int:
        tenant.get(url)
        with count_queries() as seen:
            assert tenant.get(url).status_code == 200
        return seen.count

    first = pay(tenant, invoice["id"], 1.00).json()
    one, detail = measure("/api/payments"), measure(f"/api/payments/{first['id']}")
    for _ in range(19):
        pay(tenant, invoice["id"], 1.00)
    assert tenant.get("/api/payments").json()["total"] == 20
    # A short first page is the whole list, so it implies `total`: the page is the only statement.
    assert measure("/api/payments") == one == 1
    assert measure(f"/api/payments?invoice_id={invoice['id']}") == 1
    # A page with more after it also counts (bounded): page and count, for 1 row as for 10.
    assert measure("/api/payments?limit=1") == measure("/api/payments?limit=10") == 2
    assert measure("/api/payments?limit=10&offset=10") == 1  # the last page implies total 20
    assert measure(f"/api/payments/{first['id']}") == detail == 1


def test_other_tenants_payments_are_404_and_their_invoices_422(tenant, other_tenant):
    invoice = make_invoice(tenant, status="verzonden")
    payment = pay(tenant, invoice["id"], 10.00).json()
    before = snapshot(tenant)
    assert other_tenant.get(f"/api/payments/{payment['id']}").status_code == 404
    response = pay(other_tenant, invoice["id"], 10.00)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "invoice_id"
    assert pay(tenant, "6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f", 10.00).status_code == 422
    assert other_tenant.get("/api/payments").json()["total"] == 0
    assert other_tenant.get("/api/payments", params={"invoice_id": invoice["id"]}).json()["total"] == 0
    assert snapshot(tenant) == before
    assert tenant.get("/api/payments/6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f").status_code == 404
    assert tenant.get("/api/payments/not-a-uuid").status_code == 400


def test_a_payment_for_an_open_amount_beyond_what_post_takes_is_described_by_the_spec(tenant):
    """PATCH to `betaald` pays the open amount, which may exceed the most a POST /payments
    `amount` (Money) may be: the payment's `amount` in responses is an Amount, unbounded
    (the client's openapi-core check validates each response below)."""
    invoice = make_invoice(tenant, status="verzonden",
                           lines=[line("Jaarcontract", 999999.9999, 9999999.99, 21)])
    assert invoice["total_incl"] == 9999999989000.00
    paid = tenant.patch(f"/api/invoices/{invoice['id']}", {"status": "betaald"})
    assert paid.status_code == 200, paid.text
    [payment] = tenant.get("/api/payments", params={"invoice_id": invoice["id"]}).json()["data"]
    assert payment["amount"] == 9999999989000.00
    assert tenant.get(f"/api/payments/{payment['id']}").json()["amount"] == 9999999989000.00
