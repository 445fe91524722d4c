"""Payments and refunds on issued invoices.

`amount_paid` on an invoice is always the exact sum of its payments, and its status
follows it (models.invoices.payment_status), in the transaction that records the
payment, with the invoice row locked so concurrent payments queue. A negative
amount is a refund.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

import peewee

from models import serialize
from models.contacts import Contact
from models.db import MoneyField, TenantModel, database, utcnow
from models.errors import Conflict, Invalid
from models.events import record_event
from models.invoices import (
    MAX_AMOUNT_PAID,
    PAYABLE_STATUSES,
    Invoice,
    InvoiceLine,
    business_today,
    change_status,
    locked_invoice,
    payment_status,
)
from models.lines import attach_lines
from models.listing import LIST_INDEXES, Page, filter_contact_and_dates, paginate
from models.money import to_money
from models.parsing import parse_date, parse_uuid
from models.tenancy import Administration

#: `external_method` of the pair of payments that settles a credit note against its invoice.
CREDIT_NOTE_METHOD = "credit_note"


class Payment(TenantModel):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    invoice = peewee.ForeignKeyField(Invoice, backref="payments")
    contact = peewee.ForeignKeyField(Contact)
    amount = MoneyField()
    payment_date = peewee.DateField()
    external_method = peewee.CharField(max_length=50, null=True)
    external_reference = peewee.CharField(max_length=200, null=True)
    note = peewee.TextField(null=True)

    class Meta:
        indexes = (
            *LIST_INDEXES,
            (("administration", "invoice"), False),
            (("administration", "contact"), False),
            (("administration", "payment_date"), False),
        )


class PaidThrough(TenantModel):
    """A way money came in for an invoice (a bank statement entry, a payment link): it holds
    the PayDock payment registered for it once the money is there."""

    payment = peewee.ForeignKeyField(Payment, null=True, on_delete="SET NULL", backref="+")

    payment_id: uuid.UUID | None


def paid_on(invoice: Invoice) -> Decimal:
    """The exact sum of the invoice's payments."""
    cents = (Payment.select(peewee.fn.COALESCE(peewee.fn.SUM(Payment.amount), 0).coerce(False))
             .where(Payment.administration == invoice.administration_id, Payment.invoice == invoice.id)
             .scalar())
    return Payment.amount.python_value(cents)


#: With `allow_overpayment`, amount_paid may reach at most this many times the total.
OVERPAYMENT_FACTOR = 2


def apply_payment(invoice: Invoice, amount: Decimal, *, payment_date, external_method=None,
                  external_reference=None, note=None, allow_overpayment: bool = False) -> Payment:
    """Record a payment (or refund) on a locked invoice; amount_paid and status follow.

    A payment beyond the open amount needs `allow_overpayment`, and amount_paid never
    passes OVERPAYMENT_FACTOR times the total. Emits payment.created, or
    payment.refunded for a negative amount; the caller emits invoice.updated."""
    label = f"invoice {invoice.number or invoice.id}"
    if invoice.status not in PAYABLE_STATUSES:
        raise Conflict(f"{label} is {invoice.status} and takes no payments; payable statuses: "
                       f"{', '.join(PAYABLE_STATUSES)}")
    now = utcnow()
    payment = Payment.create(
        administration=invoice.administration_id, invoice=invoice.id, contact=invoice.contact_id,
        amount=amount, payment_date=payment_date, external_method=external_method,
        external_reference=external_reference, note=note, created_at=now, updated_at=now,
    )
    paid = paid_on(invoice)
    direction = -1 if invoice.total_incl < 0 else 1
    if paid * direction < 0:
        raise Conflict(f"{amount} would take amount_paid on {label} from {invoice.amount_paid} to {paid}: "
                       "a refund can return no more than was paid")
    if abs(paid) > MAX_AMOUNT_PAID:
        raise Conflict(f"amount_paid on {label} would pass {MAX_AMOUNT_PAID}")
    total = abs(invoice.total_incl)
    if amount * direction > 0 and paid * direction > total:
        open_amount = max(total - invoice.amount_paid * direction, Decimal(0))
        if not allow_overpayment:
            raise Conflict(f"{abs(amount)} is more than the {open_amount} still open on {label}; "
                           "send allow_overpayment: true to record an overpayment")
        if paid * direction > OVERPAYMENT_FACTOR * total:
            raise Conflict(f"{abs(amount)} would take amount_paid on {label} past "
                           f"{OVERPAYMENT_FACTOR} × its total ({OVERPAYMENT_FACTOR * total})")
    invoice.amount_paid = paid
    # A payment link asks for the open amount as it was: any payment makes it wrong.
    invoice.payment_url = None
    change_status(invoice, payment_status(invoice.total_incl, paid), "payment")
    invoice.updated_at = now
    invoice.save()
    event = "payment.refunded" if amount < 0 else "payment.created"
    record_event(invoice.administration_id, event, serialize.payment(payment))
    return payment


@database.atomic()
def register_payment(administration_id, data: dict) -> Payment:
    """POST /payments: a payment or refund on one of the administration's issued invoices."""
    amount = to_money(data["amount"], "amount")
    if amount == 0:
        raise Invalid.field("amount", "must not be zero")
    invoice = locked_invoice(administration_id, data["invoice_id"], field="invoice_id")
    previous = invoice.status
    payment = apply_payment(
        invoice, amount,
        payment_date=parse_date(data.get("payment_date"), "payment_date") or business_today(),
        external_method=data.get("external_method"), external_reference=data.get("external_reference"),
        note=data.get("note"), allow_overpayment=bool(data.get("allow_overpayment")),
    )
    attach_lines([invoice], InvoiceLine)
    extra = {"previous_status": previous} if invoice.status != previous else {}
    record_event(administration_id, "invoice.updated", serialize.invoice_document(invoice), **extra)
    return payment


def settle_open_amount(invoice: Invoice, note: str | None = None) -> Payment | None:
    """PATCH status betaald: a payment for whatever is still open (none if nothing is)."""
    open_amount = invoice.open_amount
    if open_amount == 0:
        change_status(invoice, "betaald", "request")
        return None
    return apply_payment(invoice, open_amount, payment_date=business_today(), note=note)


def settle_credit_note(original: Invoice, credit: Invoice) -> None:
    """Offset a new credit note against what its invoice still had open.

    The settled part shows as a payment on the invoice and the opposite payment on the
    credit note (method `credit_note`); any rest of the credit note is a refund owed."""
    open_amount = original.open_amount
    if open_amount <= 0 or credit.total_incl >= 0:
        return
    settled = min(open_amount, -credit.total_incl)
    apply_payment(original, settled, payment_date=credit.invoice_date, external_method=CREDIT_NOTE_METHOD,
                  external_reference=credit.number, note=f"Verrekend met creditnota {credit.number}")
    apply_payment(credit, -settled, payment_date=credit.invoice_date, external_method=CREDIT_NOTE_METHOD,
                  external_reference=original.number, note=f"Verrekend met factuur {original.number}")


def get_payment(administration_id, payment_id) -> Payment:
    return Payment.get_owned(administration_id, payment_id)


def list_payments(administration_id, *, limit=100, offset=0, invoice_id=None, contact_id=None,
                  date_from=None, date_to=None, updated_since=None,
                  starting_after=None, ending_before=None) -> Page:
    """One page of payments (two queries)."""
    query = Payment.of(administration_id)
    if invoice_id is not None:
        query = query.where(Payment.invoice == parse_uuid(invoice_id, "invoice"))
    query = filter_contact_and_dates(query, Payment, Payment.payment_date, contact_id=contact_id,
                                     date_from=date_from, date_to=date_to)
    return paginate(query, Payment, limit=limit, offset=offset,
                    administration_id=administration_id, starting_after=starting_after,
                    ending_before=ending_before, updated_since=updated_since)

