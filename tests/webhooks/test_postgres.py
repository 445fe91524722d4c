"""PostgreSQL concurrency: late commits and /events paging, two workers sharing 1,000 events."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter, defaultdict

import pytest

from models import contacts, db
from models.events import Event
from models.webhooks import WebhookDelivery
from tests.webhooks.conftest import add_endpoint
from tests.webhooks.processes import WorkerProcess
from tests.webhooks.receiver import Receiver

pytestmark = [pytest.mark.postgres,
              pytest.mark.parametrize("database_url", ["postgres"], indirect=True)]


def test_an_event_that_commits_late_is_not_skipped(tenant):
    """Slow writes its event first and commits last; Fast commits in between. A cursor on
    write order would hand out Fast and then skip Slow for good."""
    written, finish = threading.Event(), threading.Event()

    def slow_writer():
        with db.database.connection_context(), db.database.atomic():
            contacts.create_contact(tenant.administration_id, {"name": "Slow"})
            written.set()
            finish.wait(30)

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert written.wait(30)
        assert tenant.post("/api/contacts", {"name": "Fast"}).status_code == 201
        with db.database.connection_context():
            committed = list(Event.of(tenant.administration_id).order_by(Event.seq))
        assert [e.type for e in committed] == ["contact.created"]  # Fast, visible to a naive reader
        page = tenant.get("/api/events").json()
        assert page["data"] == [] and page["has_more"] is False  # held back until Slow ends
    finally:
        finish.set()
        writer.join(30)
    events = tenant.get("/api/events").json()["data"]
    assert [e["data"]["name"] for e in events] == ["Slow", "Fast"]
    with db.database.connection_context():
        seqs = {e.id: e.seq for e in Event.of(tenant.administration_id)}
    assert seqs[uuid.UUID(events[0]["id"])] < seqs[uuid.UUID(events[1]["id"])]


def test_paging_while_writers_commit_out_of_order_sees_every_event_once(tenant):
    writers, each = 4, 40

    def write(n: int) -> None:
        rng = random.Random(n)
        with db.database.connection_context():
            for i in range(each):
                with db.database.atomic():
                    contacts.create_contact(tenant.administration_id, {"name": f"w{n}-{i}"})
                    time.sleep(rng.random() * 0.02)  # commit a little later: others overtake

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for thread in threads:
        thread.start()
    seen, after, pages = [], None, 0
    while any(t.is_alive() for t in threads) or pages == 0:
        body = tenant.get("/api/events?limit=7" + (f"&after={after}" if after else "")).json()
        seen += body["data"]
        after = body["next_after"]
        pages += 1
    for thread in threads:
        thread.join(60)
    while True:  # catch up with what committed last
        body = tenant.get("/api/events?limit=7" + (f"&after={after}" if after else "")).json()
        seen += body["data"]
        after = body["next_after"]
        if not body["has_more"]:
            break

    names = [e["data"]["name"] for e in seen]
    assert len(names) == len(set(names)) == writers * each
    assert set(names) == {f"w{n}-{i}" for n in range(writers) for i in range(each)}
    assert pages > 10  # the reader really paged while the writers wrote
    for n in range(writers):  # each writer's own events in its order
        mine = [name for name in names if name.startswith(f"w{n}-")]
        assert mine == [f"w{n}-{i}" for i in range(each)]


def test_two_workers_deliver_1000_events_once_each(make_tenant, settings):
    tenants, per_tenant = 4, 250
    with Receiver() as receiver:
        endpoints = {}
        for t in range(tenants):
            tenant = make_tenant(name=f"Tenant {t}")
            endpoints[t] = (tenant, add_endpoint(tenant, receiver.url(f"/t{t}")))
        workers = [WorkerProcess(settings.database_url, PAYDOCK_WEBHOOK_BATCH_SIZE="10").start()
                   for _ in range(2)]
        try:
            for i in range(per_tenant):
                with db.database.connection_context(), db.database.atomic():
                    for t, (tenant, _) in endpoints.items():
                        contacts.create_contact(tenant.administration_id, {"name": f"{t}-{i:03}"})
            all_there = receiver.wait_for(
                lambda requests: len({r.webhook_id for r in requests}) >= tenants * per_tenant,
                timeout=180)
        finally:
            exits = [w.stop() for w in workers]
        assert all_there and exits == [0, 0], workers[0].log[-2000:] + workers[1].log[-2000:]

    attempts = Counter((r.webhook_id, r.attempt) for r in receiver.requests)
    assert max(attempts.values()) == 1  # no delivery sent twice in the same attempt
    assert len(receiver.requests) == tenants * per_tenant  # and none missing
    by_path = defaultdict(list)
    for received in receiver.requests:
        by_path[received.path].append(received.json["data"]["name"])
    for t in range(tenants):  # each endpoint got its events in order
        assert by_path[f"/t{t}"] == [f"{t}-{i:03}" for i in range(per_tenant)]
    for worker in workers:  # both workers took part
        assert "delivery attempt(s) to endpoint" in worker.log, worker.log[-2000:]
    with db.database.connection_context():
        rows = WebhookDelivery.select().where(
            WebhookDelivery.endpoint.in_([e["id"] for _, e in endpoints.values()]))
        assert Counter((d.status, d.attempts) for d in rows) == Counter(
            {("delivered", 1): tenants * per_tenant})


def test_four_workers_never_send_two_requests_to_one_endpoint_at_once(make_tenant, settings):
    """1,000 events over 20 endpoints, 4 workers each serving many endpoints at once: every
    endpoint has at most one request in flight (the receiver counts), gets its events in
    order, and every event arrives, none twice in one attempt."""
    endpoints_count, per_endpoint = 20, 50
    # Each answer takes 10 ms, so two requests to one endpoint would overlap at the receiver.
    with Receiver(delay=0.01) as receiver:
        tenants = []
        for e in range(endpoints_count):
            tenant = make_tenant(name=f"Tenant {e}")
            add_endpoint(tenant, receiver.url(f"/e{e}"))
            tenants.append(tenant)
        workers = [WorkerProcess(settings.database_url, PAYDOCK_WEBHOOK_BATCH_SIZE="5").start()
                   for _ in range(4)]
        try:
            for i in range(per_endpoint):
                with db.database.connection_context(), db.database.atomic():
                    for e, tenant in enumerate(tenants):
                        contacts.create_contact(tenant.administration_id, {"name": f"{e}-{i:03}"})
            all_there = receiver.wait_for(
                lambda requests: len({r.webhook_id for r in requests}) >= endpoints_count * per_endpoint,
                timeout=240)
        finally:
            exits = [w.stop() for w in workers]
        logs = "".join(w.log[-1500:] for w in workers)
        assert all_there and exits == [0, 0, 0, 0], logs

    assert receiver.max_in_flight == {f"/e{e}": 1 for e in range(endpoints_count)}
    assert receiver.max_in_flight_total > 1  # endpoints were served side by side
    attempts = Counter((r.webhook_id, r.attempt) for r in receiver.requests)
    assert max(attempts.values()) == 1
    assert len(receiver.requests) == endpoints_count * per_endpoint
    by_path = defaultdict(list)
    for received in receiver.requests:
        by_path[received.path].append(received.json["data"]["name"])
    for e in range(endpoints_count):
        assert by_path[f"/e{e}"] == [f"{e}-{i:03}" for i in range(per_endpoint)]
    serving = [w for w in workers if "delivery attempt(s) to endpoint" in w.log]
    assert len(serving) >= 2, logs  # the endpoints were shared between workers
