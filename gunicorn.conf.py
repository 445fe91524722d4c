"""Production server: gunicorn managing uvicorn workers (settings from PAYDOCK_*)."""

import logging
import os
import shutil
import tempfile

from paydock.logging import logging_config
from paydock.settings import Settings

_settings = Settings.from_env()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
worker_class = "uvicorn_worker.UvicornWorker"
# On SIGTERM the workers stop accepting connections and in-flight requests get this
# long to finish (graceful shutdown) before they are killed.
graceful_timeout = 20
timeout = 60
keepalive = 5
# No control socket (gunicorn 25.1+): its default is one path per user, shared by every
# instance on the machine; PayDock is managed by signals and its process manager instead.
control_socket_disable = True
# PayDock writes its own access log: one JSON line per request (logger paydock.access, paydock/logging.py).
accesslog = None
loglevel = _settings.log_level.lower()
logconfig_dict = logging_config(_settings.log_level, json_logs=_settings.log_json)
# Python warnings become log lines (logger py.warnings) instead of raw stderr text.
logging.captureWarnings(True)

# Prometheus multi-process mode: every worker writes its figures to files in one directory
# and /metrics combines them. prometheus_client reads the variable when a worker imports it.
_own_metrics_dir = not _settings.metrics_dir
METRICS_DIR = _settings.metrics_dir or tempfile.mkdtemp(prefix="paydock-metrics-")
os.environ["PROMETHEUS_MULTIPROC_DIR"] = METRICS_DIR


def on_starting(server):
    """Figures of an earlier run would be added to this one's: start from an empty directory."""
    os.makedirs(METRICS_DIR, exist_ok=True)
    for name in os.listdir(METRICS_DIR):
        if name.endswith(".db"):
            os.remove(os.path.join(METRICS_DIR, name))


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, METRICS_DIR)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
