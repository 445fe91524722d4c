"""The client portal: everything about one customer, found by its external_id, in one read.

The summary is aggregated in SQL over the customer's whole history; every list is
bounded and loaded with one query (lines with one more per document kind), so the
portal runs the same fixed number of queries however long the history is.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import NamedTuple

import peewee

from models.contacts import Contact
from models.errors import NotFound
from models.invoices import OPEN_STATUSES, Invoice, business_today, raw_rows, read_lines, reading
from models.lines import attach_lines
from models.payments import Payment
from models.quotes import Quote, QuoteLine
from models.reminders import reminder_deliveries, reminder_state
from models.serialize import INVOICE_VALUES
from models.subscriptions import Subscription, SubscriptionLine

#: The bounds of the portal's lists (documented in openapi.yaml).
OPEN_INVOICES_SHOWN = 100
OTHER_INVOICES_SHOWN = 10
QUOTES_SHOWN = 50
SUBSCRIPTIONS_SHOWN = 50
PAYMENTS_SHOWN = 10
#: Subscriptions the portal shows: those not cancelled.
SHOWN_SUBSCRIPTION_STATUSES = ("actief", "gepauzeerd")


@dataclass
class PortalView:
    contact: Contact
    open_invoice_count: int
    open_invoice_amount: Decimal
    active_subscriptions: int
    balance: Decimal
    invoices: list
    quotes: list
    subscriptions: list
    payments: list
    #: invoice id (as read) -> its payment reminder state (models.reminders.ReminderState)
    reminders: dict


class _ReminderFacts(NamedTuple):
    """What an invoice's reminder state depends on (models.reminders.reminder_state)."""

    id: uuid.UUID
    status: str
    is_credit_note: bool
    total_incl: Decimal
    amount_paid: Decimal


_TOTAL, _PAID = INVOICE_VALUES.index("total_incl"), INVOICE_VALUES.index("amount_paid")
assert INVOICE_VALUES[:4] == ("id", "number", "status", "is_credit_note")


#: Sums of cents are taken in two parts (high = value / _SPLIT, truncating as SQL does, and
#: low = value - high * _SPLIT) and joined in Python: a sum of many large invoices passes SQLite's 64-bit
#: integer range, which SQLite reports as an error rather than widening.
_SPLIT = 10**9


def _wide_sum(cents) -> tuple:
    high = cents / _SPLIT
    return peewee.fn.SUM(high).coerce(False), peewee.fn.SUM(cents - high * _SPLIT).coerce(False)


def _cents(value) -> Decimal:
    return Invoice.total_incl.python_value(int(value or 0))


def client_portal(administration_id, external_id: str) -> PortalView:
    """The portal view of the contact with this external_id, or NotFound."""
    contact = Contact.of(administration_id).where(Contact.external_id == external_id).first()
    if contact is None:
        raise NotFound(f"no contact with external_id {external_id!r}")
    mine = (Invoice.administration == administration_id) & (Invoice.contact == contact.id)
    is_open = Invoice.status.in_(OPEN_STATUSES) & (Invoice.is_credit_note == False)  # noqa: E712
    outstanding = Invoice.total_incl - Invoice.amount_paid

    count, *halves = (
        Invoice.select(
            peewee.fn.COUNT(peewee.Case(None, [(is_open, 1)], None)).coerce(False),
            *_wide_sum(peewee.Case(None, [(is_open, outstanding)], 0)),
            *_wide_sum(peewee.Case(None, [(Invoice.status != "concept", outstanding)], 0)),
        ).where(mine).tuples().first()
    )
    open_amount = int(halves[0] or 0) * _SPLIT + int(halves[1] or 0)
    balance = int(halves[2] or 0) * _SPLIT + int(halves[3] or 0)
    active = (Subscription.of(administration_id)
              .where(Subscription.contact == contact.id, Subscription.status == "actief").count())

    open_invoices = raw_rows(reading(administration_id).where(mine, is_open)
                             .order_by(Invoice.due_date, Invoice.invoice_date, Invoice.created_at, Invoice.id)
                             .limit(OPEN_INVOICES_SHOWN))
    others = raw_rows(reading(administration_id).where(mine, Invoice.status != "concept", ~is_open)
                      .order_by(Invoice.invoice_date.desc(), Invoice.created_at.desc(), Invoice.id.desc())
                      .limit(OTHER_INVOICES_SHOWN))
    invoices = read_lines(administration_id, open_invoices + others)
    # Reminder state from the raw values (serialize.INVOICE_VALUES): id, status, credit note, amounts.
    facts = {read.values[0]: _ReminderFacts(uuid.UUID(str(read.values[0])), read.values[2],
                                            bool(read.values[3]), _cents(read.values[_TOTAL]),
                                            _cents(read.values[_PAID]))
             for read in invoices}
    sent = reminder_deliveries(administration_id, [fact.id for fact in facts.values()])
    today = business_today()
    reminders = {key: reminder_state(fact, sent.get(fact.id, []), today) for key, fact in facts.items()}

    quotes = list(Quote.of(administration_id)
                  .where(Quote.contact == contact.id, Quote.status == "verzonden",
                         Quote.valid_until >= business_today())
                  .order_by(Quote.quote_date.desc(), Quote.created_at.desc(), Quote.id.desc())
                  .limit(QUOTES_SHOWN))
    subscriptions = list(Subscription.of(administration_id)
                         .where(Subscription.contact == contact.id,
                                Subscription.status.in_(SHOWN_SUBSCRIPTION_STATUSES))
                         .order_by(Subscription.created_at, Subscription.id)
                         .limit(SUBSCRIPTIONS_SHOWN))
    for document in quotes + subscriptions:
        document.contact = contact
    attach_lines(quotes, QuoteLine)
    attach_lines(subscriptions, SubscriptionLine)

    payments = list(Payment.of(administration_id).where(Payment.contact == contact.id)
                    .order_by(Payment.payment_date.desc(), Payment.created_at.desc(), Payment.id.desc())
                    .limit(PAYMENTS_SHOWN))
    return PortalView(contact, int(count or 0), _cents(open_amount), int(active or 0), _cents(balance),
                      invoices, quotes, subscriptions, payments, reminders)
