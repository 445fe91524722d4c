"""Fixtures for tests against a real PayDock server (gunicorn on 127.0.0.1)."""

from __future__ import annotations

import pytest

from models import api_keys, tenancy
from tests.conftest import bind_test_database
from tests.server import GunicornServer

GENEROUS_LIMITS = {"PAYDOCK_RATE_LIMIT_PER_SECOND": "10000", "PAYDOCK_RATE_LIMIT_BURST": "10000"}


def new_tenant_key(database_url: str, scopes=("read", "write", "admin")) -> tuple[object, str]:
    """A new administration and an API key for it, written straight to the database."""
    database = bind_test_database(database_url)
    with database.connection_context():
        administration = tenancy.create_administration("Reliability BV")
        _, key = api_keys.create_api_key(administration.id, "reliability", list(scopes))
    return administration.id, key


@pytest.fixture(scope="module")
def live_server(database_url, app):
    """gunicorn with 2 workers on this backend's test database (migrated by `app`)."""
    with GunicornServer(database_url, workers=2, **GENEROUS_LIMITS) as server:
        yield server
