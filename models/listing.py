"""Shared list behaviour: incremental sync, stable order, limit/offset or a keyset cursor, a
bounded `total`.

A list is ordered by `created_at`, then `id` (or an order of its own that ends in `id`), so
every row has one place in it. `offset` counts rows to skip; `starting_after` / `ending_before`
name a row of the list and page by keyset from that row's place: the database seeks in the
list's index instead of reading and dropping every row before the page, so page 9,000 costs
what page 1 costs, and rows inserted meanwhile never shift a page.
"""

from __future__ import annotations

import functools
import operator
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import peewee

from models.errors import DomainError, NotFound
from models.parsing import parse_date, parse_uuid


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


#: The indexes every list of a tenant's rows reads: its order (`created_at`, `id`) and
#: `updated_since`. A listed model's `Meta.indexes` includes them.
LIST_INDEXES = (
    (("administration", "created_at", "id"), False),
    (("administration", "updated_at"), False),
)


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


def _cursor_row(model, administration_id, order: tuple, field: str, value) -> peewee.Select:
    """The `order` values of the row a cursor names, as a subquery: a row of this resource in
    the administration (it need not match the list's filters any more)."""
    try:
        key = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise _no_such_row(model, field) from None
    return model.select(*order).where(model.id == key, model.administration == administration_id)


def _no_such_row(model, field: str) -> NotFound:
    message = f"no {model._meta.table_name.replace('_', ' ')} with this id in this list"
    return NotFound(f"{field}: {message}", errors=[{"field": field, "message": message}])


#: The paging arguments every list takes (the spec's `limit`, `offset`, `updated_since`,
#: `starting_after` and `ending_before` parameters), with their defaults, as `paginate` takes them.
PAGING = {"limit": 100, "offset": 0, "updated_since": None, "starting_after": None, "ending_before": None}


def matching(query, q: str | None, search: tuple[peewee.Field, ...],
             equal: tuple[tuple[peewee.Field, object], ...] = ()):
    """`query` narrowed to rows with `q` in one of the `search` columns, and to each
    `(column, value)` of `equal`: each only when given (not None; `q` not empty)."""
    if q:
        query = query.where(functools.reduce(operator.or_, (column.contains(q) for column in search)))
    for column, value in equal:
        if value is not None:
            query = query.where(column == value)
    return query


def paginate(query: peewee.ModelSelect | peewee.Select, model, *, limit: int = 100, offset: int = 0,
             updated_since=None, order: tuple | None = None, administration_id=None,
             starting_after=None, ending_before=None, fetch=list, counted=None) -> Page:
    """One page of `query` in `order` (default `created_at`, `id`), with `has_more` from one
    extra row and `total` counted only when the page does not already imply it, up to
    TOTAL_COUNT_LIMIT.

    With `starting_after` (`ending_before`) the page is the `limit` rows right after (before)
    that row, found by keyset on `order`; `has_more` then says whether rows follow (precede)
    the page in that direction. With both, the rows between the two, from the first; an
    `offset` skips rows from the cursor on. A cursor that names no row of the resource is a
    404. `total` counts the whole list, as on any page. `fetch` runs the page's query
    (default: its rows as the query returns them); `counted`, the same rows selected more
    simply (no joins), is what `total` counts when given."""
    counted = query if counted is None else counted
    if updated_since is not None:
        query = query.where(model.updated_at >= naive_utc(updated_since))
        counted = counted.where(model.updated_at >= naive_utc(updated_since))
    order = order or (model.created_at, model.id)
    if starting_after is not None or ending_before is not None:
        return _keyset_page(query, model, order, limit=limit, offset=offset, counted=counted,
                            administration_id=administration_id, fetch=fetch,
                            starting_after=starting_after, ending_before=ending_before)
    rows = fetch(query.order_by(*order).limit(limit + 1).offset(offset))
    has_more = len(rows) > limit
    del rows[limit:]
    seen = offset + len(rows)
    if not has_more and (rows or offset == 0):
        matching = seen  # the last page: everything matching is before or on it
    elif has_more and seen >= TOTAL_COUNT_LIMIT:
        matching = TOTAL_COUNT_LIMIT + 1  # more than the cap, known without counting
    else:
        matching = counted.order_by().limit(TOTAL_COUNT_LIMIT + 1).count()
    total_exact = matching <= TOTAL_COUNT_LIMIT
    return Page(rows, limit, offset, min(matching, TOTAL_COUNT_LIMIT), total_exact, has_more)


def _keyset_page(query, model, order: tuple, *, limit: int, offset: int, counted, administration_id,
                 fetch, starting_after, ending_before) -> Page:
    assert administration_id is not None, "a keyset page needs the administration"
    # The cursor rows are read inside the page's own statement; only an empty page asks
    # whether a cursor named a row at all.
    position = peewee.Tuple(*order)
    cursors = {field: _cursor_row(model, administration_id, order, field, value)
               for field, value in (("starting_after", starting_after), ("ending_before", ending_before))
               if value is not None}
    if "starting_after" in cursors:
        query = query.where(position > cursors["starting_after"])
    if "ending_before" in cursors:
        query = query.where(position < cursors["ending_before"])
    backwards = "starting_after" not in cursors
    page = query.order_by(*((c.desc() for c in order) if backwards else order)).limit(limit + 1)
    rows = fetch(page.offset(offset) if offset else page)
    if not rows:
        for field, cursor in cursors.items():
            if not cursor.exists():
                raise _no_such_row(model, field)
    has_more = len(rows) > limit
    del rows[limit:]
    if backwards:
        rows.reverse()
    matching = counted.order_by().limit(TOTAL_COUNT_LIMIT + 1).count()
    return Page(rows, limit, offset, min(matching, TOTAL_COUNT_LIMIT), matching <= TOTAL_COUNT_LIMIT,
                has_more)


def filter_contact_and_dates(query, model, date_column: peewee.Field, *, contact_id=None, date_from=None,
                             date_to=None):
    """`query` narrowed to one contact's rows and to `date_column` from `date_from` through
    `date_to` (each only when given; a malformed one is a 404 or 400, as its parameter)."""
    if contact_id is not None:
        query = query.where(model.contact == parse_uuid(contact_id, "contact"))
    if date_from is not None:
        query = query.where(date_column >= parse_date(date_from, "date_from", query=True))
    if date_to is not None:
        query = query.where(date_column <= parse_date(date_to, "date_to", query=True))
    return query


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
