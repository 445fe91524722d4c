"""Fixtures for webhook tests: a receiver on 127.0.0.1, an injectable clock, a worker."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import timedelta

import pytest
from starlette.testclient import TestClient

from models import db
from models.db import utcnow
from models.webhooks import WebhookEndpoint
from tests.conftest import bind_test_database
from tests.webhooks.receiver import Receiver
from webhooks.worker import DeliveryWorker


class FakeClock:
    """Naive-UTC time that moves only when told to."""

    def __init__(self, start=None) -> None:
        self.now = start or utcnow()

    def __call__(self):
        return self.now

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def receiver():
    with Receiver() as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_worker(client, settings):
    """Factory: a DeliveryWorker on the test database (extra settings as keywords)."""
    workers = []

    def make(clock=utcnow, **overrides) -> DeliveryWorker:
        worker = DeliveryWorker(dataclasses.replace(settings, **overrides), clock=clock)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.close()


def run_worker(worker: DeliveryWorker) -> int:
    with db.database.connection_context():
        return worker.run_once()


@pytest.fixture(autouse=True)
def _quiet_endpoints(request):
    """Endpoints of other tests must not receive work in this one: disable them before and
    after. Tests outside tests/webhooks leave endpoints enabled with deliveries due, which a
    worker here would send beside this test's own (slowing a test that times its receivers)."""
    if "client" in request.fixturenames:
        request.getfixturevalue("client")  # binds this test's database
        _disable_endpoints()
    yield
    if "client" in request.fixturenames:
        _disable_endpoints()


def _disable_endpoints() -> None:
    with db.database.connection_context():
        WebhookEndpoint.update(enabled=False).where(WebhookEndpoint.enabled).execute()


def add_endpoint(tenant, url: str, **fields) -> dict:
    response = tenant.post("/api/webhook-endpoints", {"url": url, **fields})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def dns(monkeypatch):
    """A fake DNS: `dns["hooks.example.nl"] = "10.0.0.7"`; other names resolve as usual."""
    import socket

    answers: dict[str, str] = {}
    real = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        if host in answers:
            family = socket.AF_INET6 if ":" in answers[host] else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (answers[host], port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return answers


@pytest.fixture(scope="session")
def apps_by_settings():
    """Apps built with settings other than the session's, one per distinct settings, kept for
    the session (each with its own test client)."""
    with contextlib.ExitStack() as stack:
        yield stack, {}


@pytest.fixture
def serve_with(tenant, settings, apps_by_settings, monkeypatch):
    """Factory: `tenant` talks to an app built with these settings changed, for this test."""
    from paydock import create_app

    stack, clients = apps_by_settings

    def serve(**overrides) -> None:
        key = (settings.database_url, *sorted(overrides.items()))
        if key not in clients:
            app = create_app(dataclasses.replace(settings, **overrides))
            clients[key] = stack.enter_context(TestClient(app, raise_server_exceptions=False))
        bind_test_database(settings.database_url)  # the models stay on this test's database
        monkeypatch.setattr(tenant, "client", clients[key])

    return serve


@pytest.fixture
def strict_urls(serve_with):
    """The default URL policy (https only, public addresses only) for the API."""
    serve_with(webhook_allow_http=False, webhook_allow_private=False)
