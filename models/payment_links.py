"""Payment links: a payment at a provider (Mollie) for an invoice's open amount, and what
the provider later says happened to it.

- A link is created for the invoice's open amount; the provider is called outside any
  database transaction, then the link is stored and shown on the invoice (`payment_url`)
  in one transaction that also writes `invoice.updated`. The provider is asked with an
  idempotency key per intent (invoice, open amount, links made so far), so requests that
  race for one invoice get one provider payment and one link.
- The provider's webhook carries only an id. PayDock reads that payment back from the
  provider (again outside a transaction) and then, in one transaction with the invoice
  locked, registers what it finds: a PayDock payment for a paid payment and a negative
  payment for each refund. Each provider payment and refund is registered at most once:
  `ProviderTransaction` is UNIQUE per (administration, provider, provider reference), in
  the transaction that writes the payment, however often and however concurrently the
  webhook is called.
- A paid payment that leaves the invoice partly paid gets a new link for the rest. When the
  provider cannot make that link, the payment stays registered and the webhook answers 503,
  so the provider calls again and that call makes the link.
- The webhook URL carries a secret token per administration instead of an API key; a
  payment id the administration has no link for (unknown, or another administration's)
  changes nothing.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

import peewee

from models import serialize
from models.db import BaseModel, MoneyField, TenantModel, database, utcnow
from models.errors import Conflict, NotFound, Unavailable
from models.events import record_event
from models.invoices import (
    BUSINESS_TIMEZONE,
    OPEN_STATUSES,
    PAYABLE_STATUSES,
    Invoice,
    InvoiceLine,
    business_today,
    get_invoice,
    locked_invoice,
)
from models.lines import attach_lines
from models.payments import PaidThrough, Payment, apply_payment
from models.providers import MollieProvider, PaymentProvider, ProviderPayment, ProviderRefund
from models.tenancy import Administration

log = logging.getLogger("paydock.payment_links")

#: `external_method` of the payments registered from a provider, by provider name.
PROVIDER_METHODS = {"mollie": "mollie"}
#: Provider statuses of a payment that will never be paid (the link is dead).
CLOSED_STATUSES = ("canceled", "expired", "failed")
#: Namespace of the idempotency keys a provider payment is asked for with (uuid5).
LINK_INTENTS = uuid.UUID("6f9d3a52-3c1e-4b8e-9a57-0d2f4c8b7e11")
#: Refund statuses that count: the refund can no longer be cancelled at the provider.
COUNTED_REFUND_STATUSES = ("processing", "refunded")


class PaymentLink(PaidThrough):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    invoice = peewee.ForeignKeyField(Invoice, backref="payment_links", on_delete="CASCADE")
    provider = peewee.CharField(max_length=20)
    provider_payment_id = peewee.CharField(max_length=64)
    status = peewee.CharField(max_length=20)
    amount = MoneyField()
    currency = peewee.CharField(max_length=3)
    checkout_url = peewee.CharField(max_length=1000, null=True)
    expires_at = peewee.DateTimeField(null=True)
    # payment: registered once the provider said it was paid (PaidThrough).

    administration_id: uuid.UUID
    invoice_id: uuid.UUID

    class Meta:
        indexes = (
            (("administration", "provider", "provider_payment_id"), True),
            (("administration", "invoice", "created_at"), False),
        )

    @property
    def usable(self) -> bool:
        """Still open at the provider and not past its expiry."""
        return self.status == "open" and (self.expires_at is None or self.expires_at > utcnow())


class ProviderTransaction(TenantModel):
    """One provider payment or refund registered as a PayDock payment: exactly once."""

    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    provider = peewee.CharField(max_length=20)
    reference = peewee.CharField(max_length=64)
    kind = peewee.CharField(max_length=10)   # payment | refund
    link = peewee.ForeignKeyField(PaymentLink, on_delete="CASCADE")
    payment = peewee.ForeignKeyField(Payment, on_delete="CASCADE")

    class Meta:
        indexes = ((("administration", "provider", "reference"), True),)


class ProviderWebhookToken(BaseModel):
    """The secret in an administration's provider webhook URL (the provider sends no key)."""

    administration = peewee.ForeignKeyField(Administration, unique=True, on_delete="CASCADE")
    token = peewee.CharField(max_length=64, unique=True)


@dataclass(frozen=True)
class Checkout:
    """What creating a link needs: the provider, and the URLs it sends the customer and
    the webhook to. `provider` is None when PayDock has no provider configured."""

    provider: PaymentProvider | None
    public_base_url: str
    redirect_url: str

    def webhook_url(self, provider_name: str, token: str) -> str:
        return f"{self.public_base_url.rstrip('/')}/api/providers/{provider_name}/webhook/{token}"


def checkout(settings) -> Checkout:
    """The payment provider and URLs these settings configure (no provider without a key)."""
    provider = (MollieProvider(settings.mollie_api_key, settings.mollie_api_url, settings.provider_timeout)
                if settings.mollie_api_key else None)
    return Checkout(provider, settings.public_base_url, settings.payment_redirect_url)


# ------------------------------------------------------------------ creating a link

def webhook_token(administration_id) -> str:
    """The administration's webhook token, made on first use."""
    found = ProviderWebhookToken.get_or_none(ProviderWebhookToken.administration == administration_id)
    if found is not None:
        return found.token
    try:
        with database.atomic():
            return ProviderWebhookToken.create(administration=administration_id,
                                               token=secrets.token_urlsafe(32)).token
    except peewee.IntegrityError:   # made by a concurrent request a moment ago
        return ProviderWebhookToken.get(ProviderWebhookToken.administration == administration_id).token


def _payable(invoice: Invoice) -> None:
    label = f"invoice {invoice.number or invoice.id}"
    if invoice.is_credit_note:
        raise Conflict(f"{label} is a credit note: the customer pays nothing on it")
    if invoice.status not in PAYABLE_STATUSES or invoice.status == "betaald":
        raise Conflict(f"{label} is {invoice.status}; a payment link is made for an invoice with status "
                       f"{' or '.join(OPEN_STATUSES)}")
    if invoice.open_amount <= 0:
        raise Conflict(f"{label} has nothing left to pay")
    if invoice.currency != "EUR":
        raise Conflict(f"{label} is in {invoice.currency}; payment links are in EUR")


def create_payment_link(administration_id, invoice_id, checkout: Checkout) -> tuple[PaymentLink, bool]:
    """POST /invoices/{id}/payment-link: a provider payment for the open amount, or the
    invoice's link that is still usable for that amount. Returns (link, created)."""
    assert not database.in_transaction(), "the provider is called outside any transaction"
    invoice = get_invoice(administration_id, invoice_id)
    _payable(invoice)
    existing = (PaymentLink.of(administration_id)
                .where(PaymentLink.invoice == invoice.id, PaymentLink.amount == invoice.open_amount,
                       PaymentLink.status == "open")
                .order_by(PaymentLink.created_at.desc()).first())
    if existing is not None and existing.usable:
        return existing, False
    if checkout.provider is None or not checkout.public_base_url:
        raise Unavailable("Payment links are not configured: PayDock needs PAYDOCK_MOLLIE_API_KEY and "
                          "PAYDOCK_PUBLIC_BASE_URL")
    provider = checkout.provider
    token = webhook_token(administration_id)
    # One provider payment per intent: requests that race for the same invoice, open amount
    # and number of links made so far ask with the same key, and get the same payment.
    made = PaymentLink.of(administration_id).where(PaymentLink.invoice == invoice.id).count()
    intent = uuid.uuid5(LINK_INTENTS, f"{invoice.id}:{made}:{invoice.open_amount}")
    created = provider.create_payment(
        amount=invoice.open_amount, currency=invoice.currency, description=invoice.number or str(invoice.id),
        redirect_url=checkout.redirect_url or checkout.public_base_url,
        webhook_url=checkout.webhook_url(provider.name, token),
        metadata={"paydock_invoice_id": str(invoice.id), "paydock_invoice_number": invoice.number},
        idempotency_key=str(intent),
    )
    return _record_link(administration_id, invoice.id, invoice.open_amount, provider.name, created)


@database.atomic()
def _record_link(administration_id, invoice_id, amount: Decimal, provider_name: str,
                 created: ProviderPayment) -> tuple[PaymentLink, bool]:
    """Store a link the provider just made, and show it on the invoice. A payment a racing
    request stored already (the same idempotency key) is that request's link, not a new one."""
    invoice = locked_invoice(administration_id, invoice_id)
    stored = (PaymentLink.of(administration_id)
              .where(PaymentLink.provider == provider_name, PaymentLink.provider_payment_id == created.id)
              .first())
    if stored is not None:
        return stored, False
    if invoice.open_amount != amount or invoice.status not in OPEN_STATUSES:
        raise Conflict(f"invoice {invoice.number} changed while its payment link was made "
                       f"(open amount now {invoice.open_amount}); ask for a new link")
    now = utcnow()
    link = PaymentLink.create(
        administration=administration_id, invoice=invoice.id, provider=provider_name,
        provider_payment_id=created.id, status=created.status, amount=created.amount,
        currency=created.currency, checkout_url=created.checkout_url, expires_at=created.expires_at,
        created_at=now, updated_at=now,
    )
    invoice.payment_url = created.checkout_url
    invoice.updated_at = now
    invoice.save()
    attach_lines([invoice], InvoiceLine)
    record_event(administration_id, "invoice.updated", serialize.invoice(invoice))
    return link, True


# ------------------------------------------------------------------ the provider's webhook

def administration_for_token(token: str):
    found = ProviderWebhookToken.get_or_none(ProviderWebhookToken.token == token)
    if found is None:
        raise NotFound("no payment provider webhook at this URL")
    return found.administration_id  # type: ignore[attr-defined]


def process_provider_webhook(token: str, provider_payment_id: str, checkout: Checkout) -> None:
    """The provider says "look again" about one of its payments: read it back and register
    what happened to it, once. Unknown ids (or another administration's) change nothing."""
    assert not database.in_transaction(), "the provider is called outside any transaction"
    administration_id = administration_for_token(token)
    provider = checkout.provider
    if provider is None:
        raise Unavailable("No payment provider is configured")
    link = (PaymentLink.of(administration_id)
            .where(PaymentLink.provider == provider.name,
                   PaymentLink.provider_payment_id == provider_payment_id).first())
    if link is None:
        return
    payment = provider.get_payment(provider_payment_id)
    if payment is None:
        return
    refunds = provider.refunds(payment.id) if payment.amount_refunded > 0 else []
    if _register(administration_id, link.id, provider.name, payment, refunds):
        create_payment_link(administration_id, link.invoice_id, checkout)


def _payment_day(moment: datetime | None):
    if moment is None:
        return business_today()
    return moment.replace(tzinfo=UTC).astimezone(BUSINESS_TIMEZONE).date()


@database.atomic()
def _register(administration_id, link_id, provider_name: str, payment: ProviderPayment,
              refunds: list[ProviderRefund]) -> bool:
    """Register the provider's payment and refunds that are not registered yet (invoice
    locked). True when the invoice is left partly paid and needs a link for the rest."""
    link = PaymentLink.get_owned(administration_id, link_id)
    invoice = locked_invoice(administration_id, link.invoice_id)
    link = PaymentLink.get_owned(administration_id, link_id)   # as it is now that the invoice is ours
    previous_status = invoice.status
    try:
        with database.atomic():   # a savepoint: a refused payment leaves nothing behind
            changed = _book(administration_id, invoice, link, provider_name, payment, refunds)
    except Conflict as refused:
        # The invoice takes no payments any more (written off, credited): the money is at the
        # provider, but it cannot be booked here. Answering an error would only make the
        # provider call again and again; the refusal is logged for the bookkeeper.
        log.warning("provider payment not registered", extra={
            "provider_payment_id": payment.id, "invoice_id": str(invoice.id), "reason": refused.detail})
        return False
    if link.status != payment.status:
        link.status = payment.status
        if payment.status in CLOSED_STATUSES and invoice.payment_url == link.checkout_url:
            invoice.payment_url = None
            changed = True
    link.updated_at = utcnow()
    link.save()
    if changed:
        invoice.updated_at = utcnow()
        invoice.save()
        attach_lines([invoice], InvoiceLine)
        extra = {"previous_status": previous_status} if invoice.status != previous_status else {}
        record_event(administration_id, "invoice.updated", serialize.invoice(invoice), **extra)
    later = (PaymentLink.of(administration_id)
             .where(PaymentLink.invoice == invoice.id, PaymentLink.created_at > link.created_at).exists())
    # A refund is the merchant's own decision about the rest: no new link after one.
    return (link.payment_id is not None and invoice.status in OPEN_STATUSES and invoice.open_amount > 0
            and payment.amount_refunded == 0 and not later)


def _book(administration_id, invoice: Invoice, link: PaymentLink, provider_name: str,
          payment: ProviderPayment, refunds: list[ProviderRefund]) -> bool:
    """Payments for what the provider reports and PayDock has not registered yet; True if any."""
    known = {row.reference for row in ProviderTransaction.of(administration_id).where(
        ProviderTransaction.link == link.id)}
    method = PROVIDER_METHODS.get(provider_name, provider_name)
    changed = False
    paid = payment.paid_at is not None or payment.status == "paid"
    if paid and payment.id not in known and payment.amount > 0:
        registered = apply_payment(invoice, payment.amount, payment_date=_payment_day(payment.paid_at),
                                   external_method=method, external_reference=payment.id,
                                   note=f"Betaald via {provider_name.capitalize()}",
                                   allow_overpayment=True)  # the provider received it
        ProviderTransaction.create(administration=administration_id, provider=provider_name,
                                   reference=payment.id, kind="payment", link=link.id, payment=registered.id)
        link.payment = registered
        known.add(payment.id)
        changed = True
    for refund in refunds:
        if (refund.status not in COUNTED_REFUND_STATUSES or refund.id in known
                or payment.id not in known or refund.amount <= 0):
            continue
        returned = apply_payment(invoice, -refund.amount, payment_date=_payment_day(refund.created_at),
                                 external_method=method, external_reference=refund.id,
                                 note=f"Terugbetaald via {provider_name.capitalize()} ({payment.id})")
        ProviderTransaction.create(administration=administration_id, provider=provider_name,
                                   reference=refund.id, kind="refund", link=link.id, payment=returned.id)
        known.add(refund.id)
        changed = True
    return changed
