"""Production server: gunicorn managing uvicorn workers (settings from PAYDOCK_*)."""

import os
import shutil
import tempfile

from settings import Settings

_settings = Settings.from_env()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
worker_class = "uvicorn_worker.UvicornWorker"
# In-flight requests get this long to finish on SIGTERM (graceful shutdown).
graceful_timeout = 20
timeout = 60
keepalive = 5
# PayDock writes its own structured access log line per request (observability.py).
accesslog = None
loglevel = _settings.log_level.lower()
if _settings.log_json:
    # gunicorn's and uvicorn's own lines (start, stop, worker exits) as JSON too.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        }},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json",
                                "stream": "ext://sys.stderr"}},
        "loggers": {
            "gunicorn.error": {"level": _settings.log_level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": _settings.log_level, "handlers": [], "propagate": False},
        },
        # The app adds its own root handler, with request ids (observability.configure_logging).
        "root": {"level": _settings.log_level, "handlers": []},
    }

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
