"""A revoked API key is refused by every worker process within 1 s (gunicorn, 4 workers,
PostgreSQL): each process checks the revocation version at most every 0.5 s."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from models import api_keys, db
from tests.conftest import bind_test_database
from tests.reliability.conftest import GENEROUS_LIMITS
from tests.server import GunicornServer

pytestmark = pytest.mark.postgres

BOUND = 1.0


def fresh_get(url: str, key: str) -> int:
    """GET on a new connection, so the requests spread over the workers."""
    with httpx.Client(timeout=30, limits=httpx.Limits(max_keepalive_connections=0)) as client:
        return client.get(url, headers={"X-API-Key": key}).status_code


def test_a_revoked_key_is_refused_by_every_worker_within_a_second(pg_url):
    database = bind_test_database(pg_url)
    with database.connection_context():
        administration, _, admin_key = api_keys.create_administration_with_key(
            "Intrekken BV", ["read", "write", "admin"])
        victim, victim_key = api_keys.create_api_key(administration.id, "victim", ["read"])
    # A long cache: without the revocation check a worker would trust the key for 600 s.
    with GunicornServer(pg_url, workers=4, PAYDOCK_API_KEY_CACHE_SECONDS="600",
                        **GENEROUS_LIMITS) as server:
        url = server.url + "/api/contacts?limit=1"
        warm = [fresh_get(url, victim_key) for _ in range(40)]  # cached in every worker
        assert warm == [200] * 40
        revoked = httpx.delete(f"{server.url}/api/api-keys/{victim.id}",
                               headers={"X-API-Key": admin_key}, timeout=30)
        assert revoked.status_code == 204, revoked.text
        t0 = time.monotonic()
        accepted: list[float] = []
        refused: list[float] = []
        lock = threading.Lock()

        def hammer():
            while time.monotonic() - t0 < BOUND + 1.0:
                sent = time.monotonic()
                status = fresh_get(url, victim_key)
                with lock:
                    (accepted if status == 200 else refused).append(sent - t0)
                assert status in (200, 401), status

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        late = [fresh_get(url, victim_key) for _ in range(40)]
    last_accepted = max(accepted, default=0.0)
    print(f"revocation: last accepted request sent {last_accepted:.3f} s after the revoke; "
          f"{len(accepted)} accepted, {len(refused)} refused")
    assert last_accepted < BOUND, (last_accepted, len(accepted))
    assert any(sent >= BOUND for sent in refused)
    assert late == [401] * 40
    with database.connection_context():
        assert api_keys.verify_api_key(victim_key) is None
    db.bind(database)
