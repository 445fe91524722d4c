"""Receivers that push back: 429/503 with Retry-After, 410 Gone, and the per-endpoint cap on
attempts per second."""

from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta

from models import db
from models.webhooks import WebhookDelivery
from tests.webhooks.conftest import add_endpoint, run_worker
from webhooks.worker import RETRY_SCHEDULE, parse_retry_after


def _names(receiver) -> list[str]:
    return [r.json["data"]["name"] for r in receiver.requests]


def _delivery(tenant, endpoint, name) -> dict:
    log = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    contact_ids = {c["name"]: c["id"] for c in tenant.get("/api/contacts?limit=500").json()["data"]}
    events = {e["id"]: e["data"]["id"] for e in tenant.get("/api/events?limit=500").json()["data"]}
    [delivery] = [d for d in log if events[d["event_id"]] == contact_ids[name]]
    return delivery


def test_429_with_retry_after_30_waits_30_seconds_and_holds_the_endpoint(tenant, receiver, make_worker,
                                                                        clock):
    endpoint = add_endpoint(tenant, receiver.url())
    receiver.answer((429, {"Retry-After": "30"}))
    tenant.post("/api/contacts", {"name": "First BV"})
    tenant.post("/api/contacts", {"name": "Second BV"})
    worker = make_worker(clock=clock)
    pushed_at = clock.now
    run_worker(worker)
    assert _names(receiver) == ["First BV"]  # the endpoint's other delivery waits too

    first = _delivery(tenant, endpoint, "First BV")
    assert first["status"] == "pending" and first["attempts"] == 1 and first["response_status"] == 429
    assert first["next_attempt_at"] == (pushed_at + timedelta(seconds=30)).isoformat(
        timespec="microseconds") + "Z"
    state = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}").json()
    assert state["paused_until"] == first["next_attempt_at"]
    assert state["failing_since"] is None and state["enabled"] is True  # not a failure toward disabling

    clock.advance(seconds=29.9)
    run_worker(worker)
    assert len(receiver.requests) == 1
    clock.advance(seconds=0.1)
    run_worker(worker)
    assert _names(receiver) == ["First BV", "First BV", "Second BV"]
    assert [r.attempt for r in receiver.requests] == [1, 2, 1]
    assert receiver.requests[0].webhook_id == receiver.requests[1].webhook_id
    with db.database.connection_context():
        assert [d.failures for d in WebhookDelivery.select().where(
            WebhookDelivery.endpoint == endpoint["id"])] == [0, 0]
        assert {d.status for d in WebhookDelivery.select().where(
            WebhookDelivery.endpoint == endpoint["id"])} == {"delivered"}


def test_503_with_an_http_date_waits_until_that_date(tenant, receiver, make_worker, clock):
    endpoint = add_endpoint(tenant, receiver.url())
    until = clock.now.replace(microsecond=0) + timedelta(minutes=2)
    http_date = email.utils.format_datetime(until.replace(tzinfo=UTC), usegmt=True)
    receiver.answer((503, {"Retry-After": http_date}))
    tenant.post("/api/contacts", {"name": "Busy BV"})
    worker = make_worker(clock=clock)
    run_worker(worker)
    assert tenant.get(f"/api/webhook-endpoints/{endpoint['id']}").json()["paused_until"] == \
        until.isoformat(timespec="microseconds") + "Z"
    clock.now = until - timedelta(seconds=1)
    run_worker(worker)
    assert len(receiver.requests) == 1
    clock.now = until
    run_worker(worker)
    assert [r.attempt for r in receiver.requests] == [1, 2]


def test_pushback_never_disables_an_endpoint(tenant, receiver, make_worker, clock):
    endpoint = add_endpoint(tenant, receiver.url())
    receiver.default_status = 429
    tenant.post("/api/contacts", {"name": "Throttled BV"})
    worker = make_worker(clock=clock, webhook_disable_after_days=0.001)  # 86.4 s
    for _ in range(12):
        receiver.answer((429, {"Retry-After": "60"}))
        run_worker(worker)
        clock.advance(seconds=60)
    assert len(receiver.requests) == 12  # once a minute, as asked, for 12 minutes
    state = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}").json()
    assert state["enabled"] is True and state["failing_since"] is None

    # Without Retry-After a 429 is an ordinary failure: the schedule, and it counts.
    run_worker(worker)
    assert receiver.requests[-1].attempt == 13
    delivery = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"][0]
    assert delivery["next_attempt_at"] == (clock.now + RETRY_SCHEDULE[0]).isoformat(
        timespec="microseconds") + "Z"
    assert tenant.get(f"/api/webhook-endpoints/{endpoint['id']}").json()["failing_since"] is not None


def test_410_gone_disables_the_endpoint_at_once_with_the_reason(tenant, receiver, make_worker, clock):
    endpoint = add_endpoint(tenant, receiver.url())
    receiver.answer(410)
    tenant.post("/api/contacts", {"name": "Gone BV"})
    tenant.post("/api/contacts", {"name": "Never BV"})
    worker = make_worker(clock=clock)
    run_worker(worker)
    state = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}").json()
    assert state["enabled"] is False
    assert state["disabled_reason"] == (f"Disabled automatically at "
                                        f"{clock.now.isoformat(timespec='seconds')}Z: "
                                        "the endpoint answered 410 Gone")
    clock.advance(days=1)
    tenant.post("/api/contacts", {"name": "Later BV"})
    run_worker(worker)
    assert _names(receiver) == ["Gone BV"]
    listed = tenant.get("/api/webhook-endpoints").json()["data"]
    assert [e["disabled_reason"] for e in listed] == [state["disabled_reason"]]


def test_the_cap_spaces_attempts_to_one_endpoint_across_batches(tenant, receiver, make_worker):
    endpoint = add_endpoint(tenant, receiver.url())
    for i in range(8):
        tenant.post("/api/contacts", {"name": f"Paced {i}"})
    run_worker(make_worker(webhook_max_per_second=5, webhook_batch_size=3))
    assert _names(receiver) == [f"Paced {i}" for i in range(8)]
    with db.database.connection_context():
        starts = sorted(d.last_attempt_at for d in WebhookDelivery.select().where(
            WebhookDelivery.endpoint == endpoint["id"]))
    gaps = [(b - a).total_seconds() for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 0.199, gaps  # 5 a second: 200 ms apart, also from one batch to the next


def test_retry_after_values():
    now = datetime(2026, 4, 2, 9, 0, 0)
    assert parse_retry_after("30", now) == timedelta(seconds=30)
    assert parse_retry_after(" 0 ", now) == timedelta(0)
    assert parse_retry_after("Thu, 02 Apr 2026 09:01:30 GMT", now) == timedelta(seconds=90)
    assert parse_retry_after("Thu, 02 Apr 2026 08:00:00 GMT", now) == timedelta(0)  # past: no wait
    assert parse_retry_after("9999999", now) == timedelta(hours=24)  # capped
    assert parse_retry_after("-5", now) is None
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None
    assert parse_retry_after("1.5", now) is None  # RFC 9110: whole seconds only
