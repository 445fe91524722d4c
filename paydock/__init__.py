"""PayDock's ASGI application, assembled from the spec.

The package is the only place that imports Connexion: `auth` (API keys), `resolver`
(operationId -> handler, with each operation's policy), `idempotency` (HTTP side),
`validation`, `problems`, `responses`, `middleware`, `swagger`, `settings`, `logging`,
`observability` and `cli`."""

from __future__ import annotations

import json
import pathlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connexion import AsyncApp

    from paydock.settings import Settings

SPEC = pathlib.Path(__file__).resolve().parent.parent / "openapi.yaml"


def create_app(settings: Settings | None = None) -> AsyncApp:
    """The PayDock ASGI app for `settings` (default: from the environment)."""
    # Imported here, not at module level: `paydock.settings` and `paydock.logging` are read by
    # gunicorn.conf.py before any logging is set up, and must not pull in Connexion (whose
    # import-time warnings would reach stderr as raw text).
    import warnings

    # Connexion imports starlette.testclient, which announces that it will need httpx2. PayDock
    # never uses the test client, so an operator cannot act on the warning: drop that one only.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`",
                            module="connexion")

    import peewee
    import yaml
    from connexion import AsyncApp
    from connexion.exceptions import ProblemException
    from connexion.middleware import MiddlewarePosition
    from connexion.options import SwaggerUIOptions

    from models import db
    from models.api_keys import KEY_CACHE
    from models.errors import DomainError
    from paydock import auth, middleware, observability, problems
    from paydock import logging as paydock_logging
    from paydock.auth import rate_limit_charger
    from paydock.resolver import PayDockResolver, operation_routes
    from paydock.responses import JSONIFIER
    from paydock.settings import Settings
    from paydock.swagger import serve_docs_only
    from paydock.validation import VALIDATORS

    settings = settings or Settings.from_env()
    db.bind(
        db.open_database(
            settings.database_url,
            timeout=settings.database_timeout,
            pool_size=settings.database_pool_size,
        )
    )
    KEY_CACHE.ttl = settings.api_key_cache_seconds
    paydock_logging.configure_logging(settings.log_level, json_logs=settings.log_json)
    observability.configure(settings.metrics_dir)

    app = AsyncApp(__name__, jsonifier=JSONIFIER)
    spec = yaml.safe_load(SPEC.read_text())
    # Serialised before Connexion sees the spec: it resolves the references in place.
    document = json.dumps(spec, ensure_ascii=False).encode()
    app.add_api(
        spec,
        resolver=PayDockResolver("handlers", spec, settings),
        strict_validation=True,
        validate_responses=settings.validate_responses,
        validator_map=VALIDATORS,
        swagger_ui_options=SwaggerUIOptions(swagger_ui_path="/docs", spec_path="/openapi.json"),
    )
    app.add_middleware(middleware.RootAliases, position=MiddlewarePosition.BEFORE_SWAGGER)
    app.add_middleware(middleware.SpecDocument, position=MiddlewarePosition.BEFORE_SWAGGER,
                       document=document)
    app.add_middleware(middleware.RequestEnvelope, position=MiddlewarePosition.BEFORE_EXCEPTION,
                       charge=rate_limit_charger(settings),
                       auth_limiter=auth.FailedAuthLimiter(settings.failed_auth_per_second,
                                                           settings.failed_auth_burst))
    app.add_middleware(middleware.RouteAndLimits, position=MiddlewarePosition.BEFORE_SECURITY,
                       max_body_bytes=settings.max_body_bytes, routes=operation_routes(spec))
    serve_docs_only(app.middleware.middlewares)
    app.add_error_handler(DomainError, problems.domain_problem)
    app.add_error_handler(ProblemException, problems.connexion_problem)
    app.add_error_handler(UnicodeDecodeError, problems.unicode_problem)
    app.add_error_handler(peewee.IntegrityError, problems.integrity_problem)
    for exc_type in db.UNAVAILABLE:
        app.add_error_handler(exc_type, problems.database_down)
    app.add_error_handler(405, problems.AllowedMethods(spec).problem)
    app.add_error_handler(Exception, problems.unexpected)
    app.settings = settings
    return app
