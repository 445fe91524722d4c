"""The billing run: one invoice per due period of every active subscription, never two.

`run_billing(today)` finds the administrations with an `actief` subscription whose next
period has started (`next_period_start <= today`) and bills them one administration at
a time, in batches, one transaction per batch (so a transaction touches one tenant):

1. select the batch (on PostgreSQL `FOR UPDATE SKIP LOCKED`, so concurrent runs share
   the work instead of queueing), then its lines and contacts with one query each;
2. claim every due period of the batch with one `INSERT … ON CONFLICT DO NOTHING
   RETURNING` into subscription_period, whose unique (subscription, period_start)
   index decides: a period that another run billed first is not returned, so no
   invoice is made and no number taken for it;
3. build the claimed periods' invoices and write them and their lines in bulk, with an
   `invoice.created` event each; issued ones (`invoice_status: verzonden`) take their
   numbers as one block per year from models.numbering, in year order, so concurrent
   runs lock the number counters in one order and cannot deadlock;
4. move every subscription of the batch past the periods it just had billed, with one
   UPDATE per distinct new position (usually one).

A crash or error rolls back the whole batch (claims, invoices, numbers, events), so a
rerun bills exactly what is still unbilled and invoice numbers stay gapless. Memory is
bounded by the batch size, and so is the number of statements per batch: a handful,
whatever the batch holds.
"""

from __future__ import annotations

import contextlib
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import peewee

from models import serialize
from models.contacts import Contact
from models.db import database, is_postgres, utcnow
from models.events import record_events
from models.invoices import (
    BUSINESS_TIMEZONE,
    NUMBER_SERIES,
    SNAPSHOT_FIELDS,
    Invoice,
    InvoiceLine,
    business_today,
    check_transition,
)
from models.lines import totals_of
from models.numbering import next_numbers
from models.periods import periods_due
from models.subscriptions import Subscription, SubscriptionLine, SubscriptionPeriod
from models.tenancy import Administration

#: Subscriptions per transaction.
BATCH_SIZE = 500
#: Rows per INSERT statement.
INSERT_CHUNK = 500

DUTCH_MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
                "september", "oktober", "november", "december")


def dutch_date(day: date) -> str:
    """`1 januari 2026`."""
    return f"{day.day} {DUTCH_MONTHS[day.month - 1]} {day.year}"


def period_label(start: date, end: date) -> str:
    """`1 januari 2026 t/m 31 januari 2026`, as it appears on the invoice lines."""
    return f"{dutch_date(start)} t/m {dutch_date(end)}"


@dataclass
class BillingSummary:
    """What a billing run did."""

    subscriptions: int = 0      # due subscriptions processed
    invoices: int = 0           # invoices created
    periods_skipped: int = 0    # due periods another run had billed already
    batches: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class _Claim:
    subscription: Subscription
    index: int
    start: date
    end: date
    period_id: uuid.UUID = field(default_factory=uuid.uuid4)
    invoice_id: uuid.UUID = field(default_factory=uuid.uuid4)


def _due(today: date, administration_id=None):
    query = Subscription.select().where(Subscription.status == "actief",
                                        Subscription.next_period_start <= today)
    if administration_id is not None:
        query = query.where(Subscription.administration == administration_id)
    return query


def due_count(today: date, administration_id=None) -> int:
    """How many subscriptions have a period to bill on `today`."""
    return _due(today, administration_id).count()


@contextlib.contextmanager
def _connected():
    """Use the caller's connection, or open one for the run (and close it after)."""
    if database.is_closed():
        with database.connection_context():
            yield
    else:
        yield


def administrations_due(today: date) -> list:
    """The administrations with a subscription period to bill on `today`."""
    query = (_due(today).select(Subscription.administration).distinct()
             .order_by(Subscription.administration))
    return [row.administration_id for row in query]


def run_billing(today: date | None = None, progress: Callable[[int, int], None] | None = None, *,
                administration_id=None, batch_size: int = BATCH_SIZE) -> BillingSummary:
    """Invoice every period due on `today` (default: today in the Netherlands; a naive UTC
    datetime counts as its day in the Netherlands) exactly once.

    Works administration by administration (each transaction touches one tenant), in
    batches of `batch_size` subscriptions. `progress(done, total)` is called after each
    batch with the due subscriptions processed so far and the number due when the run
    started. Only the database is touched; several runs may go at once."""
    if isinstance(today, datetime):
        # The worker's periodic jobs get its clock: a naive UTC instant.
        today = today.replace(tzinfo=UTC).astimezone(BUSINESS_TIMEZONE).date()
    today = today or business_today()
    summary = BillingSummary()
    with _connected():
        total = due_count(today, administration_id) if progress else 0
        tenants = [administration_id] if administration_id is not None else administrations_due(today)
        for tenant in tenants:
            after = None
            while True:
                with database.atomic():
                    _replan_foreign_key_checks()
                    batch = _next_batch(today, tenant, after, batch_size)
                    if batch:
                        after = (batch[-1].next_period_start, batch[-1].id)
                        _bill(batch, today, summary)
                if not batch:
                    break
                summary.batches += 1
                summary.subscriptions += len(batch)
                if progress:
                    progress(summary.subscriptions, max(total, summary.subscriptions))
    return summary


def _replan_foreign_key_checks() -> None:
    """PostgreSQL caches the plan of each foreign-key check per connection. One made while
    the invoice table was nearly empty (a new database, or a first batch of a few
    subscriptions) scans the whole table for every invoice line: re-plan them per batch."""
    if is_postgres():
        database.execute_sql("DISCARD PLANS")


def _next_batch(today: date, administration_id, after, batch_size: int) -> list[Subscription]:
    """The administration's next due subscriptions after `after` (next_period_start, id),
    locked for this run (others' locked ones are skipped: another run has them)."""
    query = _due(today, administration_id).order_by(Subscription.next_period_start, Subscription.id)
    if after is not None:
        # A row comparison, so the index scan starts at the cursor instead of walking
        # past the entries of every subscription billed (and so updated) before it.
        start, key = after
        query = query.where(
            peewee.Tuple(Subscription.next_period_start, Subscription.id)
            > peewee.Tuple(Subscription.next_period_start.db_value(start), Subscription.id.db_value(key)))
    if is_postgres():
        query = query.for_update(skip_locked=True)
    return list(query.limit(batch_size))


def _bill(batch: list[Subscription], today: date, summary: BillingSummary) -> None:
    """Bill one administration's batch of due subscriptions (inside the batch's transaction)."""
    now = utcnow()
    administration_id = batch[0].administration_id
    lines: dict = {sub.id: [] for sub in batch}
    for line in (SubscriptionLine.of(administration_id)
                 .where(SubscriptionLine.subscription.in_(list(lines)))
                 .order_by(SubscriptionLine.subscription, SubscriptionLine.position)):
        lines[line.subscription_id].append(line)
    contact_ids = list({sub.contact_id for sub in batch})
    contacts = {c.id: c for c in Contact.of(administration_id).where(Contact.id.in_(contact_ids))}

    plan: list[_Claim] = []
    for sub in batch:
        due = periods_due(sub.start_date, sub.interval, sub.interval_count, sub.next_index, today,
                          sub.end_date)
        plan.extend(_Claim(sub, index, start, end) for index, start, end in due)
        if due:
            sub.next_index = due[-1][0] + 1

    claimed = _claim(plan, now)
    summary.periods_skipped += len(plan) - len(claimed)
    # Numbers follow the periods' order (a batch is one administration's).
    claimed.sort(key=lambda c: (c.start, str(c.subscription.id)))
    numbers = _reserve_numbers(claimed, administration_id)
    totals = {sub.id: totals_of(lines[sub.id]) for sub in batch}
    invoices: list[Invoice] = []
    for claim in claimed:
        sub = claim.subscription
        invoice = _invoice(claim, lines[sub.id], totals[sub.id], now)
        contact = contacts[sub.contact_id]
        invoice.contact = contact
        if sub.invoice_status == "verzonden":
            _issue(invoice, contact, next(numbers[(sub.administration_id, claim.start.year)]))
        invoices.append(invoice)
        if len(invoices) >= INSERT_CHUNK:
            _write(invoices, summary)
            invoices = []
    _write(invoices, summary)
    _advance(administration_id, batch, now)


def _reserve_numbers(claimed: list[_Claim], administration_id) -> dict:
    """The invoice numbers the batch's issued invoices need, one block per year, years in order."""
    needed = Counter(c.start.year for c in claimed if c.subscription.invoice_status == "verzonden")
    if not needed:
        return {}
    prefix = Administration.get_by_id(administration_id).invoice_number_prefix or ""
    return {(administration_id, year): iter(next_numbers(administration_id, NUMBER_SERIES, year, count,
                                                         prefix=prefix))
            for year, count in sorted(needed.items())}


def _issue(invoice: Invoice, contact: Contact, number: str) -> None:
    """Issue a new invoice with a number from the batch's block: as models.invoices does
    when an invoice leaves concept (status table, number, contact copy)."""
    check_transition(invoice, "verzonden", "request")
    invoice.number = number
    for name in SNAPSHOT_FIELDS:
        setattr(invoice, f"contact_{name}", getattr(contact, name))
    invoice.status = "verzonden"


def _advance(administration_id, batch: list[Subscription], now) -> None:
    """Store every subscription's new next_index and next_period_start: one UPDATE per
    distinct pair (subscriptions that started together move together)."""
    groups: dict = defaultdict(list)
    for sub in batch:
        sub.schedule()
        groups[(sub.next_index, sub.next_period_start)].append(sub.id)
    for (next_index, next_period_start), ids in groups.items():
        (Subscription.update(next_index=next_index, next_period_start=next_period_start, updated_at=now)
         .where(Subscription.administration == administration_id, Subscription.id.in_(ids)).execute())


def _claim(plan: list[_Claim], now) -> list[_Claim]:
    """Insert the periods; return those this run got (the others were billed already)."""
    rows = [SubscriptionPeriod(id=c.period_id, administration=c.subscription.administration_id,
                               subscription=c.subscription.id, period_start=c.start, period_end=c.end,
                               invoice=c.invoice_id, created_at=now, updated_at=now) for c in plan]
    won = {uuid.UUID(str(key)) for (key,) in _insert_rows(SubscriptionPeriod, rows,
                                                          "ON CONFLICT DO NOTHING RETURNING id")}
    return [c for c in plan if c.period_id in won]


def _invoice(claim: _Claim, lines: list, totals, now) -> Invoice:
    """The unsaved concept invoice of one period."""
    sub = claim.subscription
    invoice = Invoice(
        id=claim.invoice_id, administration=sub.administration_id, status="concept",
        invoice_date=claim.start, due_date=claim.start + timedelta(days=sub.payment_term_days),
        currency=sub.currency, reference=sub.reference, note=sub.note, is_credit_note=False,
        amount_paid=Decimal("0.00"), total_incl=totals.total_incl, total_vat=totals.total_vat,
        total_excl=totals.total_excl, created_at=now, updated_at=now,
    )
    label = period_label(claim.start, claim.end)
    invoice.loaded_lines = [
        InvoiceLine(
            id=uuid.uuid4(), administration=sub.administration_id, invoice=invoice.id,
            position=line.position, is_text_line=line.is_text_line, product=line.product_id,
            description=line.description if line.is_text_line else f"{line.description} ({label})",
            quantity=line.quantity, unit_price_incl=line.unit_price_incl,
            tax_percentage=line.tax_percentage, total_incl=line.total_incl, total_vat=line.total_vat,
            total_excl=line.total_excl, created_at=now, updated_at=now,
        )
        for line in lines
    ]
    return invoice


def _write(invoices: list[Invoice], summary: BillingSummary) -> None:
    if not invoices:
        return
    _insert_rows(Invoice, invoices)
    _insert_rows(InvoiceLine, [line for inv in invoices for line in inv.loaded_lines])
    record_events(invoices[0].administration_id,
                  [("invoice.created", serialize.invoice(invoice)) for invoice in invoices])
    summary.invoices += len(invoices)


def _insert_rows(model, rows: list, suffix: str = "") -> list[tuple]:
    """INSERT model instances, INSERT_CHUNK rows per statement (`suffix` ends each statement);
    returns what the statements return.

    The same as `model.bulk_create`, with the statement text built once per chunk: for
    hundreds of wide rows Peewee's per-value SQL building costs more than the database."""
    fields = model._meta.sorted_fields
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    placeholders = "(" + ", ".join([database.param] * len(fields)) + ")"
    returned = []
    for offset in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[offset:offset + INSERT_CHUNK]
        sql = (f'INSERT INTO "{model._meta.table_name}" ({columns}) VALUES '
               + ", ".join([placeholders] * len(chunk)) + (f" {suffix}" if suffix else ""))
        params = [f.db_value(row.__data__.get(f.name)) for row in chunk for f in fields]
        cursor = database.execute_sql(sql, params)
        if suffix:
            returned.extend(cursor.fetchall())
    return returned
