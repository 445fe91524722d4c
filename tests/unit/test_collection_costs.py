"""The statutory collection costs (Besluit vergoeding voor buitengerechtelijke incassokosten)
and the reminder schedule's rules, as pure functions."""

from datetime import date
from decimal import Decimal

import pytest

from models.reminders import (
    DEFAULT_STEPS,
    SentStep,
    Step,
    pay_by_for,
    statutory_collection_costs,
    step_due_on,
    step_kinds,
)

D = Decimal


@pytest.mark.parametrize("open_amount, costs", [
    ("100.00", "40.00"),            # 15 % is 15.00: the minimum applies
    ("266.66", "40.00"),            # 39.999 rounds to 40.00
    ("266.67", "40.00"),
    ("300.00", "45.00"),
    ("2500.00", "375.00"),          # the whole first tranche
    ("3000.00", "425.00"),          # 375 + 10 % of 500
    ("5000.00", "625.00"),
    ("10000.00", "875.00"),         # 375 + 250 + 5 % of 5,000
    ("200000.00", "2775.00"),       # + 1 % of 190,000
    ("1000000.00", "6775.00"),      # + 0.5 % of 800,000 = 6,775: the maximum
    ("5000000.00", "6775.00"),
    ("1234.57", "185.19"),          # 185.1855 rounds half up
    ("0.01", "40.00"),
])
def test_the_statutory_scale(open_amount, costs):
    assert statutory_collection_costs(D(open_amount)) == D(costs)


def test_nothing_open_means_no_costs():
    assert statutory_collection_costs(D("0.00")) == D("0.00")
    assert statutory_collection_costs(D("-50.00")) == D("0.00")


@pytest.mark.parametrize("total, paid, costs", [
    ("3000.00", "500.00", "375.00"),   # costs on the 2,500.00 still open, not the invoice total
    ("3000.00", "2900.00", "40.00"),   # 100.00 open: the minimum
    ("10000.00", "4000.00", "675.00"),  # 6,000.00 open: 375 + 250 + 5 % of 1,000
])
def test_costs_follow_the_open_amount_after_partial_payments(total, paid, costs):
    assert statutory_collection_costs(D(total) - D(paid)) == D(costs)


def test_the_14_day_term_starts_the_day_after_sending():
    # Sent on 1 June: the term runs from 2 June for 14 days, to 16 June.
    assert pay_by_for(date(2026, 6, 1)) == date(2026, 6, 16)


def test_step_kinds_for_consumers_and_businesses():
    assert step_kinds(DEFAULT_STEPS, is_consumer=True) == ["reminder", "fourteen_day_letter",
                                                           "collection_costs"]
    assert step_kinds(DEFAULT_STEPS, is_consumer=False) == ["reminder", "collection_costs",
                                                            "collection_costs"]
    plain = (Step(7, "a"), Step(14, "b"))
    assert step_kinds(plain, is_consumer=True) == ["reminder", "reminder"]


def test_a_step_waits_for_the_one_before_and_for_the_term_of_the_letter():
    due = date(2026, 5, 11)
    steps = DEFAULT_STEPS  # 7, 21 (announces costs), 35
    assert step_due_on(steps, 0, due, {}) == date(2026, 5, 18)
    assert step_due_on(steps, 1, due, {}) is None  # step 1 not queued yet
    first = {1: SentStep(1, date(2026, 5, 18), None, True)}
    assert step_due_on(steps, 1, due, first) == date(2026, 6, 1)
    # Step 1 went out late (the worker was down): step 2 comes a day after it, not the same day.
    late = {1: SentStep(1, date(2026, 6, 5), None, True)}
    assert step_due_on(steps, 1, due, late) == date(2026, 6, 6)
    letter = {**first, 2: SentStep(2, date(2026, 6, 1), pay_by_for(date(2026, 6, 1)), True)}
    # Day 35 is 15 June, but the letter's term runs to 16 June: costs from 17 June.
    assert step_due_on(steps, 2, due, letter) == date(2026, 6, 17)
    unsent = {**first, 2: SentStep(2, date(2026, 6, 1), pay_by_for(date(2026, 6, 1)), False)}
    assert step_due_on(steps, 2, due, unsent) is None  # no costs before the letter went out
