"""Liveness, readiness, Prometheus metrics and request ids."""

from __future__ import annotations

import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import bind_test_database
from tests.server import GunicornServer


def scrape(get) -> dict:
    """Samples from /api/metrics as {(name, frozenset(labels)): value}."""
    response = get("/api/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def count(samples: dict, operation: str, status: str, method: str = "GET") -> float:
    key = ("paydock_http_requests_total",
           frozenset({"operation": operation, "method": method, "status": status}.items()))
    return samples.get(key, 0.0)


def bucket(samples: dict, operation: str, status: str, le: str) -> float:
    key = ("paydock_http_request_duration_seconds_bucket",
           frozenset({"operation": operation, "status": status, "le": le}.items()))
    return samples.get(key, 0.0)


def test_metrics_count_each_operation_and_status_with_latency_buckets(tenant, client):
    before = scrape(client.get)
    for _ in range(3):
        assert tenant.get("/api/contacts").status_code == 200
    assert tenant.post("/api/contacts", {"name": "Acme BV"}).status_code == 201
    assert tenant.post("/api/contacts", {}).status_code == 422
    assert client.get("/api/contacts").status_code == 401
    after = scrape(client.get)

    assert count(after, "list_contacts", "200") - count(before, "list_contacts", "200") == 3
    assert count(after, "list_contacts", "401") - count(before, "list_contacts", "401") == 1
    assert count(after, "create_contact", "201", "POST") - count(before, "create_contact", "201", "POST") == 1
    assert count(after, "create_contact", "422", "POST") - count(before, "create_contact", "422", "POST") == 1
    # Every request lands in the +Inf bucket; the histogram's count matches the counter.
    assert bucket(after, "list_contacts", "200", "+Inf") - bucket(before, "list_contacts", "200", "+Inf") == 3
    assert bucket(after, "list_contacts", "200", "0.002") <= bucket(after, "list_contacts", "200", "60.0")
    assert ("paydock_webhook_queue_depth", frozenset()) in after


def test_webhook_hooks_show_up_in_metrics(client):
    from paydock import observability

    before = scrape(client.get)
    observability.set_webhook_queue_depth(7)
    observability.record_webhook_delivery("delivered")
    observability.record_webhook_delivery("delivered")
    observability.record_webhook_delivery("failed")
    after = scrape(client.get)
    assert after[("paydock_webhook_queue_depth", frozenset())] == 7

    def delivered(samples, outcome):
        return samples.get(("paydock_webhook_deliveries_total", frozenset({"outcome": outcome}.items())), 0)

    assert delivered(after, "delivered") - delivered(before, "delivered") == 2
    assert delivered(after, "failed") - delivered(before, "failed") == 1


def test_request_id_is_returned_and_a_sane_incoming_one_kept(client):
    generated = client.get("/api/health").headers["x-request-id"]
    assert len(generated) == 32
    assert client.get("/api/health", headers={"X-Request-Id": "lb-1234"}).headers["x-request-id"] == "lb-1234"
    unsafe = client.get("/api/health", headers={"X-Request-Id": "bad id\n"})
    assert unsafe.headers["x-request-id"] != "bad id\n" and len(unsafe.headers["x-request-id"]) == 32


def test_health_is_liveness_and_ready_checks_migrations(client, settings):
    assert client.get("/api/health").json() == {"status": "ok"}
    ready = client.get("/api/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["migrations"] == "up_to_date" and body["schema_version"] >= 6


def test_ready_is_503_while_a_migration_is_pending(client, settings):
    from models.migrations import SchemaMigration

    database = bind_test_database(settings.database_url)
    with database.connection_context():
        row = SchemaMigration.get(SchemaMigration.version == 6)
        row.delete_instance()
    try:
        response = client.get("/api/ready")
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/problem+json"
        assert "1 migration(s) pending" in response.json()["detail"]
        assert client.get("/api/health").status_code == 200
    finally:
        with database.connection_context():
            SchemaMigration.create(version=row.version, name=row.name)
    assert client.get("/api/ready").status_code == 200


def test_health_answers_while_the_database_is_down_and_ready_does_not(tmp_path):
    """A server whose database cannot be reached: alive (200) but not ready (503)."""
    with GunicornServer("postgresql://nobody@127.0.0.1:9/none", workers=1,
                        PAYDOCK_DATABASE_TIMEOUT="1") as server:
        assert httpx.get(server.url + "/api/health").status_code == 200
        ready = httpx.get(server.url + "/api/ready", timeout=10)
        assert ready.status_code == 503
        assert ready.json()["detail"] == "The database is unavailable"


def test_gunicorn_workers_report_through_one_metrics_endpoint(tmp_path):
    """Two worker processes: /metrics on either of them counts the requests both served."""
    url = "sqlite:///" + str(tmp_path / "metrics.db")
    database = bind_test_database(url)
    from models import api_keys, tenancy

    with database.connection_context():
        administration = tenancy.create_administration("Metrics BV")
        _, key = api_keys.create_api_key(administration.id, "metrics", ["read"])
    metrics_dir = tmp_path / "prometheus"
    metrics_dir.mkdir()
    with GunicornServer(url, workers=2, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir)) as server:
        sent = 0
        # A new connection per request; keep going until both workers have served some.
        while sent < 400 and (sent < 20 or len(list(metrics_dir.glob("counter_*.db"))) < 2):
            response = httpx.get(server.url + "/api/contacts", headers={"X-API-Key": key})
            assert response.status_code == 200
            sent += 1
        assert len(list(metrics_dir.glob("counter_*.db"))) == 2
        samples = scrape(lambda path: httpx.get(server.url + path))
        assert count(samples, "list_contacts", "200") == sent
        assert bucket(samples, "list_contacts", "200", "+Inf") == sent


def test_log_lines_are_json_objects_with_the_request_id():
    import json
    import logging

    from models.audit import REQUEST_ID
    from paydock import logging as jsonlog

    jsonlog.configure_logging("INFO", json_logs=True)
    jsonlog.configure_logging("INFO", json_logs=True)  # replaces its own handler, adds none
    handlers = [h for h in logging.getLogger().handlers if getattr(h, "_paydock", False)]
    assert len(handlers) == 1
    token = REQUEST_ID.set("req-42")
    try:
        record = logging.LogRecord("paydock.webhooks", logging.INFO, __file__, 1, "sent %s to %s",
                                   ("evt_1", "ep_1"), None)
        record.status = 200
        handlers[0].filter(record)
        line = json.loads(handlers[0].format(record))
    finally:
        REQUEST_ID.reset(token)
    assert line["message"] == "sent evt_1 to ep_1" and line["request_id"] == "req-42"
    assert line["level"] == "INFO" and line["logger"] == "paydock.webhooks" and line["status"] == 200


def test_plain_text_logs_when_json_is_off():
    import logging

    from paydock import logging as jsonlog

    jsonlog.configure_logging("INFO", json_logs=False)
    try:
        handler = next(h for h in logging.getLogger().handlers if getattr(h, "_paydock", False))
        record = logging.LogRecord("paydock", logging.WARNING, __file__, 1, "plain %s", ("text",), None)
        handler.filter(record)
        line = handler.format(record)
        assert line.endswith("WARNING paydock [None] plain text")
    finally:
        jsonlog.configure_logging("INFO", json_logs=True)


def test_gunicorn_logs_plain_text_when_json_is_off(tmp_path):
    """PAYDOCK_LOG_JSON=false: gunicorn's own lines and the access lines are plain text,
    each access line with its request id."""
    with GunicornServer("sqlite:///" + str(tmp_path / "plain.db"), workers=1,
                        PAYDOCK_LOG_LEVEL="INFO", PAYDOCK_LOG_JSON="false") as server:
        response = httpx.get(server.url + "/api/health", headers={"X-Request-Id": "plain-1"})
        assert response.headers["x-request-id"] == "plain-1"
        # The access line is written just after the response went out.
        deadline = time.monotonic() + 10
        while "[plain-1]" not in server.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        log = server.log_text()
    lines = [line for line in log.splitlines() if line.strip()]
    assert lines and not any(line.startswith("{") for line in lines), log[-2000:]
    assert any(" INFO gunicorn.error " in line and "Booting worker" in line for line in lines), log[-2000:]
    access = "INFO paydock.access [plain-1] GET /api/health 200"
    assert any(line.endswith(access) for line in lines), log[-2000:]
