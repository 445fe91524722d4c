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


def paginate(query: peewee.ModelSelect | peewee.Select, model, *, limit: int, offset: int,
             updated_since=None) -> tuple[list, int]:
    """One page of `query` in (created_at, id) order, and the number of matching rows."""
    if updated_since is not None:
        query = query.where(model.updated_at >= naive_utc(updated_since))
    total = query.order_by().count()
    rows = list(query.order_by(model.created_at, model.id).limit(limit).offset(offset))
    return rows, total



def parse_statuses(value: str | None, allowed: tuple[str, ...]) -> list[str] | None:
    """A `status` filter such as `verzonden,deels_betaald` as a list; an unknown status is a 400."""
    from models.errors import DomainError

    if value is None:
        return None
    statuses = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in statuses if s not in allowed]
    if unknown or not statuses:
        message = f"unknown status {', '.join(unknown) or value!r}; choose from {', '.join(allowed)}"
        raise DomainError(f"status: {message}", errors=[{"field": "status", "message": message}])
    return statuses
