"""Billing periods against hand-made calendars (14 months)."""

from datetime import date

import pytest

from models.periods import first_index_on_or_after, period, periods_due


def starts(anchor, interval, count=1, through=date(2027, 2, 28)):
    return [start for _, start, _ in periods_due(anchor, interval, count, 0, through)]


def test_monthly_from_31_january_clamps_to_month_end():
    assert starts(date(2026, 1, 31), "month") == [
        date(2026, 1, 31), date(2026, 2, 28), date(2026, 3, 31), date(2026, 4, 30),
        date(2026, 5, 31), date(2026, 6, 30), date(2026, 7, 31), date(2026, 8, 31),
        date(2026, 9, 30), date(2026, 10, 31), date(2026, 11, 30), date(2026, 12, 31),
        date(2027, 1, 31), date(2027, 2, 28),
    ]


def test_monthly_from_31_january_in_a_leap_year():
    assert starts(date(2028, 1, 31), "month", through=date(2028, 4, 30)) == [
        date(2028, 1, 31), date(2028, 2, 29), date(2028, 3, 31), date(2028, 4, 30),
    ]


def test_periods_end_the_day_before_the_next_starts():
    assert period(date(2026, 1, 31), "month", 1, 0) == (date(2026, 1, 31), date(2026, 2, 27))
    assert period(date(2026, 1, 31), "month", 1, 1) == (date(2026, 2, 28), date(2026, 3, 30))
    assert period(date(2026, 1, 1), "month", 1, 0) == (date(2026, 1, 1), date(2026, 1, 31))


def test_quarterly_from_29_february():
    assert starts(date(2028, 2, 29), "quarter", through=date(2029, 4, 30)) == [
        date(2028, 2, 29), date(2028, 5, 29), date(2028, 8, 29), date(2028, 11, 29),
        date(2029, 2, 28),
    ]


def test_yearly_from_29_february():
    assert starts(date(2028, 2, 29), "year", through=date(2033, 3, 1)) == [
        date(2028, 2, 29), date(2029, 2, 28), date(2030, 2, 28), date(2031, 2, 28),
        date(2032, 2, 29), date(2033, 2, 28),
    ]


def test_every_two_months_and_end_date():
    due = periods_due(date(2026, 1, 15), "month", 2, 0, date(2027, 3, 1), end_date=date(2026, 9, 14))
    # The period that would start on 15 September begins after the end date.
    assert [s for _, s, _ in due] == [date(2026, 1, 15), date(2026, 3, 15), date(2026, 5, 15),
                                      date(2026, 7, 15)]


def test_catching_up_from_a_later_index():
    due = periods_due(date(2026, 1, 1), "month", 1, 10, date(2027, 2, 1))
    assert [(i, s) for i, s, _ in due] == [(10, date(2026, 11, 1)), (11, date(2026, 12, 1)),
                                          (12, date(2027, 1, 1)), (13, date(2027, 2, 1))]


@pytest.mark.parametrize("day, expected", [(date(2026, 1, 31), 0), (date(2026, 2, 1), 1),
                                           (date(2026, 2, 28), 1), (date(2026, 3, 1), 2),
                                           (date(2027, 1, 31), 12)])
def test_first_period_on_or_after(day, expected):
    assert first_index_on_or_after(date(2026, 1, 31), "month", 1, day) == expected
