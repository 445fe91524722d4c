"""Bank statements (CAMT.053) matched to open invoices.

An imported file is read whole before anything is stored: a file that is not a CAMT.053
bank-to-customer statement, or misses what an entry needs (amount, currency,
credit/debit, booking date, account), is refused naming the first problem, and nothing
is stored. Then, in one transaction:

- every entry is stored once per account and bank reference (the entry's `AcctSvcrRef`;
  a batch-booked entry with amounts per transaction that add up to the booked amount
  becomes one entry per transaction).
  An entry already imported (from this file or an earlier one) is skipped and counted
  as a duplicate, so importing the same statement twice adds nothing. The same file again
  (the same account and `GrpHdr/MsgId`) answers the earlier import; another account's file
  with the same message id (a bank's own numbering) is an import of its own.
- each booked credit in EUR is matched to one open invoice: first by an invoice number
  in the remittance information (structured `CdtrRefInf/Ref` or free text `Ustrd`) with
  the open amount equal to the entry's amount; otherwise by that amount and the
  counterparty (the contact's IBAN, or its name or company name). A match becomes a
  payment (`external_method: bank_transfer`, `external_reference` = the bank
  reference); the rest is `unmatched`, with the invoices it could be (`candidates`).
- debits, other currencies and entries not booked yet are `ignored`, with the reason.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

import peewee
from lxml import etree

from models import serialize
from models.contacts import Contact
from models.db import MoneyField, TenantModel, database, utcnow
from models.errors import Conflict, Invalid
from models.events import record_event
from models.invoices import OPEN_STATUSES, Invoice, InvoiceLine, locked_invoice
from models.lines import attach_lines
from models.listing import LIST_INDEXES, Page, paginate
from models.parsing import parse_uuid
from models.payments import PaidThrough, apply_payment
from models.tenancy import Administration

CAMT053 = "urn:iso:std:iso:20022:tech:xsd:camt.053."
BANK_TRANSFER = "bank_transfer"
#: Unmatched entries list at most this many candidate invoices.
MAX_CANDIDATES = 10
ENTRY_STATUSES = ("matched", "unmatched", "ignored")


class BankStatement(TenantModel):
    """One imported CAMT.053 file."""

    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    message_id = peewee.CharField(max_length=100)
    account_iban = peewee.CharField(max_length=34)
    statement_reference = peewee.CharField(max_length=500, null=True)
    date_from = peewee.DateField(null=True)
    date_to = peewee.DateField(null=True)
    entry_count = peewee.IntegerField(default=0)
    matched_count = peewee.IntegerField(default=0)
    unmatched_count = peewee.IntegerField(default=0)
    ignored_count = peewee.IntegerField(default=0)
    duplicate_count = peewee.IntegerField(default=0)

    class Meta:
        indexes = (
            # A message id is unique only at its sender: the same file is the same account's.
            (("administration", "account_iban", "message_id"), True),
            *LIST_INDEXES,
        )


class BankStatementEntry(PaidThrough):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    statement = peewee.ForeignKeyField(BankStatement, backref="entries", on_delete="CASCADE")
    position = peewee.IntegerField()
    account_iban = peewee.CharField(max_length=34)
    bank_reference = peewee.CharField(max_length=200)
    booking_date = peewee.DateField()
    credit_debit = peewee.CharField(max_length=4)   # CRDT | DBIT
    amount = MoneyField()
    currency = peewee.CharField(max_length=3)
    counterparty_name = peewee.CharField(max_length=200, null=True)
    counterparty_iban = peewee.CharField(max_length=34, null=True)
    remittance_information = peewee.TextField(null=True)
    structured_reference = peewee.CharField(max_length=100, null=True)
    status = peewee.CharField(max_length=10)
    ignored_reason = peewee.CharField(max_length=20, null=True)
    match_method = peewee.CharField(max_length=20, null=True)
    invoice = peewee.ForeignKeyField(Invoice, null=True, on_delete="SET NULL")
    # payment: the payment registered for a matched entry (PaidThrough).
    #: JSON list of the invoices an unmatched entry could be for.
    candidates = peewee.TextField(default="[]")

    statement_id: uuid.UUID
    invoice_id: uuid.UUID | None

    class Meta:
        indexes = (
            (("administration", "account_iban", "bank_reference"), True),
            (("administration", "statement", "position"), False),
        )

    @property
    def candidate_list(self) -> list[dict]:
        return json.loads(self.candidates)


# ------------------------------------------------------------------ reading the file

@dataclass
class ParsedEntry:
    account_iban: str
    bank_reference: str
    booking_date: date
    credit_debit: str
    amount: Decimal
    currency: str
    booked: bool
    counterparty_name: str | None = None
    counterparty_iban: str | None = None
    remittance_information: str | None = None
    structured_reference: str | None = None


@dataclass
class ParsedStatement:
    message_id: str
    account_iban: str
    statement_references: list[str]
    entries: list[ParsedEntry] = field(default_factory=list)


def _refuse(where: str, message: str) -> Invalid:
    return Invalid(f"{where}: {message}" if where else message,
                   errors=[{"field": where or "body", "message": message}])


def _local(element) -> str:
    return etree.QName(element).localname


def _find(element, path: str):
    """The first element at a `/`-separated path of local names (any namespace)."""
    return element.find("/".join(f"{{*}}{part}" for part in path.split("/")))


def _text(element, path: str) -> str | None:
    found = _find(element, path)
    if found is None or found.text is None:
        return None
    text = " ".join(found.text.split())
    return text or None


def _amount(element, where: str) -> tuple[Decimal, str]:
    if element is None:
        raise _refuse(where, "Amt is missing")
    try:
        amount = Decimal((element.text or "").strip())
    except InvalidOperation:
        raise _refuse(where + "/Amt", f"{element.text!r} is not an amount") from None
    if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")) \
            or amount > Decimal("999999999999.99"):
        raise _refuse(where + "/Amt", f"{element.text!r} is not an amount with at most 2 decimals")
    currency = element.get("Ccy")
    if not currency or not re.fullmatch(r"[A-Z]{3}", currency):
        raise _refuse(where + "/Amt", "the Ccy attribute (currency) is missing or not a currency code")
    return amount.quantize(Decimal("0.01")), currency


def _day(entry, where: str) -> date:
    for path in ("BookgDt/Dt", "BookgDt/DtTm", "ValDt/Dt", "ValDt/DtTm"):
        text = _text(entry, path)
        if text:
            try:
                return date.fromisoformat(text[:10])
            except ValueError:
                raise _refuse(f"{where}/{path}", f"{text!r} is not a date") from None
    raise _refuse(where, "BookgDt (booking date) is missing")


def _iban(element, path: str) -> str | None:
    text = _text(element, path + "/Id/IBAN") or _text(element, path + "/Id/Othr/Id")
    return text.replace(" ", "").upper() if text else None


def _party(details, role: str) -> tuple[str | None, str | None]:
    """Name and account of the debtor (`Dbtr`) or creditor (`Cdtr`) of a transaction."""
    if details is None:
        return None, None
    name = _text(details, f"RltdPties/{role}/Nm") or _text(details, f"RltdPties/{role}/Pty/Nm")
    return name, _iban(details, f"RltdPties/{role}Acct")


def _remittance(details) -> tuple[str | None, str | None]:
    """(free text, structured creditor reference) of a transaction."""
    if details is None:
        return None, None
    free = [" ".join(e.text.split()) for e in details.iterfind("{*}RmtInf/{*}Ustrd") if e.text]
    structured = _text(details, "RmtInf/Strd/CdtrRefInf/Ref")
    return (" ".join(free) or None), structured


def parse_camt053(body: bytes) -> ParsedStatement:
    """A CAMT.053 file as plain values, or a 422 naming the first problem."""
    if not body or not body.strip():
        raise _refuse("", "the body is empty; send a CAMT.053 XML file")
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)
    try:
        root = etree.fromstring(body, parser)
    except etree.XMLSyntaxError as exc:
        raise _refuse("", f"not well-formed XML: {exc}") from None
    namespace = etree.QName(root).namespace or ""
    if _local(root) != "Document" or not namespace.startswith(CAMT053):
        raise _refuse("", f"not a CAMT.053 bank statement (root element {_local(root)!r} in namespace "
                          f"{namespace or 'none'!r}; expected Document in {CAMT053}…)")
    report = _find(root, "BkToCstmrStmt")
    if report is None:
        raise _refuse("Document", "BkToCstmrStmt is missing")
    message_id = _text(report, "GrpHdr/MsgId")
    if not message_id:
        raise _refuse("BkToCstmrStmt/GrpHdr", "MsgId is missing")
    statements = report.findall("{*}Stmt")
    if not statements:
        raise _refuse("BkToCstmrStmt", "there is no Stmt (statement)")
    parsed: ParsedStatement | None = None
    seen: Counter = Counter()
    for s_index, statement in enumerate(statements, 1):
        where = f"Stmt[{s_index}]"
        account = _iban(statement, "Acct")
        if not account:
            raise _refuse(f"{where}/Acct", "the account's IBAN (Id/IBAN) is missing")
        if parsed is None:
            parsed = ParsedStatement(message_id[:100], account[:34], [])
        if _text(statement, "Id"):
            parsed.statement_references.append(_text(statement, "Id") or "")
        for e_index, entry in enumerate(statement.iterfind("{*}Ntry"), 1):
            parsed.entries.extend(_entries(entry, f"{where}/Ntry[{e_index}]", account[:34], seen))
    assert parsed is not None
    return parsed


def _entries(entry, where: str, account: str, seen: Counter) -> list[ParsedEntry]:
    amount, currency = _amount(_find(entry, "Amt"), where)
    direction = _text(entry, "CdtDbtInd")
    if direction not in ("CRDT", "DBIT"):
        raise _refuse(f"{where}/CdtDbtInd", f"{direction!r} is not CRDT or DBIT")
    day = _day(entry, where)
    status = _text(entry, "Sts/Cd") or _text(entry, "Sts")
    reference = _text(entry, "AcctSvcrRef") or _text(entry, "NtryRef")
    transactions = entry.findall("{*}NtryDtls/{*}TxDtls")
    role = "Dbtr" if direction == "CRDT" else "Cdtr"

    def make(details, tx_amount: Decimal, tx_currency: str, tx_reference: str | None) -> ParsedEntry:
        name, iban = _party(details, role)
        free, structured = _remittance(details)
        made = ParsedEntry(account, "", day, direction, tx_amount, tx_currency, status in (None, "BOOK"),
                           name and name[:200], iban and iban[:34], free, structured and structured[:100])
        made.bank_reference = (tx_reference or _fallback_reference(made, seen))[:200]
        return made

    amounts = [_transaction_amount(tx, f"{where}/NtryDtls/TxDtls[{i}]")
               for i, tx in enumerate(transactions, 1)]
    if (len(transactions) > 1 and all(a is not None and a[1] == currency for a in amounts)
            and sum(a[0] for a in amounts if a is not None) == amount):
        # A batch booking with an amount per transaction, adding up to what was booked: each
        # is its own entry. (Parts that do not add up, e.g. netted charges, are not split:
        # PayDock never registers more than the bank booked.)
        split = []
        for index, (details, tx_amount) in enumerate(zip(transactions, amounts, strict=True), 1):
            assert tx_amount is not None
            own = _text(details, "Refs/AcctSvcrRef")
            numbered = f"{reference}/{index}" if reference else None
            tx_reference = own if own and own != reference else numbered
            split.append(make(details, *tx_amount, tx_reference))
        return split
    details = transactions[0] if len(transactions) == 1 else None
    made = make(details, amount, currency, reference)
    if len(transactions) > 1:   # a batch not split by transaction: one entry, all texts
        texts = [t for t in (_remittance(tx)[0] for tx in transactions) if t]
        made.remittance_information = " ".join(texts) or None
    return [made]


def _transaction_amount(details, where: str) -> tuple[Decimal, str] | None:
    element = _find(details, "AmtDtls/TxAmt/Amt")
    if element is None:
        element = _find(details, "Amt")
    return None if element is None else _amount(element, where)


def _fallback_reference(entry: ParsedEntry, seen: Counter) -> str:
    """A stable reference for an entry the bank gave none: its contents, and which
    occurrence of those contents in the file it is."""
    text = "|".join(str(v) for v in (entry.account_iban, entry.booking_date, entry.credit_debit, entry.amount,
                                     entry.currency, entry.counterparty_iban, entry.counterparty_name,
                                     entry.remittance_information, entry.structured_reference))
    seen[text] += 1
    return "sha256:" + hashlib.sha256(f"{text}|{seen[text]}".encode()).hexdigest()[:40]


# ------------------------------------------------------------------ matching

_TOKEN = re.compile(r"[A-Z0-9][A-Z0-9_/\-]*[A-Z0-9]|[A-Z0-9]")


@dataclass
class OpenInvoice:
    id: uuid.UUID
    number: str
    open_amount: Decimal
    contact_names: set[str]
    contact_iban: str | None

    def candidate(self, reason: str) -> dict:
        return {"invoice_id": str(self.id), "number": self.number, "open_amount": str(self.open_amount),
                "reason": reason}


def _open_invoices(administration_id) -> list[OpenInvoice]:
    """The administration's invoices that wait for money, in EUR (one query)."""
    rows = (Invoice.select(Invoice.id, Invoice.number, Invoice.total_incl, Invoice.amount_paid,
                           Contact.name, Contact.company_name, Contact.iban)
            .join(Contact, on=(Invoice.contact == Contact.id))
            .where(Invoice.administration == administration_id, Invoice.status.in_(OPEN_STATUSES),
                   Invoice.is_credit_note == False, Invoice.currency == "EUR",  # noqa: E712
                   Invoice.total_incl > Invoice.amount_paid)
            .order_by(Invoice.due_date, Invoice.number))
    found = []
    for row in rows:
        names = {n.casefold() for n in (row.contact.name, row.contact.company_name) if n}
        iban = row.contact.iban.replace(" ", "").upper() if row.contact.iban else None
        found.append(OpenInvoice(row.id, row.number or "", row.open_amount, names, iban))
    return found


@dataclass
class Decision:
    invoice: OpenInvoice | None
    method: str | None
    candidates: list[dict]


def decide(entry: ParsedEntry, pool: list[OpenInvoice]) -> Decision:
    """Which open invoice a booked EUR credit pays, or the candidates when it is not clear."""
    by_number = {inv.number.upper(): inv for inv in pool if inv.open_amount > 0}
    named: list[OpenInvoice] = []
    texts = [entry.structured_reference or "", entry.remittance_information or ""]
    for token in _TOKEN.findall(" ".join(texts).upper()):
        invoice = by_number.get(token)
        if invoice is not None and invoice not in named:
            named.append(invoice)
    exact = [inv for inv in named if inv.open_amount == entry.amount]
    if len(exact) == 1:
        return Decision(exact[0], "reference", [])
    same_amount = [inv for inv in pool if inv.open_amount == entry.amount]
    name = (entry.counterparty_name or "").casefold()
    party = [inv for inv in same_amount
             if (entry.counterparty_iban and inv.contact_iban == entry.counterparty_iban)
             or (name and name in inv.contact_names)]
    if not named and len(party) == 1:
        return Decision(party[0], "counterparty", [])
    candidates = [inv.candidate("invoice_number") for inv in named]
    candidates += [inv.candidate("amount_and_counterparty") for inv in party if inv not in named]
    candidates += [inv.candidate("amount") for inv in same_amount if inv not in named and inv not in party]
    return Decision(None, None, candidates[:MAX_CANDIDATES])


# ------------------------------------------------------------------ use cases

@dataclass
class Imported:
    statement: BankStatement
    entries: list[BankStatementEntry]
    created: bool


def import_statement(administration_id, body: bytes) -> Imported:
    """POST /bank-statements: read, store and match a CAMT.053 file (see the module docstring)."""
    parsed = parse_camt053(body)
    try:
        return _store_statement(administration_id, parsed)
    except peewee.IntegrityError as raced:
        # Another upload stored this statement or some of its entries a moment ago (the
        # unique keys decide): nothing of this one is kept, and sending it again answers
        # or skips what that upload stored.
        raise Conflict(f"statement {parsed.message_id} or some of its entries was imported by another "
                       "upload at the same moment; nothing of this upload was stored: send the file again "
                       "to see what is imported") from raced


@database.atomic()
def _store_statement(administration_id, parsed: ParsedStatement) -> Imported:
    existing = (BankStatement.of(administration_id)
                .where(BankStatement.account_iban == parsed.account_iban,
                       BankStatement.message_id == parsed.message_id).first())
    if existing is not None:
        return Imported(existing, statement_entries(administration_id, existing.id), False)
    known = {(row.account_iban, row.bank_reference) for row in BankStatementEntry.of(administration_id).where(
        BankStatementEntry.bank_reference.in_([e.bank_reference for e in parsed.entries] or [""]))}
    now = utcnow()
    days = [e.booking_date for e in parsed.entries]
    statement = BankStatement.create(
        administration=administration_id, message_id=parsed.message_id, account_iban=parsed.account_iban,
        statement_reference=", ".join(parsed.statement_references)[:500] or None,
        date_from=min(days) if days else None, date_to=max(days) if days else None,
        created_at=now, updated_at=now)
    pool = _open_invoices(administration_id)
    entries: list[BankStatementEntry] = []
    for entry in parsed.entries:
        key = (entry.account_iban, entry.bank_reference)
        if key in known:
            statement.duplicate_count += 1
            continue
        known.add(key)
        row = BankStatementEntry(
            administration=administration_id, statement=statement.id, position=len(entries) + 1,
            account_iban=entry.account_iban, bank_reference=entry.bank_reference,
            booking_date=entry.booking_date, credit_debit=entry.credit_debit, amount=entry.amount,
            currency=entry.currency, counterparty_name=entry.counterparty_name,
            counterparty_iban=entry.counterparty_iban, remittance_information=entry.remittance_information,
            structured_reference=entry.structured_reference, status="unmatched", created_at=now,
            updated_at=now)
        reason = ("debit" if entry.credit_debit == "DBIT" else "foreign_currency" if entry.currency != "EUR"
                  else "not_booked" if not entry.booked else None)
        if reason:
            row.status, row.ignored_reason = "ignored", reason
        else:
            decision = decide(entry, pool)
            if decision.invoice is not None:
                _pay(administration_id, row, decision.invoice.id, decision.method or "reference",
                     f"Bankafschrift {parsed.message_id}")
                decision.invoice.open_amount -= entry.amount
            else:
                row.candidates = json.dumps(decision.candidates)
        row.save(force_insert=True)
        entries.append(row)
    _count(statement, entries)
    statement.save()
    return Imported(statement, entries, True)


def _pay(administration_id, entry: BankStatementEntry, invoice_id, method: str, note: str,
         field: str | None = None) -> None:
    """Register the entry as a payment on the (locked) invoice, with its invoice.updated event."""
    invoice = locked_invoice(administration_id, invoice_id, field=field)
    previous = invoice.status
    # Money the bank reports as received is recorded even beyond the open amount.
    payment = apply_payment(invoice, entry.amount, payment_date=entry.booking_date,
                            external_method=BANK_TRANSFER, external_reference=entry.bank_reference, note=note,
                            allow_overpayment=True)
    attach_lines([invoice], InvoiceLine)
    extra = {"previous_status": previous} if invoice.status != previous else {}
    record_event(administration_id, "invoice.updated", serialize.invoice(invoice), **extra)
    entry.status, entry.match_method = "matched", method
    entry.invoice, entry.payment, entry.candidates = invoice, payment, "[]"


def _count(statement: BankStatement, entries: list[BankStatementEntry]) -> None:
    counts = Counter(e.status for e in entries)
    statement.entry_count = len(entries)
    statement.matched_count = counts["matched"]
    statement.unmatched_count = counts["unmatched"]
    statement.ignored_count = counts["ignored"]


@database.atomic()
def match_entry(administration_id, entry_id, data: dict) -> BankStatementEntry:
    """POST /bank-statement-entries/{id}/match: book an unmatched credit on the chosen invoice."""
    entry = BankStatementEntry.get_owned(administration_id, parse_uuid(entry_id, "bank statement entry"),
                                         lock=True)
    if entry.status != "unmatched":
        why = f" ({entry.ignored_reason})" if entry.ignored_reason else ""
        raise Conflict(f"bank statement entry {entry_id} is {entry.status}{why}; only an unmatched entry "
                       "can be matched")
    _pay(administration_id, entry, data["invoice_id"], "manual", "Bankafschrift, met de hand gekoppeld",
         field="invoice_id")
    entry.updated_at = utcnow()
    entry.save()
    statement = BankStatement.get_owned(administration_id, entry.statement_id)
    statement.matched_count += 1
    statement.unmatched_count -= 1
    statement.updated_at = utcnow()
    statement.save()
    return entry


def get_statement(administration_id, statement_id) -> tuple[BankStatement, list[BankStatementEntry]]:
    """A statement and all its entries (two queries)."""
    statement = BankStatement.get_owned(administration_id, statement_id)
    return statement, statement_entries(administration_id, statement.id)


def statement_entries(administration_id, statement_id) -> list[BankStatementEntry]:
    return list(BankStatementEntry.of(administration_id).where(BankStatementEntry.statement == statement_id)
                .order_by(BankStatementEntry.position))


def list_statements(administration_id, *, limit=100, offset=0, updated_since=None,
                    starting_after=None, ending_before=None) -> Page:
    return paginate(BankStatement.of(administration_id), BankStatement, limit=limit, offset=offset,
                    updated_since=updated_since, administration_id=administration_id,
                    starting_after=starting_after, ending_before=ending_before)
