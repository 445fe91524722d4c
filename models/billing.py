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
3. move every subscription of the batch past the periods it just had billed (one
   UPDATE on PostgreSQL);
4. build the claimed periods' invoices, lines and `invoice.created` events; then the
   issued ones (`invoice_status: verzonden`) take their numbers as one block per year
   from models.numbering, in year order, so concurrent runs lock the number counters in
   one order and cannot deadlock; then everything is written in bulk (COPY on
   PostgreSQL, models.db.write_rows). The counters stay locked only for that last step.

A crash or error rolls back the whole batch (claims, invoices, numbers, events), so a
rerun bills exactly what is still unbilled and invoice numbers stay gapless. Memory is
bounded by the batch size, and so is the number of statements per batch: a handful,
whatever the batch holds.

With `workers` > 1 (PostgreSQL) an administration's batches go to that many connections
in turn: one writes a batch while another reads and prepares the next. The batches still
take their numbers in batch order (_Batches.turn), so the numbers follow the periods as
in a run with one worker.

The rows are built as plain tuples of database values rather than model instances, the
event JSON is written directly, and what every subscription with the same line amounts
shares (totals, VAT breakdown, the lines' amounts as the API shows them) is computed
once: at 100,000 subscriptions the per-row cost of the ORM would dominate the run.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, NamedTuple

import peewee
import simplejson
import simplejson.encoder

from models.contacts import Contact
from models.db import database, is_postgres, utcnow, write_rows
from models.events import record_events
from models.invoices import (
    BUSINESS_TIMEZONE,
    NUMBER_SERIES,
    OPEN_STATUSES,
    SNAPSHOT_FIELDS,
    Invoice,
    InvoiceLine,
    business_today,
    check_transition,
)
from models.numbering import next_numbers
from models.periods import add_months, first_index_on_or_after, period_start, periods_due
from models.serialize import INVOICE_CONTACT_FIELDS, money, plain, timestamp
from models.subscriptions import Subscription, SubscriptionLine, SubscriptionPeriod, scheduled_start
from models.tenancy import Administration
from models.totals import LineAmounts, invoice_totals

#: Subscriptions per transaction.
BATCH_SIZE = 1000
#: Rows per INSERT statement of the period claims.
INSERT_CHUNK = 500

DUTCH_MONTHS = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus",
                "september", "oktober", "november", "december")


def dutch_date(day: date) -> str:
    """`1 januari 2026`."""
    return f"{day.day} {DUTCH_MONTHS[day.month - 1]} {day.year}"


@functools.lru_cache(maxsize=4096)
def period_label(start: date, end: date) -> str:
    """`1 januari 2026 t/m 31 januari 2026`, as it appears on the invoice lines."""
    return f"{dutch_date(start)} t/m {dutch_date(end)}"


#: JSON as models.events encodes event payloads.
_dumps = functools.partial(simplejson.dumps, use_decimal=True, default=str)
_quote = simplejson.encoder.encode_basestring_ascii


def _text(value: str | None) -> str:
    """A JSON string or null, as _dumps writes it."""
    return "null" if value is None else _quote(value)


def new_ids(count: int) -> list[str]:
    """`count` random version-4 UUIDs in hex (as uuid.uuid4().hex), from one read of
    os.urandom: a run needs hundreds of thousands, and uuid.uuid4() costs a read and an
    object each."""
    raw = bytearray(os.urandom(16 * count))
    raw[6::16] = bytes(b & 0x0F | 0x40 for b in raw[6::16])     # version 4
    raw[8::16] = bytes(b & 0x3F | 0x80 for b in raw[8::16])     # RFC 4122 variant
    text = raw.hex()
    return [text[i:i + 32] for i in range(0, 32 * count, 32)]


def dashed(hex_id: str) -> str:
    """A hex uuid as str(uuid.UUID) writes it."""
    return f"{hex_id[:8]}-{hex_id[8:12]}-{hex_id[12:16]}-{hex_id[16:20]}-{hex_id[20:]}"


@dataclass
class BillingSummary:
    """What a billing run did."""

    subscriptions: int = 0      # due subscriptions processed
    invoices: int = 0           # invoices created
    periods_skipped: int = 0    # due periods another run had billed already
    batches: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


class _Due(NamedTuple):
    """What the run reads of a due subscription (the same names as on Subscription)."""

    id: uuid.UUID
    administration_id: uuid.UUID
    contact_id: uuid.UUID
    status: str
    interval: str
    interval_count: int
    start_date: date
    end_date: date | None
    next_index: int
    next_period_start: date | None
    invoice_status: str
    payment_term_days: int
    currency: str
    reference: str | None
    note: str | None


_DUE_FIELDS = (Subscription.id, Subscription.administration, Subscription.contact, Subscription.status,
               Subscription.interval, Subscription.interval_count, Subscription.start_date,
               Subscription.end_date, Subscription.next_index, Subscription.next_period_start,
               Subscription.invoice_status, Subscription.payment_term_days, Subscription.currency,
               Subscription.reference, Subscription.note)


class _Claim(NamedTuple):
    subscription: _Due | Subscription
    period: int                     # the period's index (models.periods)
    start: date
    end: date
    period_id: str                  # hex, as models.db stores a uuid
    invoice_id: str


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
                administration_id=None, batch_size: int = BATCH_SIZE, workers: int = 1) -> BillingSummary:
    """Invoice every period due on `today` (default: today in the Netherlands; a naive UTC
    datetime counts as its day in the Netherlands) exactly once.

    Works administration by administration (each transaction touches one tenant), in
    batches of `batch_size` subscriptions. `progress(done, total)` is called after each
    batch with the due subscriptions processed so far and the number due when the run
    started. Only the database is touched; several runs may go at once.

    On PostgreSQL `workers` connections share an administration's batches (see _Batches):
    while one writes a batch, another reads and prepares the next."""
    if isinstance(today, datetime):
        # The worker's periodic jobs get its clock: a naive UTC instant.
        today = today.replace(tzinfo=UTC).astimezone(BUSINESS_TIMEZONE).date()
    today = today or business_today()
    summary = BillingSummary()
    with _connected():
        total = due_count(today, administration_id) if progress else 0
        tenants = [administration_id] if administration_id is not None else administrations_due(today)
        done = _Progress(summary, progress, total)
        for tenant in tenants:
            batches = _Batches(today, tenant, batch_size)
            if workers > 1 and is_postgres():
                _in_threads(workers, functools.partial(_work, batches, done))
            else:
                _work(batches, done)
    return summary


class _Progress:
    """The run's summary, added to by every worker, and the progress callback."""

    def __init__(self, summary: BillingSummary, callback, total: int) -> None:
        self.summary, self.callback, self.total = summary, callback, total
        self.lock = threading.Lock()

    def add(self, batch: BillingSummary) -> None:
        with self.lock:
            for name, value in batch.as_dict().items():
                setattr(self.summary, name, getattr(self.summary, name) + value)
            if self.callback:
                self.callback(self.summary.subscriptions, max(self.total, self.summary.subscriptions))


class _Batches:
    """An administration's due subscriptions, handed out batch by batch in (next_period_start,
    id) order to the workers of a run, each batch in the taker's own transaction.

    The batches take their invoice-number blocks in the same order (`wait_turn`): a batch
    takes its numbers only once the batch before it has committed, so the numbers follow
    the batches as in a run with one worker (also when one fails: the rest stop), no batch
    waits inside the database for another's number lock, and everything before the
    numbers overlaps with the batch before."""

    def __init__(self, today: date, administration_id, batch_size: int) -> None:
        self.today, self.administration_id, self.batch_size = today, administration_id, batch_size
        self.after: tuple | None = None
        self.handed = 0             # batches handed out
        self.finished = 0           # batches committed (in ticket order)
        self.failed = False
        self.lock = threading.Lock()
        self.turns = threading.Condition()

    def take(self) -> tuple[int, list[_Due]]:
        """(ticket, batch): the next batch, locked in the caller's transaction; [] when done."""
        with self.lock:
            if self.failed:
                raise _Stopped
            batch = _next_batch(self.today, self.administration_id, self.after, self.batch_size)
            if not batch:
                return 0, []
            self.after = (batch[-1].next_period_start, batch[-1].id)
            self.handed += 1
            return self.handed, batch

    def wait_turn(self, ticket: int) -> None:
        """Return once the batch before `ticket` has committed (the first one: at once)."""
        with self.turns:
            while self.finished != ticket - 1 and not self.failed:
                self.turns.wait()
            if self.failed:
                raise _Stopped

    def finish(self, ticket: int) -> None:
        """Batch `ticket` has committed."""
        with self.turns:
            self.finished = ticket
            self.turns.notify_all()

    def fail(self) -> None:
        with self.turns:
            self.failed = True
            self.turns.notify_all()


class _Stopped(Exception):
    """Another worker of the run failed: stop (this batch rolls back)."""


def _work(batches: _Batches, done: _Progress) -> None:
    """Bill batches until none is left, one transaction each."""
    try:
        while True:
            part = BillingSummary()
            with database.atomic():
                _replan_foreign_key_checks()
                ticket, batch = batches.take()
                if batch:
                    _bill(batch, batches.today, part, functools.partial(batches.wait_turn, ticket))
            if not batch:
                return
            batches.finish(ticket)
            part.batches, part.subscriptions = 1, len(batch)
            done.add(part)
    except BaseException:
        batches.fail()
        raise


def _in_threads(count: int, work: Callable[[], None]) -> None:
    """Run `work` in `count` threads, each on its own connection; raise the first error."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with database.connection_context():
                work()
        except _Stopped:
            pass
        except BaseException as exc:  # re-raised in the calling thread below
            errors.append(exc)

    threads = [threading.Thread(target=run, name=f"billing-{n}") for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]


def _replan_foreign_key_checks() -> None:
    """PostgreSQL caches the plan of each foreign-key check per connection. One made while
    the invoice table was nearly empty (a new database, or a first batch of a few
    subscriptions) scans the whole table for every invoice line: re-plan them per batch."""
    if is_postgres():
        database.execute_sql("DISCARD PLANS")


def _next_batch(today: date, administration_id, after, batch_size: int) -> list[_Due]:
    """The administration's next due subscriptions after `after` (next_period_start, id),
    locked for this run (others' locked ones are skipped: another run has them)."""
    query = (_due(today, administration_id).select(*_DUE_FIELDS)
             .order_by(Subscription.next_period_start, Subscription.id))
    if after is not None:
        # A row comparison, so the index scan starts at the cursor instead of walking
        # past the entries of every subscription billed (and so updated) before it.
        start, key = after
        query = query.where(
            peewee.Tuple(Subscription.next_period_start, Subscription.id)
            > peewee.Tuple(Subscription.next_period_start.db_value(start), Subscription.id.db_value(key)))
    if is_postgres():
        query = query.for_update(skip_locked=True)
    return [_Due(*row) for row in query.limit(batch_size).tuples()]


#: A run invoices only periods that started at most this many months before its day; older
#: unbilled periods are passed over, so one subscription can never make more than a bounded
#: number of invoices in one go (a start date of 2000-01-01 bills the last 24 months).
CATCH_UP_MONTHS = 24


def _catch_up_from(sub, today: date) -> int:
    """The first period index to bill for `sub` on `today` (see CATCH_UP_MONTHS)."""
    oldest = add_months(today, -CATCH_UP_MONTHS)
    if period_start(sub.start_date, sub.interval, sub.interval_count, sub.next_index) >= oldest:
        return sub.next_index
    return max(sub.next_index, first_index_on_or_after(sub.start_date, sub.interval,
                                                       sub.interval_count, oldest))


def _bill(batch: list, today: date, summary: BillingSummary, wait_turn: Callable[[], None] | None = None
          ) -> None:
    """Bill one administration's batch of due subscriptions (inside the batch's transaction).
    `batch` holds _Due rows or Subscription instances: only their fields are read.
    `wait_turn()` is called before the batch takes its invoice numbers."""
    now = utcnow()
    administration_id = batch[0].administration_id
    shapes = _line_shapes(administration_id, [sub.id for sub in batch])
    contacts = _contacts(administration_id, {sub.contact_id for sub in batch})

    dues = [(sub, periods_due(sub.start_date, sub.interval, sub.interval_count,
                              _catch_up_from(sub, today), today, sub.end_date)) for sub in batch]
    ids = iter(new_ids(2 * sum(len(due) for _, due in dues)))
    plan = [_Claim(sub, index, start, end, next(ids), next(ids))
            for sub, due in dues for index, start, end in due]
    moves = [(sub, due[-1][0] + 1 if due else sub.next_index) for sub, due in dues]

    claimed = _claim(plan, now)
    summary.periods_skipped += len(plan) - len(claimed)
    _advance(administration_id, moves, now)
    # Numbers follow the periods' order (a batch is one administration's).
    claimed.sort(key=lambda c: (c.start, str(c.subscription.id)))
    context = _Context(administration_id, Invoice.administration.db_value(administration_id), now,
                       timestamp(now), business_today())
    line_ids = iter(new_ids(sum(len(shapes[claim.subscription.id][0].lines) for claim in claimed)))
    drafts = [_draft(claim, shapes[claim.subscription.id], contacts[claim.subscription.contact_id], context,
                     line_ids) for claim in claimed]
    # The number counters stay locked from here until the batch commits: only what needs
    # the numbers is left to do.
    if wait_turn:
        wait_turn()
    numbers = _reserve_numbers(claimed, administration_id)
    for draft in drafts:
        if draft.issued:
            draft.number(next(numbers[draft.year]))
    _write(drafts, summary)


# ------------------------------------------------------------------ reading a batch

class _Line(NamedTuple):
    """A subscription line's amounts: the invoice line's columns and its API form."""

    position: int
    is_text_line: bool
    product: object                 # as the database returned it (None, or the product's id)
    amounts: tuple                  # quantity, unit_price_incl, tax_percentage, total_incl,
                                    # total_vat, total_excl: database integers (None on text lines)
    json: str                       # the line's JSON members after its description


class _Shape(NamedTuple):
    """What every subscription with these line amounts has in common."""

    lines: tuple[_Line, ...]
    totals: tuple[int, int, int]    # total_incl, total_vat, total_excl as database integers
    json: str                       # the invoice's JSON members from total_incl to open_amount
    open: bool                      # something to pay (open_amount > 0)


_LINE_FIELDS = (SubscriptionLine.subscription, SubscriptionLine.position, SubscriptionLine.description,
                SubscriptionLine.is_text_line, SubscriptionLine.product, SubscriptionLine.quantity,
                SubscriptionLine.unit_price_incl, SubscriptionLine.tax_percentage,
                SubscriptionLine.total_incl, SubscriptionLine.total_vat, SubscriptionLine.total_excl)
_AMOUNT_FIELDS = _LINE_FIELDS[5:]


def _line_shapes(administration_id, subscription_ids: list) -> dict:
    """subscription id -> (_Shape of its lines, the lines' descriptions), with one query.

    The amounts are read as the integers the database holds and copied to the invoice
    lines as they are; only each distinct shape is converted and totalled (_shape)."""
    query = (SubscriptionLine.select(*_LINE_FIELDS)
             .where(SubscriptionLine.administration == administration_id,
                    _among(SubscriptionLine.subscription, subscription_ids))
             .order_by(SubscriptionLine.subscription, SubscriptionLine.position))
    raw: dict = {key: ([], []) for key in subscription_ids}
    to_uuid = SubscriptionLine.subscription.python_value
    for subscription, position, description, is_text_line, product, *amounts in (
            database.execute_sql(*query.sql())):
        key, descriptions = raw[to_uuid(subscription)]
        key.append((position, bool(is_text_line), product, tuple(amounts)))
        descriptions.append(description)
    return {sub_id: (_shape(tuple(key)), tuple(descriptions)) for sub_id, (key, descriptions) in raw.items()}


def _among(field: peewee.Field, keys: list) -> peewee.Expression:
    """`field IN (keys)` for a batch's ids: on PostgreSQL one array parameter instead of a
    thousand (building a thousand parameters costs more than the query)."""
    if is_postgres():
        hexes = peewee.Value([key.hex for key in keys], unpack=False)
        return field == peewee.fn.ANY(peewee.Cast(hexes, "uuid[]"))
    return field.in_(keys)


def _members(values: dict) -> str:
    """`"a": 1, "b": "x"`: a JSON object's members as models.events encodes them."""
    return _dumps(values)[1:-1]


@functools.lru_cache(maxsize=4096)
def _shape(key: tuple) -> _Shape:
    """The shared part of the invoices of subscriptions whose lines have these amounts: the
    values models.serialize.invoice shows for them, computed as models.totals does."""
    lines, amounts = [], []
    for position, is_text_line, product, raw in key:
        values: list[Any] = [None if value is None else field.python_value(value)
                             for field, value in zip(_AMOUNT_FIELDS, raw, strict=True)]
        quantity, price, rate, total_incl, total_vat, total_excl = values
        if not is_text_line:
            amounts.append(LineAmounts(quantity, price, rate))
        # serialize.invoice_line's members after id, position and description.
        shown = _members({
            "quantity": plain(quantity), "unit_price_incl": money(price), "tax_percentage": plain(rate),
            "product_id": None if product is None else str(InvoiceLine.product.python_value(product)),
            "is_text_line": is_text_line, "total_incl": money(total_incl), "total_excl": money(total_excl),
            "total_vat": money(total_vat)})
        lines.append(_Line(position, is_text_line, product, raw, shown))
    totals = invoice_totals(amounts)
    paid = Decimal("0.00")
    shown = _members({
        "total_incl": money(totals.total_incl), "total_excl": money(totals.total_excl),
        "total_vat": money(totals.total_vat),
        "vat_breakdown": [
            {"tax_percentage": plain(rate.tax_percentage), "total_incl": money(rate.total_incl),
             "total_vat": money(rate.total_vat), "total_excl": money(rate.total_excl)}
            for rate in totals.vat_breakdown],
        "amount_paid": money(paid), "open_amount": money(totals.total_incl - paid), "payment_url": None,
    })
    cents = (Invoice.total_incl.db_value(totals.total_incl), Invoice.total_vat.db_value(totals.total_vat),
             Invoice.total_excl.db_value(totals.total_excl))
    return _Shape(tuple(lines), cents, shown, totals.total_incl - paid > 0)


class _Customer(NamedTuple):
    id: str                          # database value
    key: str                         # the id as the API shows it
    snapshot: tuple                  # SNAPSHOT_FIELDS, copied onto issued invoices
    json: str                        # the invoice's `contact` object


def _contacts(administration_id, contact_ids: set) -> dict:
    """contact id -> _Customer, with one query."""
    query = (Contact.select(Contact.id, *(getattr(Contact, name) for name in SNAPSHOT_FIELDS))
             .where(Contact.administration == administration_id, _among(Contact.id, list(contact_ids))))
    customers = {}
    for raw_id, *snapshot in database.execute_sql(*query.sql()):   # all text columns
        contact_id = raw_id if isinstance(raw_id, uuid.UUID) else uuid.UUID(raw_id)
        values = dict(zip(SNAPSHOT_FIELDS, snapshot, strict=True))
        # serialize.invoice_contact: the same for a concept (live) and an issued (copy) invoice.
        shown = ", ".join(f'"{name}": {_text(values[name])}' for name in INVOICE_CONTACT_FIELDS)
        customers[contact_id] = _Customer(contact_id.hex, str(contact_id), tuple(snapshot),
                                          f'{{"id": "{contact_id}", {shown}}}')
    return customers


# ------------------------------------------------------------------ claiming and moving on

_PERIOD_FIELDS: list[peewee.Field] = [
    SubscriptionPeriod.id, SubscriptionPeriod.administration, SubscriptionPeriod.subscription,
    SubscriptionPeriod.period_start, SubscriptionPeriod.period_end, SubscriptionPeriod.invoice,
    SubscriptionPeriod.created_at, SubscriptionPeriod.updated_at]


def _claim(plan: list[_Claim], now) -> list[_Claim]:
    """Insert the periods; return those this run got (the others were billed already)."""
    if not plan:
        return []
    administration = SubscriptionPeriod.administration.db_value(plan[0].subscription.administration_id)
    rows = [(c.period_id, administration, c.subscription.id.hex, c.start, c.end, c.invoice_id, now, now)
            for c in plan]
    columns = ", ".join(f'"{f.column_name}"' for f in _PERIOD_FIELDS)
    placeholders = "(" + ", ".join([database.param] * len(_PERIOD_FIELDS)) + ")"
    won: set[str] = set()
    for offset in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[offset:offset + INSERT_CHUNK]
        cursor = database.execute_sql(
            f'INSERT INTO "subscription_period" ({columns}) VALUES {", ".join([placeholders] * len(chunk))} '
            'ON CONFLICT DO NOTHING RETURNING CAST("id" AS TEXT)', [value for row in chunk for value in row])
        won.update(key.replace("-", "") for (key,) in cursor)   # PostgreSQL writes dashes, SQLite hex
    return [c for c in plan if c.period_id in won]


def _advance(administration_id, moves: list[tuple], now) -> None:
    """Store every subscription's new next_index and next_period_start: one UPDATE on
    PostgreSQL, elsewhere one per distinct pair (subscriptions that started together)."""
    rows = [(sub.id, index, scheduled_start(sub.start_date, sub.interval, sub.interval_count, index,
                                            sub.status, sub.end_date)) for sub, index in moves]
    if is_postgres():
        # Through the primary key: PostgreSQL's default costs price a thousand index probes
        # above hashing a whole table of up to ~100,000 subscriptions, which takes ten times
        # as long with the table cached, and again for every batch.
        database.execute_sql("SET LOCAL enable_seqscan = off")
        database.execute_sql(
            'UPDATE "subscription" AS s SET "next_index" = v.next_index, '
            '"next_period_start" = v.next_period_start, "updated_at" = %s '
            "FROM unnest(%s::uuid[], %s::integer[], %s::date[]) AS v(id, next_index, next_period_start) "
            'WHERE s."administration_id" = %s AND s."id" = v.id',
            (now, [key.hex for key, _, _ in rows], [index for _, index, _ in rows],
             [start for _, _, start in rows], Subscription.administration.db_value(administration_id)))
        database.execute_sql("SET LOCAL enable_seqscan TO DEFAULT")
        return
    groups: dict = defaultdict(list)
    for key, index, start in rows:
        groups[(index, start)].append(key)
    for (index, start), keys in groups.items():
        (Subscription.update(next_index=index, next_period_start=start, updated_at=now)
         .where(Subscription.administration == administration_id, Subscription.id.in_(keys)).execute())


# ------------------------------------------------------------------ the invoices

def _reserve_numbers(claimed: list[_Claim], administration_id) -> dict:
    """The invoice numbers the batch's issued invoices need, one block per year, years in order."""
    needed = Counter(c.start.year for c in claimed if c.subscription.invoice_status == "verzonden")
    if not needed:
        return {}
    # Issuing follows the invoice status table, as models.invoices does.
    check_transition(Invoice(status="concept"), "verzonden", "request")
    prefix = Administration.get_by_id(administration_id).invoice_number_prefix or ""
    return {year: iter(next_numbers(administration_id, NUMBER_SERIES, year, count, prefix=prefix))
            for year, count in sorted(needed.items())}


class _Context(NamedTuple):
    administration_id: uuid.UUID
    administration: str              # database value
    now: datetime
    now_shown: str | None
    today: date


_NO_SNAPSHOT = (None,) * len(SNAPSHOT_FIELDS)

INVOICE_FIELDS: list[peewee.Field] = [
    Invoice.id, Invoice.administration, Invoice.number, Invoice.status, Invoice.is_credit_note,
    Invoice.credit_of, Invoice.contact, *(getattr(Invoice, f"contact_{name}") for name in SNAPSHOT_FIELDS),
    Invoice.invoice_date, Invoice.due_date, Invoice.currency, Invoice.reference, Invoice.note,
    Invoice.total_incl, Invoice.total_vat, Invoice.total_excl, Invoice.amount_paid,
    Invoice.created_at, Invoice.updated_at]
_NUMBER = next(n for n, f in enumerate(INVOICE_FIELDS) if f is Invoice.number)  # peewee's == is SQL
LINE_FIELDS: list[peewee.Field] = [
    InvoiceLine.id, InvoiceLine.administration, InvoiceLine.invoice, InvoiceLine.position,
    InvoiceLine.description, InvoiceLine.is_text_line, InvoiceLine.product, InvoiceLine.quantity,
    InvoiceLine.unit_price_incl, InvoiceLine.tax_percentage, InvoiceLine.total_incl, InvoiceLine.total_vat,
    InvoiceLine.total_excl, InvoiceLine.credit_of_line, InvoiceLine.created_at, InvoiceLine.updated_at]


class _Draft:
    """One invoice ready to write: its row, its lines' rows and its event's data (JSON); an
    issued one gets its number last (`number`), when the batch has taken its block."""

    __slots__ = ("administration_id", "row", "lines", "issued", "year", "_head", "_tail", "data")

    def __init__(self, administration_id, row: list, lines: list[tuple], issued: bool, year: int,
                 head: str, tail: str) -> None:
        self.administration_id, self.row, self.lines = administration_id, row, lines
        self.issued, self.year, self._head, self._tail = issued, year, head, tail
        self.data = simplejson.RawJSON(head + "null" + tail)

    def number(self, number: str) -> None:
        self.row[_NUMBER] = number
        self.data = simplejson.RawJSON(self._head + _text(number) + self._tail)


def _draft(claim: _Claim, lines: tuple, customer: _Customer, context: _Context, line_ids: Iterator[str]
           ) -> _Draft:
    """The invoice of one claimed period: a concept, or issued (its number comes later) with
    a copy of the contact (as models.invoices issues one). Its event data is what
    models.serialize.invoice shows for it, written as JSON text directly."""
    sub = claim.subscription
    shape, descriptions = lines
    issued = sub.invoice_status == "verzonden"
    status = "verzonden" if issued else "concept"
    due_date = claim.start + timedelta(days=sub.payment_term_days)
    label = period_label(claim.start, claim.end)
    line_rows, line_json = [], []
    for line, description, line_id in zip(shape.lines, descriptions, line_ids, strict=False):
        text = description if line.is_text_line else f"{description} ({label})"
        line_rows.append((line_id, context.administration, claim.invoice_id, line.position, text,
                          line.is_text_line, line.product, *line.amounts, None, context.now, context.now))
        line_json.append(f'{{"id": "{dashed(line_id)}", "position": {line.position}, '
                         f'"description": {_text(text)}, {line.json}}}')
    row = [claim.invoice_id, context.administration, None, status, False, None, customer.id,
           *(customer.snapshot if issued else _NO_SNAPSHOT), claim.start, due_date, sub.currency,
           sub.reference, sub.note, *shape.totals, 0, context.now, context.now]
    overdue = status in OPEN_STATUSES and shape.open and due_date < context.today
    # serialize.invoice's members in its order, encoded as models.events encodes them.
    head = f'{{"id": "{dashed(claim.invoice_id)}", "number": '
    tail = (f', "status": {_text(status)}, "is_credit_note": false, "credit_of": null, '
            f'"contact_id": "{customer.key}", "contact": {customer.json}, '
            f'"invoice_date": "{claim.start.isoformat()}", "due_date": "{due_date.isoformat()}", '
            f'"currency": {_text(sub.currency)}, "reference": {_text(sub.reference)}, '
            f'"note": {_text(sub.note)}, "lines": [{", ".join(line_json)}], {shape.json}, '
            f'"overdue": {"true" if overdue else "false"}, '
            f'"created_at": "{context.now_shown}", "updated_at": "{context.now_shown}"}}')
    return _Draft(context.administration_id, row, line_rows, issued, claim.start.year, head, tail)


def _write(invoices: list[_Draft], summary: BillingSummary) -> None:
    """Write the batch's invoices, their lines and an `invoice.created` event each."""
    if not invoices:
        return
    write_rows(Invoice, INVOICE_FIELDS, [draft.row for draft in invoices])
    write_rows(InvoiceLine, LINE_FIELDS, [line for draft in invoices for line in draft.lines])
    record_events(invoices[0].administration_id, [("invoice.created", draft.data) for draft in invoices])
    summary.invoices += len(invoices)
