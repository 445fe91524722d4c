"""The invoice/payment load scenario and the invariants checked after it.

Each client creates invoices (sent at once, or as a concept and sent later), pays them
in parts, sometimes retries a POST with the same Idempotency-Key, sometimes races other
clients by paying a shared invoice, and credits some invoices. Afterwards the checkers
read the database: numbering, amount_paid, statuses, idempotency and the outbox.
Used by tests/reliability/test_invoice_load.py and bench/load_invariants.py.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from decimal import Decimal

from models import db
from models.events import Event
from models.invoices import Invoice, payment_status
from models.payments import Payment
from tests.reliability.harness import LoadReport, new_key

LINES = [
    {"description": "Spont POS Licentie", "quantity": 1, "unit_price_incl": 89.00, "tax_percentage": 21},
    {"description": "Installatie", "quantity": 2, "unit_price_incl": 125.00, "tax_percentage": 21},
    {"description": "Brood", "quantity": 1.5, "unit_price_incl": 3.49, "tax_percentage": 9},
    {"description": "Notitie: Levering binnen 5 werkdagen", "is_text_line": True},
]


def invoice_scenario(client, worker: int, iteration: int) -> None:
    """One round of a client's work; see the module docstring."""
    rng = random.Random(worker * 100_003 + iteration)
    contact_id = _contact(client, worker)
    if contact_id is None:
        return
    status = "concept" if iteration % 4 == 1 else "verzonden"
    body = {"contact_id": contact_id, "status": status, "invoice_date": "2026-04-11",
            # At least one amount line: every invoice has something to pay.
            "lines": [LINES[0], *rng.sample(LINES[1:], rng.randint(0, 3))]}
    key = new_key()
    created = client.post("/api/invoices", body, idempotency_key=key, operation="create invoice")
    if created is None or created.status_code != 201:
        return
    invoice = created.json()
    client.report.note("invoice_keys", (key, invoice["id"]))
    if iteration % 3 == 0:  # a client that timed out and retries
        retry = client.post("/api/invoices", body, idempotency_key=key, operation="create invoice (retry)")
        if retry is not None and retry.status_code == 201:
            client.report.note("invoice_keys", (key, retry.json()["id"]))
    if status == "concept":
        client.request("PATCH", f"/api/invoices/{invoice['id']}", json={"status": "verzonden"},
                       operation="send invoice")
    client.report.note("shared_invoices", invoice["id"])
    total = Decimal(str(invoice["total_incl"]))
    part = (total / 3).quantize(Decimal("0.01"))
    _pay(client, invoice["id"], part, retry=iteration % 2 == 0)
    shared = client.report.notes.get("shared_invoices", [])
    if shared:  # race the other clients on someone else's invoice
        _pay(client, rng.choice(shared[-20:]), Decimal("1.00"), retry=False)
    if iteration % 7 == 3:
        client.post(f"/api/invoices/{invoice['id']}/credit", {}, idempotency_key=new_key(),
                    operation="credit invoice")
    elif iteration % 5 == 2:
        _pay(client, invoice["id"], Decimal("-1.00"), retry=False)  # a refund
    client.get(f"/api/invoices/{invoice['id']}", operation="get invoice")
    if iteration % 10 == 0:
        client.get(f"/api/invoices?contact_id={contact_id}&status=verzonden,deels_betaald&limit=100",
                   operation="list invoices")


def _contact(client, worker: int) -> str | None:
    name = f"contact-{worker}"
    known = client.report.notes.get(name)
    if known:
        return known[0]
    response = client.post("/api/contacts", {"name": f"Load klant {worker}"}, idempotency_key=new_key(),
                           operation="create contact")
    if response is None or response.status_code != 201:
        return None
    client.report.note(name, response.json()["id"])
    return response.json()["id"]


def _pay(client, invoice_id: str, amount: Decimal, *, retry: bool) -> None:
    key = new_key()
    body = {"invoice_id": invoice_id, "amount": float(amount), "payment_date": "2026-04-12",
            "external_method": "bank_transfer", "external_reference": key}
    response = client.post("/api/payments", body, idempotency_key=key, operation="create payment")
    if response is not None and response.status_code == 201:
        client.report.note("payment_keys", (key, response.json()["id"]))
        if retry:
            again = client.post("/api/payments", body, idempotency_key=key,
                                operation="create payment (retry)")
            if again is not None and again.status_code == 201:
                client.report.note("payment_keys", (key, again.json()["id"]))


# ------------------------------------------------------------------ invariants

def no_server_errors(report: LoadReport) -> list[str]:
    problems = [f"{n} responses with status {s}" for s, n in report.statuses.items() if s >= 500]
    return problems + [f"{n} transport errors ({e})" for e, n in report.transport_errors.items()]


def one_resource_per_idempotency_key(report: LoadReport) -> list[str]:
    problems = []
    for note in ("invoice_keys", "payment_keys"):
        ids_by_key = defaultdict(set)
        for key, resource_id in report.notes.get(note, []):
            ids_by_key[key].add(resource_id)
        problems += [f"{note}: key {k} gave {len(v)} resources" for k, v in ids_by_key.items() if len(v) > 1]
    return problems


def database_invariants(administration_id):
    """Numbering, amount_paid, status and outbox invariants of one administration."""

    def check(report: LoadReport) -> list[str]:
        problems: list[str] = []
        with db.database.connection_context():
            invoices = list(Invoice.of(administration_id))
            payments = list(Payment.of(administration_id))
            events = [(e.type, json.loads(e.payload)["data"]["id"]) for e in Event.of(administration_id)]
        # Numbers: unique and gapless per year, exactly the issued invoices.
        by_year = defaultdict(list)
        for invoice in invoices:
            if invoice.status == "concept":
                if invoice.number is not None:
                    problems.append(f"concept {invoice.id} has number {invoice.number}")
                continue
            if invoice.number is None:
                problems.append(f"issued invoice {invoice.id} has no number")
                continue
            year, sequence = invoice.number.rsplit("-", 1)
            by_year[year].append(int(sequence))
        for year, sequences in by_year.items():
            if sorted(sequences) != list(range(1, len(sequences) + 1)):
                problems.append(f"{year}: numbers are not 1..{len(sequences)} without gaps or doubles")
        # amount_paid is exactly the sum of the payments; the status follows the amounts.
        paid = defaultdict(Decimal)
        for payment in payments:
            paid[payment.invoice_id] += payment.amount
        for invoice in invoices:
            if invoice.amount_paid != paid[invoice.id]:
                problems.append(
                    f"{invoice.number}: amount_paid {invoice.amount_paid} != Σ {paid[invoice.id]}")
            if invoice.status in ("verzonden", "deels_betaald", "betaald"):
                expected = payment_status(invoice.total_incl, invoice.amount_paid)
                if invoice.status != expected:
                    problems.append(f"{invoice.number}: status {invoice.status}, amounts say {expected}")
        # One outbox event per change: one *.created per invoice and per payment.
        created = defaultdict(int)
        for event_type, resource_id in events:
            if event_type in ("invoice.created", "payment.created", "payment.refunded"):
                created[resource_id] += 1
        for row in invoices + payments:
            if created[str(row.id)] != 1:
                problems.append(f"{row.id}: {created[str(row.id)]} created events")
        report.notes["checked"] = [len(invoices), len(payments), len(events)]
        return problems

    return check
