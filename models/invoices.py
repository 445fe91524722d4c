"""Invoices and credit notes: lines, exact totals, gapless numbers and one status machine.

An invoice is a `concept` until it is issued (`verzonden`); issuing gives it the next
number of its administration's series for the invoice year and freezes a copy of the
contact's name and address on it. From then on its lines and amounts never change:
corrections are credit notes. After issuing, the status follows the payments
(see models/payments.py) except for writing off (`oninbaar`) and crediting.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import peewee

from models import serialize
from models.contacts import Contact
from models.db import MoneyField, database
from models.errors import Conflict, Invalid, NotFound
from models.events import record_event
from models.lines import (
    DocumentLine,
    LinedDocument,
    create_document,
    delete_document,
    get_document,
    new_header,
)
from models.listing import LIST_INDEXES, Page, filter_contact_and_dates, paginate, parse_statuses
from models.numbering import next_number
from models.parsing import parse_uuid, referenced
from models.periods import BUSINESS_TIMEZONE, add_months, business_today  # noqa: F401 - also read from here
from models.tenancy import Administration

#: Days between invoice date and due date when neither the request nor the
#: administration (`payment_term_days`) says otherwise.
PAYMENT_TERM_DAYS = 30
#: The series invoices and credit notes are numbered in (models.numbering).
NUMBER_SERIES = "invoice"

STATUSES = ("concept", "verzonden", "deels_betaald", "betaald", "oninbaar", "gecrediteerd")
#: Issued and still expecting money: these can be overdue.
OPEN_STATUSES = ("verzonden", "deels_betaald")
assert OPEN_STATUSES == serialize.OVERDUE_STATUSES, "the invoice JSON decides `overdue` by these"

# Every status change an invoice can make, and what may cause it:
#   "request": the client asks for the status (POST or PATCH `status`);
#   "payment": a payment or refund moved amount_paid (models.payments);
#   "credit":  credit notes now cover every line of the invoice.
# Nothing else decides whether a status may change.
INVOICE_TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "concept": {"verzonden": frozenset({"request"})},
    "verzonden": {
        "deels_betaald": frozenset({"payment"}),
        "betaald": frozenset({"request", "payment"}),
        "oninbaar": frozenset({"request"}),
        "gecrediteerd": frozenset({"credit"}),
    },
    "deels_betaald": {
        "verzonden": frozenset({"payment"}),
        "betaald": frozenset({"request", "payment"}),
        "oninbaar": frozenset({"request"}),
        "gecrediteerd": frozenset({"credit"}),
    },
    "betaald": {
        "verzonden": frozenset({"payment"}),
        "deels_betaald": frozenset({"payment"}),
        "gecrediteerd": frozenset({"credit"}),
    },
    "oninbaar": {},
    "gecrediteerd": {},
}
#: Statuses that take payments and refunds: those a payment can move away from.
PAYABLE_STATUSES = tuple(
    s for s in STATUSES if any("payment" in causes for causes in INVOICE_TRANSITIONS[s].values())
)
#: Statuses a credit note can be made from.
CREDITABLE_STATUSES = tuple(
    s for s in STATUSES if any("credit" in causes for causes in INVOICE_TRANSITIONS[s].values())
)

#: Fields a PATCH may change only while the invoice is a concept.
CONCEPT_ONLY_FIELDS = ("contact_id", "invoice_date", "reference", "currency", "lines")
#: Contact fields copied onto the invoice when it is issued.
SNAPSHOT_FIELDS = ("name", "email", "company_name", "address", "postal_code", "city", "country",
                   "vat_number", "kvk_number")

#: |amount_paid| may not pass this; the API's totals stay far below it.
MAX_AMOUNT_PAID = Decimal("10000000000000000.00")


class Invoice(LinedDocument):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    number = peewee.CharField(max_length=32, null=True)
    status = peewee.CharField(max_length=20, default="concept")
    is_credit_note = peewee.BooleanField(default=False)
    credit_of = peewee.ForeignKeyField("self", null=True, backref="credit_notes")
    invoice_date = peewee.DateField()
    due_date = peewee.DateField()
    amount_paid = MoneyField(default=0)
    #: Where the customer pays the open amount online (the checkout of the current payment link).
    payment_url = peewee.CharField(max_length=1000, null=True)
    # The VAT breakdown of the lines as the API shows it (JSON text), computed when the lines
    # are set (models.lines.set_lines); null on rows written before it was stored.
    vat_breakdown = peewee.TextField(null=True)

    # Set by peewee for the foreign keys, and by attach_lines().
    credit_of_id: uuid.UUID | None
    # The contact snapshot columns, added below.
    contact_name: str | None
    contact_email: str | None
    contact_company_name: str | None
    contact_address: str | None
    contact_postal_code: str | None
    contact_city: str | None
    contact_country: str | None
    contact_vat_number: str | None
    contact_kvk_number: str | None
    loaded_lines: list[InvoiceLine]

    class Meta:
        indexes = (
            (("administration", "number"), True),
            *LIST_INDEXES,
            (("administration", "status", "due_date"), False),
            (("administration", "contact", "created_at"), False),
            (("administration", "invoice_date"), False),
            (("administration", "credit_of"), False),
        )

    @property
    def open_amount(self) -> Decimal:
        """What is still to be paid (negative: owed to the customer)."""
        return self.total_incl - self.amount_paid

    @property
    def overdue(self) -> bool:
        return (self.status in OPEN_STATUSES and self.open_amount > 0
                and self.due_date < business_today())

    @property
    def issued(self) -> bool:
        return self.status != "concept"


# The contact as it was when the invoice was issued (null while concept): for each of
# SNAPSHOT_FIELDS a column `contact_<field>`, as long as the contact's own.
for _name in SNAPSHOT_FIELDS:
    Invoice._meta.add_field(f"contact_{_name}", peewee.CharField(
        max_length=Contact._meta.fields[_name].max_length, null=True))
assert [f"contact_{name}" for name in SNAPSHOT_FIELDS] == [
    name for name in Invoice.__annotations__ if name.startswith("contact_") and name != "contact_id"]


class InvoiceLine(DocumentLine):
    """A line of an invoice or credit note: the shared line columns (models.lines)."""

    OWNER = "invoice"

    invoice = peewee.ForeignKeyField(Invoice, backref="lines", on_delete="CASCADE")
    # On a credit note: the line of the original invoice this line credits.
    credit_of_line = peewee.ForeignKeyField("self", null=True)

    invoice_id: uuid.UUID
    credit_of_line_id: uuid.UUID | None

    class Meta:
        indexes = (
            # Invoice lines had an index of their own on administration_id, which the
            # shared line columns do not declare; kept so the schema stays as it was.
            (("administration",), False),
            (("administration", "invoice", "position"), False),
            (("administration", "credit_of_line"), False),
        )


# ------------------------------------------------------------------ status machine

def allowed_statuses(current: str, cause: str) -> list[str]:
    """The statuses `cause` may move an invoice to from `current`."""
    return sorted(to for to, causes in INVOICE_TRANSITIONS[current].items() if cause in causes)


def check_transition(invoice: Invoice, to: str, cause: str) -> None:
    """409, naming the allowed statuses, unless the table lets `cause` move the invoice to `to`."""
    allowed = allowed_statuses(invoice.status, cause)
    if to != invoice.status and to not in allowed:
        raise Conflict(f"invoice {invoice.number or invoice.id} cannot go from {invoice.status} to {to}; "
                       f"allowed: {', '.join(allowed) or 'none'}", allowed=allowed)


def change_status(invoice: Invoice, to: str, cause: str) -> None:
    """Move the invoice to `to` if the transition table allows it for `cause`; else 409.

    Leaving `concept` issues the invoice: it gets its number and contact snapshot."""
    if to == invoice.status:
        return
    check_transition(invoice, to, cause)
    if invoice.status == "concept":
        _issue(invoice)
    invoice.status = to


def payment_status(total_incl: Decimal, amount_paid: Decimal) -> str:
    """The status an issued invoice has for what is paid: nothing, part, or all of it.

    A credit note (negative total) is paid by refunds, so amounts count in the
    direction of its total."""
    sign = -1 if total_incl < 0 else 1
    total, paid = total_incl * sign, amount_paid * sign
    if paid >= total and (paid > 0 or total == 0):
        return "betaald"
    if paid > 0:
        return "deels_betaald"
    return "verzonden"


def _issue(invoice: Invoice) -> None:
    """Number the invoice and copy the contact onto it (in the issuing transaction)."""
    prefix = Administration.get_by_id(invoice.administration_id).invoice_number_prefix or ""
    invoice.number = next_number(invoice.administration_id, NUMBER_SERIES, invoice.invoice_date.year,
                                 prefix=prefix)
    contact = invoice.contact
    for field in SNAPSHOT_FIELDS:
        setattr(invoice, f"contact_{field}", getattr(contact, field))


# ------------------------------------------------------------------ reading

def get_invoice(administration_id, invoice_id) -> Invoice:
    """One invoice with its contact and lines (two queries), or NotFound."""
    return get_document(InvoiceLine, administration_id, invoice_id)


def locked_invoice(administration_id, invoice_id, field: str | None = None) -> Invoice:
    """The invoice, locked until the transaction ends (SQLite already serialises writers).

    A missing invoice is a 404, or a 422 when `field` says a request body named it."""
    assert database.in_transaction()
    if field:
        return referenced(Invoice, administration_id, invoice_id, field, lock=True)
    return Invoice.get_owned(administration_id, invoice_id, lock=True)


# The columns of serialize.INVOICE_VALUES / LINE_VALUES: an invoice read for the API.
READ_COLUMNS = tuple(getattr(Contact, name[len("contact."):]) if name.startswith("contact.")
                     else getattr(Invoice, name) for name in serialize.INVOICE_VALUES)
LINE_READ_COLUMNS = (InvoiceLine.invoice, *(getattr(InvoiceLine, name) for name in serialize.LINE_VALUES))


def reading(administration_id):
    """Invoices with what the API shows of them, as database values (no model instances)."""
    return (Invoice.select(*READ_COLUMNS).join(Contact)
            .where(Invoice.administration == administration_id))


def raw_rows(query) -> list[tuple]:
    """A query's rows exactly as the database driver returns them (no field conversions)."""
    return list(database.execute_sql(*query.sql()))


def read_lines(administration_id, rows: list[tuple]) -> list[serialize.InvoiceRead]:
    """The invoices (READ_COLUMNS rows) with their lines, read with one more query."""
    by_invoice: dict = {row[0]: [] for row in rows}
    if rows:
        query = (InvoiceLine.select(*LINE_READ_COLUMNS)
                 .where(InvoiceLine.administration == administration_id,
                        InvoiceLine.invoice.in_(list(by_invoice)))
                 .order_by(InvoiceLine.invoice, InvoiceLine.position))
        for line in raw_rows(query):
            by_invoice[line[0]].append(line[1:])
    return [serialize.InvoiceRead(row, by_invoice[row[0]]) for row in rows]


def read_invoice(administration_id, invoice_id) -> serialize.InvoiceRead:
    """GET /invoices/{id}: one invoice as the API shows it (two queries), or NotFound."""
    key = parse_uuid(invoice_id, "invoice")
    rows = raw_rows(reading(administration_id).where(Invoice.id == key))
    if not rows:
        raise NotFound(f"invoice {invoice_id} not found")
    return read_lines(administration_id, rows)[0]


def list_invoices(administration_id, *, limit=100, offset=0, status=None, contact_id=None,
                  overdue=None, date_from=None, date_to=None, updated_since=None,
                  number=None, starting_after=None, ending_before=None) -> Page:
    """One page of invoices (serialize.InvoiceRead) with contacts and lines, in at most three
    queries whatever the page size."""
    # The filters, on the invoices alone: what `total` counts (without the contact join).
    query = Invoice.select(Invoice.id).where(Invoice.administration == administration_id)
    statuses = parse_statuses(status, STATUSES)
    if statuses:
        query = query.where(Invoice.status.in_(statuses))
    if overdue is not None:
        late = (Invoice.status.in_(OPEN_STATUSES) & (Invoice.due_date < business_today())
                & (Invoice.total_incl > Invoice.amount_paid))
        query = query.where(late if overdue else ~late)
    query = filter_contact_and_dates(query, Invoice, Invoice.invoice_date, contact_id=contact_id,
                                     date_from=date_from, date_to=date_to)
    if number is not None:
        query = query.where(Invoice.number == number)
    page = paginate(query.select(*READ_COLUMNS).join(Contact), Invoice, limit=limit, offset=offset,
                    administration_id=administration_id, starting_after=starting_after,
                    ending_before=ending_before, updated_since=updated_since, fetch=raw_rows,
                    counted=query)
    page.rows = read_lines(administration_id, page.rows)
    return page


# ------------------------------------------------------------------ changes

def check_due_date(invoice_date: date, due_date: date) -> None:
    """422 when the due date is before the invoice date."""
    if due_date < invoice_date:
        raise Invalid.field("due_date", f"{due_date} is before the invoice date {invoice_date}")


def payment_term_days(administration_id) -> int:
    """The administration's payment term (days from invoice date to default due date)."""
    term = Administration.get_by_id(administration_id).payment_term_days
    return PAYMENT_TERM_DAYS if term is None else term


@database.atomic()
def create_invoice(administration_id, data: dict) -> Invoice:
    """POST /invoices: a concept, or an issued invoice at once with `status: verzonden`.

    `data` has the request body's shape; quotes and subscription billing create their
    invoices through here too."""
    header = new_header(administration_id, data, "invoice_date", "due_date",
                        lambda: payment_term_days(administration_id))
    check_due_date(header["invoice_date"], header["due_date"])
    invoice = Invoice(status="concept", is_credit_note=False, amount_paid=Decimal("0.00"), **header)
    return create_document(invoice, administration_id, data, InvoiceLine, change_status=change_status,
                           event="invoice.created", serializer=serialize.invoice_document)


@database.atomic()
def delete_invoice(administration_id, invoice_id) -> None:
    """Delete a concept invoice; an issued one keeps its number forever (409)."""
    invoice = locked_invoice(administration_id, invoice_id)
    if invoice.issued:
        raise Conflict(f"invoice {invoice.number} is {invoice.status}: only a concept can be deleted; "
                       "correct an issued invoice with a credit note")
    data = delete_document(invoice, InvoiceLine, serialize.invoice_document)
    record_event(administration_id, "invoice.deleted", data)
