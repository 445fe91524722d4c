"""Billing periods of a subscription: pure calendar arithmetic, no database.

Period k starts `k × interval_count` intervals after the anchor (the start date),
always counted from the anchor, so a subscription that starts on 31 January bills
on 28/29 February and again on 31 March. A period ends the day before the next starts.
"""

from __future__ import annotations

import calendar
import functools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

MONTHS_PER_INTERVAL = {"month": 1, "quarter": 3, "year": 12}
#: The calendar the business days of a Dutch administration follow.
BUSINESS_TIMEZONE = ZoneInfo("Europe/Amsterdam")


def business_today() -> date:
    """Today in the Netherlands."""
    return datetime.now(BUSINESS_TIMEZONE).date()


@functools.lru_cache(maxsize=8192)   # the billing run asks for the same few dates again and again
def add_months(day: date, months: int) -> date:
    """`day` moved by whole months, clamped to the end of a shorter month."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


def period_start(anchor: date, interval: str, interval_count: int, index: int) -> date:
    return add_months(anchor, MONTHS_PER_INTERVAL[interval] * interval_count * index)


def period(anchor: date, interval: str, interval_count: int, index: int) -> tuple[date, date]:
    """(first day, last day) of period `index` (0 is the period that starts on the anchor)."""
    start = period_start(anchor, interval, interval_count, index)
    following = period_start(anchor, interval, interval_count, index + 1)
    return start, following - timedelta(days=1)


def periods_due(anchor: date, interval: str, interval_count: int, from_index: int, through: date,
                end_date: date | None = None) -> list[tuple[int, date, date]]:
    """Periods from `from_index` on that start on or before `through` (and not after `end_date`)."""
    due: list[tuple[int, date, date]] = []
    index = from_index
    while True:
        start, end = period(anchor, interval, interval_count, index)
        if start > through or (end_date is not None and start > end_date):
            return due
        due.append((index, start, end))
        index += 1


def first_index_on_or_after(anchor: date, interval: str, interval_count: int, day: date) -> int:
    """The first period that starts on or after `day` (used when a paused subscription resumes)."""
    months = MONTHS_PER_INTERVAL[interval] * interval_count
    index = max(0, ((day.year - anchor.year) * 12 + day.month - anchor.month) // months - 1)
    while period_start(anchor, interval, interval_count, index) < day:
        index += 1
    return index
