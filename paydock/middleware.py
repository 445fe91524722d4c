"""ASGI middleware around every PayDock request: request ids, security headers,
rate-limit headers, the JSON access log, request metrics, and the request body size limit.

Pure ASGI (no framework imports), so that it also wraps the error responses the
framework produces. Per-request facts that later layers learn (which operation,
which administration, the rate-limit decision) are collected in a RequestState
held in a context variable: the API-key check and the handler thread see the same
object, because context variables are copied by reference into worker threads.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from models.audit import REQUEST_ID
from models.errors import DomainError, PayloadTooLarge
from models.ratelimit import RateDecision
from paydock import observability
from paydock.responses import API_BASE

access_log = logging.getLogger("paydock.access")

#: A client-chosen X-Request-Id is echoed only if it looks like an id.
SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}$")

SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-resource-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
    # Browsers keep to HTTPS for this host for two years once they saw it over HTTPS (they
    # ignore it over plain HTTP, so local development is unaffected).
    (b"strict-transport-security", b"max-age=63072000; includeSubDomains"),
)
#: JSON responses load nothing and may not be framed.
API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
#: HTML (the Swagger UI): its own scripts and styles, the inline ones by hash.
HTML_CSP = (
    "default-src 'none'; script-src 'self' {scripts}; style-src 'self' {styles}; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_INLINE = re.compile(rb"<(script|style)(?![^>]*\bsrc=)[^>]*>(.*?)</\1\s*>", re.S | re.I)


@dataclass
class RequestState:
    """What is known about the request being served; filled in as it passes each layer."""

    request_id: str
    method: str
    path: str
    started: float = field(default_factory=time.perf_counter)
    operation_id: str | None = None
    route: str | None = None
    administration_id: str | None = None
    key_id: str | None = None
    #: models.ratelimit.RateDecision once a token was taken for this request.
    rate_limit: RateDecision | None = None
    #: The app's paydock.auth.FailedAuthLimiter (failed key checks per client address).
    auth_limiter: Any = None
    status: int | None = None


CURRENT: ContextVar[RequestState | None] = ContextVar("paydock_request", default=None)


def current() -> RequestState | None:
    """The state of the request being served in this context, if any."""
    return CURRENT.get()


def _header(scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


def content_security_policy(html: bytes) -> str:
    """The CSP for an HTML page: same-origin files plus the page's own inline blocks by hash."""
    hashes: dict[bytes, list[str]] = {b"script": [], b"style": []}
    for tag, content in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
        hashes[tag.lower()].append(f"'sha256-{digest}'")
    return HTML_CSP.format(scripts=" ".join(hashes[b"script"]), styles=" ".join(hashes[b"style"]))


def new_request_id() -> str:
    """32 random hex digits. From the process's PRNG (reseeded in every forked worker), not
    os.urandom: a request id needs to be unique, not secret, and the system call cost more
    than the rest of this middleware."""
    return f"{random.getrandbits(128):032x}"


def _relative(location: bytes) -> bytes:
    """A Location as a path on this server. The framework's trailing-slash redirects build
    an absolute URL from the request's Host header, which a client chooses (`Host:
    evil.example` would send a browser elsewhere); PayDock only ever points at itself."""
    match = _ABSOLUTE_URL.match(location)
    path = location if match is None else match.group(1) or b"/"
    # `//host/...` would be read as another server's address.
    return b"/" + path.lstrip(b"/") if path.startswith(b"//") else path


_ABSOLUTE_URL = re.compile(rb"^(?:[A-Za-z][A-Za-z0-9+.-]*:)?//[^/?#]*(.*)$", re.S)


class RequestEnvelope:
    """Outermost PayDock middleware: request id, security and rate-limit headers, access log
    and metrics (it sees the final status of every response: 401, 422, 503, ...).

    `charge` takes a rate-limit token for a request with a valid key that was refused
    before its operation ran (bad parameters or body), so that every keyed response
    is counted and carries RateLimit-* headers; it returns a RateDecision or None."""

    def __init__(self, app, charge: Callable[[RequestState], Awaitable[RateDecision | None]] | None = None,
                 auth_limiter: Any = None):
        self.app = app
        self.charge = charge
        self.auth_limiter = auth_limiter

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent_id = _header(scope, b"x-request-id")
        try:
            text = sent_id.decode("ascii") if sent_id else ""
        except UnicodeDecodeError:
            text = ""
        request_id = text if SANE_REQUEST_ID.match(text) else new_request_id()
        state = RequestState(request_id, scope["method"], scope["path"], auth_limiter=self.auth_limiter)
        token = CURRENT.set(state)
        request_token = REQUEST_ID.set(request_id)
        held: list = []

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                state.status = message["status"]
                if (self.charge and state.key_id and state.rate_limit is None
                        and state.status not in (401, 503)):
                    state.rate_limit = await self.charge(state)
                content_type = dict(message.get("headers", ())).get(b"content-type", b"")
                if content_type.startswith(b"text/html"):
                    held.append(message)  # the CSP needs the page's inline blocks
                    return
                message = self._decorate(message, state, API_CSP)
            elif held:
                held.append(message)
                if message.get("more_body", False):
                    return
                body = b"".join(m.get("body", b"") for m in held[1:])
                start = self._decorate(held[0], state, content_security_policy(body))
                await send(start)
                message = {"type": "http.response.body", "body": body, "more_body": False}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self._log(state)
            REQUEST_ID.reset(request_token)
            CURRENT.reset(token)

    @staticmethod
    def _decorate(message, state: RequestState, csp: str):
        headers = [(k, _relative(v) if k == b"location" else v)
                   for k, v in message.get("headers", ()) if k != b"x-request-id"]
        headers.append((b"x-request-id", state.request_id.encode()))
        headers.extend(SECURITY_HEADERS)
        headers.append((b"content-security-policy", csp.encode()))
        decision: Any = state.rate_limit  # a models.ratelimit.RateDecision
        if decision is not None:
            names = {k.lower() for k, _ in headers}
            for name, value in decision.headers().items():
                headers.append((name.lower().encode(), value.encode()))
            if not decision.allowed and b"retry-after" not in names:
                headers.append((b"retry-after", str(decision.retry_after).encode()))
        return {**message, "headers": headers}

    @staticmethod
    def _log(state: RequestState) -> None:
        elapsed = time.perf_counter() - state.started
        # No response started: the request failed outside every error handler.
        status = state.status if state.status is not None else 500
        observability.observe_request(state.operation_id, state.method, status, elapsed)
        if not access_log.isEnabledFor(logging.INFO):
            return
        access_log.info(
            "%s %s %s", state.method, state.path, status,
            extra={
                "request_id": state.request_id,
                "method": state.method,
                "path": state.path,
                "route": state.route,
                "operation_id": state.operation_id,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "administration_id": state.administration_id,
                "api_key_id": state.key_id,
            },
        )


class RouteAndLimits:
    """Inside the router: records the matched operation, and enforces the body size limit.

    The limit is checked when the body is first read (after the API key check, so an
    unauthenticated request is refused without reading it): a declared Content-Length
    over the limit is refused at once, and a body sent without one (chunked) is
    counted as it streams in and refused when it passes the limit."""

    def __init__(self, app, max_body_bytes: int, routes: dict[str, str]):
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.routes = routes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = CURRENT.get()
        if state is not None:
            routing = scope.get("extensions", {}).get("connexion_routing", {})
            resolved = routing.get("operation_id")
            # As the spec names it: the resolver prefixes the handler's module.
            state.operation_id = resolved.rsplit(".", 1)[-1] if resolved else None
            state.route = self.routes.get(state.operation_id)
        if b"%00" in scope.get("query_string", b"") or "\x00" in scope["path"]:
            # No database stores NUL in text, and no id or filter needs one.
            raise DomainError("The URL must not contain NUL characters (%00)")
        limit = self.max_body_bytes
        declared = _header(scope, b"content-length")
        received = 0

        async def limited_receive():
            nonlocal received
            if declared is not None:
                try:
                    size = int(declared)
                except ValueError:
                    raise DomainError("Content-Length is not a number") from None
                if size > limit:
                    raise PayloadTooLarge(f"The request body is larger than {limit} bytes")
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(f"The request body is larger than {limit} bytes")
            return message

        await self.app(scope, receive if limit <= 0 else limited_receive, send)
class RootAliases:
    """Serves /docs as an alias of /api/docs (the UI, its static files and its redirect), and
    redirects / to the Swagger UI (307: the root may serve something else one day).
    /openapi.json is SpecDocument's."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/":
                await send({"type": "http.response.start", "status": 307,
                            "headers": [(b"location", f"{API_BASE}/docs/".encode()),
                                        (b"content-length", b"0")]})
                await send({"type": "http.response.body", "body": b""})
                return
            if path == "/docs" or path.startswith("/docs/"):
                scope = dict(scope, path=API_BASE + path, raw_path=(API_BASE + path).encode())
        await self.app(scope, receive, send)


class SpecDocument:
    """Serves openapi.yaml as JSON at /api/openapi.json and /openapi.json, exactly as written:
    `components` and every `$ref` intact (Connexion's own copy has every reference inlined,
    five times the size, and loses the component names that generators and readers use)."""

    PATHS = frozenset({"/openapi.json", f"{API_BASE}/openapi.json"})

    def __init__(self, app, document: bytes):
        self.app = app
        self.document = document
        self.headers = [(b"content-type", b"application/json"),
                        (b"content-length", str(len(document)).encode())]

    async def __call__(self, scope, receive, send):
        if (scope["type"] != "http" or scope["path"] not in self.PATHS
                or scope["method"] not in ("GET", "HEAD")):
            await self.app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 200, "headers": self.headers})
        body = self.document if scope["method"] == "GET" else b""
        await send({"type": "http.response.body", "body": body})
