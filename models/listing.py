"""Shared list behaviour: incremental sync, stable order, limit/offset or a keyset cursor, a
bounded `total`.

A list is ordered by `created_at`, then `id` (or an order of its own that ends in `id`), so
every row has one place in it. `offset` counts rows to skip; `starting_after` / `ending_before`
name a row of the list and page by keyset from that row's place: the database seeks in the
list's index instead of reading and dropping every row before the page, so page 9,000 costs
what page 1 costs, and rows inserted meanwhile never shift a page.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

import peewee

from models.errors import DomainError


def naive_utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
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


def _cursor_error(field: str, message: str) -> DomainError:
    return DomainError(f"{field}: {message}", errors=[{"field": field, "message": message}])


def _cursor_row(model, administration_id, order: tuple, field: str, value) -> peewee.Select:
    """The `order` values of the row a cursor names, as a subquery: a row of this resource in
    the administration (it need not match the list's filters any more)."""
    try:
        key = value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise _cursor_error(field, "not an id") from None
    return model.select(*order).where(model.id == key, model.administration == administration_id)


def paginate(query: peewee.ModelSelect | peewee.Select, model, *, limit: int, offset: int,
             updated_since=None, order: tuple | None = None, administration_id=None,
             starting_after=None, ending_before=None) -> Page:
    """One page of `query` in `order` (default `created_at`, `id`), with `has_more` from one
    extra row and `total` counted only when the page does not already imply it, up to
    TOTAL_COUNT_LIMIT.

    With `starting_after` (`ending_before`) the page is the `limit` rows right after (before)
    that row, found by keyset on `order`; `has_more` then says whether rows follow (precede)
    the page in that direction."""
    if updated_since is not None:
        query = query.where(model.updated_at >= naive_utc(updated_since))
    order = order or (model.created_at, model.id)
    if starting_after is not None or ending_before is not None:
        return _keyset_page(query, model, order, limit=limit, offset=offset,
                            administration_id=administration_id,
                            starting_after=starting_after, ending_before=ending_before)
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


def _keyset_page(query, model, order: tuple, *, limit: int, offset: int, administration_id,
                 starting_after, ending_before) -> Page:
    if starting_after is not None and ending_before is not None:
        raise _cursor_error("ending_before", "give starting_after or ending_before, not both")
    field = "starting_after" if starting_after is not None else "ending_before"
    if offset:
        raise _cursor_error("offset", f"a page is found by {field} or by offset, not both")
    assert administration_id is not None, "a keyset page needs the administration"
    cursor = _cursor_row(model, administration_id, order, field,
                         starting_after if starting_after is not None else ending_before)
    # The cursor row is read inside the page's own statement; only an empty page asks
    # whether the cursor named a row at all.
    position = peewee.Tuple(*order)
    if starting_after is not None:
        rows = list(query.where(position > cursor).order_by(*order).limit(limit + 1))
    else:
        rows = list(query.where(position < cursor).order_by(*(c.desc() for c in order)).limit(limit + 1))
    if not rows and not cursor.exists():
        raise _cursor_error(field, f"no {model._meta.table_name.replace('_', ' ')} with this id in this list")
    has_more = len(rows) > limit
    del rows[limit:]
    if ending_before is not None:
        rows.reverse()
    matching = query.order_by().limit(TOTAL_COUNT_LIMIT + 1).count()
    return Page(rows, limit, 0, min(matching, TOTAL_COUNT_LIMIT), matching <= TOTAL_COUNT_LIMIT,
                has_more)


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
