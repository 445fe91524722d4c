"""E-mail deliveries of invoices: the outbox of messages `paydock worker` sends over SMTP.

`POST /invoices/{id}/send` writes one `InvoiceDelivery` row in the transaction that
(for a concept) issues the invoice, so the number and the queued message commit
together or not at all; the payment reminders (models.reminders) queue theirs the
same way. Nothing is sent inside a request.

The worker claims one due delivery at a time with a lease (`lease_until`,
`lease_token`; `FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers never take
the same row), sends it, and records the outcome only while it still holds the lease.
A worker that dies mid-send leaves its lease to expire; the delivery is then sent
again with the same `Message-ID` (derived from the delivery id): at-least-once, and a
duplicate is recognisable as one. A reminder whose invoice is no longer open when its
turn comes is `cancelled` instead of sent.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

import peewee

from models import serialize
from models.db import Leased, MoneyField, RetriedSend, TenantModel, database, is_postgres, utcnow
from models.errors import Invalid
from models.events import record_event
from models.invoices import Invoice, InvoiceLine, change_status, locked_invoice
from models.lines import attach_lines
from models.listing import Page, paginate
from models.parsing import parse_uuid
from models.tenancy import Administration

STATUSES = ("queued", "sent", "failed", "cancelled")
KINDS = ("invoice", "reminder")
#: The Message-ID domain when the administration has no e-mail address to take it from.
FALLBACK_MESSAGE_ID_DOMAIN = "paydock.invalid"


class InvoiceDelivery(TenantModel, RetriedSend, Leased):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    invoice = peewee.ForeignKeyField(Invoice, on_delete="CASCADE")
    invoice_number = peewee.CharField(max_length=32, null=True)
    kind = peewee.CharField(max_length=16, default="invoice")
    recipient = peewee.CharField(max_length=254)
    subject = peewee.CharField(max_length=300)
    message = peewee.TextField(null=True)
    attach_ubl = peewee.BooleanField(default=True)
    message_id = peewee.CharField(max_length=300)
    status = peewee.CharField(max_length=16, default="queued")
    last_error = peewee.CharField(max_length=1000, null=True)
    sent_at = peewee.DateTimeField(null=True)
    lease_token = peewee.UUIDField(null=True)
    # A payment reminder: its step of the schedule and what it states.
    reminder_step = peewee.IntegerField(null=True)
    reminder_kind = peewee.CharField(max_length=32, null=True)
    reminder_open_amount = MoneyField(null=True)
    reminder_collection_costs = MoneyField(null=True)
    reminder_pay_by = peewee.DateField(null=True)

    administration_id: uuid.UUID
    invoice_id: uuid.UUID

    class Meta:
        table_name = "invoice_delivery"
        indexes = (
            (("administration", "invoice", "created_at", "id"), False),
            # Each reminder step of an invoice is queued once, whatever runs at the same time
            # (NULL steps, the invoice e-mails themselves, never collide).
            (("administration", "invoice", "reminder_step"), True),
        )


# The worker's queue: due deliveries, oldest due first.
InvoiceDelivery.add_index(InvoiceDelivery.index(
    InvoiceDelivery.next_attempt_at, name="invoice_delivery_due_idx",
    where=InvoiceDelivery.status == "queued"))


def message_id_for(delivery_id: uuid.UUID, seller_email: str | None) -> str:
    """The `Message-ID` of every attempt of a delivery: its id at the seller's mail domain."""
    domain = (seller_email or "").rpartition("@")[2].strip().lower() or FALLBACK_MESSAGE_ID_DOMAIN
    return f"<{delivery_id}@{domain}>"


def invoice_subject(number: str | None, seller_name: str) -> str:
    return f"Factuur {number} van {seller_name}"


@database.atomic()
def send_invoice(administration_id, invoice_id, data: dict | None = None) -> InvoiceDelivery:
    """Queue the invoice's e-mail; a concept is issued (number, `verzonden`) in the same transaction."""
    from models.documents.ubl import require_parties

    data = data or {}
    invoice = locked_invoice(administration_id, invoice_id)
    seller = Administration.get_by_id(administration_id)
    attach_ubl = data.get("attach_ubl", True)
    previous = invoice.status
    now = utcnow()
    if invoice.status == "concept":
        change_status(invoice, "verzonden", "request")
        invoice.updated_at = now
        invoice.save()
    recipient = data.get("email") or invoice.contact_email or invoice.contact.email
    if not recipient:
        raise Invalid.field("email", "the contact has no e-mail address: give one to send to")
    attach_lines([invoice], InvoiceLine)
    serialized = serialize.invoice(invoice)
    if attach_ubl:
        require_parties(serialized, serialize.administration(seller))
    delivery_id = uuid.uuid4()
    delivery = InvoiceDelivery.create(
        id=delivery_id, administration=administration_id, invoice=invoice.id,
        invoice_number=invoice.number, kind="invoice", recipient=recipient,
        subject=invoice_subject(invoice.number, seller.name), message=data.get("message"),
        attach_ubl=attach_ubl, message_id=message_id_for(delivery_id, seller.email),
        status="queued", next_attempt_at=now, created_at=now, updated_at=now,
    )
    if invoice.status != previous:
        record_event(administration_id, "invoice.updated", serialized, previous_status=previous)
    return delivery


def queue_reminder(invoice: Invoice, seller: Administration, *, step: int, kind: str, subject: str,
                   text: str, open_amount: Decimal, collection_costs: Decimal | None,
                   pay_by: date | None, now: datetime) -> bool:
    """Queue the e-mail of one reminder step (in the caller's transaction); False when that
    step of the invoice was queued before, by this run or another running at the same time."""
    recipient = invoice.contact_email or invoice.contact.email
    delivery_id = uuid.uuid4()
    inserted = InvoiceDelivery.insert(
        id=delivery_id, administration=invoice.administration_id, invoice=invoice.id,
        invoice_number=invoice.number, kind="reminder", recipient=recipient, subject=subject,
        message=text, attach_ubl=False, message_id=message_id_for(delivery_id, seller.email), status="queued",
        next_attempt_at=now, reminder_step=step, reminder_kind=kind, reminder_open_amount=open_amount,
        reminder_collection_costs=collection_costs, reminder_pay_by=pay_by, created_at=now, updated_at=now,
    ).on_conflict_ignore().execute()
    del inserted  # the driver's answer differs per backend; the row itself tells
    kept = (InvoiceDelivery.select(InvoiceDelivery.id)
            .where(InvoiceDelivery.administration == invoice.administration_id,
                   InvoiceDelivery.invoice == invoice.id, InvoiceDelivery.reminder_step == step)
            .scalar())
    return kept == delivery_id


# ------------------------------------------------------------------ reading

def list_deliveries(administration_id, invoice_id, *, limit: int = 100, offset: int = 0,
                    starting_after=None, ending_before=None) -> Page:
    """The invoice's deliveries, oldest first (404 for an invoice not in the administration,
    or a cursor that names no delivery of the administration)."""
    key = parse_uuid(invoice_id, "invoice")
    query = InvoiceDelivery.of(administration_id).where(InvoiceDelivery.invoice == key)
    page = paginate(query, InvoiceDelivery, limit=limit, offset=offset, administration_id=administration_id,
                    starting_after=starting_after, ending_before=ending_before)
    if not page.rows and not Invoice.of(administration_id).where(Invoice.id == key).exists():
        from models.errors import NotFound

        raise NotFound(f"invoice {invoice_id} not found")
    return page


# ------------------------------------------------------------------ the worker's side

def _due(now: datetime):
    return ((InvoiceDelivery.status == "queued") & (InvoiceDelivery.next_attempt_at <= now)
            & InvoiceDelivery.unleased(now))


def delivery_due(now: datetime) -> bool:
    """Whether any delivery is due now (a read, without the write lock a claim takes)."""
    return InvoiceDelivery.select(InvoiceDelivery.id).where(_due(now)).exists()


def claim_due_delivery(now: datetime, lease: timedelta) -> InvoiceDelivery | None:
    """Lease the delivery that has waited longest among those due now (None: nothing due)."""
    token = uuid.uuid4()
    with database.atomic():
        query = (InvoiceDelivery.select()
                 .where(_due(now))
                 .order_by(InvoiceDelivery.next_attempt_at, InvoiceDelivery.id)
                 .limit(1))
        if is_postgres():
            query = query.for_update(skip_locked=True)
        delivery = query.first()
        if delivery is None:
            return None
        delivery.lease_until, delivery.lease_token = now + lease, token
        InvoiceDelivery.update(lease_until=delivery.lease_until, lease_token=token).where(
            InvoiceDelivery.id == delivery.id).execute()
    return delivery


def _mine(delivery: InvoiceDelivery):
    return delivery.held()


def record_sent(delivery: InvoiceDelivery, attempted_at: datetime, now: datetime, *,
                open_amount: Decimal | None = None, collection_costs: Decimal | None = None,
                pay_by: date | None = None) -> bool:
    """The SMTP server accepted the message: `sent`, with its event; False when the lease
    was lost (another worker owns the delivery now)."""
    with database.atomic():
        values: dict = {
            "status": "sent", "attempts": InvoiceDelivery.attempts + 1, "failures": 0,
            "last_attempt_at": attempted_at, "sent_at": attempted_at, "next_attempt_at": None,
            "last_error": None, "lease_until": None, "lease_token": None, "updated_at": now,
        }
        if delivery.kind == "reminder":
            values.update(reminder_open_amount=open_amount, reminder_collection_costs=collection_costs,
                          reminder_pay_by=pay_by)
        if InvoiceDelivery.update(values).where(_mine(delivery)).execute() != 1:
            return False
        row = InvoiceDelivery.get_by_id(delivery.id)
        event = "invoice.reminded" if row.kind == "reminder" else "invoice.sent"
        record_event(row.administration_id, event, serialize.invoice_delivery(row))
    return True


def record_failure(delivery: InvoiceDelivery, attempted_at: datetime, now: datetime, error: str,
                   retry_at: datetime | None) -> bool:
    """A failed attempt: queued again for `retry_at`, or `failed` when None."""
    with database.atomic():
        return InvoiceDelivery.update(
            status="queued" if retry_at else "failed", attempts=InvoiceDelivery.attempts + 1,
            failures=InvoiceDelivery.failures + 1, last_attempt_at=attempted_at, next_attempt_at=retry_at,
            last_error=error[:1000], lease_until=None, lease_token=None, updated_at=now,
        ).where(_mine(delivery)).execute() == 1


def record_cancelled(delivery: InvoiceDelivery, now: datetime, reason: str) -> bool:
    """A reminder no longer due (the invoice was paid, credited or written off): never sent."""
    with database.atomic():
        return InvoiceDelivery.update(
            status="cancelled", next_attempt_at=None, last_error=reason[:1000], lease_until=None,
            lease_token=None, updated_at=now,
        ).where(_mine(delivery)).execute() == 1


def release(delivery: InvoiceDelivery) -> None:
    """Give the lease back without an attempt (the worker is stopping)."""
    with database.atomic():
        InvoiceDelivery.update(lease_until=None, lease_token=None).where(_mine(delivery)).execute()
