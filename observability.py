"""Operational signals: Prometheus metrics, request ids and structured JSON logs.

Metrics are per operationId and status. Under gunicorn every worker process writes its
figures to files in `PROMETHEUS_MULTIPROC_DIR` (set by gunicorn.conf.py) and `/metrics`
combines them, so a scrape of any worker sees the whole node. Other modules report
through the hooks below (`set_webhook_queue_depth`, `record_webhook_delivery`); a
process outside gunicorn (the webhook worker) serves its own figures with
`serve_metrics(port)`.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
import uuid

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
    multiprocess,
    start_http_server,
)
from prometheus_client.registry import REGISTRY

# `*_created` series double the output and no PayDock dashboard reads them.
disable_created_metrics()

# Seconds; API calls are expected in the 1 ms - 1 s range, the tail up to the 60 s timeout.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
WEBHOOK_OUTCOMES = ("delivered", "failed", "retry_scheduled", "gave_up")

HTTP_REQUESTS = Counter(
    "paydock_http_requests",
    "HTTP requests by operationId, method and status.",
    ["operation", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "paydock_http_request_duration_seconds",
    "Time from receiving a request to sending its response, by operationId and status.",
    ["operation", "status"],
    buckets=LATENCY_BUCKETS,
)
WEBHOOK_QUEUE_DEPTH = Gauge(
    "paydock_webhook_queue_depth",
    "Webhook deliveries waiting to be sent (as last measured by a worker).",
    multiprocess_mode="max",
)
WEBHOOK_DELIVERIES = Counter(
    "paydock_webhook_deliveries",
    "Webhook delivery attempts by outcome.",
    ["outcome"],
)

#: The id of the request being served (also in every log record and the X-Request-Id header).
REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_REQUEST_ID_FORMAT = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
# Requests that match no operation (docs, unknown paths) share one label value.
UNMATCHED = "unmatched"

access_log = logging.getLogger("paydock.access")
_multiprocess_dir: str | None = None


def configure(metrics_dir: str | None) -> None:
    """Collect from every worker's files in `metrics_dir` (multi-process mode) or this process."""
    global _multiprocess_dir
    _multiprocess_dir = metrics_dir or None


def set_webhook_queue_depth(depth: int) -> None:
    """Hook for the webhook worker: the number of outbox rows not yet delivered."""
    WEBHOOK_QUEUE_DEPTH.set(depth)


def record_webhook_delivery(outcome: str) -> None:
    """Hook for the webhook worker: one delivery attempt and how it ended."""
    if outcome not in WEBHOOK_OUTCOMES:
        raise ValueError(f"unknown webhook outcome {outcome!r}; choose from {WEBHOOK_OUTCOMES}")
    WEBHOOK_DELIVERIES.labels(outcome).inc()


def observe_request(operation: str | None, method: str, status: int, seconds: float) -> None:
    label = operation.rsplit(".", 1)[-1] if operation else UNMATCHED
    HTTP_REQUESTS.labels(label, method, str(status)).inc()
    HTTP_LATENCY.labels(label, str(status)).observe(seconds)


def exposition() -> bytes:
    """The metrics in the Prometheus text format 0.0.4 (read by every Prometheus version)."""
    if _multiprocess_dir:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=_multiprocess_dir)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def serve_metrics(port: int, addr: str = "0.0.0.0") -> None:
    """Serve this process's metrics on their own port (for processes outside gunicorn)."""
    start_http_server(port, addr=addr)


class RequestObserver:
    """ASGI middleware around the whole app: gives each request an id, times it, counts it
    per operationId and status, and writes one structured access log line.

    It sits outside Connexion's exception handling, so it sees the final status of every
    response (401, 422, 503, ...). The operationId is read back from the scope after the
    request, where Connexion's routing put it."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _incoming_request_id(scope) or uuid.uuid4().hex
        token = REQUEST_ID.set(request_id)
        scope.setdefault("extensions", {})
        status = 500
        started = time.perf_counter()

        async def send_with_id(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []),
                                                  (b"x-request-id", request_id.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            routing = scope["extensions"].get("connexion_routing") or {}
            operation = routing.get("operation_id")
            observe_request(operation, scope["method"], status, elapsed)
            access_log.info(
                "%s %s %s", scope["method"], scope["path"], status,
                extra={"method": scope["method"], "path": scope["path"], "status": status,
                       "operation": (operation or UNMATCHED).rsplit(".", 1)[-1],
                       "duration_ms": round(elapsed * 1000, 2)},
            )
            REQUEST_ID.reset(token)


def _incoming_request_id(scope) -> str | None:
    """A caller's (or proxy's) X-Request-Id is kept when it is a sane token."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID_FORMAT.match(text) else None
    return None


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        return True


def configure_logging(level: str, json_logs: bool = True) -> None:
    """Root logging to stderr: one JSON object per line with the request id, or plain text."""
    from pythonjsonlogger.json import JsonFormatter

    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(_RequestIdFilter())
    if json_logs:
        handler.setFormatter(JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        ))
    else:
        handler.setFormatter(logging.Formatter(
            "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_paydock", False):
            root.removeHandler(existing)
    handler._paydock = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
