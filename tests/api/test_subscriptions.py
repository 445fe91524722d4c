"""Subscriptions: create, read, the status table, next_period_start, tenancy, statement counts."""

from __future__ import annotations

from datetime import date

import pytest

from models import db
from models.events import Event
from models.invoices import business_today
from models.subscriptions import STATUSES, SUBSCRIPTION_TRANSITIONS, Subscription, SubscriptionLine
from tests.api.sales import events, line, make_contact, make_product, make_subscription
from tests.querycount import count_queries


def snapshot(tenant) -> dict:
    admin = tenant.administration_id
    with db.database.connection_context():
        return {
            "subscriptions": sorted(
                (str(s.id), s.status, s.next_index, s.next_period_start, s.end_date, s.note, s.total_incl,
                 s.invoice_status, s.updated_at) for s in Subscription.of(admin)),
            "lines": sorted((str(x.id), x.description, x.quantity) for x in SubscriptionLine.of(admin)),
            "events": Event.of(admin).count(),
        }


def subscription_in(tenant, status: str) -> dict:
    subscription = make_subscription(tenant)
    url = f"/api/subscriptions/{subscription['id']}"
    steps = {"actief": [], "gepauzeerd": ["gepauzeerd"], "opgezegd": ["opgezegd"]}[status]
    for step in steps:
        assert tenant.patch(url, {"status": step}).status_code == 200
    return tenant.get(url).json()


def test_create_and_read_a_subscription(tenant):
    contact_id = make_contact(tenant)
    product_id = make_product(tenant)
    created = tenant.post("/api/subscriptions", {
        "contact_id": contact_id, "interval": "quarter", "interval_count": 1, "start_date": "2026-01-31",
        "invoice_status": "verzonden", "payment_term_days": 14, "reference": "CONTRACT-9",
        "lines": [{"product_id": product_id}, line("Onderhoud", 1, 36.00, 9),
                  {"description": "Prijzen per kwartaal", "is_text_line": True}]})
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"/api/subscriptions/{body['id']}"
    assert (body["status"], body["interval"], body["interval_count"]) == ("actief", "quarter", 1)
    assert (body["start_date"], body["end_date"]) == ("2026-01-31", None)
    assert (body["invoice_status"], body["payment_term_days"], body["currency"]) == ("verzonden", 14, "EUR")
    assert body["next_period_start"] == "2026-01-31"
    assert (body["total_incl"], body["total_vat"], body["total_excl"]) == (125.00, 18.42, 106.58)
    assert [x["description"] for x in body["lines"]] == ["Spont POS Licentie", "Onderhoud",
                                                         "Prijzen per kwartaal"]
    assert body["lines"][0]["product_id"] == product_id
    assert body["contact"]["name"] == "Acme BV"
    assert tenant.get(f"/api/subscriptions/{body['id']}").json() == body
    assert events(tenant, "subscription.created")[0]["data"]["id"] == body["id"]


def test_patch_changes_only_the_given_fields(tenant):
    subscription = make_subscription(tenant, start_date="2026-01-01")
    url = f"/api/subscriptions/{subscription['id']}"
    changed = tenant.patch(url, {"end_date": "2026-06-30", "lines": [line("Licentie", 2, 50.00)],
                                 "invoice_status": "verzonden", "note": "Jaarcontract"})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["end_date"], body["invoice_status"], body["note"], body["total_incl"]) == (
        "2026-06-30", "verzonden", "Jaarcontract", 100.00)
    assert (body["start_date"], body["interval"], body["status"]) == ("2026-01-01", "month", "actief")
    assert tenant.patch(url, {"end_date": None}).json()["end_date"] is None
    ended = tenant.patch(url, {"end_date": "2025-12-31"})
    assert ended.status_code == 422
    assert ended.json()["errors"][0]["field"] == "end_date"


def test_pause_resume_and_cancel_show_in_next_period_start(tenant):
    subscription = make_subscription(tenant, start_date="2026-01-01")
    url = f"/api/subscriptions/{subscription['id']}"
    paused = tenant.patch(url, {"status": "gepauzeerd"}).json()
    assert (paused["status"], paused["next_period_start"]) == ("gepauzeerd", None)
    resumed = tenant.patch(url, {"status": "actief"}).json()
    assert resumed["status"] == "actief"
    # Resumed today: billing goes on with the first period that starts today or later.
    today = business_today()
    first_of_next_month = date(today.year + today.month // 12, today.month % 12 + 1, 1)
    assert resumed["next_period_start"] == (today if today.day == 1 else first_of_next_month).isoformat()
    cancelled = tenant.patch(url, {"status": "opgezegd"}).json()
    assert (cancelled["status"], cancelled["next_period_start"]) == ("opgezegd", None)
    assert [e.get("previous_status") for e in events(tenant, "subscription.updated")] == [
        "actief", "gepauzeerd", "actief"]


ILLEGAL = [(current, target) for current in STATUSES for target in STATUSES
           if target != current and target not in SUBSCRIPTION_TRANSITIONS[current]]


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_every_illegal_status_change_is_409_and_changes_nothing(tenant, current, target):
    subscription = subscription_in(tenant, current)
    before = snapshot(tenant)
    response = tenant.patch(f"/api/subscriptions/{subscription['id']}", {"status": target})
    assert response.status_code == 409, response.text
    assert response.json()["allowed"] == sorted(SUBSCRIPTION_TRANSITIONS[current])
    assert snapshot(tenant) == before


def test_a_cancelled_subscription_changes_only_its_note(tenant):
    subscription = subscription_in(tenant, "opgezegd")
    url = f"/api/subscriptions/{subscription['id']}"
    before = snapshot(tenant)
    for change in ({"end_date": "2027-01-01"}, {"lines": [line()]}, {"invoice_status": "verzonden"},
                   {"status": "opgezegd", "reference": "x"}):
        assert tenant.patch(url, change).status_code == 409, change
    assert snapshot(tenant) == before
    assert tenant.patch(url, {"note": "Klant gestopt", "status": "opgezegd"}).status_code == 200


def test_bad_input_is_a_clear_4xx_and_creates_nothing(tenant, other_tenant):
    contact_id = make_contact(tenant)
    foreign = make_contact(other_tenant)
    before = snapshot(tenant)
    base = {"contact_id": contact_id, "interval": "month", "start_date": "2026-01-01", "lines": [line()]}
    cases = [
        ({**base, "end_date": "2025-12-31"}, 422),
        ({**base, "interval": "week"}, 422),
        ({**base, "interval_count": 0}, 422),
        ({**base, "start_date": "3000-01-01"}, 422),
        ({**base, "start_date": "2026-02-30"}, 422),
        ({**base, "lines": [line()] * 101}, 422),
        ({**base, "lines": [line(price=1.001)]}, 422),
        ({**base, "contact_id": foreign}, 422),
        ({key: value for key, value in base.items() if key != "start_date"}, 422),
    ]
    for body, status in cases:
        response = tenant.post("/api/subscriptions", body)
        assert response.status_code == status, (body, response.text)
    assert snapshot(tenant) == before


def test_list_filters(tenant):
    first = make_contact(tenant)
    second = make_contact(tenant, name="Bakkerij")
    a = make_subscription(tenant, first, start_date="2026-01-01")
    b = make_subscription(tenant, second, start_date="2026-03-01", interval="year")
    assert tenant.patch(f"/api/subscriptions/{b['id']}", {"status": "gepauzeerd"}).status_code == 200

    def ids(query):
        response = tenant.get(f"/api/subscriptions?{query}")
        assert response.status_code == 200, response.text
        return [s["id"] for s in response.json()["data"]]

    assert ids("status=actief") == [a["id"]]
    assert ids("status=actief,gepauzeerd") == [a["id"], b["id"]]
    assert ids(f"contact_id={second}") == [b["id"]]
    assert ids("date_from=2026-02-01") == [b["id"]]
    assert ids("date_to=2026-02-01") == [a["id"]]
    assert ids("limit=1&offset=1") == [b["id"]]
    since = tenant.get(f"/api/subscriptions/{b['id']}").json()["updated_at"]
    assert ids(f"updated_since={since}") == [b["id"]]
    assert tenant.get("/api/subscriptions?status=weg").status_code == 400


def test_another_tenants_subscriptions_are_404(tenant, other_tenant):
    subscription = make_subscription(tenant)
    url = f"/api/subscriptions/{subscription['id']}"
    before = snapshot(tenant)
    assert other_tenant.get(url).status_code == 404
    assert other_tenant.patch(url, {"status": "opgezegd"}).status_code == 404
    assert other_tenant.get("/api/subscriptions").json()["total"] == 0
    assert snapshot(tenant) == before


def test_a_contact_with_subscriptions_cannot_be_deleted(tenant):
    subscription = make_subscription(tenant)
    assert tenant.delete(f"/api/contacts/{subscription['contact_id']}").status_code == 409


@pytest.mark.parametrize("lines_per_subscription", [1, 40])
def test_subscription_reads_take_a_fixed_number_of_statements(tenant, lines_per_subscription):
    contact_id = make_contact(tenant)
    lines = [line(f"Regel {i}", price=10.00) for i in range(lines_per_subscription)]
    made = [make_subscription(tenant, contact_id, lines=lines) for _ in range(21)]
    tenant.get("/api/subscriptions?limit=1")

    with count_queries() as one:
        assert len(tenant.get("/api/subscriptions?limit=1").json()["data"]) == 1
    with count_queries() as page:
        assert len(tenant.get("/api/subscriptions?limit=20").json()["data"]) == 20
    with count_queries() as everything:
        assert tenant.get("/api/subscriptions?limit=25").json()["total"] == 21
    with count_queries() as detail:
        shown = tenant.get(f"/api/subscriptions/{made[0]['id']}").json()
    assert len(shown["lines"]) == lines_per_subscription
    assert one.count == page.count == 3, page.sql      # page with contacts, count (more follow), lines
    assert everything.count == 2, everything.sql       # a short first page implies its total: no count
    assert detail.count == 2, detail.sql
