"""The real `paydock worker` process: SIGKILL mid-batch loses nothing; SIGTERM stops cleanly."""

from __future__ import annotations

import signal
import time
from collections import Counter

from models import contacts, db
from models.webhooks import WebhookDelivery
from tests.webhooks.conftest import add_endpoint
from tests.webhooks.processes import WorkerProcess
from tests.webhooks.receiver import Receiver

EVENTS = 60


def _statuses(endpoint_id) -> Counter:
    with db.database.connection_context():
        return Counter(d.status for d in WebhookDelivery.select().where(
            WebhookDelivery.endpoint == endpoint_id))


def test_sigkill_mid_batch_then_restart_delivers_every_event(tenant, settings):
    with Receiver(delay=0.02) as receiver:
        endpoint = add_endpoint(tenant, receiver.url())
        with db.database.connection_context(), db.database.atomic():
            for i in range(EVENTS):
                contacts.create_contact(tenant.administration_id, {"name": f"Klant {i}"})

        # A short HTTP timeout keeps the dead worker's lease short (2 x timeout + 5 s).
        env = {"PAYDOCK_WEBHOOK_TIMEOUT": "1", "PAYDOCK_WEBHOOK_BATCH_SIZE": "25"}
        first = WorkerProcess(settings.database_url, **env).start()
        assert receiver.wait_for(lambda requests: len(requests) >= 15), first.stop()
        first.kill()
        killed_at = len(receiver.requests)
        statuses = _statuses(endpoint["id"])
        assert statuses["pending"] >= EVENTS - killed_at > 0  # it really died mid-way

        second = WorkerProcess(settings.database_url, **env).start()
        everything = receiver.wait_for(
            lambda requests: len({r.webhook_id for r in requests}) >= EVENTS, timeout=120)
        assert second.stop() == 0, second.log
        assert everything, second.log

    names = {r.json["data"]["name"] for r in receiver.requests}
    assert names == {f"Klant {i}" for i in range(EVENTS)}
    per_message = Counter(r.webhook_id for r in receiver.requests)
    assert len(per_message) == EVENTS
    # At least once: only what the dead worker sent but had not recorded yet (its last tenth
    # of a second, and the request in flight) may come twice.
    unrecorded = killed_at - statuses["delivered"]
    assert 0 <= sum(per_message.values()) - EVENTS <= unrecorded <= 25  # one batch at most
    assert _statuses(endpoint["id"]) == Counter({"delivered": EVENTS})


def test_worker_once_sends_what_is_due_and_exits(tenant, settings):
    import subprocess
    import sys

    from tests.server import ROOT

    with Receiver() as receiver:
        add_endpoint(tenant, receiver.url())
        tenant.post("/api/contacts", {"name": "Once BV"})
        env = WorkerProcess(settings.database_url).env
        done = subprocess.run(
            [sys.executable, "-m", "paydock.cli", "worker", "--once"],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("worker pass done: ")
    assert [r.json["data"]["name"] for r in receiver.requests] == ["Once BV"]


def test_sigterm_with_50_requests_in_flight_finishes_them_and_a_restart_sends_the_rest(make_tenant,
                                                                                      settings):
    """50 endpoints whose receivers hold their answers; SIGTERM once 50 requests are in flight,
    then the answers come: the worker records them, starts nothing new and exits 0; after a
    restart every event arrives, with the same `webhook-id`, none of the finished ones again."""
    tenants = [make_tenant(name=f"Tenant {t}") for t in range(2)]
    with Receiver(hang=True) as receiver:
        endpoints = [add_endpoint(tenant, receiver.url(f"/t{t}/e{e}"))
                     for t, tenant in enumerate(tenants) for e in range(25)]
        with db.database.connection_context(), db.database.atomic():
            for tenant in tenants:
                for i in range(2):
                    contacts.create_contact(tenant.administration_id, {"name": f"Klant {i}"})
        env = {"PAYDOCK_WEBHOOK_CONCURRENCY": "50", "PAYDOCK_WEBHOOK_TIMEOUT": "30"}
        first = WorkerProcess(settings.database_url, **env).start()
        in_flight = receiver.wait_for(lambda requests: len(requests) >= 50, timeout=60)
        assert in_flight, first.stop()
        assert receiver.max_in_flight_total == 50  # one per endpoint, all at once
        first.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)  # the worker has taken the signal while all 50 wait for their answers
        receiver.release()
        assert first.stop() == 0, first.log
        sent_before = {r.webhook_id for r in receiver.requests}
        assert len(sent_before) == len(receiver.requests) == 50  # nothing new after SIGTERM
        with db.database.connection_context():
            recorded = WebhookDelivery.select().where(
                WebhookDelivery.endpoint.in_([e["id"] for e in endpoints]),
                WebhookDelivery.status == "delivered").count()
        assert recorded == 50  # every request in flight finished and was recorded

        second = WorkerProcess(settings.database_url, **env).start()
        everything = receiver.wait_for(lambda requests: len({r.webhook_id for r in requests}) >= 100,
                                       timeout=120)
        assert second.stop() == 0, second.log
        assert everything, second.log

    per_message = Counter(r.webhook_id for r in receiver.requests)
    assert len(per_message) == 100 and set(per_message.values()) == {1}
    assert max(receiver.max_in_flight.values()) == 1
    for endpoint in endpoints:
        assert _statuses(endpoint["id"]) == Counter({"delivered": 2})
