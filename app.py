"""PayDock's ASGI application: the spec, the resolver, API-key auth and problem responses.

This is the only module that imports Connexion.
"""

from __future__ import annotations

import codecs
import contextlib
import copy
import functools
import inspect
import json
import logging
import pathlib
import re
from decimal import Decimal

import connexion.decorators.parameter
import connexion.security
import peewee
import simplejson
import yaml
from connexion import AsyncApp
from connexion.context import context as request_context
from connexion.context import scope as request_scope
from connexion.datastructures import MediaTypeDict
from connexion.exceptions import BadRequestProblem, ProblemException, UnsupportedMediaTypeProblem
from connexion.json_schema import Draft4RequestValidator, Draft4ResponseValidator
from connexion.jsonifier import Jsonifier
from connexion.lifecycle import ConnexionRequest, ConnexionResponse
from connexion.middleware import MiddlewarePosition
from connexion.options import SwaggerUIOptions
from connexion.resolver import RelativeResolver, Resolution
from connexion.utils import is_null, is_nullable
from connexion.validators import (
    VALIDATOR_MAP,
    JSONRequestBodyValidator,
    JSONResponseBodyValidator,
    ParameterValidator,
)
from jsonschema import Draft4Validator, ValidationError, validators
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

import jsonlog
import middleware
import observability
from models import db, idempotency, ratelimit
from models.errors import DomainError, Forbidden, Invalid, TooManyRequests, Unauthorized, Unavailable
from models.tenancy import KEY_CACHE, Caller, cached_caller, verify_api_key
from models.webhooks import configure as configure_webhooks
from settings import Settings

SPEC = pathlib.Path(__file__).with_name("openapi.yaml")
log = logging.getLogger("paydock")

# Database failures that mean "not reachable right now", not "bad request".
DATABASE_DOWN = db.UNAVAILABLE


# ------------------------------------------------------------------ auth

#: Money is Decimal inside PayDock and leaves as an exact JSON number (339.00).
JSONIFIER = Jsonifier(simplejson, use_decimal=True, cls=simplejson.JSONEncoder)

# Connexion reads the handler's and the key function's signatures on every request (its
# parameter decorator and its security wrapper); the answers never change, so each is
# worked out once per function.
for _module in (connexion.security, connexion.decorators.parameter):
    if not hasattr(_module.inspect_function_arguments, "cache_info"):
        _module.inspect_function_arguments = functools.cache(_module.inspect_function_arguments)


async def check_api_key(token, required_scopes=None, request=None):
    """x-apikeyInfoFunc: runs on the event loop, so the lookup goes to a worker thread."""
    caller = cached_caller(token)
    if caller is None:
        caller = await run_in_threadpool(_verify_in_thread, token)
    if caller is None:
        raise Unauthorized("No valid API key in X-API-Key")
    state = middleware.current()
    if state is not None:
        state.administration_id = str(caller.administration_id)
        state.key_id = str(caller.key_id)
    return {"sub": str(caller.key_id), "caller": caller}


def _verify_in_thread(token: str) -> Caller | None:
    try:
        with db.database.connection_context():
            return verify_api_key(token)
    except DATABASE_DOWN as exc:
        raise Unavailable("The database is unavailable") from exc


# ------------------------------------------------------------------ handlers

class PayDockResolver(RelativeResolver):
    """Resolves operationIds in `handlers/` and wraps each handler so that it runs
    inside its own thread's database connection, after its rate limit and scope
    checks, honours Idempotency-Key on POST, and answers JSON."""

    def __init__(self, default_module_name, settings: Settings):
        super().__init__(default_module_name)
        self.settings = settings

    def resolve(self, operation):
        resolution = super().resolve(operation)
        method = operation.method.lower()
        scope = operation._operation.get("x-required-scope") or (
            "read" if method in {"get", "head"} else "write"
        )
        public = operation._operation.get("security") == []
        secret_fields = tuple(operation._operation.get("x-secret-fields", ()))
        # Liveness and metrics must answer while the database is down (public operations only:
        # a keyed one needs the database for its key and its rate limit).
        uses_database = operation._operation.get("x-uses-database", True) or not public
        wrapped = _wrap(resolution.function, scope, public, self.settings, method == "post",
                        secret_fields, uses_database)
        return Resolution(wrapped, resolution.operation_id)


def _wrap(function, scope: str, public: bool, settings: Settings, is_post: bool,
          secret_fields: tuple[str, ...] = (), uses_database: bool = True):
    wants_caller = "caller" in inspect.signature(function).parameters

    @functools.wraps(function)
    def handler(*args, **kwargs):
        if not uses_database:
            return _respond(function(*args, **kwargs))
        with db.database.connection_context():
            if public:
                return _respond(function(*args, **kwargs))
            caller: Caller = request_context["token_info"]["caller"]
            if settings.rate_limited:
                _take_rate_limit_token(caller, settings)
            if not caller.may(scope):
                raise Forbidden(f"This operation needs the {scope} scope")
            if wants_caller:
                kwargs["caller"] = caller
            key = _idempotency_key() if is_post else None
            if key is None:
                return _respond(function(*args, **kwargs))
            return _respond(_run_idempotently(function, args, kwargs, caller, key, secret_fields))

    # Connexion passes arguments by the wrapped function's signature; `caller` is ours.
    params = [p for n, p in inspect.signature(function).parameters.items() if n != "caller"]
    handler.__signature__ = inspect.Signature(params)
    del handler.__wrapped__
    return handler


def _take_rate_limit_token(caller: Caller, settings: Settings) -> None:
    decision = ratelimit.take_token(caller.administration_id, caller.key_id,
                                    rate=settings.rate_limit_per_second,
                                    burst=settings.rate_limit_burst)
    state = middleware.current()
    if state is not None:
        state.rate_limit = decision
    if not decision.allowed:
        raise TooManyRequests(
            f"Rate limit of {settings.rate_limit_per_second:g} requests per second "
            f"(bursts of {settings.rate_limit_burst}) exceeded for this API key; "
            f"retry after {decision.retry_after} s",
            headers={"Retry-After": str(decision.retry_after)},
        )


def _idempotency_key() -> str | None:
    for name, value in request_scope["headers"]:
        if name == b"idempotency-key":
            return value.decode("latin-1")
    return None


def _run_idempotently(function, args, kwargs, caller: Caller, key: str, secret_fields=()):
    """Run a POST under its Idempotency-Key: claim, run and store, or replay.

    A response with secrets (`x-secret-fields` in the spec, e.g. a new API key's
    secret) is stored without them and not replayed: a retry gets 409 naming what
    was created, because PayDock never keeps a secret it has shown once."""
    fingerprint = idempotency.fingerprint(
        request_scope["method"], request_scope["path"],
        request_scope.get("query_string", b"").decode("latin-1"), kwargs.get("body"),
    )
    outcome = idempotency.claim(caller.administration_id, key, fingerprint)
    if isinstance(outcome, idempotency.StoredResponse):
        if secret_fields and 200 <= outcome.status < 300:
            raise idempotency.SecretNotReplayed(
                f"This Idempotency-Key already created {outcome.headers.get('Location', 'it')}; "
                "its secret is shown only once: revoke it and create a new one if it was lost"
            )
        return outcome.body, outcome.status, {**outcome.headers, "Idempotent-Replayed": "true"}
    try:
        with db.database.atomic():
            body, status, headers = _as_json(function(*args, **kwargs))
            if status < 500:
                kept = body
                if secret_fields and isinstance(body, dict):
                    kept = {k: v for k, v in body.items() if k not in secret_fields}
                idempotency.store_response(outcome, status, kept, headers)
        return body, status, headers
    except DomainError as exc:
        if 400 <= exc.status < 500 and not isinstance(exc, idempotency.IdempotencyInProgress):
            # The operation refused the request: keep the refusal, as for a success.
            with contextlib.suppress(*DATABASE_DOWN):
                idempotency.store_refusal(outcome, exc.status, problem_body(exc),
                                          {"Content-Type": "application/problem+json"})
        else:
            with contextlib.suppress(*DATABASE_DOWN):
                idempotency.release(outcome)
        raise
    except BaseException:
        with contextlib.suppress(*DATABASE_DOWN):
            idempotency.release(outcome)
        raise


def _as_json(result):
    """Handlers return body, (body, status) or (body, status, headers)."""
    parts = result if isinstance(result, tuple) else (result,)
    body = parts[0]
    status = parts[1] if len(parts) > 1 else 200
    headers = dict(parts[2]) if len(parts) > 2 else {}
    if body is not None and status != 204:
        headers.setdefault("Content-Type", "application/json")
    return body, status, headers


def _respond(result) -> Response:
    """A handler's result as the finished response, built in the handler's thread: the body
    is JSON-encoded here (as Connexion's jsonifier would) so the event loop only sends it."""
    body, status, headers = _as_json(result)
    if body is None or status == 204:
        content = b""
    elif isinstance(body, bytes | str):
        content = body
    else:
        content = JSONIFIER.dumps(body)
    return Response(content, status_code=status, headers=headers)


# ------------------------------------------------------------------ validation

def _exact_multiple_of(validator, step, instance, schema):
    """multipleOf on exact decimals: 0.07 is a multiple of 0.01 (binary floats say no)."""
    if not validator.is_type(instance, "number") or isinstance(instance, bool):
        return
    try:
        value = Decimal(repr(instance)) if isinstance(instance, float) else Decimal(instance)
        step_value = Decimal(repr(step))
        off_step = abs(value - (value / step_value).to_integral_value() * step_value)
        ok = value.is_finite() and off_step <= Decimal("1e-9")
    except ArithmeticError:
        ok = False
    if not ok:
        yield ValidationError(f"{instance} has more decimals than allowed (multiple of {step})")


class SchemaValidators:
    """One jsonschema validator per schema of the spec, built on first use.

    Connexion builds a new validator (and its reference resolver) for every body and
    every parameter of every request, which cost more than the rest of a request's
    validation. The schemas are the spec's own objects and never change, so a validator
    is kept per schema object (held here, so its id is never reused)."""

    def __init__(self, make) -> None:
        self._make = make
        self._built: dict[int, tuple[dict, object]] = {}

    def __call__(self, schema: dict):
        entry = self._built.get(id(schema))
        if entry is None or entry[0] is not schema:
            entry = (schema, self._make(schema))
            self._built[id(schema)] = entry
        return entry[1]


BodySchemaValidator = validators.extend(
    Draft4RequestValidator, {"multipleOf": _exact_multiple_of}
)
BODY_VALIDATORS = SchemaValidators(
    lambda schema: BodySchemaValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER))
ResponseSchemaValidator = validators.extend(
    Draft4ResponseValidator, {"multipleOf": _exact_multiple_of}
)
RESPONSE_VALIDATORS = SchemaValidators(
    lambda schema: ResponseSchemaValidator(schema, format_checker=Draft4Validator.FORMAT_CHECKER))
PARAMETER_VALIDATORS = SchemaValidators(
    lambda param: Draft4Validator(copy.deepcopy(param.get("schema", param)),
                                  format_checker=Draft4Validator.FORMAT_CHECKER))


def _field_path(error: ValidationError) -> str:
    path = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "required":
        missing = error.message.split("'")[1] if "'" in error.message else ""
        path = f"{path}.{missing}" if path else missing
    if error.validator == "additionalProperties" and "'" in error.message:
        extra = error.message.split("'")[1]
        path = f"{path}.{extra}" if path else extra
    return path or "body"


def _message(error: ValidationError) -> str:
    if error.validator == "additionalProperties":
        return "unknown field"
    if error.validator == "required":
        return "is required"
    return error.message if len(error.message) < 300 else error.message[:297] + "..."


class BodyValidator(JSONRequestBodyValidator):
    """Reads a JSON body defensively and reports every schema violation as a 422 with `errors[]`.

    A body needs `Content-Type: application/json` (charset UTF-8 if one is given):
    anything else, or none, is 415; a request without a body needs none. Bodies that
    are not UTF-8, not JSON, nested deeper than Python's parser allows, or hold numbers
    too long to convert are 400. Text that no database can store (NUL characters,
    unpaired surrogates) is 422."""

    async def wrap_receive(self, receive, *, scope):
        headers = dict(scope["headers"])
        content_type = headers.get(b"content-type")
        no_body = headers.get(b"content-length", b"0").strip() in (b"", b"0") and (
            b"transfer-encoding" not in headers)
        if content_type is None and no_body:
            # No body at all: an optional body is left out (400 if the operation needs one).
            return await super().wrap_receive(receive, scope=scope)
        if content_type is None:
            raise UnsupportedMediaTypeProblem(
                detail="A request body needs Content-Type: application/json"
            )
        charset = re.search(rb"charset=\"?([^\";]+)", content_type, re.I)
        if charset and _codec_name(charset.group(1)) != "utf-8":
            raise UnsupportedMediaTypeProblem(detail="JSON request bodies must be UTF-8")
        return await super().wrap_receive(receive, scope=scope)

    async def _parse(self, stream, scope):
        raw = b"".join([chunk async for chunk in stream])
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequestProblem(detail="The request body is not valid UTF-8") from None
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise BadRequestProblem(detail=f"The request body is not valid JSON: {exc}") from None
        except RecursionError:
            raise BadRequestProblem(detail="The request body is nested too deeply") from None
        except ValueError:
            raise BadRequestProblem(detail="The request body holds a number too long to read") from None

    @property
    def _validator(self):
        return BODY_VALIDATORS(self._schema)

    def _validate(self, body):
        if body is None and not self._nullable:
            raise BadRequestProblem("Request body must not be empty")
        errors = sorted(self._validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        if errors:
            fields = [{"field": _field_path(e), "message": _message(e)} for e in errors[:50]]
            detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
            raise Invalid(detail, errors=fields)
        field = _unstorable_text(body)
        if field is not None:
            message = "must not contain NUL characters (U+0000) or unpaired surrogates"
            raise Invalid.field(field or "body", message)
        return body


def _unstorable_text(value, path: str = "") -> str | None:
    """The path of the first string (or key) that no database can store as text: one with a
    NUL character (PostgreSQL refuses it) or a lone UTF-16 surrogate (not encodable)."""
    if isinstance(value, str):
        if "\x00" in value:
            return path
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path
        return None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if _unstorable_text(key) is not None:
                return path
            found = _unstorable_text(item, where)
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable_text(item, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def _codec_name(label: bytes) -> str | None:
    try:
        return codecs.lookup(label.decode("ascii", "replace").strip()).name
    except LookupError:
        return None


class ResponseValidator(JSONResponseBodyValidator):
    """Response checks (tests) with the same exact-decimal multipleOf as requests."""

    @property
    def validator(self):
        return RESPONSE_VALIDATORS(self._schema)


class QueryValidator(ParameterValidator):
    """Parameter errors as one short line, `name: message`.

    Connexion's own check deep-copies the parameter and builds a new jsonschema validator
    for every parameter of every request; here each parameter keeps one."""

    @staticmethod
    def validate_parameter(parameter_type, value, param, param_name=None):
        if is_nullable(param) and is_null(value):
            return None
        if value is None:
            return f"Missing {parameter_type} parameter '{param['name']}'" if param.get("required") else None
        try:
            PARAMETER_VALIDATORS(param).validate(value)
        except ValidationError as exc:
            return f"{param['name']}: {exc.message}"
        return None


VALIDATORS = {
    **VALIDATOR_MAP,
    "parameter": QueryValidator,
    "body": MediaTypeDict({**VALIDATOR_MAP["body"], "*/*json": BodyValidator}),
    "response": MediaTypeDict({**VALIDATOR_MAP["response"], "*/*json": ResponseValidator}),
}


# ------------------------------------------------------------------ problems

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


def _domain_problem(request: ConnexionRequest, exc: DomainError) -> ConnexionResponse:
    return ConnexionResponse(
        status_code=exc.status,
        content_type="application/problem+json",
        body=json.dumps(problem_body(exc)),
        headers=exc.headers or None,
    )


def _connexion_problem(request: ConnexionRequest, exc: ProblemException) -> ConnexionResponse:
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


def _unicode_problem(request, exc) -> ConnexionResponse:
    return problem_response(400, "Bad Request", "The request body is not valid UTF-8")


def _integrity_problem(request, exc) -> ConnexionResponse:
    return problem_response(409, "Conflict", "The change conflicts with existing data")


def _database_down(request, exc) -> ConnexionResponse:
    log.error("database unavailable", extra={"error": exc.__class__.__name__,
                                             "reason": str(exc).strip()[:300]})
    return problem_response(503, "Service Unavailable", "The database is unavailable")


class AllowedMethods:
    """The methods the spec documents for each path, for the `Allow` header of a 405."""

    def __init__(self, spec: dict, base: str = "/api") -> None:
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


HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}


def _unexpected(request, exc) -> ConnexionResponse:
    log.error("unexpected error", exc_info=exc)
    return problem_response(500, "Internal Server Error", "An unexpected error occurred")


# ------------------------------------------------------------------ app

class RootAliases:
    """Serves /docs and /openapi.json as aliases of /api/docs and /api/openapi.json."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/openapi.json" or path == "/docs" or path.startswith("/docs/"):
                scope = dict(scope, path="/api" + path, raw_path=("/api" + path).encode())
        await self.app(scope, receive, send)


def _routes(spec: dict, base: str = "/api") -> dict[str, str]:
    """operationId -> path template, for the access log (resolved ids included)."""
    routes = {}
    for template, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS and "operationId" in operation:
                routes[operation["operationId"]] = base + template
    return routes


def _rate_limit_charger(settings: Settings):
    """For the envelope: take a token for a keyed request refused before its operation ran."""
    if not settings.rate_limited:
        return None

    def charge_in_thread(administration_id, key_id):
        try:
            with db.database.connection_context():
                return ratelimit.take_token(administration_id, key_id,
                                            rate=settings.rate_limit_per_second,
                                            burst=settings.rate_limit_burst)
        except DATABASE_DOWN:
            return None

    async def charge(state: middleware.RequestState):
        return await run_in_threadpool(charge_in_thread, state.administration_id, state.key_id)

    return charge


def create_app(settings: Settings | None = None) -> AsyncApp:
    """The PayDock ASGI app for `settings` (default: from the environment)."""
    settings = settings or Settings.from_env()
    db.bind(
        db.open_database(
            settings.database_url,
            timeout=settings.database_timeout,
            pool_size=settings.database_pool_size,
        )
    )
    KEY_CACHE.ttl = settings.api_key_cache_seconds
    configure_webhooks(settings)
    jsonlog.configure_logging(settings.log_level, json_logs=settings.log_json)
    observability.configure(settings.metrics_dir)

    app = AsyncApp(
        __name__,
        jsonifier=JSONIFIER,
    )
    spec = yaml.safe_load(SPEC.read_text())
    app.add_api(
        SPEC,
        resolver=PayDockResolver("handlers", settings),
        strict_validation=True,
        validate_responses=settings.validate_responses,
        validator_map=VALIDATORS,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/docs", spec_path="/openapi.json"),
    )
    app.add_middleware(RootAliases, position=MiddlewarePosition.BEFORE_SWAGGER)
    app.add_middleware(middleware.RequestEnvelope, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       charge=_rate_limit_charger(settings))
    app.add_middleware(middleware.RouteAndLimits, position=MiddlewarePosition.BEFORE_SECURITY,
                       max_body_bytes=settings.max_body_bytes, routes=_routes(spec))
    app.add_error_handler(DomainError, _domain_problem)
    app.add_error_handler(ProblemException, _connexion_problem)
    app.add_error_handler(UnicodeDecodeError, _unicode_problem)
    app.add_error_handler(peewee.IntegrityError, _integrity_problem)
    for exc_type in DATABASE_DOWN:
        app.add_error_handler(exc_type, _database_down)
    app.add_error_handler(405, AllowedMethods(spec).problem)
    app.add_error_handler(Exception, _unexpected)
    app.settings = settings
    return app
