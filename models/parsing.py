"""What a request names, read into Python values: ids, dates and the rows an id refers to.

Two kinds of id: the one in the URL (a malformed or unknown one is a 404, the resource
does not exist) and one in a request body (a 422 naming the field: the request is what
is wrong). Dates are `YYYY-MM-DD`; a bad one is a 422 in a body, a 400 in a query.
"""

from __future__ import annotations

import uuid
from datetime import date
from typing import TypeVar

from models.db import TenantModel, is_postgres
from models.errors import DomainError, Invalid, NotFound

Row = TypeVar("Row", bound=TenantModel)


def parse_uuid(value, what: str) -> uuid.UUID:
    """An id from a request as a UUID; a malformed one cannot exist, so it is a 404."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise NotFound(f"{what} {value} not found") from None


def missing_reference(field: str, what: str, value) -> Invalid:
    """An id in a request body that names nothing in the administration: a 422 naming the
    field. Never a 404, which always means the resource in the URL does not exist."""
    return Invalid(f"{field}: there is no {what} {value} in this administration",
                   errors=[{"field": field, "message": f"no such {what} in this administration"}])


def reference_uuid(value, field: str, what: str) -> uuid.UUID:
    """An id in a request body as a UUID; a malformed one names nothing (422)."""
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except ValueError:
        raise missing_reference(field, what, value) from None


def referenced(model: type[Row], administration_id, value, field: str, *, lock: bool = False) -> Row:
    """The administration's `model` row a request body names in `field`, or a 422.

    With `lock`, the row stays locked until the transaction ends (FOR UPDATE on
    PostgreSQL; SQLite already serialises writers)."""
    what = model._meta.name.replace("_", " ")  # type: ignore[attr-defined]
    query = model.of(administration_id).where(model.id == reference_uuid(value, field, what))
    if lock and is_postgres():
        query = query.for_update()
    row = query.first()
    if row is None:
        raise missing_reference(field, what, value)
    return row


def parse_date(value, field: str, *, query: bool = False) -> date | None:
    """A `YYYY-MM-DD` string as a date; anything else is a 422 (a 400 for a query parameter)."""
    if value is None or isinstance(value, date):
        return value
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        error = DomainError if query else Invalid
        raise error(f"{field}: not a valid date (YYYY-MM-DD)",
                    errors=[{"field": field, "message": "not a valid date (YYYY-MM-DD)"}]) from None
