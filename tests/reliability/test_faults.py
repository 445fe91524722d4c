"""Faults: the database going away (503, bounded, recovery), SQLite under concurrent writes,
statement timeouts, and graceful shutdown with a request in flight."""

from __future__ import annotations

import signal
import socket
import tempfile
import threading
import time

import httpx
import psycopg2
import pytest
from starlette.testclient import TestClient

from models import db
from models.contacts import Contact
from paydock.settings import Settings
from tests.conftest import bind_test_database, count_rows
from tests.pgserver import PostgresServer
from tests.reliability.conftest import GENEROUS_LIMITS, new_tenant_key
from tests.reliability.harness import run_load
from tests.server import GunicornServer

#: PAYDOCK_DATABASE_TIMEOUT in these tests; libpq's connect timeout is at least 2 s.
DB_TIMEOUT = 2
#: A response may take the database timeout plus this much; longer counts as a hang.
SLACK = 6


@pytest.fixture(scope="module")
def own_postgres():
    """A PostgreSQL server of this module's own, since these tests stop it."""
    server = PostgresServer().start()
    url = server.create_database("faults")
    bind_test_database(url)
    yield server, url
    server.cleanup()


def _wait_ready(base_url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(base_url + "/api/ready", timeout=DB_TIMEOUT + SLACK).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the server did not become ready again")


@pytest.mark.postgres
def test_postgres_stopping_mid_run_gives_503s_and_the_same_server_recovers(own_postgres):
    pg, url = own_postgres
    administration_id, key = new_tenant_key(url)
    _, unused_key = new_tenant_key(url)  # never cached by the server before the outage
    env = {**GENEROUS_LIMITS, "PAYDOCK_DATABASE_TIMEOUT": str(DB_TIMEOUT),
           "PAYDOCK_API_KEY_CACHE_SECONDS": "600"}
    headers = {"X-API-Key": key}

    def scenario(client, worker, iteration):
        if iteration % 2:
            client.post("/api/contacts", {"name": f"Fault {worker}-{iteration}"}, operation="create")
        else:
            client.get("/api/contacts?limit=5", operation="list")

    with GunicornServer(url, workers=2, **env) as server:
        outage: dict = {}

        def stop_and_restart():
            time.sleep(2)
            pg.stop()
            time.sleep(1)
            with httpx.Client(base_url=server.url, timeout=DB_TIMEOUT + SLACK) as client:
                outage["uncached_key"] = client.get("/api/contacts",
                                                    headers={"X-API-Key": unused_key})
                outage["health"] = client.get("/api/health")
                outage["ready"] = client.get("/api/ready")
            time.sleep(3)
            pg.restart()
            outage["restarted"] = time.monotonic()

        chaos = threading.Thread(target=stop_and_restart)
        chaos.start()
        report = run_load(server.url, scenario, headers=headers, clients=6, max_seconds=12,
                          max_requests=100_000, request_timeout=DB_TIMEOUT + SLACK)
        chaos.join(60)
        assert "restarted" in outage

        print(report.summary())
        # During the run: only successes and 503s, every one within the bound (no timeouts).
        assert set(report.statuses) <= {200, 201, 503}, report.summary()
        assert report.statuses[503] > 0, report.summary()
        assert report.statuses[200] > 0 and report.statuses[201] > 0, report.summary()
        assert not report.transport_errors, report.summary()
        # Liveness does not depend on the database (no restart for an outage elsewhere) ...
        assert outage["health"].status_code == 200 and outage["health"].json() == {"status": "ok"}
        # ... while the API-key check and readiness answer 503 (no traffic to this node).
        for name in ("uncached_key", "ready"):
            response = outage[name]
            assert response.status_code == 503, (name, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["detail"] == "The database is unavailable"

        # After the restart the same server (no restart of PayDock) answers normally.
        _wait_ready(server.url)
        with httpx.Client(base_url=server.url, timeout=DB_TIMEOUT + SLACK) as client:
            after = [client.get("/api/contacts?limit=1", headers=headers).status_code
                     for _ in range(20)]
            created = client.post("/api/contacts", json={"name": "After BV"}, headers=headers)
            uncached = client.get("/api/contacts", headers={"X-API-Key": unused_key})
        assert after == [200] * 20
        assert created.status_code == 201 and uncached.status_code == 200
        assert "Traceback" not in server.log_text()
    # Every 201 the clients saw is a contact in the database (no lost or phantom writes).
    assert count_rows(Contact, administration=administration_id) == report.statuses[201] + 1


@pytest.mark.postgres
def test_a_statement_blocked_beyond_the_timeout_is_cancelled_with_503(own_postgres):
    _, url = own_postgres
    _, key = new_tenant_key(url)
    from paydock import create_app

    previous = db.database.obj
    application = create_app(Settings.from_env({}, database_url=url, database_timeout=DB_TIMEOUT))
    locker = psycopg2.connect(url)
    try:
        with locker.cursor() as cursor:
            cursor.execute("LOCK TABLE contact IN ACCESS EXCLUSIVE MODE")  # held until rollback
        with TestClient(application) as client:
            blocked = _bounded(lambda: client.get("/api/contacts", headers={"X-API-Key": key}))
        assert blocked.status_code == 503
        assert blocked.json()["detail"] == "The database is unavailable"
        locker.rollback()
        with TestClient(application) as client:
            assert client.get("/api/contacts", headers={"X-API-Key": key}).status_code == 200
    finally:
        locker.close()
        db.database.obj.close_all()
        db.bind(previous)


def _bounded(call, seconds: float = DB_TIMEOUT + SLACK):
    """Run `call` in a thread; fail if it has not answered within `seconds`."""
    result: list = []
    thread = threading.Thread(target=lambda: result.append(call()), daemon=True)
    thread.start()
    thread.join(seconds)
    assert result, f"no answer within {seconds} s"
    return result[0]


def test_an_unresponsive_database_gives_503_within_the_timeout():
    """A PostgreSQL address that accepts TCP connections but never answers (a hung server):
    the connect timeout bounds every request, including the API-key check."""
    from paydock import create_app

    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # the kernel completes handshakes; nobody ever reads or answers
    port = silent.getsockname()[1]
    previous = db.database.obj
    try:
        application = create_app(Settings.from_env(
            {}, database_url=f"postgresql://postgres@127.0.0.1:{port}/paydock",
            database_timeout=DB_TIMEOUT))
        with TestClient(application) as client:
            health = _bounded(lambda: client.get("/api/health"))
            ready = _bounded(lambda: client.get("/api/ready"))
            keyed = _bounded(lambda: client.get("/api/contacts", headers={"X-API-Key": "ftj_" + "a" * 43}))
        assert health.status_code == 200  # liveness never waits for the database
        for response in (ready, keyed):
            assert response.status_code == 503
            assert response.headers["content-type"] == "application/problem+json"
            assert "Traceback" not in response.text
    finally:
        silent.close()
        db.bind(previous)


def test_sqlite_concurrent_writes_wait_and_succeed():
    """16 clients writing at once to gunicorn with 4 workers on one SQLite file: every write
    waits its turn (BEGIN IMMEDIATE + busy timeout) and succeeds; nobody sees "locked"."""
    url = "sqlite:///" + tempfile.mkdtemp(prefix="paydock-busy-") + "/busy.db"
    administration_id, key = new_tenant_key(url)
    def scenario(client, worker, iteration):
        response = client.post("/api/contacts", {"name": f"Busy {worker}-{iteration}",
                                                 "external_id": f"B-{worker}-{iteration}"},
                               operation="create")
        if response is not None and response.status_code == 201:
            client.report.note("created", response.json()["id"])
            if iteration % 3 == 0:
                client.request("PUT", f"/api/contacts/{response.json()['id']}",
                               json={"name": "Renamed"}, operation="replace")

    with GunicornServer(url, workers=4, **GENEROUS_LIMITS) as server:
        report = run_load(server.url, scenario, headers={"X-API-Key": key}, clients=16,
                          max_seconds=60, max_requests=600)
        log = server.log_text()
    assert report.requests == 600, report.summary()
    assert set(report.statuses) <= {200, 201}, report.summary()
    assert not report.transport_errors, report.summary()
    assert "locked" not in log.lower()
    ids = report.notes["created"]
    assert len(ids) == len(set(ids)) == report.statuses[201]
    assert count_rows(Contact, administration=administration_id) == len(ids)


def test_sigterm_lets_the_request_in_flight_finish():
    """gunicorn gets SIGTERM while a POST is in flight (its headers are in, its body not yet):
    the server stops taking new connections but finishes that request."""
    url = "sqlite:///" + tempfile.mkdtemp(prefix="paydock-term-") + "/term.db"
    administration_id, key = new_tenant_key(url)
    body = b'{"name": "In flight BV"}'
    server = GunicornServer(url, workers=2)
    with server:
        conn = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        try:
            conn.sendall(
                b"POST /api/contacts HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"X-API-Key: " + key.encode() + b"\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n"
                b"Expect: 100-continue\r\n\r\n")
            # "100 Continue" is sent when PayDock starts reading the body: the request is in flight.
            assert conn.recv(64).startswith(b"HTTP/1.1 100 Continue")
            server.process.send_signal(signal.SIGTERM)
            _wait_refusing(server.port)
            conn.sendall(body)
            response = _read_response(conn)
        finally:
            conn.close()
        exit_code = server.process.wait(timeout=30)
    assert response.startswith(b"HTTP/1.1 201"), response[:300]
    assert b'"name": "In flight BV"' in response
    assert exit_code == 0
    assert count_rows(Contact, administration=administration_id) == 1


def _wait_refusing(port: int, seconds: float = 15) -> None:
    """Until new connections are refused: proof that shutdown has begun."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return
        time.sleep(0.05)
    raise AssertionError("the server kept accepting connections after SIGTERM")


def _read_response(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        rest += chunk
    return head + b"\r\n\r\n" + rest
