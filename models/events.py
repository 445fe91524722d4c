"""The transactional outbox: every change writes its event row in its own transaction."""

from __future__ import annotations

import json

import peewee

from models.db import TenantModel, database
from models.tenancy import Administration


class Event(TenantModel):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    type = peewee.CharField(max_length=64)
    payload = peewee.TextField()

    class Meta:
        indexes = ((("administration", "created_at", "id"), False),)


def record_event(administration_id, event_type: str, data: dict, **extra) -> Event:
    """Write an event for a change; call inside the change's own transaction."""
    assert database.in_transaction(), "events are written in the transaction of their change"
    event = Event(administration=administration_id, type=event_type)
    body = {
        "id": str(event.id),
        "type": event_type,
        "created_at": data.get("updated_at"),
        "data": data,
        **extra,
    }
    event.payload = json.dumps(body, default=str)
    event.save(force_insert=True)
    return event
