"""Delivery: signatures, exactly-once per change, retries on the schedule, give-up,
auto-disable, rotation, filters, order, redelivery, and the outbox's transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook

from models import contacts, db
from models.events import Event, record_event
from models.webhooks import WebhookDelivery
from tests.conftest import count_rows
from tests.webhooks.conftest import add_endpoint, run_worker
from webhooks.worker import MAX_ATTEMPTS, RETRY_SCHEDULE


def signed_at(received, secret) -> bool:
    """True if one of the request's signatures is the secret's for its own timestamp
    (verify() also checks the timestamp against the real clock; a test clock moves)."""
    when = datetime.fromtimestamp(int(received.headers["webhook-timestamp"]), tz=UTC)
    expected = Webhook(secret).sign(received.webhook_id, when, received.body.decode())
    return expected in received.headers["webhook-signature"].split(" ")


def test_each_event_arrives_once_per_change_and_verifies(tenant, receiver, make_worker):
    endpoint = add_endpoint(tenant, receiver.url())
    contact = tenant.post("/api/contacts", {"name": "Acme BV", "email": "info@acme.nl"}).json()
    updated = tenant.put(f"/api/contacts/{contact['id']}", {"name": "Acme Holding BV"}).json()
    assert tenant.delete(f"/api/contacts/{contact['id']}").status_code == 204
    product = tenant.post("/api/products", {"name": "Licentie", "unit_price_incl": 89.00}).json()
    changed = tenant.put(f"/api/products/{product['id']}", {"name": "Licentie+",
                                                             "unit_price_incl": 99.95}).json()
    assert tenant.delete(f"/api/products/{product['id']}").status_code == 204

    worker = make_worker()
    assert run_worker(worker) > 0
    attempts = worker.attempts_made
    run_worker(worker)  # nothing twice (its count would include e-mail other tests left due)
    assert worker.attempts_made == attempts and len(receiver.requests) == 6

    types = [r.json["type"] for r in receiver.requests]
    assert types == ["contact.created", "contact.updated", "contact.deleted",
                     "product.created", "product.updated", "product.deleted"]
    assert len({r.webhook_id for r in receiver.requests}) == 6
    for received in receiver.requests:
        payload = Webhook(endpoint["secret"]).verify(received.body, received.headers)
        assert set(payload) == {"id", "type", "created_at", "data"}
        assert received.headers["content-type"] == "application/json"
        assert received.path == "/hook" and received.attempt == 1
        assert tenant.get(f"/api/events/{payload['id']}").json() == payload
    payloads = [r.json for r in receiver.requests]
    assert payloads[0]["data"] == contact
    assert payloads[1]["data"] == updated
    assert payloads[2]["data"] == updated  # deleted: the resource as it was
    assert payloads[4]["data"] == changed and payloads[4]["data"]["unit_price_incl"] == 99.95

    log = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries").json()
    assert log["total"] == 6
    assert [d["event_type"] for d in log["data"]] == types
    for delivery in log["data"]:
        assert delivery["status"] == "delivered" and delivery["attempts"] == 1
        assert delivery["response_status"] == 200 and delivery["response_time_ms"] >= 0
        assert delivery["next_attempt_at"] is None and delivery["last_error"] is None
    assert {d["webhook_id"] for d in log["data"]} == {r.webhook_id for r in receiver.requests}


def test_500_three_times_then_200_is_delivered_on_attempt_4(tenant, receiver, make_worker, clock):
    endpoint = add_endpoint(tenant, receiver.url())
    receiver.answer(500, 500, 500, 200)
    tenant.post("/api/contacts", {"name": "Retry BV"})
    worker = make_worker(clock=clock)

    assert run_worker(worker) > 0
    assert len(receiver.requests) == 1
    for wait in RETRY_SCHEDULE[:3]:
        clock.advance(seconds=wait.total_seconds() - 1)
        run_worker(worker)
        sent = len(receiver.requests)
        assert sent == RETRY_SCHEDULE.index(wait) + 1  # not due yet
        clock.advance(seconds=1)
        run_worker(worker)
        assert len(receiver.requests) == sent + 1

    assert [r.attempt for r in receiver.requests] == [1, 2, 3, 4]
    assert len({r.webhook_id for r in receiver.requests}) == 1  # same webhook-id every attempt
    assert all(signed_at(r, endpoint["secret"]) for r in receiver.requests)
    [delivery] = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    assert delivery["status"] == "delivered" and delivery["attempts"] == 4
    assert delivery["response_status"] == 200 and delivery["webhook_id"] == receiver.requests[0].webhook_id
    clock.advance(days=2)
    run_worker(worker)
    assert len(receiver.requests) == 4


def test_gives_up_after_the_schedule_and_redelivers_by_hand(tenant, receiver, make_worker, clock):
    endpoint = add_endpoint(tenant, receiver.url())
    receiver.default_status = 503
    tenant.post("/api/contacts", {"name": "Down BV"})
    worker = make_worker(clock=clock, webhook_disable_after_days=30)
    run_worker(worker)
    for wait in RETRY_SCHEDULE:
        clock.advance(seconds=wait.total_seconds())
        run_worker(worker)
    assert len(receiver.requests) == MAX_ATTEMPTS == 10
    [delivery] = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    assert delivery["status"] == "failed" and delivery["attempts"] == 10
    assert delivery["next_attempt_at"] is None
    assert delivery["response_status"] == 503 and delivery["last_error"] == "HTTP 503"
    clock.advance(days=3)
    run_worker(worker)
    assert len(receiver.requests) == 10  # failed stays failed

    receiver.default_status = 204
    again = tenant.post(f"/api/webhook-deliveries/{delivery['id']}/redeliver")
    assert again.status_code == 202, again.text
    assert again.json()["status"] == "pending"
    run_worker(worker)
    assert len(receiver.requests) == 11
    assert receiver.requests[-1].webhook_id == receiver.requests[0].webhook_id
    after = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"][0]
    assert after["status"] == "delivered" and after["attempts"] == 11 and after["response_status"] == 204


def test_an_endpoint_failing_for_days_is_disabled_with_a_reason(tenant, receiver, make_worker, clock):
    endpoint = add_endpoint(tenant, receiver.url())
    receiver.default_status = 500
    tenant.post("/api/contacts", {"name": "Broken BV"})
    worker = make_worker(clock=clock, webhook_disable_after_days=1)
    run_worker(worker)
    for wait in RETRY_SCHEDULE[:6]:  # 5 s ... 10 h: still less than a day of failures
        clock.advance(seconds=wait.total_seconds())
        run_worker(worker)
    state = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}").json()
    assert state["enabled"] is True and state["failing_since"] is not None
    clock.advance(seconds=RETRY_SCHEDULE[6].total_seconds())  # 14 h later: 31.6 h failing
    run_worker(worker)
    state = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}").json()
    assert state["enabled"] is False
    assert state["disabled_reason"].startswith("Disabled automatically")
    assert "last error: HTTP 500" in state["disabled_reason"]
    assert len(receiver.requests) == 8

    # Disabled: no new events, pending retries wait, redelivery is refused.
    tenant.post("/api/contacts", {"name": "Ignored BV"})
    clock.advance(days=2)
    run_worker(worker)
    assert len(receiver.requests) == 8
    [delivery] = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    assert delivery["status"] == "pending"
    assert tenant.post(f"/api/webhook-deliveries/{delivery['id']}/redeliver").status_code == 409

    # Enabled again: the reason goes, the waiting delivery goes out.
    receiver.default_status = 200
    enabled = tenant.patch(f"/api/webhook-endpoints/{endpoint['id']}", {"enabled": True}).json()
    assert enabled["enabled"] is True and enabled["disabled_reason"] is None
    assert enabled["failing_since"] is None
    run_worker(worker)
    assert len(receiver.requests) == 9 and receiver.requests[-1].json["data"]["name"] == "Broken BV"


def test_a_success_resets_the_failing_streak(tenant, receiver, make_worker, clock):
    endpoint = add_endpoint(tenant, receiver.url())
    receiver.answer(500)
    tenant.post("/api/contacts", {"name": "Flaky BV"})
    worker = make_worker(clock=clock)
    run_worker(worker)
    assert tenant.get(f"/api/webhook-endpoints/{endpoint['id']}").json()["failing_since"] is not None
    clock.advance(seconds=5)
    run_worker(worker)
    assert tenant.get(f"/api/webhook-endpoints/{endpoint['id']}").json()["failing_since"] is None


def test_rotation_signs_with_both_secrets_for_24_hours(tenant, receiver, make_worker, clock):
    endpoint = add_endpoint(tenant, receiver.url())
    new_secret = tenant.post(f"/api/webhook-endpoints/{endpoint['id']}/rotate-secret").json()["secret"]
    tenant.post("/api/contacts", {"name": "Rotating BV"})
    worker = make_worker()
    run_worker(worker)
    [first] = receiver.requests
    assert len(first.headers["webhook-signature"].split(" ")) == 2
    Webhook(endpoint["secret"]).verify(first.body, first.headers)
    Webhook(new_secret).verify(first.body, first.headers)

    clock.advance(hours=24, minutes=5)
    tenant.post("/api/contacts", {"name": "Later BV"})
    run_worker(make_worker(clock=clock))
    last = receiver.requests[-1]
    assert len(last.headers["webhook-signature"].split(" ")) == 1
    assert signed_at(last, new_secret) and not signed_at(last, endpoint["secret"])


def test_the_events_filter(tenant, receiver, make_worker):
    add_endpoint(tenant, receiver.url("/products"), events=["product.created", "product.deleted"])
    add_endpoint(tenant, receiver.url("/all"))
    tenant.post("/api/contacts", {"name": "Filtered BV"})
    product = tenant.post("/api/products", {"name": "Kabel"}).json()
    tenant.put(f"/api/products/{product['id']}", {"name": "Kabel 2m"})
    tenant.delete(f"/api/products/{product['id']}")
    run_worker(make_worker())
    by_path = {}
    for received in receiver.requests:
        by_path.setdefault(received.path, []).append(received.json["type"])
    assert by_path["/products"] == ["product.created", "product.deleted"]
    assert sorted(by_path["/all"]) == sorted(["contact.created", "product.created", "product.updated",
                                              "product.deleted"])


def test_an_endpoint_gets_events_in_the_order_they_happened(tenant, receiver, make_worker):
    add_endpoint(tenant, receiver.url())
    contact = tenant.post("/api/contacts", {"name": "v0"}).json()
    for i in range(1, 30):
        tenant.put(f"/api/contacts/{contact['id']}", {"name": f"v{i}"})
    run_worker(make_worker(webhook_batch_size=7))
    assert [r.json["data"]["name"] for r in receiver.requests] == [f"v{i}" for i in range(30)]


def test_an_endpoint_keeps_its_connection_from_batch_to_batch(tenant, receiver, make_worker):
    add_endpoint(tenant, receiver.url())
    for i in range(12):
        tenant.post("/api/contacts", {"name": f"Verbinding {i} BV"})
    worker = make_worker(webhook_batch_size=5)
    run_worker(worker)  # three leases of the endpoint
    assert len(receiver.requests) == 12
    assert len({r.peer for r in receiver.requests}) == 1  # one kept-alive TCP connection
    assert len(worker.http) == 1


def test_idle_connections_beyond_the_limit_are_closed_least_recently_used_first():
    import uuid

    from webhooks.worker import EndpointConnections

    connections = EndpointConnections(keep=2)
    first, second, third = (uuid.uuid4() for _ in range(3))
    pools = {key: connections.take(key) for key in (first, second, third)}
    assert len({id(pool) for pool in pools.values()}) == 3  # one per endpoint, none shared
    for key in (first, second, third):
        connections.give_back(key, pools[key])
    assert len(connections) == 2
    assert connections.take(third) is pools[third] and connections.take(second) is pools[second]
    assert connections.take(first) is not pools[first]  # the oldest was closed
    connections.close()
    assert len(connections) == 0


def test_redirects_are_not_followed(tenant, receiver, make_worker):
    endpoint = add_endpoint(tenant, receiver.url())
    receiver.answer(302)
    tenant.post("/api/contacts", {"name": "Moved BV"})
    run_worker(make_worker())
    assert len(receiver.requests) == 1
    [delivery] = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    assert delivery["status"] == "pending" and delivery["response_status"] == 302
    assert delivery["last_error"] == "HTTP 302"


def test_an_unreachable_endpoint_is_retried(tenant, make_worker, clock):
    from tests.server import free_port

    endpoint = add_endpoint(tenant, f"http://127.0.0.1:{free_port()}/nobody")
    tenant.post("/api/contacts", {"name": "Void BV"})
    run_worker(make_worker(clock=clock))
    [delivery] = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    assert delivery["status"] == "pending" and delivery["attempts"] == 1
    assert delivery["response_status"] is None and delivery["last_error"].startswith("ConnectError")


def test_dns_rebinding_to_a_private_address_is_refused_at_delivery(tenant, receiver, make_worker, dns):
    dns["hooks.rebind.example"] = "93.184.216.34"
    endpoint = add_endpoint(tenant, f"http://hooks.rebind.example:{receiver.server.server_port}/hook")
    dns["hooks.rebind.example"] = "127.0.0.1"  # the attacker's DNS now points inside
    tenant.post("/api/contacts", {"name": "Rebind BV"})
    run_worker(make_worker(webhook_allow_private=False))
    assert receiver.requests == []
    [delivery] = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries").json()["data"]
    assert delivery["status"] == "pending"
    assert delivery["last_error"] == ("URL refused: host 'hooks.rebind.example' resolves to a private, "
                                      "loopback or link-local address (127.0.0.1)")


def test_delivery_connects_to_the_checked_address_with_the_original_host(tenant, receiver, make_worker,
                                                                          dns):
    dns["hooks.pinned.example"] = "127.0.0.1"
    port = receiver.server.server_port
    add_endpoint(tenant, f"http://hooks.pinned.example:{port}/hook")
    tenant.post("/api/contacts", {"name": "Pinned BV"})
    run_worker(make_worker())
    [received] = receiver.requests
    assert received.headers["host"] == f"hooks.pinned.example:{port}"


def test_a_transaction_that_fails_after_its_event_leaves_nothing(tenant, receiver, make_worker):
    add_endpoint(tenant, receiver.url())
    with db.database.connection_context(), pytest.raises(RuntimeError), db.database.atomic():
        contacts.create_contact(tenant.administration_id, {"name": "Phantom BV"})
        record_event(tenant.administration_id, "contact.updated", {"name": "Phantom BV"})
        raise RuntimeError("the change fails after writing its events")
    assert count_rows(Event, administration=tenant.administration_id) == 0
    run_worker(make_worker())
    assert receiver.requests == []
    assert count_rows(WebhookDelivery, administration=tenant.administration_id) == 0
    assert tenant.get("/api/events").json()["data"] == []


def test_deliveries_of_other_tenants_are_invisible(tenant, other_tenant, receiver, make_worker):
    endpoint = add_endpoint(tenant, receiver.url())
    add_endpoint(other_tenant, receiver.url("/other"))
    tenant.post("/api/contacts", {"name": "Mine BV"})
    other_tenant.post("/api/contacts", {"name": "Theirs BV"})
    run_worker(make_worker())
    assert sorted(r.path for r in receiver.requests) == ["/hook", "/other"]
    log = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries").json()
    assert log["total"] == 1
    delivery = log["data"][0]
    assert other_tenant.post(f"/api/webhook-deliveries/{delivery['id']}/redeliver").status_code == 404
    assert other_tenant.get(
        f"/api/webhook-endpoints/{endpoint['id']}/deliveries?event_id={delivery['event_id']}"
    ).status_code == 404
    filtered = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries"
                          f"?status=delivered&event_id={delivery['event_id']}").json()
    assert filtered["total"] == 1
    assert tenant.get(f"/api/webhook-endpoints/{endpoint['id']}/deliveries?status=failed,pending"
                      ).json()["total"] == 0


def test_an_endpoint_only_receives_events_from_its_creation_on(tenant, receiver, make_worker):
    tenant.post("/api/contacts", {"name": "Before BV"})
    add_endpoint(tenant, receiver.url())
    tenant.post("/api/contacts", {"name": "After BV"})
    run_worker(make_worker())
    assert [r.json["data"]["name"] for r in receiver.requests] == ["After BV"]


def test_periodic_jobs_run_on_their_interval(make_worker, clock, monkeypatch):
    from webhooks import worker as worker_module

    calls = []
    monkeypatch.setattr(worker_module, "PERIODIC_TASKS", [])
    worker_module.register_periodic("billing run", 3600, calls.append)
    worker = make_worker(clock=clock)
    run_worker(worker)
    run_worker(worker)
    clock.advance(minutes=59)
    run_worker(worker)
    assert calls == [clock.now - timedelta(minutes=59)]
    clock.advance(minutes=1)
    run_worker(worker)
    assert calls[-1] == clock.now and len(calls) == 2
