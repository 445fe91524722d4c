"""Shared list behaviour: tenant scope, incremental sync, stable order, limit/offset."""

from __future__ import annotations

from datetime import UTC, datetime

import peewee


def naive_utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


def paginate(query: peewee.ModelSelect, model, *, limit: int, offset: int,
             updated_since=None) -> tuple[list, int]:
    """One page of `query` in (created_at, id) order, and the number of matching rows."""
    if updated_since is not None:
        query = query.where(model.updated_at >= naive_utc(updated_since))
    total = query.order_by().count()
    rows = list(query.order_by(model.created_at, model.id).limit(limit).offset(offset))
    return rows, total

