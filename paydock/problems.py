"""RFC 9457 problem responses: every error PayDock answers is built here."""

from __future__ import annotations

import json
import logging
import re

from connexion.exceptions import ProblemException
from connexion.lifecycle import ConnexionRequest, ConnexionResponse

from models.errors import DomainError
from paydock.responses import API_BASE

log = logging.getLogger("paydock")

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def problem(status: int, title: str, detail: str, **extra) -> dict:
    """An RFC 9457 problem body; `extra` members (errors, allowed, ...) are added when not None."""
    body = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    body.update({k: v for k, v in extra.items() if v is not None})
    return body


def problem_body(exc: DomainError) -> dict:
    return problem(exc.status, exc.title, exc.detail, errors=exc.errors, **exc.extra)


def problem_response(
    status: int, title: str, detail: str, headers: dict | None = None, **extra
) -> ConnexionResponse:
    """An RFC 9457 problem response."""
    return ConnexionResponse(
        status_code=status,
        content_type="application/problem+json",
        body=json.dumps(problem(status, title, detail, **extra)),
        headers=headers,
    )


def domain_problem(request: ConnexionRequest, exc: DomainError) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=exc.status,
        content_type="application/problem+json",
        body=json.dumps(problem_body(exc)),
        headers=exc.headers or None,
    )


def connexion_problem(request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
    detail = str(exc.detail or exc.title)
    errors = None
    if exc.status == 400 and ": " in detail and "\n" not in detail:
        field, message = detail.split(": ", 1)
        if " " not in field:
            errors = [{"field": field, "message": message}]
    response = problem_response(exc.status, exc.title or "Error", detail, errors=errors)
    for name, value in (exc.headers or {}).items():
        response.headers[name] = value
    return response


def unicode_problem(request, exc) -> ConnexionResponse:
    return problem_response(400, "Bad Request", "The request body is not valid UTF-8")


def integrity_problem(request, exc) -> ConnexionResponse:
    return problem_response(409, "Conflict", "The change conflicts with existing data")


def database_down(request, exc) -> ConnexionResponse:
    log.error("database unavailable", extra={"error": exc.__class__.__name__,
                                             "reason": str(exc).strip()[:300]})
    return problem_response(503, "Service Unavailable", "The database is unavailable")


class AllowedMethods:
    """The methods the spec documents for each path, for the `Allow` header of a 405."""

    def __init__(self, spec: dict, base: str = API_BASE) -> None:
        self.routes = []
        for template, item in spec["paths"].items():
            pattern = re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(base + template))
            methods = sorted(m.upper() for m in item if m in HTTP_METHODS)
            if "GET" in methods:
                methods.append("HEAD")
            self.routes.append((re.compile(pattern + "/?$"), ", ".join(methods)))

    def for_path(self, path: str) -> str | None:
        return next((allow for regex, allow in self.routes if regex.match(path)), None)

    def problem(self, request: ConnexionRequest, exc) -> ConnexionResponse:
        allow = self.for_path(request.url.path)
        headers = {"Allow": allow} if allow else None
        return problem_response(405, "Method Not Allowed",
                                f"{request.method} is not allowed here", headers=headers)


def unexpected(request, exc) -> ConnexionResponse:
    log.error("unexpected error", exc_info=exc)
    return problem_response(500, "Internal Server Error", "An unexpected error occurred")
