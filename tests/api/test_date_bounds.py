"""Which dates documents may carry, and how far back a subscription catches up."""

from __future__ import annotations

from datetime import date

import pytest

from models import billing, db
from models.invoices import Invoice, business_today
from models.periods import add_months
from tests.api.sales import line, make_contact, make_subscription
from tests.conftest import count_rows


@pytest.mark.parametrize("path, field", [("/api/invoices", "invoice_date"), ("/api/quotes", "quote_date")])
def test_documents_are_dated_from_2000_to_a_year_ahead(tenant, path, field):
    contact = make_contact(tenant)
    today = business_today()
    for day, status in [("1900-01-01", 422), ("1999-12-31", 422),
                        (add_months(today, 13).isoformat(), 422), ("2000-01-01", 201),
                        (add_months(today, 11).isoformat(), 201)]:
        response = tenant.post(path, {"contact_id": contact, "status": "verzonden", field: day,
                                      "lines": [line()]})
        assert response.status_code == status, (day, response.text)
        if status == 422:
            assert field in [e["field"] for e in response.json()["errors"]]
    numbers = [i["number"] for i in tenant.get(path, params={"contact_id": contact}).json()["data"]]
    assert not any("1900" in n for n in numbers) and any("2000-" in n for n in numbers)


def test_a_subscription_cannot_start_in_1900(tenant):
    response = tenant.post("/api/subscriptions", {"contact_id": make_contact(tenant), "interval": "month",
                                                  "start_date": "1900-01-01", "lines": [line()]})
    assert response.status_code == 422, response.text
    assert "start_date" in [e["field"] for e in response.json()["errors"]]


def test_catch_up_billing_stops_at_24_months(tenant):
    lines = [line(f"Regel {n}", 1, 10.00) for n in range(20)]
    subscription = make_subscription(tenant, start_date="2000-01-01", lines=lines)
    with db.database.connection_context():
        summary = billing.run_billing(date(2026, 12, 4), administration_id=tenant.administration_id)
    # 2025-01-01 through 2026-12-01: the periods that started in the 24 months before the run.
    assert summary.invoices == 24
    invoices = tenant.get("/api/invoices", params={"contact_id": subscription["contact_id"],
                                                   "limit": 500}).json()["data"]
    assert sorted(i["invoice_date"] for i in invoices)[0] == "2025-01-01"
    assert count_rows(Invoice, administration=tenant.administration_id) == 24
    after = tenant.get(f"/api/subscriptions/{subscription['id']}").json()
    assert after["next_period_start"] == "2027-01-01"
    with db.database.connection_context():
        again = billing.run_billing(date(2026, 12, 4), administration_id=tenant.administration_id)
    assert again.invoices == 0
