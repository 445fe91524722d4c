"""Schemathesis over the payment-link, bank-statement and VAT-report operations, with
something real to act on.

The run over every operation (test_schemathesis.py) reaches these with ids that exist
nowhere (404) and without a payment provider (503). Here PayDock talks to the Mollie stub
on loopback, and each positive case Schemathesis generates is given a real invoice, statement,
entry or webhook token (and, for every other webhook call, a payment the customer paid), so
the generated requests reach the operations' success paths; every response is validated
against openapi.yaml. (Cases with invalid data are the full run's.)
"""

from __future__ import annotations

import itertools
from collections import Counter
from decimal import Decimal

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import negative_data_rejection
from starlette.testclient import TestClient

from models import api_keys, db, tenancy
from models.bank_statements import BankStatementEntry
from models.payment_links import PaymentLink, ProviderTransaction, webhook_token
from models.payments import Payment
from paydock import create_app
from paydock.settings import Settings
from tests.conftest import GENEROUS_RATE_LIMIT, Tenant, bind_test_database
from tests.contract import schemathesis_hooks  # noqa: F401  (unique Idempotency-Keys)
from tests.mollie_stub import MollieStub

PUBLIC = "http://127.0.0.1:8000"
OPERATIONS = ("create_payment_link", "mollie_webhook", "import_bank_statement", "list_bank_statements",
              "get_bank_statement", "match_bank_statement_entry", "get_vat_report")
_serial = itertools.count(1)


@pytest.fixture(scope="module")
def stub():
    with MollieStub() as running:
        yield running


@pytest.fixture(scope="module")
def paid(stub, tmp_path_factory):
    """(schema, books): the app with Mollie configured, and an administration to act in."""
    url = "sqlite:///" + str(tmp_path_factory.mktemp("paid-fuzz") / "fuzz.db")
    app = create_app(Settings.from_env({}, database_url=url, validate_responses=True,
                                       mollie_api_key=stub.api_key, mollie_api_url=stub.url,
                                       public_base_url=PUBLIC, **GENEROUS_RATE_LIMIT))
    database = bind_test_database(url)
    with database.connection_context():
        administration = tenancy.create_administration("Fuzz Betaal BV")
        _, key = api_keys.create_api_key(administration.id, "fuzz", ["read", "write"])
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    schema.config.generation.update(allow_x00=False)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield schema, Books(Tenant(administration.id, key, client), stub, url)


def camt(entries: list[tuple[str, str]]) -> bytes:
    """A CAMT.053 statement of credits (amount, remittance text), each with a new reference."""
    message = f"FUZZ-{next(_serial)}"
    booked = "".join(
        f'<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
        f"<BookgDt><Dt>2026-04-20</Dt></BookgDt><AcctSvcrRef>{message}-{n}</AcctSvcrRef>"
        f"<NtryDtls><TxDtls><RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
        for n, (amount, text) in enumerate(entries))
    return ('<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
            f"<BkToCstmrStmt><GrpHdr><MsgId>{message}</MsgId></GrpHdr><Stmt><Id>1</Id>"
            f"<Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id></Acct>{booked}</Stmt></BkToCstmrStmt>"
            "</Document>").encode()


class Books:
    """Real things for generated requests to act on, made through the API."""

    def __init__(self, tenant: Tenant, stub: MollieStub, url: str) -> None:
        self.tenant, self.stub, self.url = tenant, stub, url
        created = tenant.post("/api/contacts", {"name": "Acme BV"})
        assert created.status_code == 201, created.text
        self.contact = created.json()["id"]

    def invoice(self) -> dict:
        made = self.tenant.post("/api/invoices", {
            "contact_id": self.contact, "status": "verzonden", "invoice_date": "2026-04-01",
            "lines": [{"description": "Installatie", "quantity": 2, "unit_price_incl": 125.00,
                       "tax_percentage": 21}]})
        assert made.status_code == 201, made.text
        return made.json()

    def paid_payment(self) -> str:
        """The id of a Mollie payment the customer paid for a new invoice's link."""
        link = self.tenant.post(f"/api/invoices/{self.invoice()['id']}/payment-link")
        assert link.status_code == 201, link.text
        self.stub.pay(link.json()["provider_payment_id"])
        return link.json()["provider_payment_id"]

    def token(self) -> str:
        with db.database.connection_context():
            return webhook_token(self.tenant.administration_id)

    def statement(self, entries: list[tuple[str, str]]) -> dict:
        imported = self.tenant.client.post("/api/bank-statements", content=camt(entries), headers={
            "X-API-Key": self.tenant.key, "Content-Type": "application/xml"})
        assert imported.status_code == 201, imported.text
        return imported.json()


def give_real_things(case, operation: str, books: Books, n: int) -> None:
    """Point a positive case at real ids (the generated values stay where none is needed)."""
    parameters = case.path_parameters if case.path_parameters is not None else {}
    if operation == "create_payment_link":
        parameters["id"] = books.invoice()["id"]
    elif operation == "mollie_webhook":
        parameters["token"] = books.token()
        if n % 2 == 0 and isinstance(case.body, dict):
            case.body["id"] = books.paid_payment()
    elif operation == "import_bank_statement" and n % 2 == 0:
        case.body = camt([("12.34", "betaling"), (f"{n + 1}.00", "nog een")]).decode()
    elif operation == "get_bank_statement":
        parameters["id"] = books.statement([("10.00", "onbekend")])["id"]
    elif operation == "match_bank_statement_entry":
        parameters["id"] = books.statement([("200.00", "onbekend")])["entries"][0]["id"]
        if n % 2 == 0 and isinstance(case.body, dict):
            case.body["invoice_id"] = books.invoice()["id"]
    case.path_parameters = parameters


@pytest.mark.parametrize("operation_id", OPERATIONS)
def test_generated_requests_reach_the_success_path(paid, operation_id):
    schema, books = paid
    operation = next(result.ok() for result in schema.get_all_operations()
                     if result.ok().definition.raw.get("operationId") == operation_id)
    answers: Counter = Counter()
    cases = itertools.count()

    @given(case=operation.as_strategy())
    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def run(case):
        bind_test_database(books.url)
        if case.meta is None or not case.meta.generation.mode.is_negative:
            give_real_things(case, operation_id, books, next(cases))
        response = case.call_and_validate(headers={"X-API-Key": books.tenant.key},
                                          excluded_checks=[negative_data_rejection])
        answers[response.status_code] += 1

    run()
    successes = sum(count for status, count in answers.items() if 200 <= status < 300)
    assert successes >= 5, (operation_id, answers)
    assert 500 not in answers, answers
    bind_test_database(books.url)
    with db.database.connection_context():
        administration = books.tenant.administration_id
        if operation_id == "create_payment_link":
            assert PaymentLink.select().where(PaymentLink.administration == administration).count() >= 5
        elif operation_id == "mollie_webhook":
            # Each paid Mollie payment registered once, however the requests around it looked.
            paid = [pid for pid, p in books.stub.payments.items() if p["status"] == "paid"]
            registered = [t.reference for t in ProviderTransaction.select().where(
                ProviderTransaction.administration == administration)]
            assert len(paid) >= 5 and sorted(registered) == sorted(paid)
            amounts = {p.amount for p in Payment.select().where(Payment.administration == administration,
                                                                  Payment.external_method == "mollie")}
            assert amounts == {Decimal("250.00")}
        elif operation_id == "match_bank_statement_entry":
            matched = BankStatementEntry.select().where(BankStatementEntry.administration == administration,
                                                        BankStatementEntry.match_method == "manual").count()
            assert matched >= 3
