"""Idempotency-Key on POST: replay, mismatch, concurrency, what is stored, expiry, takeover."""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from datetime import timedelta

import httpx

from models import db
from models.api_keys import ApiKey
from models.audit import AuditEntry
from models.contacts import Contact
from models.events import Event
from models.idempotency import IdempotencyKey
from models.products import Product
from tests.conftest import count_rows
from tests.openapi_check import outside_the_contract
from tests.reliability.conftest import new_tenant_key


def _key() -> str:
    return str(uuid.uuid4())


def test_same_key_same_body_replays_the_first_response(tenant):
    key = _key()
    first = tenant.post("/api/contacts", {"name": "Acme BV", "external_id": "CRM-1"},
                        headers={"Idempotency-Key": key})
    assert first.status_code == 201, first.text
    assert "idempotent-replayed" not in first.headers
    again = tenant.post("/api/contacts", {"external_id": "CRM-1", "name": "Acme BV"},
                        headers={"Idempotency-Key": key})
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["content-type"] == "application/json"
    assert count_rows(Contact, administration=tenant.administration_id) == 1
    assert count_rows(Event, administration=tenant.administration_id, type="contact.created") == 1


def test_same_key_different_body_is_409_and_changes_nothing(tenant):
    key = _key()
    assert tenant.post("/api/contacts", {"name": "Acme BV"},
                       headers={"Idempotency-Key": key}).status_code == 201
    clash = tenant.post("/api/contacts", {"name": "Other BV"}, headers={"Idempotency-Key": key})
    assert clash.status_code == 409
    assert clash.headers["content-type"] == "application/problem+json"
    assert "different request" in clash.json()["detail"]
    # Same body, other path: also a different request.
    other_path = tenant.post("/api/products", {"name": "Acme BV"}, headers={"Idempotency-Key": key})
    assert other_path.status_code == 409
    assert count_rows(Contact, administration=tenant.administration_id) == 1
    assert count_rows(Product, administration=tenant.administration_id) == 0


def test_keys_belong_to_one_administration(tenant, other_tenant):
    key = _key()
    mine = tenant.post("/api/contacts", {"name": "A"}, headers={"Idempotency-Key": key})
    theirs = other_tenant.post("/api/contacts", {"name": "B"}, headers={"Idempotency-Key": key})
    assert mine.status_code == theirs.status_code == 201
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["name"] == "B"


def test_a_refusal_by_the_operation_is_stored_like_stripe(tenant):
    """A 4xx the operation itself gave (here 409 duplicate external_id) is kept and replayed,
    even after the cause is gone: the key stands for that outcome."""
    existing = tenant.post("/api/contacts", {"name": "A", "external_id": "DUP"}).json()
    key = _key()
    refused = tenant.post("/api/contacts", {"name": "B", "external_id": "DUP"},
                          headers={"Idempotency-Key": key})
    assert refused.status_code == 409
    assert tenant.delete(f"/api/contacts/{existing['id']}").status_code == 204
    replayed = tenant.post("/api/contacts", {"name": "B", "external_id": "DUP"},
                           headers={"Idempotency-Key": key})
    assert replayed.status_code == 409
    assert replayed.headers["idempotent-replayed"] == "true"
    assert replayed.headers["content-type"] == "application/problem+json"
    assert replayed.json() == refused.json()
    assert count_rows(Contact, administration=tenant.administration_id) == 0


def test_requests_refused_before_the_operation_claim_nothing(tenant, make_tenant):
    key = _key()
    invalid = tenant.post("/api/contacts", {"name": ""}, headers={"Idempotency-Key": key})
    assert invalid.status_code == 422
    reader = make_tenant(scopes=("read",))
    assert reader.post("/api/contacts", {"name": "A"}, headers={"Idempotency-Key": key}).status_code == 403
    assert count_rows(IdempotencyKey, administration=tenant.administration_id) == 0
    valid = tenant.post("/api/contacts", {"name": "A"}, headers={"Idempotency-Key": key})
    assert valid.status_code == 201 and "idempotent-replayed" not in valid.headers


def test_a_server_error_releases_the_key(tenant, monkeypatch):
    from models import contacts

    real = contacts.create_contact
    calls = Counter()

    def failing_once(administration_id, data):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("simulated crash inside the operation")
        return real(administration_id, data)

    monkeypatch.setattr(contacts, "create_contact", failing_once)
    key = _key()
    with outside_the_contract():
        crashed = tenant.post("/api/contacts", {"name": "A"}, headers={"Idempotency-Key": key})
    assert crashed.status_code == 500
    assert "simulated" not in crashed.text and "Traceback" not in crashed.text
    assert count_rows(IdempotencyKey, administration=tenant.administration_id) == 0
    retried = tenant.post("/api/contacts", {"name": "A"}, headers={"Idempotency-Key": key})
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    assert count_rows(Contact, administration=tenant.administration_id) == 1


def test_a_request_still_running_gets_409_with_retry_after(tenant):
    key = _key()
    first = tenant.post("/api/contacts", {"name": "A"}, headers={"Idempotency-Key": key})
    assert first.status_code == 201
    with db.database.connection_context():  # make the stored row look like a running claim
        IdempotencyKey.update(status_code=None, response_body=None, locked_at=db.utcnow()).where(
            IdempotencyKey.administration == tenant.administration_id).execute()
    busy = tenant.post("/api/contacts", {"name": "A"}, headers={"Idempotency-Key": key})
    assert busy.status_code == 409
    assert busy.headers["retry-after"] == "1"
    assert "still being processed" in busy.json()["detail"]
    assert count_rows(Contact, administration=tenant.administration_id) == 1


def test_an_abandoned_claim_is_taken_over(tenant):
    """A claim without a response whose process died: its change never committed (change and
    response commit together), so after the lease a retry runs the operation."""
    key = _key()
    first = tenant.post("/api/contacts", {"name": "A"}, headers={"Idempotency-Key": key})
    contact_id = first.json()["id"]
    assert tenant.delete(f"/api/contacts/{contact_id}").status_code == 204
    with db.database.connection_context():
        IdempotencyKey.update(status_code=None, response_body=None,
                              locked_at=db.utcnow() - timedelta(minutes=5)).where(
            IdempotencyKey.administration == tenant.administration_id).execute()
    retried = tenant.post("/api/contacts", {"name": "A"}, headers={"Idempotency-Key": key})
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    assert retried.json()["id"] != contact_id
    assert count_rows(Contact, administration=tenant.administration_id) == 1


def test_keys_expire_after_24_hours(tenant):
    key = _key()
    assert tenant.post("/api/contacts", {"name": "A"}, headers={"Idempotency-Key": key}).status_code == 201
    with db.database.connection_context():
        IdempotencyKey.update(created_at=db.utcnow() - timedelta(hours=24, minutes=1)).where(
            IdempotencyKey.administration == tenant.administration_id).execute()
    reused = tenant.post("/api/contacts", {"name": "B"}, headers={"Idempotency-Key": key})
    assert reused.status_code == 201 and reused.json()["name"] == "B"
    assert count_rows(IdempotencyKey, administration=tenant.administration_id) == 1


def test_purge_deletes_only_expired_keys(tenant):
    from models import idempotency

    tenant.post("/api/contacts", {"name": "old"}, headers={"Idempotency-Key": _key()})
    tenant.post("/api/contacts", {"name": "new"}, headers={"Idempotency-Key": _key()})
    with db.database.connection_context():
        IdempotencyKey.update(created_at=db.utcnow() - timedelta(days=2)).where(
            IdempotencyKey.administration == tenant.administration_id,
            IdempotencyKey.response_body.contains('"old"')).execute()
        assert idempotency.purge_expired() >= 1
    assert count_rows(IdempotencyKey, administration=tenant.administration_id) == 1


def test_api_key_secrets_are_never_stored_or_replayed(tenant):
    key = _key()
    created = tenant.post("/api/api-keys", {"name": "Webshop", "scopes": ["read"]},
                          headers={"Idempotency-Key": key})
    assert created.status_code == 201
    secret = created.json()["key"]
    with db.database.connection_context():
        stored = IdempotencyKey.get(IdempotencyKey.administration == tenant.administration_id)
    assert secret not in stored.response_body
    retry = tenant.post("/api/api-keys", {"name": "Webshop", "scopes": ["read"]},
                        headers={"Idempotency-Key": key})
    assert retry.status_code == 409
    assert created.headers["location"] in retry.json()["detail"]
    assert secret not in retry.text
    assert count_rows(ApiKey, administration=tenant.administration_id) == 2
    assert count_rows(AuditEntry, administration=tenant.administration_id, action="api_key.created") == 2


def test_invalid_idempotency_keys_are_400(tenant):
    for bad in ("", "x" * 256, "with space", "tab\tinside"):
        response = tenant.post("/api/contacts", {"name": "A"}, headers={"Idempotency-Key": bad})
        assert response.status_code == 400, (bad, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert count_rows(Contact, administration=tenant.administration_id) == 0


def test_twenty_parallel_identical_posts_create_exactly_one_contact(live_server, database_url):
    """20 threads against gunicorn (2 workers) send the same POST with one key at once."""
    administration_id, api_key = new_tenant_key(database_url)
    key = _key()
    body = {"name": "Parallel BV", "external_id": "PAR-1"}
    barrier = threading.Barrier(20)
    responses: list[httpx.Response] = []
    lock = threading.Lock()

    def send():
        with httpx.Client(base_url=live_server.url, timeout=30) as client:
            barrier.wait()
            response = client.post("/api/contacts", json=body,
                                   headers={"X-API-Key": api_key, "Idempotency-Key": key})
        with lock:
            responses.append(response)

    threads = [threading.Thread(target=send) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert len(responses) == 20
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {201, 409}, statuses
    fresh = [r for r in responses if r.status_code == 201 and "idempotent-replayed" not in r.headers]
    replayed = [r for r in responses if r.headers.get("idempotent-replayed") == "true"]
    in_progress = [r for r in responses if r.status_code == 409]
    assert len(fresh) == 1, statuses
    assert len(fresh) + len(replayed) + len(in_progress) == 20
    assert all(r.json() == fresh[0].json() for r in replayed)
    assert all("still being processed" in r.json()["detail"] for r in in_progress)
    assert count_rows(Contact, administration=administration_id) == 1
    assert count_rows(Event, administration=administration_id, type="contact.created") == 1
    # After the dust settles every retry is a replay of that one contact.
    with httpx.Client(base_url=live_server.url, timeout=30) as client:
        late = client.post("/api/contacts", json=body,
                           headers={"X-API-Key": api_key, "Idempotency-Key": key})
    assert late.status_code == 201 and late.json()["id"] == fresh[0].json()["id"]
