"""The billing run against the API: hand-made calendars, pause/resume, never twice, gapless numbers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
import simplejson

from models import billing, db
from models.events import Event
from models.invoices import Invoice, business_today
from models.numbering import NumberSeries
from models.periods import add_months
from models.subscriptions import Subscription, SubscriptionPeriod
from tests.api.sales import line, make_contact, make_product, make_subscription
from tests.conftest import count_rows

ROOT = Path(__file__).resolve().parents[2]


def bill(today: date, tenant=None, **kw) -> billing.BillingSummary:
    with db.database.connection_context():
        return billing.run_billing(today, administration_id=tenant and tenant.administration_id, **kw)


def billed(tenant, subscription) -> list[tuple[str, str]]:
    """(invoice_date, first line's description) of the subscription's invoices, through the API."""
    response = tenant.get(f"/api/invoices?contact_id={subscription['contact_id']}&limit=500")
    assert response.status_code == 200, response.text
    return sorted((inv["invoice_date"], inv["lines"][0]["description"]) for inv in response.json()["data"])


def calendar(name: str, *periods: tuple[str, str]) -> list[tuple[str, str]]:
    return [(start, f"{name} ({label})") for start, label in periods]


# Hand-made: every period's first day and the text the invoice line gets.
MONTHLY_FROM_31_JANUARY = calendar(
    "Licentie",
    ("2026-01-31", "31 januari 2026 t/m 27 februari 2026"),
    ("2026-02-28", "28 februari 2026 t/m 30 maart 2026"),
    ("2026-03-31", "31 maart 2026 t/m 29 april 2026"),
    ("2026-04-30", "30 april 2026 t/m 30 mei 2026"),
    ("2026-05-31", "31 mei 2026 t/m 29 juni 2026"),
    ("2026-06-30", "30 juni 2026 t/m 30 juli 2026"),
    ("2026-07-31", "31 juli 2026 t/m 30 augustus 2026"),
    ("2026-08-31", "31 augustus 2026 t/m 29 september 2026"),
    ("2026-09-30", "30 september 2026 t/m 30 oktober 2026"),
    ("2026-10-31", "31 oktober 2026 t/m 29 november 2026"),
    ("2026-11-30", "30 november 2026 t/m 30 december 2026"),
    ("2026-12-31", "31 december 2026 t/m 30 januari 2027"),
    ("2027-01-31", "31 januari 2027 t/m 27 februari 2027"),
    ("2027-02-28", "28 februari 2027 t/m 30 maart 2027"),
)
MONTHLY_FROM_31_JANUARY_LEAP_YEAR = calendar(
    "Licentie",
    ("2028-01-31", "31 januari 2028 t/m 28 februari 2028"),
    ("2028-02-29", "29 februari 2028 t/m 30 maart 2028"),
    ("2028-03-31", "31 maart 2028 t/m 29 april 2028"),
)
MONTHLY_FROM_29_FEBRUARY = calendar(
    "Licentie",
    ("2028-02-29", "29 februari 2028 t/m 28 maart 2028"),
    ("2028-03-29", "29 maart 2028 t/m 28 april 2028"),
    ("2028-04-29", "29 april 2028 t/m 28 mei 2028"),
    ("2028-05-29", "29 mei 2028 t/m 28 juni 2028"),
    ("2028-06-29", "29 juni 2028 t/m 28 juli 2028"),
    ("2028-07-29", "29 juli 2028 t/m 28 augustus 2028"),
    ("2028-08-29", "29 augustus 2028 t/m 28 september 2028"),
    ("2028-09-29", "29 september 2028 t/m 28 oktober 2028"),
    ("2028-10-29", "29 oktober 2028 t/m 28 november 2028"),
    ("2028-11-29", "29 november 2028 t/m 28 december 2028"),
    ("2028-12-29", "29 december 2028 t/m 28 januari 2029"),
    ("2029-01-29", "29 januari 2029 t/m 27 februari 2029"),
    ("2029-02-28", "28 februari 2029 t/m 28 maart 2029"),
    ("2029-03-29", "29 maart 2029 t/m 28 april 2029"),
)
QUARTERLY_FROM_31_JANUARY = calendar(
    "Licentie",
    ("2026-01-31", "31 januari 2026 t/m 29 april 2026"),
    ("2026-04-30", "30 april 2026 t/m 30 juli 2026"),
    ("2026-07-31", "31 juli 2026 t/m 30 oktober 2026"),
    ("2026-10-31", "31 oktober 2026 t/m 30 januari 2027"),
    ("2027-01-31", "31 januari 2027 t/m 29 april 2027"),
)
YEARLY_FROM_29_FEBRUARY = calendar(
    "Licentie",
    ("2024-02-29", "29 februari 2024 t/m 27 februari 2025"),
    ("2025-02-28", "28 februari 2025 t/m 27 februari 2026"),
)
TWO_MONTHLY_FROM_31_DECEMBER = calendar(
    "Licentie",
    ("2025-12-31", "31 december 2025 t/m 27 februari 2026"),
    ("2026-02-28", "28 februari 2026 t/m 29 april 2026"),
    ("2026-04-30", "30 april 2026 t/m 29 juni 2026"),
    ("2026-06-30", "30 juni 2026 t/m 30 augustus 2026"),
    ("2026-08-31", "31 augustus 2026 t/m 30 oktober 2026"),
    ("2026-10-31", "31 oktober 2026 t/m 30 december 2026"),
    ("2026-12-31", "31 december 2026 t/m 27 februari 2027"),
)


@pytest.mark.parametrize(("interval", "count", "start", "run_on", "expected"), [
    ("month", 1, "2026-01-31", "2027-03-30", MONTHLY_FROM_31_JANUARY),
    ("month", 1, "2028-01-31", "2028-04-29", MONTHLY_FROM_31_JANUARY_LEAP_YEAR),
    ("month", 1, "2028-02-29", "2029-04-28", MONTHLY_FROM_29_FEBRUARY),
    ("quarter", 1, "2026-01-31", "2027-03-30", QUARTERLY_FROM_31_JANUARY),
    ("year", 1, "2024-02-29", "2025-04-28", YEARLY_FROM_29_FEBRUARY),
    ("month", 2, "2025-12-31", "2027-02-26", TWO_MONTHLY_FROM_31_DECEMBER),
], ids=["monthly-31-jan", "monthly-31-jan-leap", "monthly-29-feb", "quarterly-31-jan", "yearly-29-feb",
        "two-monthly-31-dec"])
def test_one_catch_up_run_bills_the_hand_made_calendar(tenant, interval, count, start, run_on, expected):
    subscription = make_subscription(tenant, interval=interval, interval_count=count, start_date=start,
                                     lines=[line("Licentie", 1, 30.25, 21)])
    summary = bill(date.fromisoformat(run_on), tenant)
    assert (summary.subscriptions, summary.invoices, summary.periods_skipped) == (1, len(expected), 0)
    assert billed(tenant, subscription) == expected
    after = tenant.get(f"/api/subscriptions/{subscription['id']}").json()
    following = date.fromisoformat(expected[-1][0])
    assert after["next_period_start"] > run_on and after["next_period_start"] > following.isoformat()
    assert bill(date.fromisoformat(run_on), tenant).invoices == 0
    assert billed(tenant, subscription) == expected


def test_daily_runs_bill_each_period_on_its_first_day(tenant):
    subscription = make_subscription(tenant, interval="month", start_date="2026-01-31",
                                     lines=[line("Licentie", 1, 30.25, 21)])
    created_on = {}
    day = date(2026, 1, 25)
    while day <= date(2027, 3, 30):
        if bill(day, tenant).invoices:
            created_on[day.isoformat()] = len(billed(tenant, subscription))
        day += timedelta(days=1)
    assert list(created_on) == [start for start, _ in MONTHLY_FROM_31_JANUARY]
    assert list(created_on.values()) == list(range(1, 15))
    assert billed(tenant, subscription) == MONTHLY_FROM_31_JANUARY


def test_invoices_follow_the_subscription_settings(tenant):
    contact_id = make_contact(tenant)
    issued = make_subscription(tenant, contact_id, start_date="2026-01-01", invoice_status="verzonden",
                               payment_term_days=14, reference="CONTRACT-9", note="Automatische incasso",
                               lines=[line("Licentie", 2, 30.25, 21),
                                      {"description": "Vragen? Bel ons.", "is_text_line": True}])
    assert bill(date(2026, 3, 1), tenant).invoices == 3
    invoices = sorted(tenant.get("/api/invoices?limit=10").json()["data"], key=lambda i: i["number"])
    assert [(i["number"], i["status"], i["invoice_date"], i["due_date"]) for i in invoices] == [
        ("2026-0001", "verzonden", "2026-01-01", "2026-01-15"),
        ("2026-0002", "verzonden", "2026-02-01", "2026-02-15"),
        ("2026-0003", "verzonden", "2026-03-01", "2026-03-15")]
    first = invoices[0]
    assert (first["total_incl"], first["total_vat"], first["total_excl"]) == (60.50, 10.50, 50.00)
    assert (first["reference"], first["note"], first["contact"]["name"]) == (
        "CONTRACT-9", "Automatische incasso", "Acme BV")
    assert [x["description"] for x in first["lines"]] == [
        "Licentie (1 januari 2026 t/m 31 januari 2026)", "Vragen? Bel ons."]
    assert [x["total_incl"] for x in first["lines"]] == [60.50, None]
    with db.database.connection_context():
        events = Event.of(tenant.administration_id).where(Event.type == "invoice.created").count()
        periods = SubscriptionPeriod.of(tenant.administration_id).where(
            SubscriptionPeriod.subscription == issued["id"])
        assert sorted(str(p.invoice_id) for p in periods) == sorted(i["id"] for i in invoices)
    assert events == 3

    concept = make_subscription(tenant, contact_id, start_date="2026-03-01")
    assert bill(date(2026, 3, 1), tenant).invoices == 1
    made = tenant.get(f"/api/invoices?status=concept&contact_id={concept['contact_id']}").json()["data"]
    assert [(i["number"], i["status"], i["due_date"]) for i in made] == [(None, "concept", "2026-03-31")]


def test_issued_invoices_carry_the_administrations_number_prefix_and_term(tenant):
    changed = tenant.patch("/api/administration", {"invoice_number_prefix": "F", "payment_term_days": 10})
    assert changed.status_code == 200, changed.text
    subscription = make_subscription(tenant, start_date="2026-01-01", invoice_status="verzonden")
    assert subscription["payment_term_days"] == 10
    assert bill(date(2026, 2, 1), tenant).invoices == 2
    invoices = tenant.get(f"/api/invoices?contact_id={subscription['contact_id']}").json()["data"]
    assert sorted((i["number"], i["due_date"]) for i in invoices) == [
        ("F2026-0001", "2026-01-11"), ("F2026-0002", "2026-02-11")]


def test_a_batchs_events_read_like_single_events_in_invoice_order(tenant):
    make_subscription(tenant, start_date="2026-01-01", invoice_status="verzonden")
    assert bill(date(2026, 3, 1), tenant).invoices == 3
    response = tenant.get("/api/events?limit=100")
    assert response.status_code == 200, response.text
    listed = response.json()["data"]
    assert [e["type"] for e in listed] == [
        "contact.created", "subscription.created", "invoice.created", "invoice.created", "invoice.created"]
    single, *batch = listed[1:]
    assert all(set(e) == set(single) for e in batch)
    assert [e["data"]["number"] for e in batch] == ["2026-0001", "2026-0002", "2026-0003"]
    assert tenant.get(f"/api/events/{batch[0]['id']}").json() == batch[0]


def test_an_invoice_created_event_carries_the_invoice_exactly_as_the_api_shows_it(tenant):
    """The run writes its events' JSON itself: it must read as serialize.invoice, to the digit."""
    contact_id = make_contact(tenant)
    make_subscription(tenant, contact_id, start_date="2026-01-01", invoice_status="verzonden",
                      reference="Zeg \"ja\" \\ tab\there", note="Regel 1\nRegel 2 – €",
                      lines=[line("Licentie", 3, 30.25, 21), line("Boek", 1.5, 12.99, 9),
                             {"product_id": make_product(tenant)},
                             {"description": "Vragen? Bel ons.", "is_text_line": True}])
    make_subscription(tenant, contact_id, start_date="2026-01-15", lines=[line("Opslag", 1, 0.01, 0)])
    assert bill(date(2026, 2, 15), tenant).invoices == 4
    events = tenant.get("/api/events?limit=100").json()["data"]
    created = [e for e in events if e["type"] == "invoice.created"]
    assert len(created) == 4
    with db.database.connection_context():
        payloads = {e.id: e.payload for e in Event.of(tenant.administration_id)}
    for event in created:
        shown = tenant.get(f"/api/invoices/{event['data']['id']}")
        assert shown.status_code == 200, shown.text
        # Same members, order and number text (60.50 stays 60.50) as the API's own encoding.
        data = simplejson.loads(payloads[uuid.UUID(event["id"])], use_decimal=True)["data"]
        assert simplejson.dumps(data, use_decimal=True) == simplejson.dumps(
            simplejson.loads(shown.text, use_decimal=True), use_decimal=True)
    assert sum(1 for e in created for x in e["data"]["lines"] if x["product_id"]) == 2
    statuses = sorted((e["data"]["status"], e["data"]["overdue"]) for e in created)
    assert statuses == [("concept", False), ("concept", False), ("verzonden", True), ("verzonden", True)]


def test_end_date_stops_billing(tenant):
    subscription = make_subscription(tenant, start_date="2026-01-15", end_date="2026-03-15")
    assert bill(date(2026, 12, 31), tenant).invoices == 3
    assert [d for d, _ in billed(tenant, subscription)] == ["2026-01-15", "2026-02-15", "2026-03-15"]
    assert tenant.get(f"/api/subscriptions/{subscription['id']}").json()["next_period_start"] is None


def test_pausing_stops_billing_and_resuming_skips_the_paused_periods(tenant):
    today = business_today()
    start = add_months(date(today.year, today.month, 1), -6)
    subscription = make_subscription(tenant, start_date=start.isoformat())
    url = f"/api/subscriptions/{subscription['id']}"
    assert bill(add_months(start, 2), tenant).invoices == 3                  # periods 0, 1, 2

    assert tenant.patch(url, {"status": "gepauzeerd"}).status_code == 200
    assert bill(today, tenant).invoices == 0
    assert bill(add_months(today, 3), tenant).invoices == 0

    resumed = tenant.patch(url, {"status": "actief"}).json()
    first_after_pause = 6 if today.day == 1 else 7                          # first period on/after today
    assert resumed["next_period_start"] == add_months(start, first_after_pause).isoformat()
    bill(add_months(start, 8), tenant)
    expected = [0, 1, 2] + list(range(first_after_pause, 9))
    assert [d for d, _ in billed(tenant, subscription)] == [
        add_months(start, k).isoformat() for k in expected]

    assert tenant.patch(url, {"status": "opgezegd"}).status_code == 200
    assert bill(add_months(start, 20), tenant).invoices == 0
    assert len(billed(tenant, subscription)) == len(expected)


# ------------------------------------------------------------------ never twice

def numbers(tenant) -> list[str]:
    with db.database.connection_context():
        return sorted(i.number for i in Invoice.of(tenant.administration_id) if i.number)


@pytest.mark.parametrize("row_locks", [True, False], ids=["skip-locked", "unique-index-only"])
def test_two_runs_at_once_bill_each_period_once_with_gapless_numbers(make_tenant, monkeypatch, row_locks):
    """Several runs start together. With row locks (PostgreSQL: FOR UPDATE SKIP LOCKED) they
    share the work; without them every run reads the same subscriptions and only the unique
    (subscription, period_start) index keeps a period from being billed twice."""
    if not row_locks:
        monkeypatch.setattr(billing, "is_postgres", lambda: False)
    tenants = [make_tenant(name=f"Parallel {n}") for n in range(2)]
    for tenant in tenants:
        contact_id = make_contact(tenant)
        for n in range(12):
            make_subscription(tenant, contact_id, start_date=f"2026-0{1 + n % 3}-1{n % 9}",
                              invoice_status="verzonden" if n % 2 else "concept")
    run_day = date(2026, 6, 20)
    expected = {t.administration_id: 0 for t in tenants}
    with db.database.connection_context():
        for sub in Subscription.select().where(Subscription.administration.in_(list(expected))):
            expected[sub.administration_id] += sum(
                1 for k in range(12) if add_months(sub.start_date, k) <= run_day)

    barrier = threading.Barrier(3)
    summaries, errors = [], []

    def run(administration_id):
        try:
            with db.database.connection_context():
                barrier.wait(timeout=10)
                summaries.append(billing.run_billing(run_day, administration_id=administration_id,
                                                     batch_size=4))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    # Two runs over everything due and one limited to the first tenant, all at once.
    threads = [threading.Thread(target=run, args=(a,)) for a in (None, None, tenants[0].administration_id)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    made = sum(s.invoices for s in summaries)
    if db.is_postgres():
        skipped = sum(s.periods_skipped for s in summaries)
        # Row locks keep the runs apart; without them the losers' claims came back empty.
        assert skipped == 0 if row_locks else skipped > 0
    assert made >= sum(expected.values())  # the unfiltered runs may also bill other tests' data
    for tenant in tenants:
        admin = tenant.administration_id
        assert count_rows(Invoice, administration=admin) == expected[admin]
        assert count_rows(SubscriptionPeriod, administration=admin) == expected[admin]
        with db.database.connection_context():
            pairs = [(p.subscription_id, p.period_start) for p in SubscriptionPeriod.of(admin)]
            issued = Invoice.of(admin).where(Invoice.number.is_null(False)).count()
            series = [(s.kind, s.year, s.last_number) for s in NumberSeries.of(admin)]
        assert len(set(pairs)) == len(pairs)
        assert issued > 0
        assert numbers(tenant) == [f"2026-{n:04d}" for n in range(1, issued + 1)]
        assert series == [("invoice", 2026, issued)]
    assert bill(run_day, tenants[0]).invoices == 0


def test_a_run_that_lost_the_race_makes_nothing_and_takes_no_number(tenant):
    make_subscription(tenant, start_date="2026-01-01", invoice_status="verzonden")
    with db.database.connection_context():
        stale = list(Subscription.of(tenant.administration_id))
    assert bill(date(2026, 3, 1), tenant).invoices == 3
    summary = billing.BillingSummary()
    with db.database.connection_context(), db.database.atomic():
        # The same periods once more, as a run that read them before they were billed.
        billing._bill(stale, date(2026, 3, 1), summary)
    assert (summary.invoices, summary.periods_skipped) == (0, 3)
    assert numbers(tenant) == ["2026-0001", "2026-0002", "2026-0003"]
    with db.database.connection_context():
        assert NumberSeries.of(tenant.administration_id).get().last_number == 3
    assert count_rows(Invoice, administration=tenant.administration_id) == 3


def fail_batch_write(monkeypatch, batch: int, error: str):
    """Make the run's `batch`-th batch write raise RuntimeError(error); returns the real writer."""
    real_write = billing._write
    calls = []

    def write(invoices, summary):
        calls.append(len(invoices))
        if len(calls) == batch:
            raise RuntimeError(error)
        real_write(invoices, summary)

    monkeypatch.setattr(billing, "_write", write)
    return real_write


def test_a_crashed_run_rolls_back_its_batch_and_a_rerun_bills_the_rest_once(tenant, monkeypatch):
    contact_id = make_contact(tenant)
    for _ in range(5):
        make_subscription(tenant, contact_id, start_date="2026-01-01", invoice_status="verzonden")
    real_write = fail_batch_write(monkeypatch, 2, "power cut")
    with pytest.raises(RuntimeError):
        bill(date(2026, 2, 1), tenant, batch_size=2)
    assert count_rows(Invoice, administration=tenant.administration_id) == 4      # first batch only
    assert numbers(tenant) == ["2026-0001", "2026-0002", "2026-0003", "2026-0004"]

    monkeypatch.setattr(billing, "_write", real_write)
    summary = bill(date(2026, 2, 1), tenant, batch_size=2)
    assert (summary.subscriptions, summary.invoices) == (3, 6)
    assert count_rows(Invoice, administration=tenant.administration_id) == 10
    assert numbers(tenant) == [f"2026-{n:04d}" for n in range(1, 11)]


def issued_in_number_order(tenant) -> list[tuple[str, str]]:
    with db.database.connection_context():
        rows = Invoice.of(tenant.administration_id).where(Invoice.number.is_null(False))
        return sorted((i.number, i.invoice_date.isoformat()) for i in rows)


def test_two_workers_share_a_run_with_numbers_in_batch_order(tenant):
    """On PostgreSQL the batches go to two connections; the numbers still follow the batches
    (and so the invoice dates), gapless, and every period is billed once."""
    contact_id = make_contact(tenant)
    for n in range(30):
        make_subscription(tenant, contact_id, start_date=f"2026-03-{1 + n % 28:02d}",
                          invoice_status="verzonden" if n % 3 else "concept")
    summary = bill(date(2026, 3, 31), tenant, batch_size=3, workers=2)
    assert (summary.subscriptions, summary.invoices, summary.batches) == (30, 30, 10)
    issued = issued_in_number_order(tenant)
    assert [number for number, _ in issued] == [f"2026-{n:04d}" for n in range(1, 21)]
    assert [day for _, day in issued] == sorted(day for _, day in issued)
    assert count_rows(SubscriptionPeriod, administration=tenant.administration_id) == 30
    assert bill(date(2026, 3, 31), tenant, workers=2).invoices == 0


def test_a_failing_worker_stops_the_run_and_a_rerun_bills_the_rest_once(tenant, monkeypatch):
    contact_id = make_contact(tenant)
    for n in range(12):
        make_subscription(tenant, contact_id, start_date=f"2026-03-{1 + n:02d}", invoice_status="verzonden")
    real_write = fail_batch_write(monkeypatch, 3, "disk full")
    with pytest.raises(RuntimeError, match="disk full"):
        bill(date(2026, 3, 31), tenant, batch_size=2, workers=2)
    # The two batches before the failing one; the other worker's next batch stopped too.
    assert count_rows(Invoice, administration=tenant.administration_id) == 4
    assert issued_in_number_order(tenant) == [(f"2026-{n:04d}", f"2026-03-{n:02d}") for n in range(1, 5)]

    monkeypatch.setattr(billing, "_write", real_write)
    assert bill(date(2026, 3, 31), tenant, batch_size=2, workers=2).invoices == 8
    assert issued_in_number_order(tenant) == [(f"2026-{n:04d}", f"2026-03-{n:02d}") for n in range(1, 13)]
    assert count_rows(SubscriptionPeriod, administration=tenant.administration_id) == 12


def test_progress_is_reported_per_batch(tenant):
    contact_id = make_contact(tenant)
    for _ in range(5):
        make_subscription(tenant, contact_id, start_date="2026-01-01")
    seen = []
    summary = bill(date(2026, 1, 1), tenant, batch_size=2,
                   progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 5), (4, 5), (5, 5)]
    assert summary.as_dict() == {"subscriptions": 5, "invoices": 5, "periods_skipped": 0, "batches": 3}


def test_the_workers_clock_counts_as_its_day_in_the_netherlands(tenant):
    subscription = make_subscription(tenant, start_date="2026-03-01")
    # 22:30 UTC on 28 February is 23:30 in Amsterdam: still February, nothing due.
    assert bill(datetime(2026, 2, 28, 22, 30), tenant).invoices == 0
    # 23:30 UTC on 28 February is 00:30 on 1 March in Amsterdam: the first period is due.
    assert bill(datetime(2026, 2, 28, 23, 30), tenant).invoices == 1
    assert [d for d, _ in billed(tenant, subscription)] == ["2026-03-01"]


def test_paydock_bill_command(tenant, settings):
    subscription = make_subscription(tenant, start_date="2026-01-01")
    env = {**os.environ, "PAYDOCK_DATABASE_URL": settings.database_url}
    result = subprocess.run(
        [sys.executable, "-m", "paydock.cli", "bill", "--date", "2026-02-15",
         "--administration", str(tenant.administration_id)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "2 invoice(s) for 1 subscription(s)" in result.stdout
    assert [d for d, _ in billed(tenant, subscription)] == ["2026-01-01", "2026-02-01"]
    bad = subprocess.run([sys.executable, "-m", "paydock.cli", "bill", "--date", "15-02-2026"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
