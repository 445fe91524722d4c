"""The invoice changes that can register payments: PATCH (`status: betaald` pays the open
amount) and credit notes (settled against what the original still had open).

They use models.payments, which itself builds on models.invoices, so they live above both.
"""

from __future__ import annotations

from decimal import Decimal

from models import payments, serialize
from models.db import database, utcnow
from models.errors import Conflict, Invalid
from models.events import record_event
from models.invoices import (
    CONCEPT_ONLY_FIELDS,
    CREDITABLE_STATUSES,
    Invoice,
    InvoiceLine,
    business_today,
    change_status,
    check_due_date,
    check_transition,
    locked_invoice,
)
from models.lines import attach_lines, build_lines, change_header, insert_document, set_lines, store_lines
from models.totals import line_amounts


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
    change_header(invoice, administration_id, data, "invoice_date", "due_date")
    check_due_date(invoice.invoice_date, invoice.due_date)
    if "lines" in data:
        set_lines(invoice, build_lines(administration_id, data["lines"], InvoiceLine))
        store_lines(invoice, InvoiceLine, replace=True)
    if target is not None and target != previous:
        if target == "betaald":
            payments.settle_open_amount(invoice, note="Gemarkeerd als betaald")
        else:
            change_status(invoice, target, "request")
    invoice.updated_at = utcnow()
    invoice.save()
    attach_lines([invoice], InvoiceLine)
    extra = {"previous_status": previous} if invoice.status != previous else {}
    record_event(administration_id, "invoice.updated", serialize.invoice_document(invoice), **extra)
    return invoice


@database.atomic()
def credit_invoice(administration_id, invoice_id, data: dict | None = None) -> Invoice:
    """Issue a credit note for the whole invoice or chosen lines (negated quantities).

    What the original still had open is settled against the credit note (a pair of
    `credit_note` payments), and the original becomes `gecrediteerd` once every
    line is credited."""
    data = data or {}
    original = locked_invoice(administration_id, invoice_id)
    label = f"invoice {original.number or original.id}"
    if original.is_credit_note:
        raise Conflict(f"{label} is a credit note; a credit note cannot be credited")
    if original.status not in CREDITABLE_STATUSES:
        raise Conflict(f"{label} is {original.status}; only an invoice with status "
                       f"{', '.join(CREDITABLE_STATUSES)} can be credited")
    lines = attach_lines([original], InvoiceLine)[0].loaded_lines
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
    set_lines(credit, credit_lines)
    change_status(credit, "verzonden", "request")
    insert_document(credit, InvoiceLine)

    previous = original.status
    payments.settle_credit_note(original, credit)
    credited |= {line.id for line in chosen}
    if all(line.id in credited for line in amount_lines):
        change_status(original, "gecrediteerd", "credit")
    original.updated_at = utcnow()
    original.save()
    record_event(administration_id, "invoice.created", serialize.invoice_document(credit))
    extra = {"previous_status": previous} if original.status != previous else {}
    record_event(administration_id, "invoice.updated", serialize.invoice_document(original), **extra)
    return credit
