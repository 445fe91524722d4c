"""The transactional outbox: every change writes its event row in its own transaction.

Events are read in *commit-safe order* `(xact_id, seq)`, by `GET /events?after=` and by
the webhook worker:

- `seq` numbers events in the order they were written.
- On PostgreSQL `xact_id` is the writing transaction's id (`txid_current()`), and a
  reader only sees events whose transaction is older than the oldest transaction still
  running (`txid_snapshot_xmin`). Every event from such a transaction is committed (or
  gone for good), and any event committed later has a larger `xact_id`, so it sorts
  after everything already returned: a cursor never skips an event that commits late.
- On SQLite writers are serialised (`BEGIN IMMEDIATE`), so commit order is write order;
  `xact_id` is 0 and `seq` alone is the order.

Events are kept at least `PAYDOCK_EVENT_RETENTION_DAYS` (30) days; `purge_events`
removes older ones once the worker has fanned them out to webhook deliveries.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

import peewee
import simplejson

from models import serialize
from models.db import TenantModel, database, is_postgres, utcnow, write_rows
from models.listing import CursorPage
from models.tenancy import Administration

#: Every event type PayDock emits (the `events` filter of a webhook endpoint takes these).
EVENT_TYPES = (
    "contact.created", "contact.updated", "contact.deleted",
    "product.created", "product.updated", "product.deleted",
    "invoice.created", "invoice.updated", "invoice.deleted", "invoice.sent", "invoice.reminded",
    "quote.created", "quote.updated", "quote.deleted",
    "subscription.created", "subscription.updated",
    "payment.created", "payment.refunded",
)
SEQUENCE = "event_order_seq"  # PostgreSQL sequence behind Event.seq


class Event(TenantModel):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    administration_id: uuid.UUID
    type = peewee.CharField(max_length=64)
    payload = peewee.TextField()
    xact_id = peewee.BigIntegerField(default=0)
    seq = peewee.BigIntegerField(null=True)
    #: When the webhook worker created this event's deliveries (NULL: not yet).
    dispatched_at = peewee.DateTimeField(null=True)

    class Meta:
        indexes = (
            (("administration", "created_at", "id"), False),
            (("administration", "xact_id", "seq"), False),
        )


Event.add_index(Event.index(Event.seq, name="event_seq_idx"))
Event.add_index(
    Event.index(Event.xact_id, Event.seq, name="event_undispatched_idx",
                where=Event.dispatched_at.is_null())
)
Event.add_index(Event.index(Event.created_at, name="event_created_at_idx"))


def record_event(administration_id, event_type: str, data: dict, **extra) -> Event:
    """Write an event for a change; call inside the change's own transaction."""
    assert database.in_transaction(), "events are written in the transaction of their change"
    now = utcnow()
    event_id = uuid.uuid4()
    body = {
        "id": str(event_id),
        "type": event_type,
        "created_at": serialize.timestamp(now),
        "data": data,
        **extra,
    }
    payload = simplejson.dumps(body, use_decimal=True, default=str)
    order: dict[str, object]
    if is_postgres():
        order = {"xact_id": peewee.fn.txid_current(), "seq": peewee.fn.nextval(SEQUENCE)}
    else:
        next_seq = Event.select(peewee.fn.COALESCE(peewee.fn.MAX(Event.seq), 0) + 1)
        order = {"xact_id": 0, "seq": next_seq}
    Event.insert(
        id=event_id, administration=administration_id, type=event_type, payload=payload,
        created_at=now, updated_at=now, **order,
    ).execute()
    return Event(id=event_id, administration=administration_id, type=event_type, payload=payload,
                 created_at=now, updated_at=now)


def record_events(administration_id, events: list[tuple[str, dict | simplejson.RawJSON]]) -> None:
    """Write many events of one transaction at once (a batch job such as the billing run):
    the same rows, in the same order, as `record_event` for each `(type, data)`, in one
    bulk write (models.db.write_rows). `data` may come encoded already (simplejson.RawJSON).
    Keep the two in step."""
    assert database.in_transaction(), "events are written in the transaction of their change"
    if not events:
        return
    now = utcnow()
    created = serialize.timestamp(now)
    seqs: Iterable[int]
    if is_postgres():
        # The transaction's id and a block of sequence values, taken in event order: what
        # txid_current() and nextval() give each row of record_event.
        xact_id = database.execute_sql("SELECT txid_current()").fetchone()[0]
        seqs = sorted(seq for (seq,) in database.execute_sql(
            "SELECT nextval(%s) FROM generate_series(1, %s)", (SEQUENCE, len(events))))
    else:
        base = Event.select(peewee.fn.COALESCE(peewee.fn.MAX(Event.seq), 0)).scalar()
        xact_id, seqs = 0, range(base + 1, base + 1 + len(events))
    administration = Event.administration.db_value(administration_id)
    rows = []
    for (event_type, data), seq in zip(events, seqs, strict=True):
        event_id = uuid.uuid4()
        body = {"id": str(event_id), "type": event_type, "created_at": created, "data": data}
        payload = simplejson.dumps(body, use_decimal=True, default=str)
        rows.append((event_id.hex, administration, event_type, payload, xact_id, seq, now, now))
    write_rows(Event, [Event.id, Event.administration, Event.type, Event.payload, Event.xact_id, Event.seq,
                       Event.created_at, Event.updated_at], rows)


def _settled():
    """Only events whose writing transaction has ended (see the module docstring)."""
    if is_postgres():
        return Event.xact_id < peewee.SQL("txid_snapshot_xmin(txid_current_snapshot())")
    return peewee.SQL("1 = 1")


def list_events(administration_id, *, after=None, limit: int = 100) -> CursorPage:
    """Events after the event `after` (or from the oldest kept), in commit-safe order; the
    page's `next_after` is its last event (or `after` again when there is none yet)."""
    query = Event.of(administration_id).where(_settled())
    if after is not None:
        cursor = Event.get_owned(administration_id, after)
        query = query.where(
            peewee.Tuple(Event.xact_id, Event.seq) > peewee.Tuple(cursor.xact_id, cursor.seq)
        )
    rows = list(query.order_by(Event.xact_id, Event.seq).limit(limit + 1))
    has_more = len(rows) > limit
    del rows[limit:]
    cursor_id = rows[-1].id if rows else after
    return CursorPage(rows, limit, has_more, None if cursor_id is None else str(cursor_id))


def get_event(administration_id, event_id) -> Event:
    return Event.get_owned(administration_id, event_id)


def purge_events(now: datetime | None = None, retention_days: int = 30) -> int:
    """Delete events older than the retention period, with their delivery log.
    Events the worker has not fanned out yet are kept whatever their age."""
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    with database.atomic():
        return (
            Event.delete()
            .where(Event.created_at < cutoff, Event.dispatched_at.is_null(False))
            .execute()
        )
