"""CAMT.053 bank statements: import, matching to open invoices, hand matching, and refusals.

The fixtures in tests/api/camt053/ are one per style: structured references, free text
(and counterparty matching), a batch booking, a debit and a foreign currency entry.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from models.bank_statements import BankStatement, BankStatementEntry
from models.payments import Payment
from tests.api.sales import events, line, make_contact, make_invoice, unique
from tests.api.test_statement_counts import statements
from tests.conftest import count_rows

FIXTURES = Path(__file__).parent / "camt053"
XML = {"Content-Type": "application/xml"}


def camt(name: str) -> bytes:
    return (FIXTURES / f"{name}.xml").read_bytes()


def upload(tenant, body: bytes, **headers):
    return tenant.client.post("/api/bank-statements", content=body,
                              headers={"X-API-Key": tenant.key, **XML, **headers})


def books(tenant) -> dict[str, dict]:
    """Seven open invoices, numbered 2026-0001 … 2026-0007 in this new administration."""
    acme = make_contact(tenant, name="Acme BV", external_id=unique("ACME"), iban="NL44 RABO 0123 4567 89")
    bakker = make_contact(tenant, name="P. de Vries", company_name="Bakkerij de Vries",
                          external_id=unique("BAK"))
    cees = make_contact(tenant, name="Klant Cees", external_id=unique("CEES"))
    jansen = make_contact(tenant, name="Jansen", external_id=unique("JAN"))
    pieters = make_contact(tenant, name="Pietersen", external_id=unique("PIET"))
    made = {}
    for contact, price in ((acme, 339.00), (bakker, 121.00), (acme, 60.50), (cees, 250.00), (cees, 250.00),
                           (jansen, 48.40), (pieters, 30.25)):
        invoice = make_invoice(tenant, contact, invoice_date="2026-04-01", lines=[line("Werk", 1, price, 21)])
        made[invoice["number"]] = invoice
    assert sorted(made) == [f"2026-000{i}" for i in range(1, 8)]
    return made


def invoice_state(tenant, invoice) -> tuple:
    shown = tenant.get(f"/api/invoices/{invoice['id']}").json()
    return shown["status"], Decimal(str(shown["amount_paid"]))


def entry_view(entry: dict, numbers: dict[str, str]) -> tuple:
    """(status, how, invoice number, candidate numbers with reasons) of an entry."""
    return (entry["status"], entry["match_method"] or entry["ignored_reason"],
            numbers.get(entry["invoice_id"]), [(c["number"], c["reason"]) for c in entry["candidates"]])


def test_each_style_of_statement_gives_the_expected_matches(tenant):
    invoices = books(tenant)
    numbers = {inv["id"]: number for number, inv in invoices.items()}

    structured = upload(tenant, camt("structured"))
    assert structured.status_code == 201, structured.text
    body = structured.json()
    assert structured.headers["location"] == f"/api/bank-statements/{body['id']}"
    assert [entry_view(e, numbers) for e in body["entries"]] == [
        ("matched", "reference", "2026-0001", []),
        ("unmatched", None, None, [("2026-0002", "invoice_number")]),   # 99.00 is not its open amount
    ]
    first = body["entries"][0]
    assert (first["bank_reference"], first["amount"], first["structured_reference"],
            first["counterparty_iban"]) == ("0413S0000001", 339.00, "2026-0001", "NL39RABO0300065264")
    assert (body["message_id"], body["account_iban"], body["entry_count"], body["matched_count"],
            body["unmatched_count"], body["ignored_count"]) == (
        "CAMT-STRUCTURED-0001", "NL91ABNA0417164300", 2, 1, 1, 0)

    free = upload(tenant, camt("free_text")).json()
    assert [entry_view(e, numbers) for e in free["entries"]] == [
        ("matched", "reference", "2026-0002", []),
        ("unmatched", None, None, [("2026-0004", "amount_and_counterparty"),
                                   ("2026-0005", "amount_and_counterparty")]),
        ("matched", "counterparty", "2026-0003", []),    # by the contact's IBAN
    ]

    batch = upload(tenant, camt("batch")).json()
    assert [entry_view(e, numbers) for e in batch["entries"]] == [
        ("matched", "reference", "2026-0006", []), ("matched", "reference", "2026-0007", [])]
    assert [(e["bank_reference"], e["amount"]) for e in batch["entries"]] == [
        ("0415B0000001/1", 48.40), ("0415B0000001-TX2", 30.25)]

    debit = upload(tenant, camt("debit")).json()
    assert [entry_view(e, numbers) for e in debit["entries"]] == [("ignored", "debit", None, [])]
    assert debit["entries"][0]["counterparty_name"] == "Groothandel Kabels BV"
    foreign = upload(tenant, camt("foreign_currency")).json()
    assert [entry_view(e, numbers) for e in foreign["entries"]] == [("ignored", "foreign_currency", None, [])]
    assert foreign["entries"][0]["currency"] == "USD"

    # The matches are payments, with the bank reference; the invoices follow.
    assert {n: invoice_state(tenant, invoices[n]) for n in invoices} == {
        "2026-0001": ("betaald", Decimal("339.00")), "2026-0002": ("betaald", Decimal("121.00")),
        "2026-0003": ("betaald", Decimal("60.50")), "2026-0004": ("verzonden", Decimal("0.00")),
        "2026-0005": ("verzonden", Decimal("0.00")), "2026-0006": ("betaald", Decimal("48.40")),
        "2026-0007": ("betaald", Decimal("30.25"))}
    paid = tenant.get(f"/api/payments?invoice_id={invoices['2026-0006']['id']}").json()["data"]
    assert [(p["amount"], p["external_method"], p["external_reference"], p["payment_date"])
            for p in paid] == [(48.40, "bank_transfer", "0415B0000001/1", "2026-04-15")]
    assert batch["entries"][0]["payment_id"] == paid[0]["id"]
    created = [e for e in events(tenant, "payment.created")
               if e["data"]["external_method"] == "bank_transfer"]
    assert len(created) == 5

    listed = tenant.get("/api/bank-statements").json()
    assert [s["message_id"] for s in listed["data"]] == [
        "CAMT-STRUCTURED-0001", "CAMT-FREETEXT-0001", "CAMT-BATCH-0001", "CAMT-DEBIT-0001", "CAMT-USD-0001"]
    assert "entries" not in listed["data"][0]
    again = tenant.get(f"/api/bank-statements/{free['id']}").json()
    assert again == free


def test_a_batch_whose_parts_do_not_add_up_is_one_entry_and_pays_nothing(tenant):
    """78.65 booked, but the transactions say 48.40 + 300.25: registering them would book money
    that never arrived. The batch stays one entry of what was booked, for matching by hand."""
    invoices = books(tenant)
    numbers = {inv["id"]: number for number, inv in invoices.items()}
    inconsistent = (camt("batch").replace(b"CAMT-BATCH-0001", b"CAMT-BATCH-0002")
                    .replace(b'<Amt Ccy="EUR">30.25</Amt>', b'<Amt Ccy="EUR">300.25</Amt>'))
    response = upload(tenant, inconsistent)
    assert response.status_code == 201, response.text
    entries = response.json()["entries"]
    assert [entry_view(e, numbers) for e in entries] == [
        ("unmatched", None, None, [("2026-0006", "invoice_number"), ("2026-0007", "invoice_number")])]
    assert [(e["bank_reference"], e["amount"], e["remittance_information"]) for e in entries] == [
        ("0415B0000001", 78.65, "2026-0006 Factuur nr. 2026-0007.")]
    assert count_rows(Payment, administration=tenant.administration_id) == 0
    # A part in another currency than the booking is not split either.
    other_currency = (camt("batch").replace(b"CAMT-BATCH-0001", b"CAMT-BATCH-0003")
                      .replace(b"0415B0000001", b"0415B0000009")
                      .replace(b'<Amt Ccy="EUR">30.25</Amt>', b'<Amt Ccy="USD">30.25</Amt>'))
    assert [e["amount"] for e in upload(tenant, other_currency).json()["entries"]] == [78.65]
    assert count_rows(Payment, administration=tenant.administration_id) == 0


def test_a_payment_sent_in_another_currency_is_matched_by_what_was_booked_in_euros(tenant):
    """A customer abroad sends USD 300.00; the bank books EUR 250.00 (the instructed amount and
    the exchange rate in AmtDtls). The booked euros pay the invoice, never the dollar figure."""
    invoices = books(tenant)
    numbers = {inv["id"]: number for number, inv in invoices.items()}

    def converted(message: str, reference: str, booked: str, text: str) -> bytes:
        return (camt("foreign_currency").replace(b"CAMT-USD-0001", message.encode())
                .replace(b"0417F0000001", reference.encode())
                .replace(b'<Amt Ccy="USD">250.00</Amt>', f'<Amt Ccy="EUR">{booked}</Amt>'.encode())
                .replace(b"<RltdPties>", b'<AmtDtls><InstdAmt><Amt Ccy="USD">300.00</Amt></InstdAmt>'
                         b'<TxAmt><Amt Ccy="EUR">' + booked.encode() + b"</Amt><CcyXchg><SrcCcy>USD</SrcCcy>"
                         b"<TrgtCcy>EUR</TrgtCcy><XchgRate>0.8333</XchgRate></CcyXchg></TxAmt></AmtDtls>"
                         b"<RltdPties>")
                .replace(b"Invoice 2026-0004", text.encode()))

    paid = upload(tenant, converted("CAMT-FX-0001", "0417F0000002", "250.00", "Invoice 2026-0004")).json()
    assert [entry_view(e, numbers) for e in paid["entries"]] == [("matched", "reference", "2026-0004", [])]
    assert (paid["entries"][0]["amount"], paid["entries"][0]["currency"]) == (250.00, "EUR")
    assert invoice_state(tenant, invoices["2026-0004"]) == ("betaald", Decimal("250.00"))
    # Less arrived than the invoice asks (exchange costs): listed with the invoice as candidate.
    short = upload(tenant, converted("CAMT-FX-0002", "0417F0000003", "246.10", "Invoice 2026-0005")).json()
    assert [entry_view(e, numbers) for e in short["entries"]] == [
        ("unmatched", None, None, [("2026-0005", "invoice_number")])]
    assert invoice_state(tenant, invoices["2026-0005"]) == ("verzonden", Decimal("0.00"))


def test_the_same_file_twice_adds_nothing(tenant):
    invoices = books(tenant)
    first = upload(tenant, camt("free_text"))
    assert first.status_code == 201
    payments = count_rows(Payment, administration=tenant.administration_id)
    entries = count_rows(BankStatementEntry, administration=tenant.administration_id)
    second = upload(tenant, camt("free_text"))
    assert second.status_code == 200 and second.json() == tenant.get(
        f"/api/bank-statements/{first.json()['id']}").json()
    assert count_rows(Payment, administration=tenant.administration_id) == payments
    assert count_rows(BankStatementEntry, administration=tenant.administration_id) == entries
    assert count_rows(BankStatement, administration=tenant.administration_id) == 1
    # The same entries in a file with another message id are skipped as duplicates.
    renamed = camt("free_text").replace(b"CAMT-FREETEXT-0001", b"CAMT-FREETEXT-RESENT")
    third = upload(tenant, renamed)
    assert third.status_code == 201
    shown = third.json()
    assert (shown["entry_count"], shown["duplicate_count"], shown["entries"]) == (0, 3, [])
    assert count_rows(Payment, administration=tenant.administration_id) == payments
    assert invoice_state(tenant, invoices["2026-0002"]) == ("betaald", Decimal("121.00"))


def test_another_accounts_statement_with_the_same_message_id_is_its_own_import(tenant):
    """A message id is the sender's: two banks (or two accounts) may use the same one. Only the
    same account's statement with that id is the same file."""
    invoices = books(tenant)
    first = upload(tenant, camt("structured"))
    assert first.status_code == 201
    other_account = (camt("free_text").replace(b"CAMT-FREETEXT-0001", b"CAMT-STRUCTURED-0001")
                     .replace(b"NL91 ABNA 0417 1643 00", b"NL20 INGB 0001 2345 67"))
    second = upload(tenant, other_account)
    assert second.status_code == 201, second.text
    shown = second.json()
    assert shown["id"] != first.json()["id"]
    assert (shown["message_id"], shown["account_iban"], shown["entry_count"], shown["matched_count"]) == (
        "CAMT-STRUCTURED-0001", "NL20INGB0001234567", 3, 2)
    assert invoice_state(tenant, invoices["2026-0002"]) == ("betaald", Decimal("121.00"))
    assert count_rows(BankStatement, administration=tenant.administration_id) == 2
    # Each is still the same file when it comes again.
    assert upload(tenant, other_account).json()["id"] == shown["id"]
    assert upload(tenant, camt("structured")).json()["id"] == first.json()["id"]
    assert count_rows(BankStatement, administration=tenant.administration_id) == 2


@pytest.fixture
def fresh_database(database_url, tmp_path, request):
    """A new, migrated database on this backend, bound to the models while the test runs."""
    import uuid

    from models import db
    from models.migrations import migrate
    from tests.conftest import bind_test_database

    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/fresh.db"
    else:
        url = request.getfixturevalue("pg_server").create_database(f"paydock_fresh_{uuid.uuid4().hex[:12]}")
    database = db.open_database(url, timeout=10)
    db.bind(database)
    try:
        with database.connection_context():
            migrate()
        yield database
    finally:
        database.close()
        bind_test_database(database_url)


def test_the_migration_puts_the_account_in_the_statement_key(fresh_database):
    """m0016 on a database that has the earlier key (administration, message id) only."""
    from models.migrations import m0016_statement_per_account as m0016

    database = fresh_database

    def unique_keys() -> set:
        return {tuple(i.columns) for i in database.get_indexes("bank_statement") if i.unique}

    with database.connection_context():
        assert ("administration_id", "account_iban", "message_id") in unique_keys()
        with database.atomic():
            database.execute_sql("DROP INDEX bank_statement_administration_id_account_iban_message_id")
            database.execute_sql("CREATE UNIQUE INDEX bank_statement_administration_id_message_id "
                                 "ON bank_statement (administration_id, message_id)")
        assert ("administration_id", "message_id") in unique_keys()
        with database.atomic():
            m0016.up(database)
        keys = unique_keys()
        assert ("administration_id", "account_iban", "message_id") in keys
        assert ("administration_id", "message_id") not in keys
        with database.atomic():
            m0016.up(database)   # a second run changes nothing
        assert unique_keys() == keys


MALFORMED = {
    "not xml": (b"this is not xml", "not well-formed XML"),
    "another document": (b'<?xml version="1.0"?>'
                         b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.02">'
                         b"<BkToCstmrAcctRpt/></Document>", "not a CAMT.053 bank statement"),
    "no amount": (camt("structured").replace(b'<Amt Ccy="EUR">99.00</Amt>', b""),
                  "Stmt[1]/Ntry[2]: Amt is missing"),
    "bad amount": (camt("structured").replace(b">99.00<", b">99,00<"), "Stmt[1]/Ntry[2]/Amt"),
    "no direction": (camt("batch").replace(b"<CdtDbtInd>CRDT</CdtDbtInd>\n        <Sts>", b"<Sts>"),
                     "Stmt[1]/Ntry[1]/CdtDbtInd"),
    "no booking date": (camt("debit").replace(b"<BookgDt><Dt>2026-04-16</Dt></BookgDt>", b""),
                        "BookgDt (booking date) is missing"),
    "no account": (camt("debit").replace(b"<IBAN>NL91ABNA0417164300</IBAN>", b""), "Stmt[1]/Acct"),
    "no message id": (camt("debit").replace(b"<MsgId>CAMT-DEBIT-0001</MsgId>", b""), "MsgId is missing"),
    "entity": (b'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
               b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02"><BkToCstmrStmt>'
               b"<GrpHdr><MsgId>&x;</MsgId></GrpHdr></BkToCstmrStmt></Document>", "MsgId is missing"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_a_malformed_file_is_422_naming_the_problem_and_stores_nothing(tenant, case):
    books(tenant)
    body, named = MALFORMED[case]
    before = [count_rows(m, administration=tenant.administration_id)
              for m in (BankStatement, BankStatementEntry, Payment)]
    response = upload(tenant, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert named in response.json()["detail"], response.json()
    assert [count_rows(m, administration=tenant.administration_id)
            for m in (BankStatement, BankStatementEntry, Payment)] == before


def test_a_body_that_is_not_xml_by_content_type_is_415(tenant):
    response = tenant.client.post("/api/bank-statements", content=camt("debit"),
                                  headers={"X-API-Key": tenant.key, "Content-Type": "text/plain"})
    assert response.status_code == 415


def test_an_unmatched_entry_is_matched_by_hand_once(tenant, other_tenant):
    invoices = books(tenant)
    statement = upload(tenant, camt("free_text")).json()
    open_entry = statement["entries"][1]
    target = invoices["2026-0005"]
    # Another administration's invoice is not one to match to.
    theirs = make_invoice(other_tenant, make_contact(other_tenant, external_id=unique("O")))
    match_url = f"/api/bank-statement-entries/{open_entry['id']}/match"
    refused = tenant.post(match_url, {"invoice_id": theirs["id"]})
    assert refused.status_code == 422
    matched = tenant.post(match_url, {"invoice_id": target["id"]})
    assert matched.status_code == 200, matched.text
    entry = matched.json()
    assert (entry["status"], entry["match_method"], entry["invoice_id"], entry["candidates"]) == (
        "matched", "manual", target["id"], [])
    payment = tenant.get(f"/api/payments/{entry['payment_id']}").json()
    assert (payment["amount"], payment["external_reference"], payment["invoice_id"]) == (
        250.00, "0414U0000002", target["id"])
    assert invoice_state(tenant, target) == ("betaald", Decimal("250.00"))
    again = tenant.post(f"/api/bank-statement-entries/{open_entry['id']}/match", {"invoice_id": target["id"]})
    assert again.status_code == 409
    shown = tenant.get(f"/api/bank-statements/{statement['id']}").json()
    assert (shown["matched_count"], shown["unmatched_count"]) == (3, 0)
    debit = upload(tenant, camt("debit")).json()["entries"][0]
    ignored = tenant.post(f"/api/bank-statement-entries/{debit['id']}/match",
                          {"invoice_id": invoices["2026-0004"]["id"]})
    assert ignored.status_code == 409 and "debit" in ignored.json()["detail"]
    assert tenant.post(f"/api/bank-statement-entries/{debit['id']}/match", {}).status_code == 422


def test_statements_belong_to_one_administration(tenant, other_tenant):
    books(tenant)
    mine = upload(tenant, camt("structured")).json()
    assert other_tenant.get(f"/api/bank-statements/{mine['id']}").status_code == 404
    unmatched = mine["entries"][1]
    assert other_tenant.post(f"/api/bank-statement-entries/{unmatched['id']}/match",
                             {"invoice_id": mine["entries"][0]["invoice_id"]}).status_code == 404
    # The same file at another administration is its own import, matched against its own invoices.
    theirs = upload(other_tenant, camt("structured"))
    assert theirs.status_code == 201
    assert [(e["status"], e["candidates"]) for e in theirs.json()["entries"]] == [
        ("unmatched", []), ("unmatched", [])]
    assert [s["id"] for s in other_tenant.get("/api/bank-statements").json()["data"]] == [theirs.json()["id"]]


def _many_entries(count: int, message_id: str) -> bytes:
    entry = ('<Ntry><Amt Ccy="EUR">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts>'
             "<BookgDt><Dt>2026-04-20</Dt></BookgDt><AcctSvcrRef>{ref}</AcctSvcrRef>"
             "<NtryDtls><TxDtls><RmtInf><Ustrd>betaling {n}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>")
    entries = "".join(entry.format(amount=f"{10 + n}.00", ref=f"{message_id}-{n}", n=n) for n in range(count))
    return ('<?xml version="1.0"?><Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">'
            f"<BkToCstmrStmt><GrpHdr><MsgId>{message_id}</MsgId></GrpHdr><Stmt><Id>1</Id>"
            f"<Acct><Id><IBAN>NL91ABNA0417164300</IBAN></Id></Acct>{entries}</Stmt></BkToCstmrStmt>"
            "</Document>").encode()


def test_statement_reads_take_a_fixed_number_of_statements(tenant):
    first = upload(tenant, _many_entries(1, unique("ONE"))).json()
    one = statements(tenant, "/api/bank-statements")
    detail = statements(tenant, f"/api/bank-statements/{first['id']}")
    for _ in range(20):
        last = upload(tenant, _many_entries(20, unique("MANY"))).json()
    assert len(tenant.get(f"/api/bank-statements/{last['id']}").json()["entries"]) == 20
    assert statements(tenant, "/api/bank-statements") == one == 1
    assert statements(tenant, "/api/bank-statements?limit=5") == 2
    assert statements(tenant, f"/api/bank-statements/{last['id']}") == detail == 2


def test_a_contacts_iban_is_checked_and_stored_without_spaces(tenant):
    created = tenant.post("/api/contacts", {"name": "Acme BV", "iban": "nl44 rabo 0123 4567 89"})
    assert created.status_code == 201 and created.json()["iban"] == "NL44RABO0123456789"
    contact = created.json()["id"]
    for send in (lambda body: tenant.post("/api/contacts", {"name": "X", **body}),
                 lambda body: tenant.put(f"/api/contacts/{contact}", {"name": "Acme BV", **body}),
                 lambda body: tenant.patch(f"/api/contacts/{contact}", body)):
        refused = send({"iban": "NL45RABO0123456789"})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "iban"
    patched = tenant.patch(f"/api/contacts/{contact}", {"iban": "NL91 ABNA 0417 1643 00"})
    assert patched.status_code == 200 and patched.json()["iban"] == "NL91ABNA0417164300"


def test_a_binary_body_with_an_idempotency_key_is_422_not_400(tenant):
    """The key's fingerprint takes a file's bytes as they are: they need not be UTF-8."""
    response = upload(tenant, b"\x89PNG\r\n\x1a\n\x00\xff\xfe", **{"Idempotency-Key": unique("png")})
    assert response.status_code == 422, response.text
    assert "not well-formed XML" in response.json()["detail"]
