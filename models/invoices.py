"""Invoices and credit notes: lines, exact totals, gapless numbers and one status machine.

An invoice is a `concept` until it is issued (`verzonden`); issuing gives it the next
number of its administration's series for the invoice year and freezes a copy of the
contact's name and address on it. From then on its lines and amounts never change:
corrections are credit notes. After issuing, the status follows the payments
(see models/payments.py) except for writing off (`oninbaar`) and crediting.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import peewee

from models import serialize
from models.contacts import DELETE_GUARDS, Contact
from models.db import MoneyField, QuantityField, RateField, TenantModel, database, is_postgres, utcnow
from models.errors import Conflict, DomainError, Invalid, NotFound
from models.events import record_event
from models.listing import Page, paginate, parse_statuses
from models.money import to_decimal, to_money, to_quantity
from models.numbering import next_number
from models.periods import add_months
from models.products import Product
from models.tenancy import Administration
from models.totals import LineAmounts, invoice_totals, line_amounts

#: Days between invoice date and due date when neither the request nor the
#: administration (`payment_term_days`) says otherwise.
PAYMENT_TERM_DAYS = 30
#: The calendar the business days of a Dutch administration follow.
BUSINESS_TIMEZONE = ZoneInfo("Europe/Amsterdam")
#: The series invoices and credit notes are numbered in (models.numbering).
NUMBER_SERIES = "invoice"

STATUSES = ("concept", "verzonden", "deels_betaald", "betaald", "oninbaar", "gecrediteerd")
#: Issued and still expecting money: these can be overdue.
OPEN_STATUSES = ("verzonden", "deels_betaald")

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

#: Bounds that keep every amount exact in the database (money as 64-bit cents).
MAX_LINE_PRICE = Decimal("9999999.99")
MAX_LINE_QUANTITY = Decimal("999999.9999")
#: |amount_paid| may not pass this; the API's totals stay far below it.
MAX_AMOUNT_PAID = Decimal("10000000000000000.00")


def business_today() -> date:
    """Today in the Netherlands."""
    return datetime.now(BUSINESS_TIMEZONE).date()


class Invoice(TenantModel):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    number = peewee.CharField(max_length=32, null=True)
    status = peewee.CharField(max_length=20, default="concept")
    is_credit_note = peewee.BooleanField(default=False)
    credit_of = peewee.ForeignKeyField("self", null=True, backref="credit_notes")
    contact = peewee.ForeignKeyField(Contact)
    # The contact as it was when the invoice was issued (null while concept).
    contact_name = peewee.CharField(max_length=200, null=True)
    contact_email = peewee.CharField(max_length=254, null=True)
    contact_company_name = peewee.CharField(max_length=200, null=True)
    contact_address = peewee.CharField(max_length=200, null=True)
    contact_postal_code = peewee.CharField(max_length=20, null=True)
    contact_city = peewee.CharField(max_length=100, null=True)
    contact_country = peewee.CharField(max_length=2, null=True)
    contact_vat_number = peewee.CharField(max_length=30, null=True)
    contact_kvk_number = peewee.CharField(max_length=20, null=True)
    invoice_date = peewee.DateField()
    due_date = peewee.DateField()
    currency = peewee.CharField(max_length=3, default="EUR")
    reference = peewee.CharField(max_length=200, null=True)
    note = peewee.TextField(null=True)
    total_incl = MoneyField(default=0)
    total_vat = MoneyField(default=0)
    total_excl = MoneyField(default=0)
    amount_paid = MoneyField(default=0)

    # Set by peewee for the foreign keys, and by attach_lines().
    administration_id: uuid.UUID
    contact_id: uuid.UUID
    credit_of_id: uuid.UUID | None
    loaded_lines: list[InvoiceLine]

    class Meta:
        indexes = (
            (("administration", "number"), True),
            (("administration", "created_at", "id"), False),
            (("administration", "updated_at"), False),
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


class InvoiceLine(TenantModel):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    invoice = peewee.ForeignKeyField(Invoice, backref="lines", on_delete="CASCADE")
    position = peewee.IntegerField()
    description = peewee.TextField(null=True)
    is_text_line = peewee.BooleanField(default=False)
    product = peewee.ForeignKeyField(Product, null=True, on_delete="SET NULL")
    # Amount fields are null on text lines.
    quantity = QuantityField(null=True)
    unit_price_incl = MoneyField(null=True)
    tax_percentage = RateField(null=True)
    total_incl = MoneyField(null=True)
    total_vat = MoneyField(null=True)
    total_excl = MoneyField(null=True)
    # On a credit note: the line of the original invoice this line credits.
    credit_of_line = peewee.ForeignKeyField("self", null=True)

    invoice_id: uuid.UUID
    product_id: uuid.UUID | None
    credit_of_line_id: uuid.UUID | None

    class Meta:
        indexes = (
            (("administration", "invoice", "position"), False),
            (("administration", "credit_of_line"), False),
        )

    def amounts(self) -> LineAmounts:
        return LineAmounts(self.quantity, self.unit_price_incl, self.tax_percentage)


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

def parse_uuid(value, what: str) -> uuid.UUID:
    """An id from a request as a UUID; a malformed one cannot exist, so it is a 404."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{what} {value} not found") from None


def missing_reference(field: str, what: str, value) -> Invalid:
    """An id in a request body that names nothing in the administration: a 422 naming the
    field. Never a 404, which always means the resource in the URL does not exist."""
    return Invalid(f"{field}: there is no {what} {value} in this administration",
                   errors=[{"field": field, "message": f"no such {what} in this administration"}])


def reference_uuid(value, field: str, what: str) -> uuid.UUID:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise missing_reference(field, what, value) from None


def referenced_contact(administration_id, value, field: str = "contact_id") -> Contact:
    """The administration's contact a request body names, or a 422."""
    contact = Contact.of(administration_id).where(
        Contact.id == reference_uuid(value, field, "contact")).first()
    if contact is None:
        raise missing_reference(field, "contact", value)
    return contact


def attach_lines(invoices: list[Invoice]) -> list[Invoice]:
    """Load the lines of all `invoices` with one query (`invoice.loaded_lines`)."""
    by_invoice: dict = {inv.id: [] for inv in invoices}
    if invoices:
        administration_id = invoices[0].administration_id
        rows = (InvoiceLine.of(administration_id)
                .where(InvoiceLine.invoice.in_(list(by_invoice)))
                .order_by(InvoiceLine.invoice, InvoiceLine.position))
        for line in rows:
            by_invoice[line.invoice_id].append(line)
    for inv in invoices:
        inv.loaded_lines = by_invoice[inv.id]
    return invoices


def _with_contact(administration_id):
    return (Invoice.select(Invoice, Contact).join(Contact)
            .where(Invoice.administration == administration_id))


def get_invoice(administration_id, invoice_id) -> Invoice:
    """One invoice with its contact and lines (two queries), or NotFound."""
    key = parse_uuid(invoice_id, "invoice")
    invoice = _with_contact(administration_id).where(Invoice.id == key).first()
    if invoice is None:
        raise NotFound(f"invoice {invoice_id} not found")
    return attach_lines([invoice])[0]


def locked_invoice(administration_id, invoice_id, field: str | None = None) -> Invoice:
    """The invoice, locked until the transaction ends (SQLite already serialises writers).

    A missing invoice is a 404, or a 422 when `field` says a request body named it."""
    assert database.in_transaction()
    key = reference_uuid(invoice_id, field, "invoice") if field else parse_uuid(invoice_id, "invoice")
    query = Invoice.of(administration_id).where(Invoice.id == key)
    if is_postgres():
        query = query.for_update()
    invoice = query.first()
    if invoice is None:
        if field:
            raise missing_reference(field, "invoice", invoice_id)
        raise NotFound(f"invoice {invoice_id} not found")
    return invoice




def parse_date(value, field: str, *, query: bool = False) -> date | None:
    """A `YYYY-MM-DD` string as a date; anything else is a 422 (a 400 for a query parameter)."""
    if value is None or isinstance(value, date):
        return value
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        error = DomainError if query else Invalid
        raise error(f"{field}: not a valid date (YYYY-MM-DD)",
                    errors=[{"field": field, "message": "not a valid date (YYYY-MM-DD)"}]) from None


#: An invoice or quote may be dated at most this many months after today.
MONTHS_AHEAD = 12


def document_date(value, field: str) -> date | None:
    """An invoice or quote date: parse_date, and at most MONTHS_AHEAD months after today
    (the spec's `Date` pattern keeps it on or after 2000-01-01). 422 otherwise."""
    day = parse_date(value, field)
    latest = add_months(business_today(), MONTHS_AHEAD)
    if day is not None and day > latest:
        raise Invalid.field(field, f"must not be after {latest.isoformat()} "
                                   f"(at most {MONTHS_AHEAD} months after today)")
    return day


def list_invoices(administration_id, *, limit=100, offset=0, status=None, contact_id=None,
                  overdue=None, date_from=None, date_to=None, updated_since=None,
                  number=None) -> Page:
    """One page of invoices with contacts and lines, in at most three queries whatever the page size."""
    query = _with_contact(administration_id)
    statuses = parse_statuses(status, STATUSES)
    if statuses:
        query = query.where(Invoice.status.in_(statuses))
    if contact_id is not None:
        query = query.where(Invoice.contact == parse_uuid(contact_id, "contact"))
    if overdue is not None:
        late = (Invoice.status.in_(OPEN_STATUSES) & (Invoice.due_date < business_today())
                & (Invoice.total_incl > Invoice.amount_paid))
        query = query.where(late if overdue else ~late)
    if date_from is not None:
        query = query.where(Invoice.invoice_date >= parse_date(date_from, "date_from", query=True))
    if date_to is not None:
        query = query.where(Invoice.invoice_date <= parse_date(date_to, "date_to", query=True))
    if number is not None:
        query = query.where(Invoice.number == number)
    page = paginate(query, Invoice, limit=limit, offset=offset, updated_since=updated_since)
    attach_lines(page.rows)
    return page


# ------------------------------------------------------------------ lines and totals

def resolve_lines(administration_id, raw_lines: list[dict]) -> list[dict]:
    """Request lines made whole: filled in from their products, exact, with their own totals.

    Takes the `lines` of an invoice request; gives one dict per line with position,
    description, is_text_line, product_id, quantity, unit_price_incl, tax_percentage
    and total_incl/total_vat/total_excl (None on text lines). Writes nothing; quotes
    and subscriptions build their lines with it too."""
    wanted = {reference_uuid(raw["product_id"], f"lines.{index}.product_id", "product")
              for index, raw in enumerate(raw_lines) if raw.get("product_id")}
    products = {p.id: p for p in Product.of(administration_id).where(Product.id.in_(list(wanted)))} \
        if wanted else {}
    lines = []
    for index, raw in enumerate(raw_lines):
        where = f"lines.{index}"
        line: dict = {"position": index + 1, "description": raw.get("description"), "is_text_line": False,
                      "product_id": None, "quantity": None, "unit_price_incl": None, "tax_percentage": None,
                      "total_incl": None, "total_vat": None, "total_excl": None}
        if raw.get("is_text_line"):
            if not line["description"]:
                raise Invalid.field(f"{where}.description", "a text line needs a description")
            lines.append({**line, "is_text_line": True})
            continue
        product = None
        if raw.get("product_id"):
            product = products.get(reference_uuid(raw["product_id"], f"{where}.product_id", "product"))
            if product is None:
                raise missing_reference(f"{where}.product_id", "product", raw["product_id"])
            line["product_id"] = product.id
        price = raw.get("unit_price_incl")
        rate = raw.get("tax_percentage")
        line["description"] = line["description"] or (product.name if product else None)
        line["quantity"] = to_quantity(raw.get("quantity", 1), f"{where}.quantity")
        line["unit_price_incl"] = (to_money(price, f"{where}.unit_price_incl") if price is not None
                                   else product.unit_price_incl if product else None)
        line["tax_percentage"] = (to_decimal(rate, f"{where}.tax_percentage") if rate is not None
                                  else product.tax_percentage if product else None)
        for field in ("description", "unit_price_incl", "tax_percentage"):
            if line[field] is None:
                raise Invalid.field(f"{where}.{field}", "is required without a product_id")
        if abs(line["unit_price_incl"]) > MAX_LINE_PRICE:
            # Only a product's own price can get here; the request schema bounds the rest.
            raise Invalid.field(f"{where}.unit_price_incl",
                                f"the product's price is beyond {MAX_LINE_PRICE}, the most a line takes")
        if abs(line["quantity"]) > MAX_LINE_QUANTITY:
            raise Invalid.field(f"{where}.quantity", f"must be between -{MAX_LINE_QUANTITY} and "
                                                     f"{MAX_LINE_QUANTITY}")
        amounts = line_amounts(line["quantity"], line["unit_price_incl"], line["tax_percentage"])
        lines.append({**line, "total_incl": amounts.total_incl, "total_vat": amounts.total_vat,
                      "total_excl": amounts.total_excl})
    return lines


def _build_lines(administration_id, raw_lines: list[dict]) -> list[InvoiceLine]:
    """Unsaved invoice lines for the request's lines."""
    return [InvoiceLine(administration=administration_id, product=line.pop("product_id"), **line)
            for line in resolve_lines(administration_id, raw_lines)]


def _set_lines(invoice: Invoice, lines: list[InvoiceLine]) -> None:
    """Give the invoice these (unsaved) lines and the totals they add up to."""
    totals = invoice_totals(line.amounts() for line in lines if not line.is_text_line)
    invoice.total_incl, invoice.total_vat, invoice.total_excl = (totals.total_incl, totals.total_vat,
                                                                 totals.total_excl)
    for line in lines:
        line.invoice_id = invoice.id
    invoice.loaded_lines = lines


def _store_lines(invoice: Invoice, *, replace: bool = False) -> None:
    """Write `invoice.loaded_lines`, first deleting the stored ones when replacing them."""
    if replace:
        InvoiceLine.delete().where(InvoiceLine.administration == invoice.administration_id,
                                   InvoiceLine.invoice == invoice.id).execute()
    now = utcnow()
    for line in invoice.loaded_lines:
        line.created_at = line.updated_at = now
    if invoice.loaded_lines:
        InvoiceLine.bulk_create(invoice.loaded_lines, batch_size=100)


# ------------------------------------------------------------------ changes

def _check_due_date(invoice_date: date, due_date: date) -> None:
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
    contact = referenced_contact(administration_id, data["contact_id"])
    invoice_date = document_date(data.get("invoice_date"), "invoice_date") or business_today()
    due_date = parse_date(data.get("due_date"), "due_date") or invoice_date + timedelta(
        days=payment_term_days(administration_id))
    _check_due_date(invoice_date, due_date)
    invoice = Invoice(
        administration=administration_id, status="concept", contact=contact,
        invoice_date=invoice_date, due_date=due_date, currency=data.get("currency") or "EUR",
        reference=data.get("reference"), note=data.get("note"),
        is_credit_note=False, amount_paid=Decimal("0.00"),
    )
    _set_lines(invoice, _build_lines(administration_id, data.get("lines") or []))
    change_status(invoice, data.get("status") or "concept", "request")
    now = utcnow()
    invoice.created_at = invoice.updated_at = now
    invoice.save(force_insert=True)
    _store_lines(invoice)
    record_event(administration_id, "invoice.created", serialize.invoice(invoice))
    return invoice


@database.atomic()
def update_invoice(administration_id, invoice_id, data: dict) -> Invoice:
    """PATCH: status, due_date and note always; lines and other fields only while concept.

    `status: betaald` registers a payment for the open amount."""
    invoice = locked_invoice(administration_id, invoice_id)
    previous = invoice.status
    frozen = [f for f in CONCEPT_ONLY_FIELDS if f in data]
    if invoice.issued and frozen:
        raise Conflict(
            f"invoice {invoice.number} is {invoice.status}: {', '.join(frozen)} can change only while "
            "it is a concept; correct an issued invoice with a credit note"
        )
    target = data.get("status")
    if target is not None:
        check_transition(invoice, target, "request")
    if "contact_id" in data:
        invoice.contact = referenced_contact(administration_id, data["contact_id"])
    if data.get("invoice_date") is not None:
        invoice.invoice_date = document_date(data["invoice_date"], "invoice_date") or invoice.invoice_date
    if data.get("due_date") is not None:
        invoice.due_date = parse_date(data["due_date"], "due_date") or invoice.due_date
    _check_due_date(invoice.invoice_date, invoice.due_date)
    for field in ("reference", "note", "currency"):
        if field in data:
            setattr(invoice, field, data[field])
    if "lines" in data:
        _set_lines(invoice, _build_lines(administration_id, data["lines"]))
        _store_lines(invoice, replace=True)
    if target is not None and target != previous:
        if target == "betaald":
            from models import payments

            payments.settle_open_amount(invoice, note="Gemarkeerd als betaald")
        else:
            change_status(invoice, target, "request")
    invoice.updated_at = utcnow()
    invoice.save()
    attach_lines([invoice])
    extra = {"previous_status": previous} if invoice.status != previous else {}
    record_event(administration_id, "invoice.updated", serialize.invoice(invoice), **extra)
    return invoice


@database.atomic()
def delete_invoice(administration_id, invoice_id) -> None:
    """Delete a concept invoice; an issued one keeps its number forever (409)."""
    invoice = locked_invoice(administration_id, invoice_id)
    if invoice.issued:
        raise Conflict(f"invoice {invoice.number} is {invoice.status}: only a concept can be deleted; "
                       "correct an issued invoice with a credit note")
    attach_lines([invoice])
    data = serialize.invoice(invoice)
    InvoiceLine.delete().where(InvoiceLine.administration == administration_id,
                               InvoiceLine.invoice == invoice.id).execute()
    invoice.delete_instance()
    record_event(administration_id, "invoice.deleted", data)


@database.atomic()
def credit_invoice(administration_id, invoice_id, data: dict | None = None) -> Invoice:
    """Issue a credit note for the whole invoice or chosen lines (negated quantities).

    What the original still had open is settled against the credit note (a pair of
    `credit_note` payments), and the original becomes `gecrediteerd` once every
    line is credited."""
    from models import payments

    data = data or {}
    original = locked_invoice(administration_id, invoice_id)
    label = f"invoice {original.number or original.id}"
    if original.is_credit_note:
        raise Conflict(f"{label} is a credit note; a credit note cannot be credited")
    if original.status not in CREDITABLE_STATUSES:
        raise Conflict(f"{label} is {original.status}; only an invoice with status "
                       f"{', '.join(CREDITABLE_STATUSES)} can be credited")
    lines = attach_lines([original])[0].loaded_lines
    amount_lines = [line for line in lines if not line.is_text_line]
    credited = {row.credit_of_line_id for row in InvoiceLine.of(administration_id).where(
        InvoiceLine.credit_of_line.in_([line.id for line in amount_lines]))} if amount_lines else set()

    if data.get("line_ids"):
        by_id = {str(line.id): line for line in lines}
        chosen = []
        for index, line_id in enumerate(data["line_ids"]):
            line = by_id.get(str(line_id).lower())
            if line is None:
                raise Invalid(f"line_ids.{index}: line {line_id} is not on {label}",
                              errors=[{"field": f"line_ids.{index}",
                                       "message": "not a line of this invoice"}])
            if line.id in credited:
                raise Conflict(f"line_ids.{index}: line {line_id} of {label} is already credited")
            chosen.append(line)
    else:
        chosen = [line for line in lines if line.is_text_line or line.id not in credited]
    if not any(not line.is_text_line for line in chosen):
        raise Conflict(f"{label} has no uncredited line with an amount to credit")

    today = business_today()
    credit = Invoice(
        administration=administration_id, status="concept", is_credit_note=True,
        credit_of=original.id, contact=original.contact_id, invoice_date=today, due_date=today,
        currency=original.currency, reference=original.reference,
        note=data.get("note") or f"Creditnota bij factuur {original.number}",
        amount_paid=Decimal("0.00"),
    )
    credit_lines = []
    for position, line in enumerate(sorted(chosen, key=lambda x: x.position), 1):
        copy = InvoiceLine(administration=administration_id, position=position,
                           description=line.description, is_text_line=line.is_text_line,
                           product=line.product_id)
        if not line.is_text_line:
            copy.credit_of_line = line.id
            copy.quantity = -line.quantity
            copy.unit_price_incl = line.unit_price_incl
            copy.tax_percentage = line.tax_percentage
            amounts = line_amounts(copy.quantity, copy.unit_price_incl, copy.tax_percentage)
            copy.total_incl, copy.total_vat, copy.total_excl = (amounts.total_incl, amounts.total_vat,
                                                                amounts.total_excl)
        credit_lines.append(copy)
    _set_lines(credit, credit_lines)
    change_status(credit, "verzonden", "request")
    now = utcnow()
    credit.created_at = credit.updated_at = now
    credit.save(force_insert=True)
    _store_lines(credit)

    previous = original.status
    payments.settle_credit_note(original, credit)
    credited |= {line.id for line in chosen}
    if all(line.id in credited for line in amount_lines):
        change_status(original, "gecrediteerd", "credit")
    original.updated_at = utcnow()
    original.save()
    record_event(administration_id, "invoice.created", serialize.invoice(credit))
    extra = {"previous_status": previous} if original.status != previous else {}
    record_event(administration_id, "invoice.updated", serialize.invoice(original), **extra)
    return credit


# ------------------------------------------------------------------ contacts

def _forbid_deleting_invoiced_contact(contact: Contact) -> None:
    administration_id = contact.administration_id  # type: ignore[attr-defined]
    invoices = Invoice.of(administration_id).where(Invoice.contact == contact.id)
    if invoices.where(Invoice.status != "concept").exists():
        raise Conflict(f"contact {contact.id} has issued invoices and cannot be deleted; "
                       "archive it instead (archived: true)")
    if invoices.exists():
        raise Conflict(f"contact {contact.id} has concept invoices; delete those first, "
                       "or archive the contact (archived: true)")


DELETE_GUARDS.append(_forbid_deleting_invoiced_contact)
