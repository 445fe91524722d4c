"""Invoice totals: pure Decimal functions, the published totals policy, no database.

Policy (ROUND_HALF_UP, which on a Decimal rounds ties away from zero, so a negated
line gives exactly the negated totals):

- line_total_incl = round2(quantity × unit_price_incl)
- per VAT rate r: gross = Σ line_total_incl, vat = round2(gross × r / (100 + r)),
  excl = gross − vat
- invoice: total_incl = Σ gross, total_vat = Σ vat, total_excl = total_incl − total_vat

Each line also shows its own VAT and excl (the same formula on the line alone), but
the invoice's VAT is rounded once per rate, so it may differ by a few cents from the
sum of the lines' VAT. Quotes and subscriptions use these same functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, localcontext

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
# Enough digits for any quantity × price the API accepts, with room for the division.
_PRECISION = 60


def round2(value: Decimal) -> Decimal:
    """Round to cents, half up (ties away from zero)."""
    with localcontext(prec=_PRECISION):
        return value.quantize(CENT, rounding=ROUND_HALF_UP)


def line_total_incl(quantity: Decimal, unit_price_incl: Decimal) -> Decimal:
    """The VAT-inclusive amount of one line: round2(quantity × unit_price_incl)."""
    with localcontext(prec=_PRECISION):
        return round2(quantity * unit_price_incl)


def vat_in(gross: Decimal, tax_percentage: Decimal) -> Decimal:
    """The VAT contained in a VAT-inclusive amount: round2(gross × r / (100 + r))."""
    if tax_percentage == 0:
        return ZERO
    with localcontext(prec=_PRECISION):
        return round2(gross * tax_percentage / (HUNDRED + tax_percentage))


@dataclass(frozen=True)
class Amounts:
    """An amount split into its VAT-inclusive, VAT and VAT-exclusive parts."""

    total_incl: Decimal
    total_vat: Decimal
    total_excl: Decimal


@dataclass(frozen=True)
class RateTotals(Amounts):
    """The totals of all lines at one VAT rate."""

    tax_percentage: Decimal


@dataclass(frozen=True)
class InvoiceTotals(Amounts):
    """An invoice's totals and its VAT breakdown (one entry per rate, lowest rate first)."""

    vat_breakdown: tuple[RateTotals, ...]


@dataclass(frozen=True)
class LineAmounts:
    """What the totals need of a line; text lines are not passed in."""

    quantity: Decimal
    unit_price_incl: Decimal
    tax_percentage: Decimal


def line_amounts(quantity: Decimal, unit_price_incl: Decimal, tax_percentage: Decimal) -> Amounts:
    """A line's own total_incl, total_vat and total_excl (shown per line)."""
    incl = line_total_incl(quantity, unit_price_incl)
    vat = vat_in(incl, tax_percentage)
    return Amounts(incl, vat, incl - vat)


def invoice_totals(lines: Iterable[LineAmounts]) -> InvoiceTotals:
    """Totals of a document's amount lines, VAT rounded once per rate."""
    gross_by_rate: dict[Decimal, Decimal] = {}
    for line in lines:
        rate = Decimal(line.tax_percentage)
        gross_by_rate[rate] = gross_by_rate.get(rate, ZERO) + line_total_incl(
            line.quantity, line.unit_price_incl
        )
    breakdown = []
    for rate in sorted(gross_by_rate):
        gross = gross_by_rate[rate]
        vat = vat_in(gross, rate)
        breakdown.append(RateTotals(gross, vat, gross - vat, rate))
    total_incl = sum((r.total_incl for r in breakdown), ZERO)
    total_vat = sum((r.total_vat for r in breakdown), ZERO)
    return InvoiceTotals(total_incl, total_vat, total_incl - total_vat, tuple(breakdown))
