"""Exact money and quantity handling: Decimal in Python, integers in the database."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from models.errors import Invalid

CENT = Decimal("0.01")
QUANTITY_STEP = Decimal("0.0001")
# JSON numbers arrive as binary floats; anything closer than this to a step is that step.
_FLOAT_NOISE = Decimal("1e-9")


def round2(value: Decimal) -> Decimal:
    """Round to cents, half up (the published totals policy)."""
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def to_decimal(value, field: str, step: Decimal = CENT) -> Decimal:
    """Turn a JSON number into an exact Decimal on `step`; more precision is a 422."""
    if isinstance(value, bool) or value is None:
        raise Invalid.field(field, "must be a number")
    try:
        exact = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except (InvalidOperation, ValueError, TypeError):
        raise Invalid.field(field, "must be a number") from None
    if not exact.is_finite():
        raise Invalid.field(field, "must be a finite number")
    try:
        stepped = exact.quantize(step, rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise Invalid.field(field, "is too large") from None
    if abs(exact - stepped) > _FLOAT_NOISE:
        decimals = -int(step.as_tuple().exponent)
        raise Invalid.field(field, f"must have at most {decimals} decimals")
    return stepped


def to_money(value, field: str) -> Decimal:
    return to_decimal(value, field, CENT)


def to_quantity(value, field: str) -> Decimal:
    return to_decimal(value, field, QUANTITY_STEP)
