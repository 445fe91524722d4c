"""Binds each operationId to its function in `handlers/` and wraps it with the operation's policy.

The policy of an operation is read once from the spec's own fields (`security`,
`x-required-scope`, `x-secret-fields`, `x-uses-database`, `x-external-call`) into an `OperationPolicy`; the
wrapper then runs the handler inside its own thread's database connection, after the rate
limit and scope checks, honours Idempotency-Key on POST, and answers JSON."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass

import connexion.decorators.parameter
import connexion.security
from connexion.apps.asynchronous import AsyncOperation
from connexion.context import context as request_context
from connexion.context import scope as request_scope
from connexion.decorators.main import BaseDecorator
from connexion.resolver import RelativeResolver, Resolution

from models import db
from models.api_keys import Caller
from models.errors import Forbidden
from paydock.auth import take_rate_limit_token
from paydock.idempotency import idempotency_key, run_idempotently
from paydock.problems import HTTP_METHODS
from paydock.responses import API_BASE, respond
from paydock.settings import Settings

# Connexion reads the handler's and the key function's signatures on every request (its
# parameter decorator and its security wrapper); the answers never change, so each is
# worked out once per function.
for _module in (connexion.security, connexion.decorators.parameter):
    if not hasattr(_module.inspect_function_arguments, "cache_info"):
        _module.inspect_function_arguments = functools.cache(_module.inspect_function_arguments)


def _built_once(build):
    """`build(self, function)`, kept on `self` for the function it was last built for."""

    @functools.wraps(build)
    def once(self, function):
        built = self.__dict__.get("_paydock_built")
        if built is None or built[0] is not function:
            built = (function, build(self, function))
            self.__dict__["_paydock_built"] = built
        return built[1]

    once.paydock_once = True  # type: ignore[attr-defined]
    return once


# Connexion also builds each operation's decorator chain (a decorator object, then the
# parameter, response and thread wrappers around the handler) anew for every request, and its
# URI parser with it. Neither depends on the request: the wrappers read the request and the
# operation from Connexion's context when called. Each operation builds them once.
def _computed_once(cls, name: str) -> None:
    """Make the property `cls.name` a cached_property (once per instance)."""
    if not isinstance(cls.__dict__[name], functools.cached_property):
        cached = functools.cached_property(cls.__dict__[name].fget)
        cached.__set_name__(cls, name)
        setattr(cls, name, cached)


_computed_once(AsyncOperation, "fn")
_computed_once(BaseDecorator, "uri_parser")
if not getattr(BaseDecorator.decorate, "paydock_once", False):
    BaseDecorator.decorate = _built_once(BaseDecorator.decorate)  # type: ignore[method-assign]
# The handler's argument names are sanitised with three regular expressions for every
# parameter of every request: a name's answer never changes.
if not hasattr(connexion.decorators.parameter.sanitized, "cache_info"):
    connexion.decorators.parameter.sanitized = functools.lru_cache(maxsize=4096)(
        connexion.decorators.parameter.sanitized)


@dataclass(frozen=True)
class OperationPolicy:
    """What the spec says about one operation, beyond its parameters and body."""

    scope: str
    public: bool
    is_post: bool
    secret_fields: tuple[str, ...] = ()
    #: Liveness and metrics must answer while the database is down (public operations only:
    #: a keyed one needs the database for its key and its rate limit).
    uses_database: bool = True
    #: The operation calls a service outside PayDock (`x-external-call`): it manages its own
    #: transactions, so that none is held open across the call, also under Idempotency-Key.
    external_call: bool = False

    @classmethod
    def from_spec(cls, method: str, operation: dict) -> OperationPolicy:
        method = method.lower()
        public = operation.get("security") == []
        return cls(
            scope=operation.get("x-required-scope") or ("read" if method in {"get", "head"} else "write"),
            public=public,
            is_post=method == "post",
            secret_fields=tuple(operation.get("x-secret-fields", ())),
            uses_database=operation.get("x-uses-database", True) or not public,
            external_call=bool(operation.get("x-external-call", False)),
        )


def operation_policies(spec: dict) -> dict[tuple[str, str], OperationPolicy]:
    """(path template, method) -> its policy, for every operation of the spec."""
    return {
        (template, method): OperationPolicy.from_spec(method, operation)
        for template, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def operation_routes(spec: dict, base: str = API_BASE) -> dict[str, str]:
    """operationId -> path template, for the access log."""
    return {
        operation["operationId"]: base + template
        for template, item in spec["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS and "operationId" in operation
    }


class PayDockResolver(RelativeResolver):
    """Resolves operationIds in `handlers/` and wraps each handler with its policy."""

    def __init__(self, default_module_name: str, spec: dict, settings: Settings):
        super().__init__(default_module_name)
        self.policies = operation_policies(spec)
        self.settings = settings

    def resolve(self, operation):
        resolution = super().resolve(operation)
        policy = self.policies[(operation.path, operation.method.lower())]
        return Resolution(wrap(resolution.function, policy, self.settings), resolution.operation_id)


#: Arguments a handler may ask for by name beyond the spec's parameters: the caller, the
#: request's Accept header (content negotiation) and the settings (outbound services).
INJECTED = ("caller", "accept", "settings")


def accept_header() -> str | None:
    for name, value in request_scope["headers"]:
        if name == b"accept":
            return value.decode("latin-1")
    return None


def wrap(function, policy: OperationPolicy, settings: Settings):
    wanted = inspect.signature(function).parameters
    wants_caller = "caller" in wanted
    wants_accept = "accept" in wanted
    wants_settings = "settings" in wanted

    @functools.wraps(function)
    def handler(*args, **kwargs):
        if wants_accept:
            kwargs["accept"] = accept_header()
        if wants_settings:
            kwargs["settings"] = settings
        if not policy.uses_database:
            return respond(function(*args, **kwargs))
        with db.database.connection_context():
            if policy.public:
                return respond(function(*args, **kwargs))
            caller: Caller = request_context["token_info"]["caller"]
            if settings.rate_limited:
                take_rate_limit_token(caller, settings)
            if not caller.may(policy.scope):
                raise Forbidden(f"This operation needs the {policy.scope} scope")
            if wants_caller:
                kwargs["caller"] = caller
            key = idempotency_key() if policy.is_post else None
            if key is None:
                return respond(function(*args, **kwargs))
            return respond(run_idempotently(function, args, kwargs, caller, key, policy.secret_fields,
                                            in_transaction=not policy.external_call))

    # Connexion passes arguments by the wrapped function's signature; the injected ones are ours.
    params = [p for n, p in wanted.items() if n not in INJECTED]
    handler.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    del handler.__wrapped__
    return handler
