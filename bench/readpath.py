"""Where one read costs its time, in process on SQLite: query, serialize, encode.

    python -m bench.readpath            # the 100-invoice page (10 lines each), 30 repetitions
    python -m bench.readpath --repeat 100 --invoices 100
    python -m bench.readpath --json     # the figures as JSON (bench/run.py puts them in RESULTS.md)

It builds a throw-away SQLite database, creates one customer with `--invoices` issued
invoices of ten lines each through the model layer (as POST /invoices would), then times
GET /invoices?status=verzonden&contact_id=…&limit=100 the way PayDock answers it, stage by
stage, and prints the median of each:

- query:     the model-layer call (SQL, rows into Python values: `models.invoices.list_invoices`)
- serialize: the page as the API's JSON document (`models.serialize.invoice_page`)
- encode:    the document as response bytes (`paydock.responses.encode`)

Figures are medians over the repetitions after one warm-up call, as CPU time of the
calling thread (SQLite runs in that thread, so this is the work itself, and it holds up on
a busy machine) and as wall-clock time (which other processes on the machine inflate).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from models import contacts, db, invoices, serialize, tenancy  # noqa: E402
from models.migrations import migrate  # noqa: E402
from paydock.responses import encode  # noqa: E402

RATES = (Decimal("21"), Decimal("9"), Decimal("0"))
#: Wall-clock ms of the same in-process call before the JSON-text read path (model instances,
#: VAT breakdowns recomputed on every read, simplejson): the figure the target is set against.
BEFORE_MS = 38.0


def ten_lines(n: int) -> list[dict]:
    return [{"description": f"Regel {n}-{i}", "quantity": Decimal(i % 4 + 1) / 2,
             "unit_price_incl": Decimal("12.10") * (i + 1), "tax_percentage": RATES[i % 3]}
            for i in range(10)]


def seed(count: int) -> tuple:
    administration = tenancy.create_administration("Leespad BV")
    customer = contacts.create_contact(administration.id, {"name": "Grootklant BV", "city": "Utrecht",
                                                           "external_id": "READPATH"})
    for n in range(count):
        invoices.create_invoice(administration.id, {"contact_id": str(customer.id), "status": "verzonden",
                                                    "invoice_date": "2026-04-11", "lines": ten_lines(n)})
    return administration.id, str(customer.id)


def measure(administration_id, contact_id: str, repeat: int) -> dict[str, dict[str, float]]:
    """Median ms per stage, as CPU time of this thread ("cpu") and as wall-clock time ("wall")."""
    clocks = {"cpu": time.thread_time, "wall": time.perf_counter}
    stages = {clock: {"query": [], "serialize": [], "encode": []} for clock in clocks}
    size = rows = 0
    for round_ in range(repeat + 1):
        marks = [(time.thread_time(), time.perf_counter())]
        page = invoices.list_invoices(administration_id, status="verzonden", contact_id=contact_id, limit=100)
        marks.append((time.thread_time(), time.perf_counter()))
        document = serialize.invoice_page(page)
        marks.append((time.thread_time(), time.perf_counter()))
        body = encode(document)
        marks.append((time.thread_time(), time.perf_counter()))
        size, rows = len(body), len(page.rows)
        if not round_:   # the first call warms caches and is not counted
            continue
        for index, clock in enumerate(clocks):
            for stage, (before, after) in zip(stages[clock], zip(marks, marks[1:], strict=False),
                                              strict=True):
                stages[clock][stage].append(after[index] - before[index])
    result: dict[str, dict[str, float]] = {}
    for clock, by_stage in stages.items():
        result[clock] = {stage: statistics.median(values) * 1000 for stage, values in by_stage.items()}
        result[clock]["total"] = sum(result[clock].values())
    result["page"] = {"bytes": size, "rows": rows}
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--invoices", type=int, default=100, help="invoices of the customer (default 100)")
    parser.add_argument("--repeat", type=int, default=30, help="timed repetitions (default 30)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="paydock-readpath-") as where:
        database = db.open_database(f"sqlite:///{where}/readpath.db")
        db.bind(database)
        with database.connection_context():
            migrate()
            administration_id, contact_id = seed(args.invoices)
            figures = measure(administration_id, contact_id, args.repeat)
        database.close_all()
    page = figures["page"]
    if args.json:
        print(json.dumps({**figures, "repeat": args.repeat, "before_ms": BEFORE_MS}))
        return 0
    print(f"GET /invoices?status=verzonden&contact_id=…&limit=100 in process on SQLite: "
          f"{page['rows']} invoices × 10 lines, {page['bytes']:,} bytes, median of {args.repeat}")
    print(f"  {'stage':<10} {'cpu ms':>8} {'wall ms':>8}")
    for stage in ("query", "serialize", "encode", "total"):
        print(f"  {stage:<10} {figures['cpu'][stage]:8.2f} {figures['wall'][stage]:8.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
