"""The Swagger UI layer is consulted only for its own paths (paydock/swagger.py): every
request is answered exactly as with Connexion's own layer, which routes them all."""

from __future__ import annotations

import asyncio

import pytest
from connexion.middleware.swagger_ui import SwaggerUIMiddleware
from starlette.testclient import TestClient

import paydock.swagger
from paydock import create_app
from paydock.swagger import DocsOnlySwaggerUI
from tests.conftest import bind_test_database

# The UI, its redirect, its files and config, both spec documents, the /docs alias, API
# operations (keyed and public), unknown paths inside and outside the API, and paths that
# only look like the UI's.
PATHS = [
    ("GET", "/api/docs"), ("GET", "/api/docs/"), ("GET", "/api/docs/index.html"),
    ("GET", "/api/docs/swagger-ui.css"), ("GET", "/api/docs/swagger-ui-config.json"),
    ("GET", "/api/docs/nothing-here.js"), ("GET", "/docs"), ("GET", "/docs/"),
    ("GET", "/api/openapi.json"), ("GET", "/api/openapi.yaml"), ("POST", "/api/openapi.json"),
    ("GET", "/openapi.json"), ("GET", "/api/health"), ("GET", "/api/contacts?limit=2"),
    ("POST", "/api/docs/"), ("GET", "/api/nothing"), ("GET", "/nothing"), ("GET", "/api/docsx"),
    ("GET", "/api/contacts/docs"), ("DELETE", "/api/health"),
]


def _answers(app, key: str) -> list[tuple]:
    answers = []
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path in PATHS:
            response = client.request(method, path, headers={"X-API-Key": key}, follow_redirects=False)
            headers = {k: v for k, v in response.headers.items() if k not in ("x-request-id", "date")}
            answers.append((method, path, response.status_code, headers, response.content))
    return answers


def test_docs_only_layer_answers_every_path_as_connexions_own(settings, tenant, monkeypatch):
    ours = create_app(settings)
    assert DocsOnlySwaggerUI in ours.middleware.middlewares
    assert SwaggerUIMiddleware not in ours.middleware.middlewares
    with_ours = _answers(ours, tenant.key)

    monkeypatch.setattr(paydock.swagger, "serve_docs_only", lambda middlewares: None)
    theirs = create_app(settings)
    assert SwaggerUIMiddleware in theirs.middleware.middlewares
    with_theirs = _answers(theirs, tenant.key)
    bind_test_database(settings.database_url)

    statuses = {(m, p): s for m, p, s, _, _ in with_ours}
    assert statuses[("GET", "/api/docs/")] == 200 and statuses[("GET", "/api/contacts?limit=2")] == 200
    assert statuses[("GET", "/api/docs/swagger-ui.css")] == 200
    assert statuses[("GET", "/api/nothing")] == 404
    for mine, connexions in zip(with_ours, with_theirs, strict=True):
        assert mine == connexions, mine[:3]


@pytest.mark.parametrize("path", ["/api/contacts", "/api/invoices/abc", "/api/health"])
def test_other_paths_skip_the_ui_router(path):
    seen = []

    async def after(scope, receive, send):
        seen.append(scope["path"])

    layer = DocsOnlySwaggerUI(after)
    layer.router = None  # calling it would fail the test
    asyncio.run(layer({"type": "http", "path": path}, None, None))
    assert seen == [path]
