"""Test fixtures: the API suite runs once on SQLite and once on a real PostgreSQL."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from starlette.testclient import TestClient

from models import api_keys, db, tenancy
from models.migrations import migrate
from paydock.settings import Settings
from tests import openapi_check
from tests.pgserver import PostgresServer


@pytest.fixture(scope="session")
def pg_server():
    """One PostgreSQL server for the session. Fails (never skips) when it cannot start."""
    server = PostgresServer().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory):
    return "sqlite:///" + str(tmp_path_factory.mktemp("sqlite") / "paydock.db")


@pytest.fixture(scope="session")
def pg_url(pg_server):
    return pg_server.create_database("paydock_tests")


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def database_url(request):
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_url")


_DATABASES: dict = {}

GENEROUS_RATE_LIMIT = {"rate_limit_per_second": 10000.0, "rate_limit_burst": 10000,
                       "failed_auth_per_second": 10000.0, "failed_auth_burst": 10000}


def bind_test_database(url: str):
    """Point the models at the test database for `url` (migrated once per session)."""
    if url not in _DATABASES:
        database = db.open_database(url, timeout=10)
        db.bind(database)
        with database.connection_context():
            migrate()
        _DATABASES[url] = database
    db.bind(_DATABASES[url])
    return _DATABASES[url]


@pytest.fixture(scope="session")
def settings(database_url, tmp_path_factory) -> Settings:
    # Generous rate limits: the bucket is still consulted (and its headers sent) on every
    # request, but tests that send many requests with one key are not refused.
    # E-mail a test's worker sends without an SMTP server goes to a temporary folder.
    return Settings.from_env({}, database_url=database_url, validate_responses=True,
                             webhook_allow_private=True, webhook_allow_http=True,
                             mail_dir=str(tmp_path_factory.mktemp("mail")), **GENEROUS_RATE_LIMIT)


@pytest.fixture(scope="session")
def app(settings):
    from paydock import create_app

    application = create_app(settings)
    bind_test_database(settings.database_url)
    api_keys.KEY_CACHE.clear()
    return application


@dataclass
class Tenant:
    """An administration with a key, and a client that sends that key."""

    administration_id: uuid.UUID
    key: str
    client: TestClient

    def get(self, url, **kw):
        return self.client.get(url, headers=self._headers(kw), **kw)

    def post(self, url, json=None, **kw):
        return self.client.post(url, json=json, headers=self._headers(kw), **kw)

    def put(self, url, json=None, **kw):
        return self.client.put(url, json=json, headers=self._headers(kw), **kw)

    def patch(self, url, json=None, **kw):
        return self.client.patch(url, json=json, headers=self._headers(kw), **kw)

    def delete(self, url, **kw):
        return self.client.delete(url, headers=self._headers(kw), **kw)

    def _headers(self, kw) -> dict:
        return {"X-API-Key": self.key, **kw.pop("headers", {})}


class CheckedTestClient(TestClient):
    """A test client whose every response is checked against openapi.yaml by openapi-core
    (tests/openapi_check.py), independently of the framework's own response validation."""

    def request(self, *args, **kwargs):
        return openapi_check.check(super().request(*args, **kwargs))


@pytest.fixture(scope="session")
def session_client(app):
    with CheckedTestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def client(session_client, settings):
    """The API client, with the models bound to this backend's database (an app another test
    created may have bound them to its own)."""
    bind_test_database(settings.database_url)
    return session_client


@pytest.fixture
def make_tenant(client):
    """Factory: a new administration and a key with the given scopes."""

    def make(scopes=("read", "write", "admin"), name="Test BV") -> Tenant:
        with db.database.connection_context():
            administration = tenancy.create_administration(name)
            _, key = api_keys.create_api_key(administration.id, "test", list(scopes))
        return Tenant(administration.id, key, client)

    return make


@pytest.fixture
def tenant(make_tenant) -> Tenant:
    return make_tenant()


@pytest.fixture
def other_tenant(make_tenant) -> Tenant:
    return make_tenant(name="Other BV")


def count_rows(model, **where) -> int:
    """Rows of `model` matching `where`, read on the test's own connection."""
    with db.database.connection_context():
        query = model.select()
        for field, value in where.items():
            query = query.where(getattr(model, field) == value)
        return query.count()
