"""Invoices and payments under concurrent load on PostgreSQL with 4 gunicorn workers, then
every invariant checked in the database; and 20 identical payment POSTs with one key."""

from __future__ import annotations

import threading

import httpx
import pytest

from models import db
from models.payments import Payment
from tests.conftest import bind_test_database
from tests.reliability.conftest import GENEROUS_LIMITS, new_tenant_key
from tests.reliability.harness import run_load
from tests.reliability.invoice_load import (
    database_invariants,
    invoice_scenario,
    no_server_errors,
    one_resource_per_idempotency_key,
)
from tests.server import GunicornServer

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def pg_server_4_workers(pg_url):
    bind_test_database(pg_url)  # migrated
    with GunicornServer(pg_url, workers=4, **GENEROUS_LIMITS) as server:
        yield server


def test_invoices_and_payments_under_load_keep_every_invariant(pg_server_4_workers, pg_url):
    administration_id, key = new_tenant_key(pg_url)
    report = run_load(pg_server_4_workers.url, invoice_scenario, headers={"X-API-Key": key},
                      clients=16, max_seconds=20, max_requests=4000)
    print(report.summary())
    violations = report.violations(no_server_errors, one_resource_per_idempotency_key,
                                   database_invariants(administration_id))
    assert violations == [], "\n".join(violations[:20]) + "\n" + report.summary()
    invoices, payments, _ = report.notes["checked"]
    assert invoices > 50 and payments > 50, report.summary()
    assert report.statuses[201] > 100


def test_twenty_identical_payments_with_one_key_make_one_payment(pg_server_4_workers, pg_url):
    _, key = new_tenant_key(pg_url)
    headers = {"X-API-Key": key}
    base = pg_server_4_workers.url
    contact = httpx.post(f"{base}/api/contacts", json={"name": "Acme BV"}, headers=headers).json()
    invoice = httpx.post(f"{base}/api/invoices", headers=headers, json={
        "contact_id": contact["id"], "status": "verzonden", "invoice_date": "2026-04-11",
        "lines": [{"description": "Installatie", "quantity": 2, "unit_price_incl": 125.00,
                   "tax_percentage": 21}]}).json()
    body = {"invoice_id": invoice["id"], "amount": 100.00, "payment_date": "2026-04-11"}
    start = threading.Barrier(20)
    responses: list[httpx.Response] = []

    def pay() -> None:
        start.wait()
        responses.append(httpx.post(f"{base}/api/payments", json=body, timeout=30,
                                    headers={**headers, "Idempotency-Key": "pay-once-42"}))

    threads = [threading.Thread(target=pay) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    statuses = sorted(r.status_code for r in responses)
    assert len(responses) == 20 and set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status_code == 201]
    assert len({r.json()["id"] for r in created}) == 1
    with db.database.connection_context():
        assert Payment.select().where(Payment.invoice == invoice["id"]).count() == 1
    after = httpx.get(f"{base}/api/invoices/{invoice['id']}", headers=headers).json()
    assert after["amount_paid"] == 100.00 and after["status"] == "deels_betaald"
    # A later retry replays; a different body with the same key is a conflict.
    same_key = {**headers, "Idempotency-Key": "pay-once-42"}
    replay = httpx.post(f"{base}/api/payments", json=body, headers=same_key)
    assert replay.status_code == 201 and replay.headers["idempotent-replayed"] == "true"
    other = httpx.post(f"{base}/api/payments", json={**body, "amount": 5.00},
                       headers={**headers, "Idempotency-Key": "pay-once-42"})
    assert other.status_code == 409
