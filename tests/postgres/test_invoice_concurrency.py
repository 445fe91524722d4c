"""Numbering and payments under real concurrency, on PostgreSQL (threads, one connection each)."""

from __future__ import annotations

import json
import threading
from decimal import Decimal

import httpx
import pytest

from models import api_keys, contacts, db, invoice_changes, invoices, tenancy
from models.events import Event
from models.invoices import Invoice
from models.numbering import NumberSeries
from models.payments import Payment
from tests.conftest import bind_test_database
from tests.server import GunicornServer

pytestmark = pytest.mark.postgres

LINE = {"description": "Licentie", "quantity": 1, "unit_price_incl": 339.00, "tax_percentage": 21}


@pytest.fixture
def wide_pool(pg_url):
    """The models on PostgreSQL with room for every thread to hold its own connection."""
    bind_test_database(pg_url)
    database = db.open_database(pg_url, timeout=30, pool_size=80)
    db.bind(database)
    yield database
    database.close_all()
    bind_test_database(pg_url)


def run_together(count: int, work) -> tuple[list, list]:
    """Run work(i) in `count` threads released at the same moment; their results and errors."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def run(index):
        try:
            barrier.wait(timeout=60)
            results[index] = work(index)
        except Exception as exc:  # noqa: BLE001 - every failure is reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread is stuck"
    return results, errors


def setup_concepts(database, count: int):
    with database.connection_context():
        administration = tenancy.create_administration("Gelijktijdig BV")
        contact = contacts.create_contact(administration.id, {"name": "Klant"})
        concepts = [invoices.create_invoice(administration.id, {
            "contact_id": contact.id, "invoice_date": "2026-04-11", "lines": [LINE]}) for _ in range(count)]
    return administration.id, [c.id for c in concepts]


def test_fifty_concurrent_sends_get_fifty_consecutive_numbers(wide_pool):
    admin, concept_ids = setup_concepts(wide_pool, 50)

    def send(index):
        with wide_pool.connection_context():
            return invoice_changes.update_invoice(admin, concept_ids[index], {"status": "verzonden"}).number

    numbers, errors = run_together(50, send)
    assert errors == []
    assert sorted(numbers) == [f"2026-{n:04d}" for n in range(1, 51)]
    with wide_pool.connection_context():
        stored = {str(i.id): i.number for i in Invoice.of(admin)}
        assert sorted(stored.values()) == sorted(numbers)
        assert dict(zip(map(str, concept_ids), numbers, strict=True)) == stored
        series = NumberSeries.of(admin).get()
        assert (series.kind, series.year, series.last_number) == ("invoice", 2026, 50)
        assert Event.of(admin).where(Event.type == "invoice.updated").count() == 50


def test_concurrent_sends_of_one_invoice_issue_it_once(wide_pool):
    admin, (concept_id,) = setup_concepts(wide_pool, 1)

    def send(_):
        with wide_pool.connection_context():
            return invoice_changes.update_invoice(admin, concept_id, {"status": "verzonden"}).number

    numbers, errors = run_together(10, send)
    assert errors == [] and set(numbers) == {"2026-0001"}
    with wide_pool.connection_context():
        assert NumberSeries.of(admin).get().last_number == 1
        changes = [json.loads(e.payload).get("previous_status")
                   for e in Event.of(admin).where(Event.type == "invoice.updated")]
        assert (changes.count("concept"), changes.count(None)) == (1, 9)


def test_twenty_concurrent_payments_through_the_api(pg_url):
    database = bind_test_database(pg_url)
    with database.connection_context():
        administration = tenancy.create_administration("Betalingen BV")
        _, key = api_keys.create_api_key(administration.id, "test", ["read", "write"])
        contact = contacts.create_contact(administration.id, {"name": "Klant"})
        invoice = invoices.create_invoice(administration.id, {
            "contact_id": contact.id, "status": "verzonden", "lines": [LINE]})
    amounts = [Decimal("16.95")] * 19 + [Decimal("16.95")]  # 20 × 16.95 = 339.00

    with GunicornServer(pg_url, workers=2) as server, httpx.Client(
            base_url=server.url, headers={"X-API-Key": key}, timeout=60) as client:
        def pay(index):
            response = client.post("/api/payments", json={"invoice_id": str(invoice.id),
                                                          "amount": float(amounts[index]),
                                                          "external_reference": f"TXN-{index}"})
            return response.status_code

        statuses, errors = run_together(20, pay)
        assert errors == [] and statuses == [201] * 20
        final = client.get(f"/api/invoices/{invoice.id}")
        assert '"amount_paid": 339.00' in final.text and '"open_amount": 0.00' in final.text
        assert final.json()["status"] == "betaald"

    with database.connection_context():
        stored = Invoice.get_by_id(invoice.id)
        paid = sum((p.amount for p in Payment.of(administration.id)), Decimal("0.00"))
        assert (stored.amount_paid, paid, stored.status) == (Decimal("339.00"), Decimal("339.00"), "betaald")
        assert Payment.of(administration.id).count() == 20
        changes = [json.loads(e.payload).get("previous_status")
                   for e in Event.of(administration.id).where(Event.type == "invoice.updated")
                   .order_by(Event.created_at, Event.id)]
        # Each payment saw the one before it: one step to deels_betaald, one to betaald.
        assert [c for c in changes if c] == ["verzonden", "deels_betaald"]
        assert len(changes) == 20


def test_concurrent_payments_and_refunds_keep_the_exact_sum(wide_pool):
    with wide_pool.connection_context():
        administration = tenancy.create_administration("Terugbetalingen BV")
        contact = contacts.create_contact(administration.id, {"name": "Klant"})
        invoice = invoices.create_invoice(administration.id, {
            "contact_id": contact.id, "status": "verzonden", "lines": [LINE]})
        from models import payments

        payments.register_payment(administration.id, {"invoice_id": invoice.id, "amount": 339.00})
    # 15 refunds of 1.01 and 15 payments of 0.33 at once: every order keeps amount_paid ≥ 0.
    amounts = [-1.01] * 15 + [0.33] * 15

    def pay(index):
        from models import payments

        with wide_pool.connection_context():
            payments.register_payment(administration.id, {"invoice_id": invoice.id,
                                                          "amount": amounts[index],
                                                          "allow_overpayment": True})

    _, errors = run_together(30, pay)
    assert errors == []
    with wide_pool.connection_context():
        stored = Invoice.get_by_id(invoice.id)
        # 339.00 − 15 × 1.01 + 15 × 0.33 = 339.00 − 15.15 + 4.95 = 328.80
        assert (stored.amount_paid, stored.status) == (Decimal("328.80"), "deels_betaald")
        assert sum(p.amount for p in Payment.of(administration.id)) == Decimal("328.80")


def test_parallel_payments_never_overshoot_the_open_amount(wide_pool):
    """Five payments of 60.00 at once on 121.00: two fit, three are refused; none overshoots."""
    from models import payments
    from models.errors import Conflict

    with wide_pool.connection_context():
        administration = tenancy.create_administration("Overbetaling BV")
        contact = contacts.create_contact(administration.id, {"name": "Klant"})
        invoice = invoices.create_invoice(administration.id, {
            "contact_id": contact.id, "status": "verzonden",
            "lines": [{**LINE, "unit_price_incl": 121.00}]})

    def pay(index):
        with wide_pool.connection_context():
            return payments.register_payment(administration.id, {"invoice_id": invoice.id,
                                                                 "amount": 60.00}).amount

    results, errors = run_together(5, pay)
    assert sorted(r for r in results if r is not None) == [Decimal("60.00")] * 2
    assert len(errors) == 3 and all(isinstance(e, Conflict) for e in errors), errors
    with wide_pool.connection_context():
        stored = Invoice.get_by_id(invoice.id)
        assert (stored.amount_paid, stored.status) == (Decimal("120.00"), "deels_betaald")
        assert sum(p.amount for p in Payment.of(administration.id)) == Decimal("120.00")
