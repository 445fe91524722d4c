"""Production server: gunicorn managing uvicorn workers (settings from PAYDOCK_*)."""

import logging

from jsonlog import logging_config
from settings import Settings

_settings = Settings.from_env()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
worker_class = "uvicorn_worker.UvicornWorker"
# On SIGTERM the workers stop accepting connections and in-flight requests get this
# long to finish (graceful shutdown) before they are killed.
graceful_timeout = 20
timeout = 60
keepalive = 5
# PayDock writes its own access log: one JSON line per request (logger paydock.access).
accesslog = None
loglevel = _settings.log_level.lower()
logconfig_dict = logging_config(_settings.log_level)
# Python warnings become JSON log lines (logger py.warnings) instead of raw stderr text.
logging.captureWarnings(True)
