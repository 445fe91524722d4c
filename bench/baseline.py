"""The baseline: a bare Starlette app doing each scenario's database work, nothing more.

It answers the scenario paths the way PayDock does underneath: the same API-key check
(SHA-256 hash, the same in-process cache, a worker-thread lookup on a miss), the same
model-layer call inside `connection_context()` on the handler's own thread, the same
serializers and JSON encoder. It has no spec, no request validation and no problem
documents, so PayDock's requests/s divided by the baseline's is the price of PayDock's
framework layer. Serve it like PayDock:

    gunicorn -c gunicorn.conf.py 'bench.baseline:create_app()'
"""

from __future__ import annotations

import functools

import simplejson
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from models import contacts, db, invoices, payments, portal, ratelimit, serialize
from models.api_keys import KEY_CACHE, Caller, cached_caller, verify_api_key
from models.errors import DomainError
from paydock.settings import Settings


def _json(body, status: int = 200) -> Response:
    return Response(simplejson.dumps(body, use_decimal=True), status, media_type="application/json")


def _verify_in_thread(token: str) -> Caller | None:
    with db.database.connection_context():
        return verify_api_key(token)


def endpoint(scope: str | None):
    """Key check (as PayDock: cache on the loop, database lookup in a thread), then the
    work in a pool thread inside its own connection."""

    def decorate(work):
        @functools.wraps(work)
        async def handle(request: Request) -> Response:
            caller = None
            if scope is not None:
                token = request.headers.get("x-api-key", "")
                caller = cached_caller(token) or await run_in_threadpool(_verify_in_thread, token)
                if caller is None:
                    return _json({"detail": "No valid API key in X-API-Key"}, 401)
                if not caller.may(scope):
                    return _json({"detail": f"This operation needs the {scope} scope"}, 403)
            body = await request.json() if request.method in {"POST", "PUT", "PATCH"} else None
            try:
                result = await run_in_threadpool(_in_connection, work, caller, request, body)
            except DomainError as exc:
                return _json({"detail": exc.detail}, exc.status)
            parts = result if isinstance(result, tuple) else (result,)
            return _json(parts[0], parts[1] if len(parts) > 1 else 200)

        return handle

    return decorate


def _in_connection(work, caller, request, body):
    with db.database.connection_context():
        if caller is not None and SETTINGS.rate_limited:
            ratelimit.take_token(caller.administration_id, caller.key_id,
                                 rate=SETTINGS.rate_limit_per_second, burst=SETTINGS.rate_limit_burst)
        return work(caller, request, body)


def _page_args(request: Request) -> dict:
    query = request.query_params
    return {"limit": int(query.get("limit", 100)), "offset": int(query.get("offset", 0))}


def _flag(value: str | None) -> bool | None:
    return None if value is None else value == "true"


SETTINGS = Settings.from_env()


# ------------------------------------------------------------------ routes

@endpoint(None)
def health(caller, request, body):
    return {"status": "ok"}  # liveness, as PayDock's /health


@endpoint("read")
def get_contact(caller, request, body):
    row = contacts.Contact.get_owned(caller.administration_id, request.path_params["id"])
    return serialize.contact(row)


@endpoint("read")
def list_contacts(caller, request, body):
    listed = contacts.list_contacts(
        caller.administration_id, **_page_args(request), q=request.query_params.get("q"),
        external_id=request.query_params.get("external_id"),
        archived=_flag(request.query_params.get("archived")),
    )
    return serialize.page(listed, serialize.contact)


@endpoint("write")
def create_contact(caller, request, body):
    return serialize.contact(contacts.create_contact(caller.administration_id, body)), 201


@endpoint("read")
def get_invoice(caller, request, body):
    return serialize.invoice(invoices.get_invoice(caller.administration_id, request.path_params["id"]))


@endpoint("read")
def list_invoices(caller, request, body):
    query = request.query_params
    listed = invoices.list_invoices(caller.administration_id, **_page_args(request),
                                    status=query.get("status"), contact_id=query.get("contact_id"))
    return serialize.page(listed, serialize.invoice)


@endpoint("write")
def create_invoice(caller, request, body):
    return serialize.invoice(invoices.create_invoice(caller.administration_id, body)), 201


@endpoint("write")
def create_payment(caller, request, body):
    return serialize.payment(payments.register_payment(caller.administration_id, body)), 201


@endpoint("portal")
def get_client_portal(caller, request, body):
    view = portal.client_portal(caller.administration_id, request.path_params["external_id"])
    return serialize.client_portal(view)


ROUTES = [
    Route("/api/health", health, methods=["GET"]),
    Route("/api/contacts", list_contacts, methods=["GET"]),
    Route("/api/contacts", create_contact, methods=["POST"]),
    Route("/api/contacts/{id}", get_contact, methods=["GET"]),
    Route("/api/invoices", list_invoices, methods=["GET"]),
    Route("/api/invoices", create_invoice, methods=["POST"]),
    Route("/api/invoices/{id}", get_invoice, methods=["GET"]),
    Route("/api/payments", create_payment, methods=["POST"]),
    Route("/api/client-portal/{external_id}", get_client_portal, methods=["GET"]),
]


def create_app(settings: Settings | None = None) -> Starlette:
    """The baseline ASGI app, configured from PAYDOCK_* like PayDock itself."""
    global SETTINGS
    settings = SETTINGS = settings or Settings.from_env()
    db.bind(db.open_database(settings.database_url, timeout=settings.database_timeout,
                             pool_size=settings.database_pool_size))
    KEY_CACHE.ttl = settings.api_key_cache_seconds
    return Starlette(routes=ROUTES)
