"""Production server: gunicorn managing uvicorn workers (settings from PAYDOCK_*)."""

from settings import Settings

_settings = Settings.from_env()

bind = f"{_settings.host}:{_settings.port}"
workers = _settings.workers
worker_class = "uvicorn_worker.UvicornWorker"
# In-flight requests get this long to finish on SIGTERM (graceful shutdown).
graceful_timeout = 20
timeout = 60
keepalive = 5
accesslog = "-"
loglevel = _settings.log_level.lower()
