"""Concurrent delivery: a slow and a silent receiver beside three fast ones, 300 events each.

The fast receivers must have all 300 events within 3 s of the worker's start, with p95 latency
(event written → request received) under 1 s; the slow one still gets its events, in order, one
at a time; the silent one is retried on the schedule (the worker's clock is real time plus an
offset the test moves on) and gets its events once it answers."""

from __future__ import annotations

import statistics
import threading
import time
import uuid
from datetime import UTC, timedelta

import yaml

from models import db
from models.db import utcnow
from models.events import Event, record_events
from models.webhooks import WebhookDelivery
from tests.server import ROOT
from tests.webhooks.conftest import add_endpoint
from tests.webhooks.receiver import Receiver
from webhooks.outbox import dispatch_events

EVENTS = 300


class OffsetClock:
    """Real time, plus an offset the test moves forward (to reach the retry schedule)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self):
        return utcnow() + self.offset

    def advance(self, **delta) -> None:
        self.offset += timedelta(**delta)


#: A contact as the API returns it (openapi.yaml's example): the body every test receiver checks
#: against the `contact.created` schema.
CONTACT = yaml.safe_load((ROOT / "openapi.yaml").read_text())["components"]["examples"]["Contact"]["value"]


def _contact(name: str) -> dict:
    return {**CONTACT, "id": str(uuid.uuid4()), "name": name}


def _write_events(administration_id, count: int, seconds: float = 2.0, chunks: int = 20) -> None:
    """`count` contact.created events written as a busy API writes them: `chunks` transactions
    spread evenly over `seconds` (each written in bulk, so that writing is never the bottleneck)."""
    per_chunk = -(-count // chunks)
    start = time.monotonic()
    with db.database.connection_context():
        for n, first in enumerate(range(0, count, per_chunk)):
            time.sleep(max(0.0, start + n * seconds / chunks - time.monotonic()))
            with db.database.atomic():
                record_events(administration_id, [("contact.created", _contact(f"Klant {i:03}"))
                                                  for i in range(first, min(first + per_chunk, count))])


def _written_at(event_ids) -> dict[str, float]:
    with db.database.connection_context():
        rows = Event.select(Event.id, Event.created_at).where(
            Event.id.in_([uuid.UUID(i) for i in event_ids]))
        return {str(e.id): e.created_at.replace(tzinfo=UTC).timestamp() for e in rows}


def _delivery_of(endpoint_id, name: str) -> WebhookDelivery:
    with db.database.connection_context():
        for delivery in WebhookDelivery.select(WebhookDelivery, Event).join(Event).where(
                WebhookDelivery.endpoint == endpoint_id):
            if f'"name": "{name}"' in delivery.event.payload or f'"name":"{name}"' in delivery.event.payload:
                return delivery
    raise AssertionError(f"no delivery of {name}")


def _wait(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


def test_a_slow_and_a_silent_receiver_do_not_delay_the_others(tenant, make_worker):
    names = [f"Klant {i:03}" for i in range(EVENTS)]
    with Receiver() as fast1, Receiver() as fast2, Receiver() as fast3, \
            Receiver(delay=1.0) as slow, Receiver(hang=True) as silent:
        fast = [fast1, fast2, fast3]
        endpoints = {id(r): add_endpoint(tenant, r.url()) for r in [*fast, slow, silent]}
        clock = OffsetClock()
        worker = make_worker(clock=clock, webhook_timeout=2.0, worker_poll_interval=0.05)
        with db.database.connection_context():  # events of earlier tests: not this test's work
            while dispatch_events(utcnow()):
                pass
        worker.run_periodic()  # nor the reminders and e-mail their invoices have due
        while worker.mail.run_once():
            pass
        running = threading.Thread(target=worker.run, name="worker")
        started = time.time()
        running.start()
        try:
            _write_events(tenant.administration_id, EVENTS)
            for receiver in fast:
                receiver.wait_for(lambda requests: len(requests) >= EVENTS,
                                  timeout=max(0.0, started + 3.0 - time.time()))
            for receiver in fast:  # all 300, in order, within 3 s of the worker's start
                assert [r.json["data"]["name"] for r in receiver.requests] == names
                assert receiver.requests[-1].at - started <= 3.0
                written = _written_at(r.json["id"] for r in receiver.requests)
                latencies = [r.at - written[r.json["id"]] for r in receiver.requests]
                p95 = statistics.quantiles(latencies, n=20)[-1]
                assert p95 < 1.0, f"p95 latency {p95:.3f} s"
                assert max(receiver.max_in_flight.values()) == 1
            # Meanwhile the slow one was being served, one request at a time...
            assert len(slow.requests) >= 2
            # ...and the silent one got its first event once: it holds one thread, on a pause.
            assert [(r.json["data"]["name"], r.attempt) for r in silent.requests] == [("Klant 000", 1)]

            # The silent receiver is retried by the schedule: not before 5 s (on the clock)...
            silent_id = endpoints[id(silent)]["id"]
            assert _wait(lambda: _delivery_of(silent_id, "Klant 000").attempts == 1, timeout=30)
            first = _delivery_of(silent_id, "Klant 000")
            assert first.status == "pending" and first.failures == 1
            assert first.last_error == "timed out after 2 s"
            assert first.next_attempt_at - first.last_attempt_at >= timedelta(seconds=5)
            assert tenant.get(f"/api/webhook-endpoints/{silent_id}").json()["paused_until"] is not None
            time.sleep(0.5)
            assert len(silent.requests) == 1
            clock.advance(seconds=5)  # ...then the same delivery again
            assert silent.wait_for(lambda requests: len(requests) >= 2, timeout=30)
            assert silent.requests[1].attempt == 2
            assert silent.requests[1].webhook_id == silent.requests[0].webhook_id
            assert _wait(lambda: _delivery_of(silent_id, "Klant 000").attempts == 2, timeout=30)
            second = _delivery_of(silent_id, "Klant 000")
            assert second.next_attempt_at - second.last_attempt_at >= timedelta(minutes=5)
            clock.advance(minutes=5)  # the third attempt, 5 minutes later; now it answers
            assert silent.wait_for(lambda requests: len(requests) >= 3, timeout=30)
            silent.release()
            assert silent.wait_for(lambda requests: len(requests) >= EVENTS + 2, timeout=60)

            slow.delay = 0.0  # the slow one speeds up, so the test need not wait 300 s
            assert slow.wait_for(lambda requests: len(requests) >= EVENTS, timeout=60)
        finally:
            worker.stop()
            running.join(60)
        assert not running.is_alive()

    assert [r.json["data"]["name"] for r in slow.requests] == names  # in order
    assert max(slow.max_in_flight.values()) == 1
    assert [r.json["data"]["name"] for r in silent.requests] == names[:1] * 3 + names[1:]
    assert [r.attempt for r in silent.requests[:3]] == [1, 2, 3]
    # (The silent receiver still holds the requests PayDock gave up on: no overlap count there.)
    for receiver in fast:
        assert len(receiver.requests) == EVENTS  # none twice
