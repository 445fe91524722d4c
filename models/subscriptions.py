"""Subscriptions (abonnementen): lines billed once per period by the billing run.

Period k starts k × interval_count intervals after start_date (models.periods, so a
subscription from 31 January bills on 28/29 February and 31 March). `next_index` is
the next period to invoice; `next_period_start` is that period's first day while the
subscription is `actief` and the period starts on or before end_date, and null
otherwise, so the billing run (models.billing) finds an administration's due
subscriptions with one indexed range query.

`actief` ⇄ `gepauzeerd` → `opgezegd` (and `actief` → `opgezegd`). Only active
subscriptions are billed. Resuming moves `next_index` to the first period that starts
on or after the day of resuming, so the periods that started while paused are never
invoiced.
"""

from __future__ import annotations

import uuid
from datetime import date

import peewee

from models import serialize
from models.contacts import Contact
from models.db import TenantModel, database, utcnow
from models.errors import Conflict, Invalid
from models.events import record_event
from models.invoices import Invoice, business_today, payment_term_days
from models.lines import (
    DocumentLine,
    LinedDocument,
    attach_lines,
    build_lines,
    get_document,
    insert_document,
    page_with_lines,
    set_lines,
    store_lines,
    with_contact,
)
from models.listing import LIST_INDEXES, Page, filter_contact_and_dates, parse_statuses
from models.parsing import parse_date, referenced
from models.periods import MONTHS_PER_INTERVAL, first_index_on_or_after, period_start
from models.tenancy import Administration

STATUSES = ("actief", "gepauzeerd", "opgezegd")
INTERVALS = tuple(MONTHS_PER_INTERVAL)
INVOICE_STATUSES = ("concept", "verzonden")

# Every status change a subscription can make; nothing else decides whether it may.
SUBSCRIPTION_TRANSITIONS: dict[str, frozenset[str]] = {
    "actief": frozenset({"gepauzeerd", "opgezegd"}),
    "gepauzeerd": frozenset({"actief", "opgezegd"}),
    "opgezegd": frozenset(),
}
#: Fields a PATCH may still give once the subscription is cancelled (`status` only as opgezegd).
CHANGEABLE_WHEN_CANCELLED = ("note", "status")


class Subscription(LinedDocument):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE", index=False)
    status = peewee.CharField(max_length=20, default="actief")
    interval = peewee.CharField(max_length=10)
    interval_count = peewee.IntegerField(default=1)
    start_date = peewee.DateField()
    end_date = peewee.DateField(null=True)
    invoice_status = peewee.CharField(max_length=20, default="concept")
    payment_term_days = peewee.IntegerField(default=30)
    # total_incl/total_vat/total_excl: what one period's invoice totals, with the current lines.
    next_index = peewee.IntegerField(default=0)
    next_period_start = peewee.DateField(null=True)

    # Set by attach_lines().
    loaded_lines: list[SubscriptionLine]

    class Meta:
        indexes = (
            *LIST_INDEXES,
            (("administration", "contact", "status"), False),
            (("administration", "status"), False),
            (("administration", "start_date"), False),
            # The billing run's scan: the due subscriptions of an administration, in order.
            # Null (paused, cancelled, ended) is never due.
            (("administration", "next_period_start", "id"), False),
        )

    def schedule(self) -> None:
        """Set next_period_start from next_index, status and end_date."""
        self.next_period_start = scheduled_start(self.start_date, self.interval, self.interval_count,
                                                 self.next_index, self.status, self.end_date)


def scheduled_start(start_date: date, interval: str, interval_count: int, next_index: int, status: str,
                    end_date: date | None) -> date | None:
    """next_period_start: the first day of period `next_index` while it is to be billed
    (the subscription is `actief` and the period starts on or before end_date), else None."""
    start = period_start(start_date, interval, interval_count, next_index)
    billable = status == "actief" and (end_date is None or start <= end_date)
    return start if billable else None


class SubscriptionLine(DocumentLine):
    OWNER = "subscription"

    subscription = peewee.ForeignKeyField(Subscription, backref="+", on_delete="CASCADE")

    subscription_id: uuid.UUID

    class Meta:
        indexes = ((("administration", "subscription", "position"), False),)


class SubscriptionPeriod(TenantModel):
    """A billed period. Unique per (subscription, period_start), written in the transaction
    that creates its invoice: the database, not the code, keeps a period from being billed
    twice. (The unique index leads with administration_id like every index; a subscription
    belongs to one administration, so it is UNIQUE(subscription_id, period_start).)"""

    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE", backref="+",
                                             index=False)
    subscription = peewee.ForeignKeyField(Subscription, backref="+", on_delete="CASCADE", index=False)
    period_start = peewee.DateField()
    period_end = peewee.DateField()
    # Checked at commit, so the period can be claimed before its invoice row is written.
    # Deleting the (concept) invoice leaves the period billed: it is not billed again.
    invoice = peewee.ForeignKeyField(Invoice, null=True, on_delete="SET NULL", backref="+",
                                     deferrable="INITIALLY DEFERRED")

    class Meta:
        table_name = "subscription_period"
        indexes = (
            (("administration", "subscription", "period_start"), True),
            (("administration", "invoice"), False),
        )


# ------------------------------------------------------------------ status machine

def check_transition(subscription: Subscription, to: str) -> None:
    """409, naming the allowed statuses, unless the table allows going to `to`."""
    allowed = sorted(SUBSCRIPTION_TRANSITIONS[subscription.status])
    if to != subscription.status and to not in allowed:
        raise Conflict(f"subscription {subscription.id} cannot go from {subscription.status} to {to}; "
                       f"allowed: {', '.join(allowed) or 'none'}", allowed=allowed)


def change_status(subscription: Subscription, to: str, today=None) -> None:
    """Move to `to` if the table allows it. Resuming skips the periods that started while paused."""
    if to == subscription.status:
        return
    check_transition(subscription, to)
    if subscription.status == "gepauzeerd" and to == "actief":
        resume = first_index_on_or_after(subscription.start_date, subscription.interval,
                                         subscription.interval_count, today or business_today())
        subscription.next_index = max(subscription.next_index, resume)
    subscription.status = to


# ------------------------------------------------------------------ reading

def get_subscription(administration_id, subscription_id) -> Subscription:
    """One subscription with its contact and lines (two queries), or NotFound."""
    return get_document(SubscriptionLine, administration_id, subscription_id)






def list_subscriptions(administration_id, *, status=None, contact_id=None, date_from=None, date_to=None,
                       **paging) -> Page:
    """One page of subscriptions with contacts and lines, in at most three queries whatever the page size."""
    query = with_contact(SubscriptionLine, administration_id)
    statuses = parse_statuses(status, STATUSES)
    if statuses:
        query = query.where(Subscription.status.in_(statuses))
    query = filter_contact_and_dates(query, Subscription, Subscription.start_date, contact_id=contact_id,
                                     date_from=date_from, date_to=date_to)
    return page_with_lines(query, SubscriptionLine, administration_id, **paging)


# ------------------------------------------------------------------ changes

def _check_end(subscription: Subscription) -> None:
    if subscription.end_date is not None and subscription.end_date < subscription.start_date:
        raise Invalid.field("end_date", "must not be before start_date")


@database.atomic()
def create_subscription(administration_id, data: dict) -> Subscription:
    """POST /subscriptions: an active subscription, billed from start_date on."""
    contact = referenced(Contact, administration_id, data["contact_id"], "contact_id")
    subscription = Subscription(
        administration=administration_id, contact=contact, status="actief",
        interval=data["interval"], interval_count=data.get("interval_count") or 1,
        start_date=parse_date(data["start_date"], "start_date"),
        end_date=parse_date(data.get("end_date"), "end_date"),
        invoice_status=data.get("invoice_status") or "concept",
        payment_term_days=data.get("payment_term_days", payment_term_days(administration_id)),
        currency=data.get("currency") or "EUR", reference=data.get("reference"), note=data.get("note"),
        next_index=0,
    )
    if subscription.interval not in INTERVALS:
        raise Invalid.field("interval", f"choose from {', '.join(INTERVALS)}")
    _check_end(subscription)
    set_lines(subscription, build_lines(administration_id, data.get("lines") or [], SubscriptionLine))
    subscription.schedule()
    insert_document(subscription, SubscriptionLine)
    record_event(administration_id, "subscription.created", serialize.subscription(subscription))
    return subscription


@database.atomic()
def update_subscription(administration_id, subscription_id, data: dict) -> Subscription:
    """PATCH: status by the table, end_date, lines and invoice settings; a cancelled one only its note."""
    subscription = Subscription.get_owned(administration_id, subscription_id, lock=True)
    previous = subscription.status
    if data.get("status") is not None:
        check_transition(subscription, data["status"])
    if previous == "opgezegd":
        frozen = [f for f in data if f not in CHANGEABLE_WHEN_CANCELLED]
        if frozen:
            raise Conflict(f"subscription {subscription.id} is opgezegd: {', '.join(frozen)} can no longer "
                           "change", allowed=[])
    if "end_date" in data:
        subscription.end_date = parse_date(data["end_date"], "end_date")
        _check_end(subscription)
    for field in ("invoice_status", "payment_term_days", "reference", "note"):
        if field in data:
            setattr(subscription, field, data[field])
    if data.get("status") is not None:
        change_status(subscription, data["status"])
    if "lines" in data:
        set_lines(subscription, build_lines(administration_id, data["lines"], SubscriptionLine))
        store_lines(subscription, SubscriptionLine, replace=True)
    else:
        attach_lines([subscription], SubscriptionLine)
    subscription.schedule()
    subscription.updated_at = utcnow()
    subscription.save()
    extra = {"previous_status": previous} if subscription.status != previous else {}
    record_event(administration_id, "subscription.updated", serialize.subscription(subscription), **extra)
    return subscription
