"""Quotes (offertes): invoice lines and totals, their own number series, one invoice each.

A quote is a `concept` until it is sent (`verzonden`), which gives it the next number
of the administration's quote series for the year of its quote_date (`OFF-2026-0001`,
gapless like invoice numbers). The customer accepts (`geaccepteerd`) or rejects
(`afgewezen`) it. A sent quote whose valid_until has passed is `verlopen`: computed
from the date, never stored, so it needs no job to expire quotes.

An accepted quote turns into exactly one invoice and becomes `gefactureerd`. The quote
row holds that invoice's id under a unique index and is locked while converting, so a
repeated or concurrent conversion finds the first invoice instead of making another.
"""

from __future__ import annotations

import functools
import operator
import uuid

import peewee

from models import serialize
from models.db import database, utcnow
from models.errors import Conflict, Invalid
from models.events import record_event
from models.invoices import Invoice, business_today, create_invoice, get_invoice
from models.lines import (
    DocumentLine,
    LinedDocument,
    as_invoice_lines,
    attach_lines,
    build_lines,
    change_header,
    create_document,
    delete_document,
    get_document,
    new_header,
    page_with_lines,
    set_lines,
    store_lines,
    with_contact,
)
from models.listing import LIST_INDEXES, Page, filter_contact_and_dates, matching, parse_statuses
from models.numbering import next_number
from models.tenancy import Administration

#: The series quotes are numbered in (models.numbering), and the prefix of their numbers.
NUMBER_SERIES = "quote"
NUMBER_PREFIX = "OFF-"
#: Days a quote stays valid when the request gives no valid_until.
VALIDITY_DAYS = 30

STATUSES = ("concept", "verzonden", "geaccepteerd", "afgewezen", "verlopen", "gefactureerd")
#: `verlopen` is never stored: it is `verzonden` with valid_until before today.
EXPIRED = "verlopen"

# Every status change a quote can make, from the status it shows (so `verlopen` too),
# and what may cause it: "request" (POST or PATCH `status`) or "conversion"
# (POST /quotes/{id}/invoice). Nothing else decides whether a status may change.
QUOTE_TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    "concept": {"verzonden": frozenset({"request"})},
    "verzonden": {"geaccepteerd": frozenset({"request"}), "afgewezen": frozenset({"request"})},
    "verlopen": {"afgewezen": frozenset({"request"})},
    "geaccepteerd": {"gefactureerd": frozenset({"conversion"})},
    "afgewezen": {},
    "gefactureerd": {},
}

#: Fields a PATCH may change only while the quote is a concept.
CONCEPT_ONLY_FIELDS = ("contact_id", "quote_date", "reference", "currency", "lines")
#: Statuses in which valid_until may still move (the customer has not answered).
UNANSWERED = ("concept", "verzonden", "verlopen")


class Quote(LinedDocument):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE", index=False)
    number = peewee.CharField(max_length=32, null=True)
    # The stored status; `status_shown` adds the computed `verlopen`.
    status = peewee.CharField(max_length=20, default="concept")
    quote_date = peewee.DateField()
    valid_until = peewee.DateField()
    # The invoice this quote became; unique, so no two quotes share one.
    invoice = peewee.ForeignKeyField(Invoice, null=True, backref="+")

    # Set by peewee for the foreign keys, and by attach_lines().
    invoice_id: uuid.UUID | None
    loaded_lines: list[QuoteLine]

    class Meta:
        indexes = (
            (("administration", "number"), True),
            (("administration", "invoice"), True),
            *LIST_INDEXES,
            (("administration", "status", "valid_until"), False),
            (("administration", "contact", "created_at"), False),
            (("administration", "quote_date"), False),
        )

    @property
    def status_shown(self) -> str:
        """The status as the API shows it: `verlopen` once a sent quote's valid_until has passed."""
        if self.status == "verzonden" and self.valid_until < business_today():
            return EXPIRED
        return self.status


class QuoteLine(DocumentLine):
    OWNER = "quote"

    quote = peewee.ForeignKeyField(Quote, backref="+", on_delete="CASCADE")

    class Meta:
        indexes = ((("administration", "quote", "position"), False),)


# ------------------------------------------------------------------ status machine

def allowed_statuses(current: str, cause: str) -> list[str]:
    """The statuses `cause` may move a quote to from the status it shows."""
    return sorted(to for to, causes in QUOTE_TRANSITIONS[current].items() if cause in causes)


def check_transition(quote: Quote, to: str, cause: str) -> None:
    """409, naming the allowed statuses, unless the table lets `cause` move the quote to `to`."""
    current = quote.status_shown
    allowed = allowed_statuses(current, cause)
    if to != current and to not in allowed:
        hint = "; a quote becomes gefactureerd through POST /quotes/{id}/invoice" if (
            to == "gefactureerd" and cause == "request") else ""
        raise Conflict(f"quote {quote.number or quote.id} cannot go from {current} to {to}; "
                       f"allowed: {', '.join(allowed) or 'none'}{hint}", allowed=allowed)


def change_status(quote: Quote, to: str, cause: str) -> None:
    """Move the quote to `to` if the table allows it; sending a concept gives it its number."""
    if to == quote.status_shown:
        return
    check_transition(quote, to, cause)
    if quote.status == "concept":
        quote.number = next_number(quote.administration_id, NUMBER_SERIES, quote.quote_date.year,
                                   prefix=NUMBER_PREFIX)
    quote.status = to


# ------------------------------------------------------------------ reading

def get_quote(administration_id, quote_id) -> Quote:
    """One quote with its contact and lines (two queries), or NotFound."""
    return get_document(QuoteLine, administration_id, quote_id)






def status_condition(statuses: list[str]):
    """A WHERE condition for quotes showing any of `statuses` (`verlopen` is computed from dates)."""
    today = business_today()
    parts = []
    for status in statuses:
        if status == "verzonden":
            parts.append((Quote.status == "verzonden") & (Quote.valid_until >= today))
        elif status == EXPIRED:
            parts.append((Quote.status == "verzonden") & (Quote.valid_until < today))
        else:
            parts.append(Quote.status == status)
    return functools.reduce(operator.or_, parts)


def list_quotes(administration_id, *, status=None, contact_id=None, date_from=None, date_to=None,
                number=None, **paging) -> Page:
    """One page of quotes with contacts and lines, in at most three queries whatever the page size."""
    query = with_contact(QuoteLine, administration_id)
    statuses = parse_statuses(status, STATUSES)
    if statuses:
        query = query.where(status_condition(statuses))
    query = filter_contact_and_dates(query, Quote, Quote.quote_date, contact_id=contact_id,
                                     date_from=date_from, date_to=date_to)
    return page_with_lines(matching(query, None, (), ((Quote.number, number),)), QuoteLine,
                           administration_id, **paging)


# ------------------------------------------------------------------ changes

def _check_validity(quote: Quote) -> None:
    if quote.valid_until < quote.quote_date:
        raise Invalid.field("valid_until", "must not be before quote_date")


@database.atomic()
def create_quote(administration_id, data: dict) -> Quote:
    """POST /quotes: a concept, or a sent quote at once with `status: verzonden`."""
    quote = Quote(status="concept", **new_header(administration_id, data, "quote_date", "valid_until",
                                                 lambda: VALIDITY_DAYS))
    _check_validity(quote)
    return create_document(quote, administration_id, data, QuoteLine, change_status=change_status,
                           event="quote.created", serializer=serialize.quote)


@database.atomic()
def update_quote(administration_id, quote_id, data: dict) -> Quote:
    """PATCH: note always, valid_until until answered, the rest only while concept; status by the table."""
    quote = Quote.get_owned(administration_id, quote_id, lock=True)
    previous = quote.status_shown
    label = f"quote {quote.number or quote.id}"
    frozen = [f for f in CONCEPT_ONLY_FIELDS if f in data]
    if quote.status != "concept" and frozen:
        raise Conflict(f"{label} is {previous}: {', '.join(frozen)} can change only while it is a concept",
                       allowed=[])
    if "valid_until" in data and previous not in UNANSWERED:
        raise Conflict(f"{label} is {previous}: valid_until can change only until the customer answers",
                       allowed=[])
    change_header(quote, administration_id, data, "quote_date", "valid_until")
    _check_validity(quote)
    # The status is checked from where the new valid_until puts the quote: extending an
    # expired quote makes it `verzonden` again, so it can be accepted in the same request.
    if data.get("status") is not None:
        change_status(quote, data["status"], "request")
    if "lines" in data:
        set_lines(quote, build_lines(administration_id, data["lines"], QuoteLine))
        store_lines(quote, QuoteLine, replace=True)
    quote.updated_at = utcnow()
    quote.save()
    if "lines" not in data:
        attach_lines([quote], QuoteLine)
    extra = {"previous_status": previous} if quote.status_shown != previous else {}
    record_event(administration_id, "quote.updated", serialize.quote(quote), **extra)
    return quote


@database.atomic()
def delete_quote(administration_id, quote_id) -> None:
    """Delete a concept quote; a sent one keeps its number (409)."""
    quote = Quote.get_owned(administration_id, quote_id, lock=True)
    if quote.status != "concept":
        raise Conflict(f"quote {quote.number} is {quote.status_shown}: only a concept can be deleted; "
                       "reject a sent quote with status afgewezen")
    record_event(administration_id, "quote.deleted", delete_document(quote, QuoteLine, serialize.quote))


@database.atomic()
def invoice_quote(administration_id, quote_id, data: dict | None = None) -> tuple[Invoice, bool]:
    """POST /quotes/{id}/invoice: the accepted quote's one invoice, and whether this call made it.

    The first call creates the invoice (models.invoices.create_invoice) and makes the quote
    `gefactureerd`; later calls return that invoice and change nothing."""
    data = data or {}
    quote = Quote.get_owned(administration_id, quote_id, lock=True)
    if quote.invoice_id is not None:
        return get_invoice(administration_id, quote.invoice_id), False
    check_transition(quote, "gefactureerd", "conversion")
    lines = attach_lines([quote], QuoteLine)[0].loaded_lines
    invoice = create_invoice(administration_id, {
        "contact_id": quote.contact_id, "status": data.get("status") or "concept",
        "invoice_date": data.get("invoice_date"), "due_date": data.get("due_date"),
        "currency": quote.currency, "reference": quote.reference, "note": quote.note,
        "lines": as_invoice_lines(lines),
    })
    now = utcnow()
    # The row is locked, so this always claims it; the condition keeps a second invoice
    # out even if a future code path forgot the lock.
    claimed = (Quote.update(invoice=invoice.id, status="gefactureerd", updated_at=now)
               .where(Quote.id == quote.id, Quote.invoice.is_null(True)).execute())
    if claimed != 1:
        raise Conflict(f"quote {quote.number} was invoiced at the same time; ask again for its invoice")
    previous = quote.status_shown
    quote.invoice, quote.status, quote.updated_at = invoice.id, "gefactureerd", now
    record_event(administration_id, "quote.updated", serialize.quote(quote), previous_status=previous)
    return invoice, True
