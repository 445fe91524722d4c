"""Failed authentication is limited per client address: after the documented burst of wrong
keys, an address gets 429 with Retry-After, and its keys are no longer looked up."""

from __future__ import annotations

import dataclasses

import httpx
import pytest
from starlette.testclient import TestClient

from paydock.auth import FailedAuthLimiter
from paydock.settings import Settings
from tests.querycount import count_queries
from tests.reliability.conftest import GENEROUS_LIMITS, new_tenant_key
from tests.server import GunicornServer

DEFAULTS = Settings()


@pytest.fixture
def default_limits_client(settings, app):
    """An app with the default failed-authentication limit (the suite's app is generous)."""
    from paydock import create_app

    strict = create_app(dataclasses.replace(settings, failed_auth_per_second=DEFAULTS.failed_auth_per_second,
                                            failed_auth_burst=DEFAULTS.failed_auth_burst))
    with TestClient(strict, raise_server_exceptions=False) as client:
        yield client


def test_the_documented_defaults():
    assert (DEFAULTS.failed_auth_burst, DEFAULTS.failed_auth_per_second) == (20, 1.0)


def test_200_wrong_keys_from_one_address_get_429_after_the_burst_without_lookups(
        default_limits_client, database_url, monkeypatch):
    _, good_key = new_tenant_key(database_url)
    # All 200 within one second, however slow this machine answers them.
    monkeypatch.setattr("paydock.auth.time.monotonic", lambda: 5000.0)
    assert default_limits_client.get("/api/contacts", headers={"X-API-Key": good_key}).status_code == 200
    with count_queries() as seen:
        statuses = [default_limits_client.get("/api/contacts", headers={"X-API-Key": f"ftj_wrong{n:04d}"})
                    for n in range(200)]
    codes = [r.status_code for r in statuses]
    assert codes[:20] == [401] * 20
    assert codes[20:] == [429] * 180
    key_lookups = [sql for sql in seen.sql if "api_key" in sql and "revocations" not in sql]
    assert len(key_lookups) <= 2 * 21  # a SELECT per looked-up key (and its last_used_at UPDATE)
    assert not any("wrong" in sql for sql in seen.sql)
    refused = statuses[-1]
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    # A key this process already verified still works from that address.
    assert default_limits_client.get("/api/contacts", headers={"X-API-Key": good_key}).status_code == 200


def test_the_bucket_refills_and_is_per_address(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr("paydock.auth.time.monotonic", lambda: clock[0])
    limiter = FailedAuthLimiter(per_second=1.0, burst=3)
    for _ in range(3):
        assert limiter.retry_after("10.0.0.1") == 0
        limiter.failed("10.0.0.1")
    assert limiter.retry_after("10.0.0.1") == 1
    assert limiter.retry_after("10.0.0.2") == 0
    clock[0] += 1.0
    assert limiter.retry_after("10.0.0.1") == 0


def test_wrong_keys_over_a_real_socket_get_429(database_url, app):
    new_tenant_key(database_url)
    env = {**GENEROUS_LIMITS, "PAYDOCK_FAILED_AUTH_BURST": "20", "PAYDOCK_FAILED_AUTH_PER_SECOND": "1"}
    with GunicornServer(database_url, workers=1, **env) as server, httpx.Client(
            base_url=server.url, timeout=30) as client:
        codes = [client.get("/api/contacts", headers={"X-API-Key": f"ftj_bad{n}"}).status_code
                 for n in range(200)]
    assert codes[:20] == [401] * 20
    assert codes.count(429) >= 170 and set(codes[20:]) <= {401, 429}
