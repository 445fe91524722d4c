"""Lines of quotes and subscriptions: the invoice line shape, with the same totals.

Quote and subscription lines are built from the same request shape as invoice lines
(models.invoices checks them: products, text lines, exact amounts), keep the same
columns, serialise as invoice lines, and turn back into invoice lines when a quote is
invoiced or a subscription period is billed.
"""

from __future__ import annotations

import uuid

import peewee

from models.db import MoneyField, QuantityField, RateField, TenantModel, utcnow
from models.invoices import resolve_lines
from models.products import Product
from models.tenancy import Administration
from models.totals import InvoiceTotals, LineAmounts, invoice_totals


class DocumentLine(TenantModel):
    """The columns of a line; QuoteLine and SubscriptionLine add the document they belong to."""

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


def build_lines(administration_id, raw_lines: list[dict], model: type[DocumentLine], **owner) -> list:
    """Unsaved `model` lines from request lines, checked and totalled exactly as invoice lines."""
    return [model(administration=administration_id, product=line.pop("product_id"), **owner, **line)
            for line in resolve_lines(administration_id, raw_lines)]


def totals_of(lines) -> InvoiceTotals:
    """The document totals of these lines (text lines carry no amounts)."""
    return invoice_totals(line.amounts() for line in lines if not line.is_text_line)


def set_totals(document, lines) -> InvoiceTotals:
    """Give `document` the totals of `lines` and keep them as its loaded lines."""
    totals = totals_of(lines)
    document.total_incl, document.total_vat, document.total_excl = (totals.total_incl, totals.total_vat,
                                                                     totals.total_excl)
    document.loaded_lines = lines
    return totals


def store_lines(document, model: type[DocumentLine], owner_field: str, *, replace: bool = False) -> None:
    """Write `document.loaded_lines`, first deleting its stored lines when replacing them."""
    owner = getattr(model, owner_field)
    if replace:
        model.delete().where(model.administration == document.administration_id,
                             owner == document.id).execute()
    now = utcnow()
    for line in document.loaded_lines:
        setattr(line, owner_field, document.id)
        line.created_at = line.updated_at = now
    if document.loaded_lines:
        model.bulk_create(document.loaded_lines, batch_size=100)


def attach_lines(documents: list, model: type[DocumentLine], owner_field: str) -> list:
    """Load the lines of all `documents` with one query (`document.loaded_lines`)."""
    by_owner: dict = {doc.id: [] for doc in documents}
    if documents:
        owner = getattr(model, owner_field)
        rows = (model.select()
                .where(model.administration == documents[0].administration_id, owner.in_(list(by_owner)))
                .order_by(owner, model.position))
        for line in rows:
            by_owner[getattr(line, f"{owner_field}_id")].append(line)
    for doc in documents:
        doc.loaded_lines = by_owner[doc.id]
    return documents


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
