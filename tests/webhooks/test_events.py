"""GET /events: cursor paging, payloads, retention, tenant isolation."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from models import db
from models.db import utcnow
from models.events import Event, purge_events, record_event
from tests.conftest import count_rows


def page_through(tenant, limit: int, after=None) -> tuple[list[dict], list[int]]:
    """Every event after `after`, page by page; also the page sizes."""
    seen, sizes = [], []
    while True:
        query = f"?limit={limit}" + (f"&after={after}" if after else "")
        page = tenant.get("/api/events" + query)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += body["data"]
        sizes.append(len(body["data"]))
        after = body["next_after"]
        if not body["has_more"]:
            return seen, sizes


def test_paging_returns_every_event_once_in_order(tenant):
    names = [f"Klant {i:02}" for i in range(25)]
    for name in names:
        tenant.post("/api/contacts", {"name": name})
    events, sizes = page_through(tenant, limit=10)
    assert sizes == [10, 10, 5]
    assert [e["data"]["name"] for e in events] == names
    assert len({e["id"] for e in events}) == 25
    assert all(e["type"] == "contact.created" for e in events)

    # Polling again from the last cursor gives only what is new.
    last = events[-1]["id"]
    assert tenant.get(f"/api/events?after={last}").json() == {
        "data": [], "limit": 100, "has_more": False, "next_after": last,
    }
    contact = tenant.post("/api/contacts", {"name": "Nieuw"}).json()
    newer = tenant.get(f"/api/events?after={last}").json()["data"]
    assert [(e["type"], e["data"]) for e in newer] == [("contact.created", contact)]


def test_an_empty_administration_has_no_events(tenant):
    assert tenant.get("/api/events").json() == {
        "data": [], "limit": 100, "has_more": False, "next_after": None,
    }


def test_event_payload_carries_extra_fields_and_exact_money(tenant):
    with db.database.connection_context(), db.database.atomic():
        event = record_event(tenant.administration_id, "invoice.updated",
                             {"id": "x", "status": "betaald", "total_incl": Decimal("339.00")},
                             previous_status="verzonden")
    fetched = tenant.get(f"/api/events/{event.id}")
    assert fetched.status_code == 200, fetched.text
    body = fetched.json()
    assert body["type"] == "invoice.updated" and body["previous_status"] == "verzonden"
    assert body["data"]["total_incl"] == 339.00 and '"total_incl": 339.00' in fetched.text
    product = tenant.post("/api/products", {"name": "Kassa", "unit_price_incl": 89.10}).json()
    [created] = [e for e in tenant.get("/api/events").json()["data"] if e["type"] == "product.created"]
    assert created["data"] == product and '"unit_price_incl": 89.10' in tenant.get(
        f"/api/events/{created['id']}").text


def test_unknown_or_foreign_cursor_is_404(tenant, other_tenant):
    tenant.post("/api/contacts", {"name": "Mijn klant"})
    [mine] = tenant.get("/api/events").json()["data"]
    assert other_tenant.get(f"/api/events?after={mine['id']}").status_code == 404
    assert other_tenant.get(f"/api/events/{mine['id']}").status_code == 404
    assert other_tenant.get("/api/events").json()["data"] == []
    assert tenant.get("/api/events?after=6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f").status_code == 404
    assert tenant.get("/api/events?after=nope").status_code == 400
    assert tenant.get("/api/events?limit=501").status_code == 400


def test_events_are_kept_30_days_then_purged(tenant):
    for name in ("Oud", "Vergeten", "Recent"):
        tenant.post("/api/contacts", {"name": name})
    events = tenant.get("/api/events").json()["data"]
    now = utcnow()
    with db.database.connection_context():
        Event.update(created_at=now - timedelta(days=31), dispatched_at=now).where(
            Event.id == events[0]["id"]).execute()
        # Not yet fanned out to webhooks: kept whatever its age.
        Event.update(created_at=now - timedelta(days=31), dispatched_at=None).where(
            Event.id == events[1]["id"]).execute()
        Event.update(created_at=now - timedelta(days=29, hours=23), dispatched_at=now).where(
            Event.id == events[2]["id"]).execute()
        assert purge_events(now, retention_days=30) == 1
    assert count_rows(Event, administration=tenant.administration_id) == 2
    remaining = [e["data"]["name"] for e in tenant.get("/api/events").json()["data"]]
    assert remaining == ["Vergeten", "Recent"]
