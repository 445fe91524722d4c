"""Fixtures for webhook tests: a receiver on 127.0.0.1, an injectable clock, a worker."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from models import db
from models.db import utcnow
from models.webhooks import WebhookEndpoint
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
    """Endpoints of one test must not receive work in the next: disable them afterwards."""
    yield
    if "client" in request.fixturenames:
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


@pytest.fixture
def strict_urls(monkeypatch):
    """The default URL policy (https only, public addresses only) for the API."""
    from models import webhooks
    from webhooks.urls import UrlPolicy

    monkeypatch.setattr(webhooks, "URL_POLICY", UrlPolicy())
