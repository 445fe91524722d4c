"""Operational signals: Prometheus metrics per operationId and status.

Metrics are per operationId and status. Under gunicorn every worker process writes its
figures to files in `PROMETHEUS_MULTIPROC_DIR` (set by gunicorn.conf.py) and `/metrics`
combines them, so a scrape of any worker sees the whole node. Other modules report
through the hooks below (`set_webhook_queue_depth`, `record_webhook_delivery`); a
process outside gunicorn (the webhook worker) serves its own figures with
`serve_metrics(port)`. Requests are counted by the request envelope (paydock/middleware.py),
which also gives them their ids and writes the access log (paydock/logging.py).
"""

from __future__ import annotations

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

# Requests that match no operation (docs, unknown paths) share one label value.
UNMATCHED = "unmatched"

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


#: (operation, method, status) -> its counter and histogram series: `labels()` checks and looks
#: up the label values under a lock on every call, and a label set's series never change.
#: Methods are the client's to choose, so a full cache is emptied rather than grown.
_SERIES: dict[tuple[str | None, str, int], tuple] = {}
SERIES_CACHED = 2048


def observe_request(operation: str | None, method: str, status: int, seconds: float) -> None:
    key = (operation, method, status)
    series = _SERIES.get(key)
    if series is None:
        label = operation.rsplit(".", 1)[-1] if operation else UNMATCHED
        series = (HTTP_REQUESTS.labels(label, method, str(status)), HTTP_LATENCY.labels(label, str(status)))
        if len(_SERIES) >= SERIES_CACHED:
            _SERIES.clear()
        _SERIES[key] = series
    series[0].inc()
    series[1].observe(seconds)


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
