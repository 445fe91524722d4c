"""PayDock's one logging setup: one JSON object per line on stderr, with the request id.

`extra={...}` fields of a log call become top-level keys, and every record logged while
a request is served carries its `request_id`. Nothing here logs request headers, so API
keys never reach the logs. On a terminal the lines are plain text for people to read;
`PAYDOCK_LOG_JSON=true|false` decides when it is set.
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
#: Libraries that log routine work at INFO: fontTools logs ~75 lines per PDF (font subsetting).
QUIET_LOGGERS = {"connexion": logging.ERROR, "fontTools": logging.WARNING}


def wants_json(json_logs: bool | None, stream=None) -> bool:
    """JSON lines unless told otherwise; by default (None) plain text when `stream` (stderr)
    is a terminal, where a person reads it."""
    if json_logs is not None:
        return json_logs
    stream = stream or sys.stderr
    return not (hasattr(stream, "isatty") and stream.isatty())


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


def configure_logging(level: str = "INFO", json_logs: bool | None = True) -> None:
    """PayDock's handler on the root logger, replacing an earlier one of ours (and only that:
    other handlers, such as a test runner's, stay). Used by the app and the webhook worker.
    `json_logs=None`: plain text on a terminal, JSON otherwise."""
    handler = Handler()
    handler.setFormatter(JsonFormatter() if wants_json(json_logs) else logging.Formatter(PLAIN_FORMAT))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_paydock", False):
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    for name, quiet_level in QUIET_LOGGERS.items():
        logging.getLogger(name).setLevel(quiet_level)


def logging_config(level: str = "INFO", json_logs: bool | None = True) -> dict:
    """gunicorn's `logconfig_dict`: its own, uvicorn's and the master's lines in the same
    format (each worker's app then puts an equal root handler in place of this one)."""
    handler = {"class": "paydock.logging.Handler", "formatter": "paydock", "stream": "ext://sys.stderr"}
    formatter = {"()": JsonFormatter} if wants_json(json_logs) else {"format": PLAIN_FORMAT}
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
            **{name: {"level": logging.getLevelName(quiet)} for name, quiet in QUIET_LOGGERS.items()},
        },
    }
