"""Real data for the Schemathesis CLI run: an administration with contacts, products, issued
invoices, accepted quotes, subscriptions, a webhook endpoint with deliveries, an imported
bank statement and a payment provider token, made with the model layer before the server
starts. `seed` writes the ids to a JSON file that tests/contract/schemathesis_hooks.py reads
(its `FUZZ_DATA` variable names the file).

Generated requests name contacts, invoices and quotes that do not exist, so without real
ids almost every request to the core operations ends in a 404 or a 422 before the totals,
numbering, payment and state rules run. The hooks put these ids into the generated
requests that Schemathesis means to be valid, and leave every other request as generated.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from models import (
    api_keys,
    bank_statements,
    contacts,
    invoices,
    payment_links,
    payments,
    products,
    quotes,
    subscriptions,
    tenancy,
    webhooks,
)
from models.webhooks import WebhookDelivery
from tests.conftest import bind_test_database
from webhooks.outbox import dispatch_events
from webhooks.urls import UrlPolicy

#: Invoices each positive POST /invoices/{id}/credit takes one of (a full credit note makes
#: an invoice `gecrediteerd`, and a second one is 409), and accepted quotes each positive
#: POST /quotes/{id}/invoice takes one of.
CREDITABLE = 260
ACCEPTED_QUOTES = 260
#: Open invoices with a total far above any generated payment, so that payments, payment
#: links and statement matches find an amount still open.
OPEN_INVOICES = 40
#: Concept invoices and quotes each positive PATCH that changes a concept-only field (or
#: issues or sends it) takes one of, and issued invoices each positive PATCH that marks an
#: invoice `betaald` or `oninbaar` takes one of: PATCHes on what the run created find those
#: mostly issued, paid or answered already, and end in a 409.
CONCEPTS = 160
ISSUED = 80
#: Running subscriptions each positive PATCH of more than the note takes one of.
ACTIVE_SUBSCRIPTIONS = 120
#: Unmatched bank statement entries, one per positive POST /bank-statement-entries/{id}/match.
UNMATCHED_ENTRIES = 60
#: The largest line a line may hold (LineQuantity x LinePrice in openapi.yaml), about 10^13.
LARGE_LINE = {"description": "Jaarcontract", "quantity": Decimal("999999.9999"),
              "unit_price_incl": Decimal("9999999.99"), "tax_percentage": Decimal("21")}
#: A loopback address nothing listens on: endpoints are created and listed, never called
#: (no webhook worker runs beside the fuzzed server).
WEBHOOK_URL = "http://127.0.0.1:9/paydock-webhooks"


def camt053(entries: list[tuple[str, Decimal]], message_id: str) -> bytes:
    """A CAMT.053 statement with one booked EUR credit per (bank reference, amount)."""
    rows = "".join(
        f"<Ntry><Amt Ccy=\"EUR\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>"
        f"<BookgDt><Dt>2026-04-13</Dt></BookgDt><AcctSvcrRef>{reference}</AcctSvcrRef>"
        f"<NtryDtls><TxDtls><RltdPties><Dbtr><Nm>Onbekende betaler</Nm></Dbtr></RltdPties>"
        f"<RmtInf><Ustrd>Betaling {reference}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"
        for reference, amount in entries
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
        f"<GrpHdr><MsgId>{message_id}</MsgId><CreDtTm>2026-04-14T06:00:00</CreDtTm></GrpHdr>"
        f"<Stmt><Id>{message_id}</Id><CreDtTm>2026-04-14T06:00:00</CreDtTm>"
        "<Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id><Ccy>EUR</Ccy></Acct>"
        f"{rows}</Stmt></BkToCstmrStmt></Document>"
    ).encode()


def _small_lines(product_id, index: int) -> list[dict]:
    return [
        {"description": f"Installatie {index}", "quantity": Decimal("2"),
         "unit_price_incl": Decimal("125.00"), "tax_percentage": Decimal("21"), "product_id": product_id},
        {"product_id": product_id},
        {"is_text_line": True, "description": "Levering binnen 5 werkdagen"},
    ]


def seed(database_url: str, path: Path) -> str:
    """Create the fuzz administration and its data in `database_url`, write the ids to `path`,
    and return an API key with every scope but `portal` for it."""
    database = bind_test_database(database_url)
    # One transaction: a commit per row would make seeding take many times as long.
    with database.connection_context(), database.atomic():
        administration = tenancy.create_administration("Fuzz BV")
        tenancy.update_administration(administration.id, {
            "address": "Herengracht 100", "postal_code": "1015 BS", "city": "Amsterdam",
            "kvk_number": "87654321", "vat_number": "NL987654321B01", "iban": "NL91ABNA0417164300",
            "email": "administratie@fuzz.example",
        })
        admin = administration.id
        key_row, key = api_keys.create_api_key(admin, "fuzz", ["read", "write", "admin"])
        # A key of this administration the run may revoke (DELETE /api-keys/{id}), never its own.
        spare_key, _ = api_keys.create_api_key(admin, "spare", ["read"])

        # Before the contacts, so that their contact.created events become deliveries.
        policy = UrlPolicy(allow_http=True, allow_private=True)
        endpoints = [webhooks.create_endpoint(admin, {"url": WEBHOOK_URL, "events": ["contact.created"]},
                                              policy=policy) for _ in range(2)]
        contact_rows = [contacts.create_contact(admin, {
            "name": f"Klant {index}", "email": f"klant{index}@fuzz.example", "external_id": f"FUZZ-{index}",
            "company_name": f"Klant {index} BV", "address": "Damrak 1", "postal_code": "1012 JS",
            "city": "Amsterdam", "country": "NL",
        }) for index in range(8)]
        product_rows = [products.create_product(admin, {
            "name": f"Product {index}", "unit_price_incl": Decimal(10 * (index + 1)),
            "tax_percentage": Decimal("21"),
        }) for index in range(6)]
        contact_ids = [str(c.id) for c in contact_rows]
        product_ids = [str(p.id) for p in product_rows]

        def contact_for(index: int) -> str:
            return contact_ids[index % len(contact_ids)]

        def product_for(index: int) -> str:
            return product_ids[index % len(product_ids)]

        open_invoices = [invoices.create_invoice(admin, {
            "contact_id": contact_for(index), "status": "verzonden", "lines": [LARGE_LINE],
        }) for index in range(OPEN_INVOICES)]
        creditable = [invoices.create_invoice(admin, {
            "contact_id": contact_for(index), "status": "verzonden",
            "lines": _small_lines(product_for(index), index),
        }) for index in range(CREDITABLE)]
        accepted = []
        for index in range(ACCEPTED_QUOTES):
            quote = quotes.create_quote(admin, {
                "contact_id": contact_for(index), "status": "verzonden",
                "lines": _small_lines(product_for(index), index),
            })
            accepted.append(quotes.update_quote(admin, quote.id, {"status": "geaccepteerd"}))
        def documents(create, count: int, **fields) -> list:
            """`count` documents of three small lines, each for the next contact and product."""
            return [create(admin, {"contact_id": contact_for(index),
                                   "lines": _small_lines(product_for(index), index), **fields})
                    for index in range(count)]

        monthly = {"interval": "month", "start_date": "2026-01-01"}
        concept_quotes = documents(quotes.create_quote, 5)
        concept_invoices = documents(invoices.create_invoice, CONCEPTS)
        issued_invoices = documents(invoices.create_invoice, ISSUED, status="verzonden")
        patch_quotes = documents(quotes.create_quote, CONCEPTS)
        sent_quotes = documents(quotes.create_quote, ISSUED, status="verzonden")
        subscription_rows = documents(subscriptions.create_subscription, 5, **monthly)
        active_subscriptions = documents(subscriptions.create_subscription, ACTIVE_SUBSCRIPTIONS, **monthly)
        payment_rows = [payments.register_payment(admin, {
            "invoice_id": str(invoice.id), "amount": Decimal("100.00"),
        }) for invoice in open_invoices[:5]]

        while dispatch_events(datetime.now(UTC).replace(tzinfo=None)):
            pass
        deliveries = [str(d.id) for d in WebhookDelivery.select(WebhookDelivery.id)
                      .where(WebhookDelivery.administration == admin)]

        imported = bank_statements.import_statement(admin, camt053(
            [(f"FUZZ{index:06d}", Decimal("1.00") + Decimal(index) / 100)
             for index in range(UNMATCHED_ENTRIES)],
            f"FUZZ-{uuid.uuid4().hex[:12]}"))
        statement_id = imported.statement.id
        entries = [str(e.id) for e in bank_statements.statement_entries(admin, statement_id)
                   if e.status == "unmatched"]

        data = {
            "contacts": contact_ids,
            "external_ids": [c.external_id for c in contact_rows],
            "products": product_ids,
            "open_invoices": [str(i.id) for i in open_invoices],
            "invoices": [str(i.id) for i in open_invoices],
            "creditable": [{"id": str(i.id), "line_ids": [str(line.id) for line in i.loaded_lines]}
                           for i in creditable],
            "accepted_quotes": [str(q.id) for q in accepted],
            "quotes": [str(q.id) for q in concept_quotes],
            "concept_invoices": [str(i.id) for i in concept_invoices],
            "issued_invoices": [str(i.id) for i in issued_invoices],
            "concept_quotes": [str(q.id) for q in patch_quotes],
            "sent_quotes": [str(q.id) for q in sent_quotes],
            "active_subscriptions": [str(s.id) for s in active_subscriptions],
            # The dates a PATCH of a seeded document is checked against (an end after the start).
            "dates": {str(s.id): {"start_date": "2026-01-01"} for s in active_subscriptions},
            "subscriptions": [str(s.id) for s in subscription_rows],
            "payments": [str(p.id) for p in payment_rows],
            "webhook_endpoints": [str(e.id) for e in endpoints],
            "webhook_deliveries": deliveries,
            "bank_statements": [str(statement_id)],
            "unmatched_entries": entries,
            "provider_tokens": [payment_links.webhook_token(admin)],
            "api_keys": [str(spare_key.id)],
            "own_key": str(key_row.id),
        }
    path.write_text(json.dumps(data))
    return key
