"""The bench's billing scenario: seeded subscriptions are due once, the run is checked in the database."""

from __future__ import annotations

import os

import pytest

from bench import report
from bench.billing_scenario import BILLING_DAY, billing_check, billing_run, subscription_count
from bench.scenarios import SCENARIOS, SEEDERS
from bench.seed import order_seeders, seed_level
from models import billing, db
from models.periods import periods_due
from models.subscriptions import Subscription, SubscriptionLine
from tests.bench.owndb import own_database


@pytest.fixture(scope="module")
def billing_database(pg_server):
    """A database of its own for this module (the models are bound back afterwards); its URL."""
    with own_database(pg_server, "bench_billing") as (url, _):
        yield url


@pytest.mark.postgres
def test_seeded_subscriptions_are_due_once_and_the_scenario_checks_each_was_billed_once(billing_database):
    with db.database.connection_context():
        seeded = seed_level("large", 200, order_seeders(["subscriptions"], SEEDERS), progress=False)
        subscriptions = list(Subscription.of(seeded.administration_id))
        lines = SubscriptionLine.of(seeded.administration_id).count()
        before = billing_check(seeded.administration_id, BILLING_DAY)
    assert seeded.rows == {"contacts": 200, "subscriptions": 20} and subscription_count(1_000_000) == 100_000
    assert len(subscriptions) == 20 and 20 < lines <= 40
    assert {(s.status, s.interval, s.interval_count) for s in subscriptions} == {("actief", "month", 1)}
    assert [len(periods_due(s.start_date, s.interval, s.interval_count, s.next_index, BILLING_DAY))
            for s in subscriptions] == [1] * 20
    assert len({s.next_period_start for s in subscriptions}) > 1   # periods start on different days
    assert (before["billed_once"], before["still_due"], before["periods"]) == (False, 20, 0)

    result = billing_run(seeded, {**os.environ, "PAYDOCK_DATABASE_URL": billing_database})
    assert result["checked_ok"] is True, result
    assert (result["subscriptions"], result["billed"]) == (20, 20)
    assert result["check"]["numbered"] == result["check"]["number_span"] == 10   # every other one issued
    assert result["checked"].startswith("20 subscriptions, each billed once")
    assert result["seconds"] > 0 and result["rss_mb"] > 10
    with db.database.connection_context():
        assert billing.due_count(BILLING_DAY, seeded.administration_id) == 0


def test_the_targets_table_shows_a_commands_check_and_fails_the_target_when_it_fails():
    scenario = next(s for s in SCENARIOS if s.name == "billing-run")
    known = {scenario.name: scenario}

    def row(command: dict) -> str:
        data = {"results": [{"scenario": scenario.name, "level": "large", "problem": None, "targets": {},
                             "command": command}]}
        return report._targets_section(data, known)[-1]

    good = row({"seconds": 21.5, "checked": "100,000 subscriptions, each billed once", "checked_ok": True})
    assert good.endswith("| 21.5 s; 100,000 subscriptions, each billed once | yes |")
    assert row({"seconds": 21.5, "checked": "not each billed once", "checked_ok": False}).endswith("**no** |")
    assert row({"seconds": 75.0, "checked": "each billed once", "checked_ok": True}).endswith("**no** |")
