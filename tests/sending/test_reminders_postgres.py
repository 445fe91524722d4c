"""Two workers on PostgreSQL at the same moment: each reminder step of each invoice is
queued once and arrives once; each invoice e-mail is sent by one of them only."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest

from models import db
from models.db import utcnow
from models.deliveries import InvoiceDelivery
from models.invoices import business_today
from models.reminders import run_reminders
from tests.conftest import bind_test_database
from tests.sending.conftest import contact, invoice, seller_ready
from tests.sending.test_reminders import DUE, enable, morning
from tests.webhooks.conftest import FakeClock
from tests.webhooks.processes import WorkerProcess
from webhooks.worker import DeliveryWorker

pytestmark = [pytest.mark.postgres,
              pytest.mark.parametrize("database_url", ["postgres"], indirect=True)]

INVOICES = 30
PROCESS_INVOICES = 20


@pytest.fixture
def wide_pool(settings):
    """Room for each worker thread to hold its own connection."""
    database = db.open_database(settings.database_url, timeout=30, pool_size=20)
    db.bind(database)
    yield database
    database.close_all()
    bind_test_database(settings.database_url)


def run_two_workers_at_once(settings, clock, smtp_url: str) -> list[BaseException]:
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def work():
        worker = DeliveryWorker(dataclasses.replace(settings, smtp_url=smtp_url, smtp_timeout=10.0),
                                clock=clock)
        try:
            barrier.wait(timeout=60)
            with db.database.connection_context():
                worker.run_once()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)
        finally:
            worker.close()

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    assert not any(thread.is_alive() for thread in threads), "a worker is stuck"
    return errors


def test_two_workers_send_each_step_once(tenant, smtp, settings, wide_pool):
    seller_ready(tenant)
    enable(tenant)
    customer = contact(tenant, email="klant@example.nl", is_consumer=True)
    numbers = [invoice(tenant, customer["id"], invoice_date="2026-04-11", due_date=DUE.isoformat())["number"]
               for _ in range(INVOICES)]
    clock = FakeClock()
    for day in (7, 21):
        clock.now = morning(DUE + timedelta(days=day))
        assert run_two_workers_at_once(settings, clock, smtp.url) == []
        # And both again, later that day: nothing new.
        clock.now += timedelta(hours=3)
        assert run_two_workers_at_once(settings, clock, smtp.url) == []

    per_step = Counter((m.message["Subject"].split(":")[0], m.message["Subject"].split()[-5])
                       for m in smtp.messages)
    assert len(smtp.messages) == 2 * INVOICES
    assert set(per_step.values()) == {1}
    assert {number for _, number in per_step} == set(numbers)
    assert len({m.message["Message-ID"] for m in smtp.messages}) == 2 * INVOICES
    with db.database.connection_context():
        rows = list(InvoiceDelivery.of(tenant.administration_id))
    assert len(rows) == 2 * INVOICES and {r.status for r in rows} == {"sent"}
    assert Counter(r.reminder_step for r in rows) == {1: INVOICES, 2: INVOICES}
    assert {r.attempts for r in rows} == {1}


def test_two_worker_processes_send_each_step_once(tenant, smtp, settings):
    """Two real `paydock worker` processes started together on PostgreSQL: each runs the
    reminder job as it starts and sends from its own e-mail thread; every invoice gets its
    first reminder exactly once (the step is queued once: a unique index on invoice and step;
    a queued message is sent by the one worker whose lease on it holds)."""
    seller_ready(tenant)
    enable(tenant)
    customer = contact(tenant, email="klant@example.nl", is_consumer=True)
    due = business_today() - timedelta(days=7)  # the first step is due today
    numbers = {invoice(tenant, customer["id"], invoice_date=str(due - timedelta(days=30)),
                       due_date=str(due))["number"] for _ in range(PROCESS_INVOICES)}
    env = {"PAYDOCK_SMTP_URL": smtp.url, "PAYDOCK_SMTP_TIMEOUT": "10"}
    workers = [WorkerProcess(settings.database_url, **env) for _ in range(2)]
    for worker in workers:
        worker.start()
    try:
        def all_sent() -> bool:
            with db.database.connection_context():
                rows = list(InvoiceDelivery.of(tenant.administration_id))
            return len(rows) == PROCESS_INVOICES and all(r.status == "sent" for r in rows)

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not all_sent():
            time.sleep(0.1)
        finished = all_sent()
    finally:
        codes = [worker.stop() for worker in workers]
    assert finished, workers[0].log[-3000:] + workers[1].log[-3000:]
    assert codes == [0, 0], workers[0].log[-3000:] + workers[1].log[-3000:]

    subjects = Counter(m.message["Subject"] for m in smtp.messages)
    assert len(smtp.messages) == PROCESS_INVOICES
    assert set(subjects) == {f"Herinnering: factuur {n} van Spont Kassasystemen BV" for n in numbers}
    assert set(subjects.values()) == {1}
    assert len({m.message["Message-ID"] for m in smtp.messages}) == PROCESS_INVOICES
    with db.database.connection_context():
        rows = list(InvoiceDelivery.of(tenant.administration_id))
        # The same day's job once more finds nothing left to queue for these invoices.
        run_reminders(utcnow())
        assert InvoiceDelivery.of(tenant.administration_id).count() == PROCESS_INVOICES
    assert {(r.reminder_step, r.status, r.attempts) for r in rows} == {(1, "sent", 1)}
