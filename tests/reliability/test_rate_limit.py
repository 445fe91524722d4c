"""Rate limits per API key: headers, 429 + Retry-After, the bucket's arithmetic, several nodes."""

from __future__ import annotations

import time
from collections import Counter

import httpx
import pytest
from starlette.testclient import TestClient

from models import db, ratelimit
from models.contacts import Contact
from models.idempotency import IdempotencyKey
from paydock.settings import Settings
from tests.conftest import bind_test_database, count_rows
from tests.reliability.conftest import new_tenant_key
from tests.server import GunicornServer

HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


@pytest.fixture
def limited(database_url):
    """A client for an app with a 5-request bucket that practically never refills."""
    from paydock import create_app

    settings = Settings.from_env({}, database_url=database_url, validate_responses=True,
                                 rate_limit_per_second=0.001, rate_limit_burst=5)
    application = create_app(settings)
    limited_db = db.database.obj
    with TestClient(application, raise_server_exceptions=False) as client:
        yield client
    if hasattr(limited_db, "close_all"):  # a PostgreSQL pool of its own
        limited_db.close_all()
    bind_test_database(database_url)


def test_keyed_responses_carry_the_headers(tenant, make_tenant):
    ok = tenant.get("/api/contacts")
    assert ok.status_code == 200
    assert ok.headers["ratelimit-limit"] == "10000"
    assert 0 <= int(ok.headers["ratelimit-remaining"]) < 10000
    assert int(ok.headers["ratelimit-reset"]) >= 0
    # Errors with a valid key are counted too: from the operation (404), from the scope
    # check (403) and from validation before the operation runs (422, 400).
    missing = tenant.get("/api/contacts/6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f")
    invalid = tenant.post("/api/contacts", {"name": ""})
    bad_query = tenant.get("/api/contacts?limit=0")
    forbidden = make_tenant(scopes=("read",)).post("/api/contacts", {"name": "A"})
    for response, status in ((missing, 404), (invalid, 422), (bad_query, 400), (forbidden, 403)):
        assert response.status_code == status
        assert all(h in response.headers for h in HEADERS), (status, dict(response.headers))


def test_unkeyed_responses_carry_none(client):
    for response in (client.get("/api/contacts"), client.get("/api/health")):
        assert not any(h in response.headers for h in HEADERS)


def test_an_empty_bucket_gives_429_with_retry_after(limited, database_url):
    administration_id, key = new_tenant_key(database_url)
    headers = {"X-API-Key": key}
    responses = [limited.get("/api/contacts", headers=headers) for _ in range(4)]
    responses.append(limited.post("/api/contacts", json={"name": ""}, headers=headers))  # 422 counts
    assert [r.status_code for r in responses] == [200, 200, 200, 200, 422]
    assert [r.headers["ratelimit-remaining"] for r in responses] == ["4", "3", "2", "1", "0"]
    refused = limited.post("/api/contacts", json={"name": "A"},
                           headers={**headers, "Idempotency-Key": "k-429"})
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["status"] == 429
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-remaining"] == "0"
    assert refused.headers["ratelimit-limit"] == "5"
    # Refused requests change nothing and claim no idempotency key.
    assert count_rows(Contact, administration=administration_id) == 0
    assert count_rows(IdempotencyKey, administration=administration_id) == 0
    # Each key has its own bucket.
    _, other_key = new_tenant_key(database_url)
    assert limited.get("/api/contacts", headers={"X-API-Key": other_key}).status_code == 200


def test_no_headers_when_rate_limiting_is_off(database_url):
    from paydock import create_app

    application = create_app(Settings.from_env({}, database_url=database_url, rate_limit_per_second=0))
    try:
        _, key = new_tenant_key(database_url)
        with TestClient(application) as client:
            response = client.get("/api/contacts", headers={"X-API-Key": key})
        assert response.status_code == 200
        assert not any(h in response.headers for h in HEADERS)
    finally:
        bind_test_database(database_url)


def test_token_bucket_arithmetic(database_url):
    """Bursts of 3 at 1 request/s, with the clock given explicitly."""
    administration_id, _ = new_tenant_key(database_url)
    database = bind_test_database(database_url)
    with database.connection_context():
        from models.api_keys import ApiKey

        key_id = ApiKey.get(ApiKey.administration == administration_id).id

        def take(now):
            return ratelimit.take_token(administration_id, key_id, rate=1.0, burst=3, now=now)

        t0 = 1_800_000_000.0
        first, second, third, fourth = take(t0), take(t0), take(t0), take(t0)
        assert [d.allowed for d in (first, second, third, fourth)] == [True, True, True, False]
        assert [d.remaining for d in (first, second, third, fourth)] == [2, 1, 0, 0]
        assert fourth.retry_after == 1 and fourth.reset == 3
        assert not take(t0 + 0.5).allowed  # half a token is not a token
        refilled = take(t0 + 1.0)
        assert refilled.allowed and refilled.remaining == 0
        assert take(t0 + 100).remaining == 2  # a full bucket never holds more than the burst
        assert take(t0 + 100).limit == 3


def test_a_request_that_waited_for_the_database_is_judged_by_the_time_after_its_wait(
        database_url, monkeypatch):
    """Under load a request may read the clock, then wait seconds for the database while
    others take tokens: judged by its old reading it looked over the burst (a 429 among
    600 writes on SQLite with a limit of 10,000/s). A refusal is decided again with the
    time after the wait."""
    administration_id, _ = new_tenant_key(database_url)
    database = bind_test_database(database_url)
    with database.connection_context():
        from models.api_keys import ApiKey

        key_id = ApiKey.get(ApiKey.administration == administration_id).id
        t0 = time.time()
        for _ in range(5):  # bucket of 10 at 10/s: half used, tat = t0 + 0.5
            assert ratelimit.take_token(administration_id, key_id, rate=10.0, burst=10, now=t0).allowed
        # The clock as a request read it 1 s before the database took its statement.
        readings = iter([t0 - 1.0])
        monkeypatch.setattr(ratelimit.time, "time", lambda: next(readings, t0))
        decision = ratelimit.take_token(administration_id, key_id, rate=10.0, burst=10)
        assert decision.allowed, decision
        # With the stale reading alone it would have been refused.
        assert not ratelimit.take_token(administration_id, key_id, rate=10.0, burst=10,
                                        now=t0 - 1.0).allowed


def test_two_nodes_share_one_bucket(database_url, app):
    """Two gunicorn servers (two "nodes", 2 workers each) on one database: a key gets its
    burst of 10 once in total, not once per node or per worker."""
    _, key = new_tenant_key(database_url)
    env = {"PAYDOCK_RATE_LIMIT_PER_SECOND": "0.001", "PAYDOCK_RATE_LIMIT_BURST": "10"}
    with GunicornServer(database_url, workers=2, **env) as one, \
            GunicornServer(database_url, workers=2, **env) as two:
        statuses = Counter()
        for i in range(30):
            server = (one, two)[i % 2]
            # A new connection per request, so requests spread over the workers too.
            response = httpx.get(f"{server.url}/api/contacts", headers={"X-API-Key": key}, timeout=30)
            statuses[response.status_code] += 1
    assert statuses == {200: 10, 429: 20}
