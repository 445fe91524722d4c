"""Bank statements uploaded at the same moment, on PostgreSQL behind gunicorn: an entry is
registered once, however many uploads of it race (a double-clicked upload, a sync tool
retrying, the same entries in a file with another message id)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from models import api_keys, contacts, invoices, tenancy
from models.bank_statements import BankStatement, BankStatementEntry
from models.invoices import Invoice
from models.payments import Payment
from tests.conftest import bind_test_database
from tests.postgres.test_invoice_concurrency import run_together
from tests.server import GunicornServer

pytestmark = pytest.mark.postgres

CAMT = (Path(__file__).parents[1] / "api" / "camt053" / "structured.xml").read_bytes()


def test_racing_uploads_of_one_statement_register_each_entry_once(pg_url):
    database = bind_test_database(pg_url)
    with database.connection_context():
        administration = tenancy.create_administration("Afschriften BV")
        _, key = api_keys.create_api_key(administration.id, "test", ["read", "write"])
        contact = contacts.create_contact(administration.id, {"name": "Acme BV"})
        invoice = invoices.create_invoice(administration.id, {
            "contact_id": contact.id, "status": "verzonden", "invoice_date": "2026-04-01",
            "lines": [{"description": "Licentie", "quantity": 1, "unit_price_incl": 339.00,
                       "tax_percentage": 21}]})
    assert invoice.number == "2026-0001"   # the structured fixture pays 2026-0001 by reference
    # Half send the file itself, half the same entries under another message id.
    bodies = [CAMT if i % 2 == 0 else CAMT.replace(b"CAMT-STRUCTURED-0001", f"RESENT-{i}".encode())
              for i in range(12)]

    with GunicornServer(pg_url, workers=2) as server, httpx.Client(
            base_url=server.url, timeout=60,
            headers={"X-API-Key": key, "Content-Type": "application/xml"}) as client:
        def upload(index):
            response = client.post("/api/bank-statements", content=bodies[index])
            return response.status_code, response.headers.get("content-type"), response.json()

        answers, errors = run_together(12, upload)
    assert errors == []
    statuses = Counter(status for status, _, _ in answers)
    assert set(statuses) <= {200, 201, 409}, answers
    for status, content_type, body in answers:
        if status == 409:   # lost the race to an upload of the same entries: nothing of it stored
            assert content_type == "application/problem+json", body
            assert "imported by another upload at the same moment" in body["detail"], body
    with database.connection_context():
        payments = list(Payment.of(administration.id))
        assert [(p.amount, p.external_reference) for p in payments] == [(Decimal("339.00"), "0413S0000001")]
        stored = Invoice.get_by_id(invoice.id)
        assert (stored.amount_paid, stored.status) == (Decimal("339.00"), "betaald")
        entries = list(BankStatementEntry.of(administration.id))
        assert sorted(e.bank_reference for e in entries) == ["0413S0000001", "0413S0000002"]
        statements = list(BankStatement.of(administration.id))
        # The statements stored: the winners, each an upload answered 201.
        assert len(statements) == statuses[201]
        assert sum(s.entry_count for s in statements) == 2
    # Sent again, a file that lost the race answers what the winners stored, and adds nothing.
    with GunicornServer(pg_url, workers=1) as server, httpx.Client(
            base_url=server.url, timeout=60,
            headers={"X-API-Key": key, "Content-Type": "application/xml"}) as client:
        again = client.post("/api/bank-statements", content=CAMT)
        assert again.status_code in (200, 201), again.text
        assert again.json()["message_id"] == "CAMT-STRUCTURED-0001"
    with database.connection_context():
        assert Payment.of(administration.id).count() == 1
        assert BankStatementEntry.of(administration.id).count() == 2
