"""Fixtures for sending and reminders: a real SMTP server on 127.0.0.1, an injectable
clock, a worker pointed at that server, and invoices with everything UBL needs."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from models import db
from models.db import utcnow
from models.deliveries import InvoiceDelivery
from models.reminders import ReminderSettings
from tests.api.sales import ACME, line
from tests.api.test_invoice_documents import SELLER_DETAILS
from tests.sending.smtpserver import SmtpServer
from tests.webhooks.conftest import FakeClock, run_worker  # noqa: F401 - tests import run_worker from here
from webhooks.worker import DeliveryWorker


@pytest.fixture
def smtp():
    with SmtpServer() as server:
        yield server


@pytest.fixture
def clock() -> FakeClock:
    # A minute ahead of the real time the API stamps on what it queues, so what a test
    # queues is due for the worker at once; the test moves it on from there.
    return FakeClock(utcnow() + timedelta(minutes=1))


@pytest.fixture
def make_worker(client, settings):
    """Factory: a worker on the test database (settings as keywords, e.g. smtp_url)."""
    workers = []

    def make(clock, **overrides) -> DeliveryWorker:
        changed = dataclasses.replace(settings, **{"smtp_timeout": 5.0, **overrides})
        worker = DeliveryWorker(changed, clock=clock)
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.close()


def _quiet() -> None:
    with db.database.connection_context():
        InvoiceDelivery.update(status="failed", next_attempt_at=None).where(
            InvoiceDelivery.status == "queued").execute()
        ReminderSettings.update(enabled=False).execute()


@pytest.fixture(autouse=True)
def _quiet_outbox(request):
    """Each test's worker sends only that test's messages: what other tests left queued
    (the suite shares its databases) is failed, and every schedule turned off, before and
    after it."""
    if "client" in request.fixturenames:
        _quiet()
    yield
    if "client" in request.fixturenames:
        _quiet()


def seller_ready(tenant, **extra) -> None:
    """The seller details a UBL invoice needs."""
    response = tenant.patch("/api/administration", {**SELLER_DETAILS, "name": "Spont Kassasystemen BV",
                                                    **extra})
    assert response.status_code == 200, response.text


def contact(tenant, **fields) -> dict:
    response = tenant.post("/api/contacts", {**ACME, **fields})
    assert response.status_code == 201, response.text
    return response.json()


def invoice(tenant, contact_id, status="verzonden", lines=None, **fields) -> dict:
    body = {"contact_id": contact_id, "status": status,
            "lines": lines or [line("Spont POS Licentie", price=89.00), line("Installatie", 2, 125.00)],
            **fields}
    response = tenant.post("/api/invoices", body)
    assert response.status_code == 201, response.text
    return response.json()


def deliveries(tenant, invoice_id) -> list[dict]:
    response = tenant.get(f"/api/invoices/{invoice_id}/deliveries")
    assert response.status_code == 200, response.text
    return response.json()["data"]
