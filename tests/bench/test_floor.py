"""The floor (bench/floor.py) answers every read scenario with PayDock's documents: the same
fields and values, compared as JSON on seeded data (PostgreSQL, both served by gunicorn)."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest

from bench.invoice_data import PORTAL_EXTERNAL_ID
from bench.scenarios import SEEDERS, TARGETS
from bench.seed import KEY_SCOPES, order_seeders, seed_level
from bench.servers import BenchServer
from models import db, invoice_changes, invoices, quotes, subscriptions
from models.contacts import Contact
from models.invoices import business_today
from tests.bench.owndb import own_database

LINES = [{"description": "Advies", "quantity": 2.5, "unit_price_incl": 121.00, "tax_percentage": 21},
         {"description": "Boek", "quantity": 1, "unit_price_incl": 24.50, "tax_percentage": 9},
         {"is_text_line": True, "description": "Met dank"}]


@pytest.fixture(scope="module")
def served(pg_server, tmp_path_factory):
    """Seeded data (the bench's own seeders plus quotes, subscriptions, a concept and a credit
    note for the portal customer), and PayDock and the floor serving it."""
    with own_database(pg_server, "bench_floor") as (url, _):
        with db.database.connection_context():
            seeded = seed_level("small", 40, order_seeders(["invoices"], SEEDERS), progress=False)
            admin = seeded.administration_id
            customer = Contact.of(admin).where(Contact.external_id == PORTAL_EXTERNAL_ID).get()
            today = business_today()
            quote = quotes.create_quote(admin, {"contact_id": customer.id, "lines": LINES,
                                                "valid_until": str(today + timedelta(days=30))})
            quotes.update_quote(admin, quote.id, {"status": "verzonden"})
            subscriptions.create_subscription(admin, {"contact_id": customer.id, "interval": "month",
                                                      "start_date": str(today), "lines": LINES})
            concept = invoices.create_invoice(admin, {"contact_id": customer.id, "lines": LINES})
            issued = invoices.create_invoice(admin, {"contact_id": customer.id, "status": "verzonden",
                                                     "lines": LINES})
            credit = invoice_changes.credit_invoice(admin, issued.id)
            reminded = _send_reminders(admin, customer, issued.id, today)
        floor_keys = json.dumps({key: [str(admin), KEY_SCOPES[name]] for name, key in seeded.keys.items()})
        log_dir = tmp_path_factory.mktemp("floor")
        servers = [BenchServer("paydock", TARGETS["paydock"].app, url, log_dir, workers=1),
                   BenchServer("floor", TARGETS["floor"].app, url, log_dir, workers=1,
                               env={"FLOOR_KEYS": floor_keys})]
        try:
            for server in servers:
                server.start()
            for server in servers:
                server.wait_healthy()
            yield seeded, {"concept": str(concept.id), "issued": str(issued.id), "credit": str(credit.id)}, \
                servers, reminded
        finally:
            for server in servers:
                server.stop()


def _send_reminders(admin, customer, credited_id, today) -> dict:
    """Sent reminder e-mails for three of the portal customer's invoices, one per reminder state
    the portal shows besides "none": reminded (no payment deadline stated), collection costs
    chargeable (the deadline has passed) and stopped (the invoice was credited)."""
    from models.deliveries import InvoiceDelivery
    from models.invoices import Invoice

    first, second = (Invoice.of(admin)
                     .where(Invoice.contact == customer.id, Invoice.status == "verzonden",
                            Invoice.is_credit_note == False)  # noqa: E712
                     .order_by(Invoice.due_date, Invoice.invoice_date, Invoice.created_at, Invoice.id)
                     .limit(2))
    sent_at = db.utcnow() - timedelta(days=30)
    steps = [(first.id, 1, None), (second.id, 1, None), (second.id, 2, today - timedelta(days=3)),
             (credited_id, 1, None)]
    for invoice_id, step, pay_by in steps:
        InvoiceDelivery.create(administration=admin, invoice=invoice_id, kind="reminder",
                               recipient="administratie@grootklant.nl", subject="Herinnering",
                               message_id=f"<reminder-{invoice_id}-{step}@paydock.invalid>",
                               status="sent", sent_at=sent_at + timedelta(days=step), reminder_step=step,
                               reminder_kind="reminder", reminder_pay_by=pay_by)
    return {"reminded": str(first.id), "chargeable": str(second.id), "stopped": str(credited_id)}


def both(servers, path: str, key: str) -> tuple[dict, dict]:
    answers = []
    for server in servers:
        response = httpx.get(server.url + path, headers={"X-API-Key": key}, timeout=30)
        assert response.status_code == 200, (server.name, path, response.text[:500])
        answers.append(response.json())
    return answers[0], answers[1]


@pytest.mark.postgres
def test_the_floor_answers_every_read_as_paydock_does(served):
    seeded, made, servers, reminded = served
    key, portal_key = seeded.keys["api"], seeded.keys["portal"]
    customer = seeded.ids["portal_contact"][0]
    all_invoices, _ = both(servers, "/api/invoices?limit=500", key)
    assert all_invoices["total"] == 40 + 2_000 + 3 and all_invoices["total_exact"] is True
    middle = all_invoices["data"][250]["id"]
    paths = [
        *(f"/api/invoices/{i}" for i in [*made.values(), *seeded.ids["invoice"][:5]]),
        f"/api/invoices?status=verzonden&contact_id={customer}&limit=100",
        f"/api/invoices?status=verzonden&contact_id={customer}&limit=100&offset=700",
        "/api/invoices?limit=100", "/api/invoices?limit=100&offset=1990",
        "/api/invoices?limit=100&offset=5000",
        f"/api/invoices?limit=100&starting_after={middle}",
        f"/api/invoices?limit=100&starting_after={seeded.ids['deep_cursor'][0]}",
        f"/api/invoices?limit=100&offset={seeded.ids['deep_offset'][0]}",
        "/api/contacts?archived=false&limit=100", "/api/contacts?limit=10",
        "/api/contacts?limit=10&offset=35",
        f"/api/contacts/{seeded.ids['contact'][0]}",
    ]
    for path in paths:
        paydock, floor = both(servers, path, key)
        assert floor == paydock, path
    paydock, floor = both(servers, f"/api/client-portal/{PORTAL_EXTERNAL_ID}", portal_key)
    assert floor == paydock
    # The portal shows what was made for it, so the comparison covered every kind of document.
    assert len(paydock["quotes"]) == 1 and len(paydock["subscriptions"]) == 1
    assert {made["issued"], made["credit"]} <= {i["id"] for i in paydock["invoices"]}
    assert len(paydock["invoices"]) == 110 and len(paydock["recent_payments"]) == 10
    states = {i["id"]: i["reminders"] for i in paydock["invoices"]}
    assert {states[reminded[name]]["state"] for name in ("reminded", "stopped")} == {"reminded", "stopped"}
    assert states[reminded["chargeable"]]["state"] == "collection_costs_chargeable"
    assert states[reminded["chargeable"]]["reminders_sent"] == 2
    chargeable = next(i for i in paydock["invoices"] if i["id"] == reminded["chargeable"])
    assert 40 / 0.15 < chargeable["open_amount"] <= 2500  # in the first tranche: 15 %
    assert states[reminded["chargeable"]]["collection_costs"] == round(chargeable["open_amount"] * 0.15, 2)
    assert paydock["quotes"][0]["vat_breakdown"] == [
        {"tax_percentage": 9, "total_incl": 24.5, "total_vat": 2.02, "total_excl": 22.48},
        {"tax_percentage": 21, "total_incl": 302.5, "total_vat": 52.5, "total_excl": 250.0}]
