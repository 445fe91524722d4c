"""Document lines: the columns every line has, checked request lines, exact totals, and how a
document's lines are loaded and stored.

Invoice, quote and subscription lines are one shape (`DocumentLine`); each line model adds
the document it belongs to and names it in `OWNER`. Lines are built from the same request
shape (products filled in, text lines, exact amounts), serialise alike, and quote and
subscription lines turn back into invoice lines when a quote is invoiced or a
subscription period is billed.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, ClassVar

import peewee

from models.contacts import Contact
from models.db import MoneyField, QuantityField, RateField, TenantModel, utcnow
from models.errors import Invalid, NotFound
from models.events import record_event
from models.listing import Page, paginate
from models.money import to_decimal, to_money, to_quantity
from models.parsing import missing_reference, parse_date, parse_uuid, reference_uuid, referenced
from models.periods import add_months, business_today
from models.products import Product
from models.serialize import vat_breakdown_json
from models.tenancy import Administration
from models.totals import InvoiceTotals, LineAmounts, invoice_totals, line_amounts

#: Bounds that keep every amount exact in the database (money as 64-bit cents).
MAX_LINE_PRICE = Decimal("9999999.99")
MAX_LINE_QUANTITY = Decimal("999999.9999")


class DocumentLine(TenantModel):
    """The columns of a line; each line model adds the document it belongs to."""

    #: The name of the foreign key to the document the line belongs to.
    OWNER: ClassVar[str]

    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE", backref="+",
                                             index=False)
    position = peewee.IntegerField()
    description = peewee.TextField(null=True)
    is_text_line = peewee.BooleanField(default=False)
    product = peewee.ForeignKeyField(Product, null=True, on_delete="SET NULL", backref="+")
    # Amount fields are null on text lines.
    quantity = QuantityField(null=True)
    unit_price_incl = MoneyField(null=True)
    tax_percentage = RateField(null=True)
    total_incl = MoneyField(null=True)
    total_vat = MoneyField(null=True)
    total_excl = MoneyField(null=True)

    administration_id: uuid.UUID
    product_id: uuid.UUID | None

    def amounts(self) -> LineAmounts:
        return LineAmounts(self.quantity, self.unit_price_incl, self.tax_percentage)

    @classmethod
    def owner(cls) -> peewee.ForeignKeyField:
        return getattr(cls, cls.OWNER)


class LinedDocument(TenantModel):
    """The columns of a document with lines (invoice, quote, subscription): whom it is for,
    its texts and what its lines add up to (set_lines)."""

    contact = peewee.ForeignKeyField(Contact)
    currency = peewee.CharField(max_length=3, default="EUR")
    reference = peewee.CharField(max_length=200, null=True)
    note = peewee.TextField(null=True)
    total_incl = MoneyField(default=0)
    total_vat = MoneyField(default=0)
    total_excl = MoneyField(default=0)

    # Set by peewee for the foreign keys.
    administration_id: uuid.UUID
    contact_id: uuid.UUID


# ------------------------------------------------------------------ document headers

#: An invoice or quote may be dated at most this many months after today.
MONTHS_AHEAD = 12
#: What a PATCH of a document may set as given (within its status rules).
TEXT_FIELDS = ("reference", "note", "currency")


def document_date(value, field: str) -> date | None:
    """An invoice or quote date: parse_date, and at most MONTHS_AHEAD months after today
    (the spec's `Date` pattern keeps it on or after 2000-01-01). 422 otherwise."""
    day = parse_date(value, field)
    latest = add_months(business_today(), MONTHS_AHEAD)
    if day is not None and day > latest:
        raise Invalid.field(field, f"must not be after {latest.isoformat()} "
                                   f"(at most {MONTHS_AHEAD} months after today)")
    return day


def new_header(administration_id, data: dict, date_field: str, end_field: str,
               term_days: Callable[[], int]) -> dict:
    """The contact, dates and texts of a new invoice or quote from its request: the date
    (`date_field`) defaults to today, the end (`end_field`: due date, valid until) to
    `term_days()` days after it, asked only when the request gives no end."""
    contact = referenced(Contact, administration_id, data["contact_id"], "contact_id")
    day = document_date(data.get(date_field), date_field) or business_today()
    end = parse_date(data.get(end_field), end_field) or day + timedelta(days=term_days())
    return {"administration": administration_id, "contact": contact, date_field: day, end_field: end,
            "currency": data.get("currency") or "EUR", "reference": data.get("reference"),
            "note": data.get("note")}


def change_header(document: LinedDocument, administration_id, data: dict, date_field: str,
                  end_field: str) -> None:
    """PATCH: the contact, dates and texts `data` gives (a null date keeps the stored one);
    the caller has checked that its document's status lets them change."""
    if "contact_id" in data:
        document.contact = referenced(Contact, administration_id, data["contact_id"], "contact_id")
    if data.get(date_field) is not None:
        setattr(document, date_field, document_date(data[date_field], date_field)
                or getattr(document, date_field))
    if data.get(end_field) is not None:
        setattr(document, end_field, parse_date(data[end_field], end_field) or getattr(document, end_field))
    for field in TEXT_FIELDS:
        if field in data:
            setattr(document, field, data[field])


# ------------------------------------------------------------------ request lines

def resolve_lines(administration_id, raw_lines: list[dict]) -> list[dict]:
    """Request lines made whole: filled in from their products, exact, with their own totals.

    Takes the `lines` of a request; gives one dict per line with position, description,
    is_text_line, product_id, quantity, unit_price_incl, tax_percentage and
    total_incl/total_vat/total_excl (None on text lines). Writes nothing."""
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


def build_lines(administration_id, raw_lines: list[dict], model: type[DocumentLine]) -> list[Any]:
    """Unsaved `model` lines from request lines, checked and totalled (resolve_lines)."""
    return [model(administration=administration_id, product=line.pop("product_id"), **line)
            for line in resolve_lines(administration_id, raw_lines)]


def as_invoice_lines(lines) -> list[dict]:
    """The lines as `create_invoice` request lines (amounts as stored, products kept)."""
    result = []
    for line in lines:
        if line.is_text_line:
            result.append({"is_text_line": True, "description": line.description})
            continue
        entry = {"description": line.description, "quantity": line.quantity,
                 "unit_price_incl": line.unit_price_incl, "tax_percentage": line.tax_percentage}
        if line.product_id is not None:
            entry["product_id"] = line.product_id
        result.append(entry)
    return result


# ------------------------------------------------------------------ totals

def totals_of(lines) -> InvoiceTotals:
    """The document totals of these lines (text lines carry no amounts)."""
    return invoice_totals(line.amounts() for line in lines if not line.is_text_line)


def set_lines(document, lines: list) -> InvoiceTotals:
    """Give `document` these (unsaved) lines as its loaded lines, and the totals they add up to."""
    totals = totals_of(lines)
    document.total_incl, document.total_vat, document.total_excl = (totals.total_incl, totals.total_vat,
                                                                     totals.total_excl)
    if "vat_breakdown" in type(document)._meta.fields:
        # Invoices keep their VAT breakdown as the API shows it, so reads never recompute it.
        document.vat_breakdown = vat_breakdown_json(totals)
    document.loaded_lines = lines
    return totals


# ------------------------------------------------------------------ loading and storing

def attach_lines(documents: list, model: type[DocumentLine]) -> list:
    """Load the lines of all `documents` with one query (`document.loaded_lines`)."""
    by_owner: dict = {doc.id: [] for doc in documents}
    if documents:
        owner = model.owner()
        rows = (model.of(documents[0].administration_id)
                .where(owner.in_(list(by_owner)))
                .order_by(owner, model.position))
        for line in rows:
            by_owner[getattr(line, f"{model.OWNER}_id")].append(line)
    for doc in documents:
        doc.loaded_lines = by_owner[doc.id]
    return documents


def page_with_lines(query, line_model: type[DocumentLine], administration_id, **paging) -> Page:
    """One page (models.listing.paginate) of `query`'s documents, with their lines (one query more)."""
    page = paginate(query, line_model.owner().rel_model, administration_id=administration_id, **paging)
    attach_lines(page.rows, line_model)
    return page


def with_contact(line_model: type[DocumentLine], administration_id) -> peewee.ModelSelect:
    """The administration's documents of `line_model`'s kind, each with its contact (one join)."""
    model = line_model.owner().rel_model
    return model.select(model, Contact).join(Contact).where(model.administration == administration_id)


def get_document(line_model: type[DocumentLine], administration_id, document_id) -> Any:
    """One invoice, quote or subscription with its contact and lines (two queries), or NotFound."""
    model = line_model.owner().rel_model
    what = model.__name__.lower()
    key = parse_uuid(document_id, what)
    document = with_contact(line_model, administration_id).where(model.id == key).first()
    if document is None:
        raise NotFound(f"{what} {document_id} not found")
    return attach_lines([document], line_model)[0]


def insert_document(document, line_model: type[DocumentLine]) -> None:
    """Write a new document and its loaded lines, all with the same created_at."""
    document.created_at = document.updated_at = utcnow()
    document.save(force_insert=True)
    store_lines(document, line_model)


def create_document(document, administration_id, data: dict, line_model: type[DocumentLine], *,
                    change_status: Callable[[Any, str, str], Any], event: str,
                    serializer: Callable[[Any], dict]) -> Any:
    """Write a new invoice or quote with the request's lines, in the status the request asks
    for (a concept when it asks none), and its created `event`; the status change sees the
    lines and their totals. Returns the document."""
    set_lines(document, build_lines(administration_id, data.get("lines") or [], line_model))
    change_status(document, data.get("status") or "concept", "request")
    insert_document(document, line_model)
    record_event(administration_id, event, serializer(document))
    return document


def delete_document(document, line_model: type[DocumentLine], serializer: Callable[[Any], dict]) -> dict:
    """Delete the document and its lines; returns it as `serializer` showed it, lines and all,
    for its deleted event."""
    attach_lines([document], line_model)
    data = serializer(document)
    delete_lines(document, line_model)
    document.delete_instance()
    return data


def delete_lines(document, model: type[DocumentLine]) -> None:
    """Delete the stored lines of `document`."""
    model.delete().where(model.administration == document.administration_id,
                         model.owner() == document.id).execute()


def store_lines(document, model: type[DocumentLine], *, replace: bool = False) -> None:
    """Write `document.loaded_lines`, first deleting its stored lines when replacing them."""
    if replace:
        delete_lines(document, model)
    now = utcnow()
    for line in document.loaded_lines:
        setattr(line, model.OWNER, document.id)
        line.created_at = line.updated_at = now
    if document.loaded_lines:
        model.bulk_create(document.loaded_lines, batch_size=100)
