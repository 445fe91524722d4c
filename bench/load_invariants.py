"""The long load-and-invariants run: invoices and payments from 16 concurrent clients for
2 minutes against gunicorn with 4 workers on PostgreSQL, then every invariant checked.

    python -m bench.load_invariants [--seconds 120] [--clients 16] [--workers 4]

Writes its figures into bench/RESULTS.md (section "Load and invariants"). Loopback only;
bounded by --seconds and a request budget; stops by itself.
"""

from __future__ import annotations

import argparse
import datetime
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import bind_test_database
from tests.pgserver import PostgresServer
from tests.reliability.conftest import GENEROUS_LIMITS, new_tenant_key
from tests.reliability.harness import run_load
from tests.reliability.invoice_load import (
    database_invariants,
    invoice_scenario,
    no_server_errors,
    one_resource_per_idempotency_key,
)
from tests.server import GunicornServer

RESULTS = Path(__file__).with_name("RESULTS.md")
START, END = "<!-- load-invariants -->", "<!-- /load-invariants -->"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    args = parser.parse_args(argv)

    server = PostgresServer().start()
    try:
        url = server.create_database("paydock_load")
        bind_test_database(url)
        administration_id, key = new_tenant_key(url)
        with GunicornServer(url, workers=args.workers, **GENEROUS_LIMITS) as api:
            report = run_load(api.url, invoice_scenario, headers={"X-API-Key": key},
                              clients=args.clients, max_seconds=args.seconds, max_requests=1_000_000)
        violations = report.violations(no_server_errors, one_resource_per_idempotency_key,
                                       database_invariants(administration_id))
    finally:
        server.cleanup()
    invoices, payments, events = report.notes.get("checked", [0, 0, 0])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    statuses = ", ".join(f"{s}: {n}" for s, n in sorted(report.statuses.items()))
    keys_checked = len(report.notes.get("invoice_keys", [])) + len(report.notes.get("payment_keys", []))
    section = "\n".join([
        START,
        "## Load and invariants (invoices and payments)",
        "",
        f"`python -m bench.load_invariants --seconds {args.seconds:g} --clients {args.clients} "
        f"--workers {args.workers}` at commit `{commit}`, "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC: PostgreSQL 15, gunicorn with "
        f"{args.workers} uvicorn workers, {args.clients} concurrent clients on 127.0.0.1.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| duration | {report.seconds:.1f} s |",
        f"| requests | {report.requests} ({report.requests / max(report.seconds, 1e-9):.0f}/s) |",
        f"| statuses | {statuses} |",
        f"| 5xx responses | {report.server_errors} |",
        f"| transport errors | {sum(report.transport_errors.values())} |",
        f"| invoices checked | {invoices} |",
        f"| payments checked | {payments} |",
        f"| outbox events checked | {events} |",
        f"| idempotency keys checked | {keys_checked} |",
        f"| invariant violations | {len(violations)} |",
        "",
        "Invariants: invoice numbers per year are 1..N with no gap or double; concepts have no "
        "number; `amount_paid` equals the sum of the invoice's payments; the status of every "
        "open or paid invoice is the one its amounts give; one invoice or payment per "
        "Idempotency-Key; exactly one `*.created`/`payment.refunded` outbox event per invoice "
        "and payment; zero 5xx and zero transport errors. 409s are payments on credited "
        "invoices and retries that raced their first request; 422s are refunds larger than "
        "what was paid.",
        END,
    ])
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    if START in text:
        text = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: section, text, flags=re.S)
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    RESULTS.write_text(text)
    print(report.summary())
    for violation in violations[:50]:
        print("VIOLATION:", violation)
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
