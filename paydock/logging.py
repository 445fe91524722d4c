"""PayDock's one logging setup: one JSON object per line on stderr, with the request id.

`extra={...}` fields of a log call become top-level keys, and every record logged while
a request is served carries its `request_id`. Nothing here logs request headers, so API
keys never reach the logs. `PAYDOCK_LOG_JSON=false` gives plain text lines instead.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from models.audit import REQUEST_ID

# Record attributes that are not extras; uvicorn adds an ANSI-coloured copy of its message.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: time, level, logger, message and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in vars(record).items():
            if name not in _STANDARD and not name.startswith("_"):
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class RequestIdFilter(logging.Filter):
    """Adds the id of the request being served (None outside a request) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = REQUEST_ID.get()
        return True


class Handler(logging.StreamHandler):
    """PayDock's stderr handler: records carry the request id."""

    _paydock = True

    def __init__(self, stream=None) -> None:
        super().__init__(stream or sys.stderr)
        self.addFilter(RequestIdFilter())


def configure_logging(level: str = "INFO", json_logs: bool = True) -> None:
    """PayDock's handler on the root logger, replacing an earlier one of ours (and only that:
    other handlers, such as a test runner's, stay). Used by the app and the webhook worker."""
    handler = Handler()
    handler.setFormatter(JsonFormatter() if json_logs else logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_paydock", False):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("connexion").setLevel(logging.ERROR)


def logging_config(level: str = "INFO", json_logs: bool = True) -> dict:
    """gunicorn's `logconfig_dict`: its own, uvicorn's and the master's lines in the same
    format (each worker's app then puts an equal root handler in place of this one)."""
    handler = {"class": "paydock.logging.Handler", "formatter": "paydock", "stream": "ext://sys.stderr"}
    formatter = {"()": JsonFormatter} if json_logs else {"format": PLAIN_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"paydock": formatter},
        "handlers": {"stderr": handler},
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            "uvicorn.error": {"level": level, "handlers": ["stderr"], "propagate": False},
            "uvicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
            "connexion": {"level": "ERROR"},
        },
    }
