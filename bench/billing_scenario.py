"""The billing run at scale: a subscriptions seeder and the `paydock bill` scenario.

The seeder COPYs one active monthly subscription per ten rows of the level (full
bench: 1,000,000 → 100,000 subscriptions; quick: 100,000 → 10,000), each with one
period due on BILLING_DAY and the next one after it, and one or two lines. Their
periods start on different days of the month before BILLING_DAY, half of them are
issued at once (`verzonden`: a number each), half stay concepts.

The scenario runs `paydock bill --date BILLING_DAY --administration <level>` as a
subprocess, times it end to end, records its peak resident set, and then counts in the
database that every seeded subscription got exactly one billed period and one invoice
with one `invoice.created` event, that the issued invoices' numbers are distinct and
that nothing is left due. A miss is reported as a failed check (the target does not hold).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import date
from decimal import Decimal
from pathlib import Path

from bench.seed import SeedContext, Seeded, analyze, spread_timestamps
from models import db
from models.contacts import Contact
from models.events import Event
from models.invoices import Invoice, InvoiceLine
from models.periods import add_months
from models.subscriptions import Subscription, SubscriptionLine, SubscriptionPeriod
from models.totals import LineAmounts, invoice_totals, line_amounts

#: The day the scenario's billing run bills (every seeded subscription has one period due).
BILLING_DAY = date(2026, 3, 28)
#: Rows of the level per seeded subscription.
ROWS_PER_SUBSCRIPTION = 10

# (description, quantity, unit price incl. VAT, VAT %); None amounts: a text line.
LICENCES = (("Licentie Basis", "1", "30.25", "21"), ("Licentie Plus", "1", "60.50", "21"),
            ("Licentie Team", "5", "18.15", "21"))
EXTRAS = (("Support", "2", "12.10", "9"), ("Opslag 100 GB", "1", "4.84", "21"),
          ("Betaling via automatische incasso.", None, None, None))


def subscription_count(level_size: int) -> int:
    """How many subscriptions a level of `level_size` rows gets (at least one)."""
    return max(1, level_size // ROWS_PER_SUBSCRIPTION)


def _line(template: tuple) -> dict:
    description, quantity, price, rate = template
    if quantity is None:
        return {"description": description, "is_text_line": True, "quantity": None,
                "unit_price_incl": None, "tax_percentage": None, "total_incl": None,
                "total_vat": None, "total_excl": None}
    amounts = line_amounts(Decimal(quantity), Decimal(price), Decimal(rate))
    return {"description": description, "is_text_line": False, "quantity": Decimal(quantity),
            "unit_price_incl": Decimal(price), "tax_percentage": Decimal(rate),
            "total_incl": amounts.total_incl, "total_vat": amounts.total_vat,
            "total_excl": amounts.total_excl}


def _line_sets() -> list[tuple[list[dict], object]]:
    """Every combination of a licence and an optional extra, with its subscription totals."""
    sets = []
    for licence in LICENCES:
        for extra in (None, *EXTRAS):
            lines = [_line(licence)] + ([_line(extra)] if extra else [])
            totals = invoice_totals(LineAmounts(x["quantity"], x["unit_price_incl"], x["tax_percentage"])
                                    for x in lines if not x["is_text_line"])
            sets.append((lines, totals))
    return sets


def _contact_ids(administration_id, wanted: int) -> list:
    """Up to `wanted` of the administration's active contacts, spread over all of them."""
    query = (Contact.select(Contact.id)
             .where(Contact.administration == administration_id, Contact.archived == False)  # noqa: E712
             .order_by(Contact.id).limit(wanted).tuples())
    return [row[0] for row in query]


def seed_subscriptions(ctx: SeedContext) -> dict[str, list[str]]:
    """`ctx.size` active monthly subscriptions with one period due on BILLING_DAY (about two
    per contact), each with one or two lines. Returns their ids as "subscription"."""
    count = ctx.size
    contacts = _contact_ids(ctx.administration_id, max(1, count // 2))
    if not contacts:
        raise RuntimeError("the subscriptions seeder needs the administration's contacts")
    line_sets = _line_sets()
    when = spread_timestamps(count, days=365)
    subscriptions: list[tuple[uuid.UUID, int]] = []   # (id, index into line_sets)

    def rows():
        for i in range(count):
            row_id = uuid.uuid4()
            choice = (i * 7) % len(line_sets)
            subscriptions.append((row_id, choice))
            # Periods start on day 1..28 of BILLING_DAY's month (none after it), so the next
            # period starts after BILLING_DAY: one period due each. Started 0..23 months ago.
            due = BILLING_DAY.replace(day=1 + i % BILLING_DAY.day)
            months_ago = (i // BILLING_DAY.day) % 24
            totals = line_sets[choice][1]
            created = when(i)
            yield (row_id, ctx.administration_id, contacts[i % len(contacts)], "actief", "month", 1,
                   add_months(due, -months_ago), None, "verzonden" if i % 2 else "concept",
                   14 if i % 3 == 0 else 30, "EUR", f"ABO-{i:07d}", None, totals.total_incl,
                   totals.total_vat, totals.total_excl, months_ago, due, created, created)

    columns = ("id", "administration", "contact", "status", "interval", "interval_count", "start_date",
               "end_date", "invoice_status", "payment_term_days", "currency", "reference", "note",
               "total_incl", "total_vat", "total_excl", "next_index", "next_period_start",
               "created_at", "updated_at")
    ctx.copy(Subscription, columns, rows(), total=count, desc=f"subscriptions ({count:,})")

    def line_rows():
        for subscription_id, choice in subscriptions:
            for position, line in enumerate(line_sets[choice][0], start=1):
                yield (ctx.administration_id, subscription_id, position, line["description"],
                       line["is_text_line"], None, line["quantity"], line["unit_price_incl"],
                       line["tax_percentage"], line["total_incl"], line["total_vat"], line["total_excl"])

    line_columns = ("administration", "subscription", "position", "description", "is_text_line", "product",
                    "quantity", "unit_price_incl", "tax_percentage", "total_incl", "total_vat",
                    "total_excl")
    ctx.copy(SubscriptionLine, line_columns, line_rows(), desc="subscription lines")
    analyze(Subscription, SubscriptionLine)
    return {"subscription": [str(s) for s, _ in subscriptions[:10_000]]}


# ------------------------------------------------------------------ the scenario

ROOT = Path(__file__).resolve().parent.parent


def _run_measured(argv: list[str], env: dict, timeout: float) -> tuple[float, int, float, str, str]:
    """Run `python -m paydock.cli ARGV`: (seconds, exit status, peak RSS in MB, stdout, stderr).

    The peak resident set is the kernel's own figure for that process (wait4's rusage)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        process = subprocess.Popen([sys.executable, "-m", "paydock.cli", *argv], cwd=ROOT, env=env,
                                   stdout=out, stderr=err, text=True)
        timer = threading.Timer(timeout, process.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            timer.cancel()
        seconds = time.monotonic() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return seconds, process.returncode, usage.ru_maxrss / 1024, out.read(), err.read()


def billing_check(administration_id, day: date) -> dict:
    """Count, in the database, how the administration's subscriptions were billed for `day`."""
    admin = str(administration_id)
    sql = {
        "subscriptions": "SELECT count(*) FROM subscription WHERE administration_id = %s",
        # Subscriptions without exactly one billed period (their due one): must be 0.
        "not_once": """
            SELECT count(*) FROM subscription s
            WHERE s.administration_id = %s
              AND (SELECT count(*) FROM subscription_period p
                   WHERE p.administration_id = s.administration_id AND p.subscription_id = s.id) <> 1""",
        "periods": "SELECT count(*) FROM subscription_period WHERE administration_id = %s",
        "invoices": """
            SELECT count(DISTINCT i.id) FROM subscription_period p
            JOIN invoice i ON i.id = p.invoice_id AND i.administration_id = p.administration_id
            WHERE p.administration_id = %s""",
        # Issued numbers: how many, how many distinct, and the span they cover (gapless: = count).
        "numbered": """
            SELECT count(i.number), count(DISTINCT i.number),
                   coalesce(max(split_part(i.number, '-', 2)::int)
                            - min(split_part(i.number, '-', 2)::int) + 1, 0)
            FROM subscription_period p
            JOIN invoice i ON i.id = p.invoice_id AND i.administration_id = p.administration_id
            WHERE p.administration_id = %s""",
        "lines": """
            SELECT (SELECT count(*) FROM invoice_line l JOIN subscription_period p
                      ON p.administration_id = l.administration_id AND p.invoice_id = l.invoice_id
                    WHERE p.administration_id = %(a)s)
                 - (SELECT count(*) FROM subscription_line WHERE administration_id = %(a)s)""",
        "issued_wanted": """SELECT count(*) FROM subscription
                            WHERE administration_id = %s AND invoice_status = 'verzonden'""",
        # invoice.created events whose invoice is a billed period's (one each: = subscriptions).
        "events": """
            WITH created AS MATERIALIZED (
                SELECT administration_id, (payload::json #>> '{data,id}')::uuid AS invoice_id FROM event
                WHERE administration_id = %s AND type = 'invoice.created')
            SELECT count(*) FROM created e JOIN subscription_period p
              ON p.administration_id = e.administration_id AND p.invoice_id = e.invoice_id""",
        "still_due": """SELECT count(*) FROM subscription WHERE administration_id = %s
                        AND status = 'actief' AND next_period_start <= %s""",
    }
    with db.database.connection_context():
        # The run wrote these tables from (nearly) empty: give the planner their sizes.
        analyze(Invoice, InvoiceLine, Event, SubscriptionPeriod, Subscription)
        found = {}
        for name, query in sql.items():
            params = {"a": admin} if name == "lines" else (admin, day) if name == "still_due" else (admin,)
            row = db.database.execute_sql(query, params).fetchone()
            found[name] = row if name == "numbered" else row[0]
    numbered, distinct_numbers, number_span = found.pop("numbered")
    subscriptions = found["subscriptions"]
    ok = (found["not_once"] == 0 and found["periods"] == subscriptions and found["invoices"] == subscriptions
          and found["events"] == subscriptions and found["still_due"] == 0 and found["lines"] == 0
          and numbered == distinct_numbers == number_span == found["issued_wanted"])
    return {**found, "numbered": numbered, "distinct_numbers": distinct_numbers, "number_span": number_span,
            "billed_once": ok}


def billing_run(seeded: Seeded, env: dict, timeout: float = 1800) -> dict:
    """The CommandScenario run: `paydock bill` for the level's administration, then the counts."""
    argv = ["bill", "--date", BILLING_DAY.isoformat(), "--administration", str(seeded.administration_id)]
    seconds, status, rss_mb, stdout, stderr = _run_measured(argv, env, timeout)
    if status != 0:
        raise RuntimeError(f"paydock {' '.join(argv)} exited {status}: {stderr[-500:]}")
    check = billing_check(seeded.administration_id, BILLING_DAY)
    if check["billed_once"]:
        checked = f"{check['subscriptions']:,} subscriptions, each billed once; peak RSS {rss_mb:.0f} MB"
    else:
        checked = (f"**not each billed once**: {check['invoices']:,} invoices for "
                   f"{check['subscriptions']:,} subscriptions ({check})")
    return {"seconds": round(seconds, 2), "rss_mb": round(rss_mb, 1), "output": stdout[-2000:],
            "subscriptions": check["subscriptions"], "billed": check["invoices"],
            "billed_once": check["billed_once"], "check": check,
            # Shown in RESULTS.md's Targets table; a failed check means the target does not hold.
            "checked": checked, "checked_ok": check["billed_once"]}
