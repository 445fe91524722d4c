"""The VAT return (BTW-aangifte): turnover and VAT per return box for a period.

Every issued invoice and credit note (any status but `concept`) dated in the period
counts, in EUR; credit notes count negative because their lines are. The figures are
the sum of the documents' own VAT breakdowns (models.totals: VAT rounded once per rate
per document), so the report always equals what the invoices themselves say, to the
cent. Boxes of the Dutch return:

- 1a: rate 21 % (hoog tarief)
- 1b: rate 9 % (laag tarief)
- 1c: every other rate above 0 % (overige tarieven), also listed per rate in `rates`
- 1e: rate 0 % (0 % of niet bij u belast); turnover only

Documents in another currency are left out and counted in `excluded_documents`.

SQL sums line amounts per document and rate only: at most 1000 lines (InvoiceLines
maxItems) of at most 999,999,998,900,000 cents stay within a signed 64-bit integer, which
SQLite raises on rather than widening. The documents are added up in Python Decimals, so a
period's figures may pass that range (tests/api/test_vat_report.py checks both).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import peewee

from models.errors import DomainError
from models.invoices import Invoice, InvoiceLine
from models.totals import ZERO, vat_in

#: The return's boxes in order: (box, rate or None for "the other rates", what it holds).
BOXES = (
    ("1a", Decimal(21), "Leveringen/diensten belast met hoog tarief"),
    ("1b", Decimal(9), "Leveringen/diensten belast met laag tarief"),
    ("1c", None, "Leveringen/diensten belast met overige tarieven, behalve 0%"),
    ("1e", Decimal(0), "Leveringen/diensten belast met 0% of niet bij u belast"),
)
REPORT_CURRENCY = "EUR"
PERIOD = re.compile(r"^([1-9][0-9]{3})(?:-Q([1-4])|-(0[1-9]|1[0-2]))?$")


@dataclass
class Figures:
    """Turnover (excl. VAT) and VAT of the documents in one box or at one rate."""

    turnover: Decimal = ZERO
    vat: Decimal = ZERO
    documents: set = field(default_factory=set)

    def add(self, document_id, excl: Decimal, vat: Decimal) -> None:
        self.turnover += excl
        self.vat += vat
        self.documents.add(document_id)


@dataclass
class BoxFigures:
    box: str
    description: str
    tax_percentage: Decimal | None
    figures: Figures


@dataclass
class RateFigures:
    tax_percentage: Decimal
    box: str
    figures: Figures


@dataclass
class VatReport:
    period: str
    date_from: date
    date_to: date
    boxes: list[BoxFigures]
    rates: list[RateFigures]
    total: Figures
    excluded_documents: int


def period_dates(period: str) -> tuple[date, date]:
    """`2026-Q2`, `2026-05` or `2026` as its first and last day; anything else is a 400."""
    found = PERIOD.match(period or "")
    if found is None:
        message = "must be a year (2026), a quarter (2026-Q2) or a month (2026-05), years 1000-9999"
        raise DomainError(f"period: {message}", errors=[{"field": "period", "message": message}])
    year = int(found.group(1))
    if found.group(2):
        first_month = (int(found.group(2)) - 1) * 3 + 1
        last_month = first_month + 2
    elif found.group(3):
        first_month = last_month = int(found.group(3))
    else:
        first_month, last_month = 1, 12
    return date(year, first_month, 1), date(year, last_month, calendar.monthrange(year, last_month)[1])


def box_of(rate: Decimal) -> str:
    return next((box for box, box_rate, _ in BOXES if box_rate == rate), "1c")


def vat_report(administration_id, period: str) -> VatReport:
    """The VAT return figures of `period` (one query: the documents' gross per rate)."""
    date_from, date_to = period_dates(period)
    in_period = ((Invoice.administration == administration_id) & (Invoice.status != "concept")
                 & (Invoice.invoice_date >= date_from) & (Invoice.invoice_date <= date_to))
    query = (InvoiceLine
            .select(Invoice.id, Invoice.currency, InvoiceLine.tax_percentage,
                    peewee.fn.SUM(InvoiceLine.total_incl).coerce(False).alias("gross"))
            .join(Invoice, on=(InvoiceLine.invoice == Invoice.id))
            .where(in_period, InvoiceLine.administration == administration_id,
                   InvoiceLine.is_text_line == False)  # noqa: E712
            .group_by(Invoice.id, Invoice.currency, InvoiceLine.tax_percentage)
            .tuples())
    rows: Iterable[tuple] = query.execute()  # .tuples(): rows are tuples
    boxes = {box: BoxFigures(box, text, rate, Figures()) for box, rate, text in BOXES}
    rates: dict[Decimal, Figures] = {}
    total = Figures()
    excluded: set = set()
    for document_id, currency, rate, gross_value in rows:   # the rate comes converted, the sum not
        if currency != REPORT_CURRENCY:
            excluded.add(document_id)
            continue
        gross = InvoiceLine.total_incl.python_value(gross_value)
        vat = vat_in(gross, rate)
        boxes[box_of(rate)].figures.add(document_id, gross - vat, vat)
        rates.setdefault(rate, Figures()).add(document_id, gross - vat, vat)
        total.add(document_id, gross - vat, vat)
    return VatReport(period, date_from, date_to, list(boxes.values()),
                     [RateFigures(rate, box_of(rate), rates[rate]) for rate in sorted(rates)], total,
                     len(excluded))
