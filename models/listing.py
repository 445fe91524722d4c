"""Shared list behaviour: incremental sync, stable order, limit/offset, a bounded `total`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import peewee

from models.errors import DomainError


def naive_utc(value: datetime | str) -> datetime:
    """An RFC 3339 timestamp as a naive UTC datetime.

    RFC 3339 allows a lower-case `t` and `z`. An instant that lies outside the years 1-9999
    once moved to UTC (`0001-01-01T00:00:00+01:00`, `9999-12-31T23:59:59-01:00`) is clamped
    to the first or last representable instant: as a lower bound it then means "from the
    beginning" or "nothing yet". A value Python cannot read at all is a 400."""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text.strip().upper().replace("Z", "+00:00"))
        except ValueError:
            raise DomainError(f"not an RFC 3339 timestamp: {text[:40]!r}") from None
    if value.tzinfo is not None:
        try:
            value = value.astimezone(UTC).replace(tzinfo=None)
        except OverflowError:
            value = datetime.min if value.year == 1 else datetime.max
    return value


# `total` counts matching rows up to this many. An exact count over a large list costs
# more than the page itself (at 1,000,000 contacts 192 of a page's 193 ms), so above the
# cap a list answers total=TOTAL_COUNT_LIMIT with total_exact=false; `has_more` stays exact.
TOTAL_COUNT_LIMIT = 10_000


@dataclass
class Page:
    """One page of a list and what the list envelope says about the rest of it."""

    rows: list
    limit: int
    offset: int
    total: int
    total_exact: bool
    has_more: bool

    def envelope(self) -> dict:
        """The paging fields of the list response (`Page` in the spec)."""
        return {"total": self.total, "total_exact": self.total_exact, "has_more": self.has_more,
                "limit": self.limit, "offset": self.offset}


@dataclass
class CursorPage:
    """One page of a list read onwards from a cursor (the id of the last row seen), such as
    the event feed: no offset and no count, and `next_after` is the cursor of the next page."""

    rows: list
    limit: int
    has_more: bool
    next_after: str | None

    def envelope(self) -> dict:
        """The paging fields of the list response (`EventPage` in the spec)."""
        return {"limit": self.limit, "has_more": self.has_more, "next_after": self.next_after}


def paginate(query: peewee.ModelSelect | peewee.Select, model, *, limit: int, offset: int,
             updated_since=None, order: tuple | None = None) -> Page:
    """One page of `query` in `order` (default `created_at`, `id`), with `has_more` from one
    extra row and `total` counted only when the page does not already imply it, up to
    TOTAL_COUNT_LIMIT."""
    if updated_since is not None:
        query = query.where(model.updated_at >= naive_utc(updated_since))
    order = order or (model.created_at, model.id)
    rows = list(query.order_by(*order).limit(limit + 1).offset(offset))
    has_more = len(rows) > limit
    del rows[limit:]
    seen = offset + len(rows)
    if not has_more and (rows or offset == 0):
        matching = seen  # the last page: everything matching is before or on it
    elif has_more and seen >= TOTAL_COUNT_LIMIT:
        matching = TOTAL_COUNT_LIMIT + 1  # more than the cap, known without counting
    else:
        matching = query.order_by().limit(TOTAL_COUNT_LIMIT + 1).count()
    total_exact = matching <= TOTAL_COUNT_LIMIT
    return Page(rows, limit, offset, min(matching, TOTAL_COUNT_LIMIT), total_exact, has_more)


def parse_statuses(value: str | None, allowed: tuple[str, ...]) -> list[str] | None:
    """A `status` filter such as `verzonden,deels_betaald` as a list; an unknown status is a 400."""
    if value is None:
        return None
    statuses = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in statuses if s not in allowed]
    if unknown or not statuses:
        message = f"unknown status {', '.join(unknown) or value!r}; choose from {', '.join(allowed)}"
        raise DomainError(f"status: {message}", errors=[{"field": "status", "message": message}])
    return statuses
