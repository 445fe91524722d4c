"""Fan-out: turn outbox events into one delivery per matching webhook endpoint.

The worker does this, not the request that wrote the event, so a write costs one
event row and nothing more. It is exactly-once: one worker at a time dispatches (a
transaction-level advisory lock on PostgreSQL that the others skip, the write lock on
SQLite), and it inserts the deliveries and marks their events dispatched in one
transaction. If the worker dies first, nothing is committed and the next one
dispatches them; UNIQUE(endpoint, event) makes a repeated insert a no-op. Dispatching
one batch at a time in event order keeps each endpoint's deliveries in that order.
An endpoint receives the events recorded from its creation on, while it is enabled.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

from models.db import database, is_postgres
from models.events import Event
from models.webhooks import WebhookDelivery, WebhookEndpoint

DISPATCH_BATCH = 200
_DISPATCH_LOCK = 7_201_335  # advisory lock held by the one worker dispatching
_INSERT_CHUNK = 500


def dispatch_events(now: datetime, limit: int = DISPATCH_BATCH) -> int:
    """Create the deliveries of up to `limit` undispatched events, oldest first; returns
    how many events were dispatched."""
    # A read first: most calls find nothing, and need not take a write lock to learn it.
    if not Event.select(Event.id).where(Event.dispatched_at.is_null()).exists():
        return 0
    with database.atomic():
        if is_postgres():
            locked = database.execute_sql("SELECT pg_try_advisory_xact_lock(%s)", (_DISPATCH_LOCK,))
            if not locked.fetchone()[0]:
                return 0  # another worker is dispatching
        events = list(
            Event.select(Event.id, Event.administration, Event.type, Event.xact_id, Event.seq,
                         Event.created_at)
            .where(Event.dispatched_at.is_null())
            .order_by(Event.xact_id, Event.seq)
            .limit(limit)
        )
        if not events:
            return 0
        endpoints = defaultdict(list)
        administrations = {event.administration_id for event in events}
        for endpoint in WebhookEndpoint.select(
            WebhookEndpoint.id, WebhookEndpoint.administration, WebhookEndpoint.events,
            WebhookEndpoint.created_at,
        ).where(WebhookEndpoint.administration.in_(administrations), WebhookEndpoint.enabled):
            endpoints[endpoint.administration_id].append(endpoint)
        rows = [
            {
                "id": uuid.uuid4(),
                "administration": event.administration_id,
                "endpoint": endpoint.id,
                "event": event.id,
                "event_xact_id": event.xact_id,
                "event_seq": event.seq,
                "status": "pending",
                "attempts": 0,
                "failures": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for event in events
            for endpoint in endpoints[event.administration_id]
            if endpoint.wants(event.type) and event.created_at >= endpoint.created_at
        ]
        for start in range(0, len(rows), _INSERT_CHUNK):
            _insert_deliveries(rows[start:start + _INSERT_CHUNK])
        Event.update(dispatched_at=now).where(Event.id.in_([e.id for e in events])).execute()
        return len(events)


_COLUMNS = ("id", "administration", "endpoint", "event", "event_xact_id", "event_seq", "status",
            "attempts", "failures", "next_attempt_at", "created_at", "updated_at")


def _insert_deliveries(rows: list[dict]) -> None:
    """INSERT … ON CONFLICT DO NOTHING of new deliveries. On PostgreSQL the statement is
    written here with the driver's own parameters: Peewee's query builder costs more CPU
    per value than the rest of a delivery's dispatch (a backlog fans out thousands of rows)."""
    if not is_postgres():
        WebhookDelivery.insert_many(rows).on_conflict_ignore().execute()
        return
    fields = [WebhookDelivery._meta.fields[name] for name in _COLUMNS]
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (f"INSERT INTO {WebhookDelivery._meta.table_name} ({', '.join(f.column_name for f in fields)}) "
           f"VALUES {', '.join([one] * len(rows))} ON CONFLICT DO NOTHING")
    params = [row[name] for row in rows for name in _COLUMNS]
    database.execute_sql(sql, params)
