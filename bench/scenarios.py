"""What the bench measures: the data seeders and the scenario table.

A new resource plugs in with
1. a seeder (a function that COPYs its rows and returns the ids scenarios draw from),
   registered in SEEDERS;
2. HttpScenario entries (method, path and body templates; `{id}` is replaced by a
   random id from a seeded id list, `{unique}` by a value unique to the request);
3. the same routes in bench/baseline.py, doing the same model-layer calls;
or, for a batch job, a CommandScenario timing a `paydock` command (timed_paydock).

For example, GET one invoice once `models.invoices` exists:

    SEEDERS["invoices"] = Seeder("invoices", seed_invoices, needs=("contacts",))
    HttpScenario(name="invoice-get", title="GET /invoices/{id}", method="GET",
                 path="/api/invoices/{id}", needs=("invoices",), ids="invoice",
                 goal="PayDock ≥ 0.8× baseline", min_ratio=0.8,
                 profile=lambda s: invoices.get_invoice(s.administration_id, s.ids["invoice"][0]))

Every scenario runs at each data level (by default "small" = 1,000 and "large" =
1,000,000 rows of each seeder's main resource, each level in its own administration).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import billing_scenario
from bench.invoice_data import PORTAL_EXTERNAL_ID, seed_invoices
from bench.seed import IDS_FOR_WRK, SeedContext, Seeded, Seeder, analyze, spread_timestamps
from models import contacts, invoices, payments, portal
from models.contacts import Contact

__all__ = ["IDS_FOR_WRK", "SCENARIOS", "SEEDERS", "TARGETS"]


# ------------------------------------------------------------------ seeders

CITIES = ("Amsterdam", "Rotterdam", "Utrecht", "Den Haag", "Eindhoven", "Groningen", "Haarlem",
          "Zwolle", "Leiden", "Maastricht")


def seed_contacts(ctx: SeedContext) -> dict[str, list[str]]:
    """`size` contacts; every 10th archived. Returns a sample of their ids as "contact"."""
    when = spread_timestamps(ctx.size)
    sample_every = max(1, ctx.size // IDS_FOR_WRK)
    sample: list[str] = []

    def rows():
        for i in range(ctx.size):
            row_id = uuid.uuid4()
            if i % sample_every == 0:
                sample.append(str(row_id))
            created = when(i)
            yield (row_id, ctx.administration_id, f"Klant {i:07d} BV", f"factuur{i}@klant{i}.nl",
                   f"Dorpsstraat {i % 500 + 1}", CITIES[i % len(CITIES)], f"SEED-{i:07d}",
                   i % 10 == 0, created, created)

    columns = ("id", "administration", "name", "email", "address", "city", "external_id",
               "archived", "created_at", "updated_at")
    ctx.copy(Contact, columns, rows(), total=ctx.size, desc=f"contacts ({ctx.size:,})")
    analyze(Contact)
    ctx.rng.shuffle(sample)
    return {"contact": sample}


SEEDERS: dict[str, Seeder] = {
    "contacts": Seeder("contacts", seed_contacts),
    "invoices": Seeder("invoices", seed_invoices, needs=("contacts",)),
    "subscriptions": Seeder("subscriptions", billing_scenario.seed_subscriptions, needs=("contacts",),
                            size=billing_scenario.subscription_count),
}


# ------------------------------------------------------------------ scenarios

@dataclass(frozen=True)
class HttpScenario:
    """One request shape driven by wrk against each target, compared as targets[0] / targets[1]."""

    name: str
    title: str
    method: str
    path: str                       # e.g. "/api/contacts/{id}"
    needs: tuple[str, ...]          # seeders
    ids: str | None = None          # seeded id list that fills {id}
    body: str | None = None         # JSON template; same placeholders as path
    key: str = "api"                # which seeded key (bench.seed.KEY_SCOPES)
    expect: int = 200
    writes: bool = False            # writes run after the reads of a level (they grow the data)
    levels: tuple[str, ...] = ("small", "large")
    targets: tuple[str, ...] = ("paydock", "baseline")  # also "floor": the statement-built body
    quick: bool = True              # part of --quick
    goal: str = ""                  # the target this figure is held to, shown in RESULTS.md
    min_ratio: float | None = None  # targets[0]/targets[1] requests/s must reach this
    max_p95_growth: float | None = None  # targets[0] p95 at "large" / at "small" must stay under
    min_floor_ratio: float | None = None  # targets[0] / "floor" requests/s must reach this
    # (scenario, factor): targets[0] p95 must stay under factor × that scenario's at the same level
    max_p95_vs: tuple[str, float] | None = None
    # wrk settings of this scenario instead of the run's: a request that takes seconds (an
    # OFFSET deep into a million rows) needs few connections and a long timeout to be measured.
    connections: int | None = None
    timeout_s: int = 5
    min_seconds: int = 0            # each measured run lasts at least this long
    # Repetitions at least in a full run (the run's --reps when more). A write changes the
    # tables it is measured on (row versions of the invoices paid, index growth), and one run
    # in four or five drops by up to 40%, PayDock's and the baseline's alike: the median of
    # five leaves two such runs out.
    min_reps: int = 0
    # A model-layer call equal to one request's database work: its SQL statements are
    # counted and the SELECTs timed one by one (how much of a list is its COUNT).
    profile: Callable[[Seeded], object] | None = None

    kind = "http"


@dataclass(frozen=True)
class CommandScenario:
    """A batch job timed end to end (e.g. the billing run), once per level."""

    name: str
    title: str
    needs: tuple[str, ...]
    run: Callable[[Seeded, dict], dict]   # (level data, env) -> {"seconds": s, ...}
    levels: tuple[str, ...] = ("small", "large")
    quick: bool = True
    goal: str = ""
    max_seconds: float | None = None
    writes: bool = True

    kind = "command"


def timed_paydock(*args: str, timeout: float = 3600) -> Callable[[Seeded, dict], dict]:
    """A CommandScenario.run that times `paydock ARGS` against the bench database.

    `{administration}` in an argument becomes the level's administration id, e.g.
    `timed_paydock("billing", "run", "--administration", "{administration}")`."""
    root = Path(__file__).resolve().parent.parent

    def run(seeded: Seeded, env: dict) -> dict:
        argv = [a.replace("{administration}", str(seeded.administration_id)) for a in args]
        start = time.monotonic()
        result = subprocess.run([sys.executable, "-m", "paydock.cli", *argv], cwd=root, env=env,
                                capture_output=True, text=True, timeout=timeout)
        seconds = time.monotonic() - start
        if result.returncode != 0:
            raise RuntimeError(f"paydock {' '.join(argv)} exited {result.returncode}: "
                               f"{result.stderr[-500:]}")
        return {"seconds": round(seconds, 2), "output": result.stdout[-2000:]}

    return run


CONTACT_BODY = json.dumps({
    "name": "Bench Klant {unique}",
    "email": "bench-{unique}@example.nl",
    "city": "Utrecht",
    "country": "NL",
    "external_id": "B-{unique}",
})

# POST /invoices as the issue asks: ten lines, issued at once (so it takes a number).
INVOICE_BODY = json.dumps({
    "contact_id": "{id}",
    "status": "verzonden",
    "reference": "bench {unique}",
    "lines": [
        {"description": f"Regel {n}", "quantity": q, "unit_price_incl": p, "tax_percentage": r}
        for n, (q, p, r) in enumerate([(1, 121.00, 21), (2, 24.50, 9), (3, 10.00, 0), (1.5, 80.00, 21),
                                       (1, 6.95, 21), (4, 12.10, 21), (1, 109.00, 9), (2, 45.00, 0),
                                       (0.25, 400.00, 21), (10, 1.21, 21)], start=1)
    ],
})
# One cent: a run sends thousands of payments to a few hundred open invoices, and a payment
# beyond an invoice's open amount is refused (409).
PAYMENT_BODY = json.dumps({"invoice_id": "{id}", "amount": 0.01, "external_method": "bank",
                           "external_reference": "bench {unique}"})
INVOICE_LIST_PATH = "/api/invoices?status=verzonden&contact_id={id}&limit=100"
READS = ("paydock", "baseline", "floor")
#: Repetitions of the POST scenarios held to a ratio in a full run (HttpScenario.min_reps).
WRITE_REPS = 5
# The paging scenarios compare latencies of pages that take milliseconds (by cursor) with one
# that takes about a second of database work (by OFFSET): two connections, so that p95 shows
# the request's own time rather than a queue, and a timeout the slow page stays under.
PAGING: dict = {"connections": 2, "timeout_s": 60}


def _profile_body(template: str, seeded: Seeded, ids: str) -> dict:
    return json.loads(template.replace("{id}", seeded.ids[ids][0]).replace("{unique}", "profile"))


SCENARIOS: list[HttpScenario | CommandScenario] = [
    HttpScenario(
        name="invoice-get", title="GET /invoices/{id} (10 lines and contact)", method="GET",
        path="/api/invoices/{id}", needs=("invoices",), ids="portal_invoice", targets=READS,
        goal="PayDock ≥ 0.8× baseline, ≥ 0.5× floor", min_ratio=0.8, min_floor_ratio=0.5,
        profile=lambda s: invoices.get_invoice(s.administration_id, s.ids["portal_invoice"][0]),
    ),
    HttpScenario(
        name="invoice-list", title="GET /invoices?status=verzonden&contact_id=…&limit=100 (10 lines each)",
        method="GET", path=INVOICE_LIST_PATH, needs=("invoices",), ids="portal_contact", targets=READS,
        goal="p95 at large ≤ 2× p95 at small; ≥ 0.5× floor", max_p95_growth=2.0, min_floor_ratio=0.5,
        profile=lambda s: invoices.list_invoices(s.administration_id, status="verzonden",
                                                 contact_id=s.ids["portal_contact"][0], limit=100),
    ),
    HttpScenario(
        name="portal", title=f"GET /client-portal/{PORTAL_EXTERNAL_ID} (2,000 invoices)", method="GET",
        path=f"/api/client-portal/{PORTAL_EXTERNAL_ID}", needs=("invoices",), key="portal", targets=READS,
        goal="p95 at large ≤ 2× p95 at small; ≥ 0.5× floor", max_p95_growth=2.0, min_floor_ratio=0.5,
        profile=lambda s: portal.client_portal(s.administration_id, PORTAL_EXTERNAL_ID),
    ),
    HttpScenario(
        name="invoice-create", title="POST /invoices (10 lines, verzonden)", method="POST",
        path="/api/invoices", needs=("invoices",), ids="contact", body=INVOICE_BODY, expect=201,
        writes=True, goal="PayDock ≥ 0.7× baseline, 0 errors", min_ratio=0.7, min_reps=WRITE_REPS,
        profile=lambda s: invoices.create_invoice(s.administration_id,
                                                  _profile_body(INVOICE_BODY, s, "contact")),
    ),
    HttpScenario(
        name="payment-create", title="POST /payments", method="POST", path="/api/payments",
        needs=("invoices",), ids="open_invoice", body=PAYMENT_BODY, expect=201, writes=True,
        goal="PayDock ≥ 0.7× baseline, 0 errors", min_ratio=0.7, min_reps=WRITE_REPS,
        profile=lambda s: payments.register_payment(s.administration_id,
                                                    _profile_body(PAYMENT_BODY, s, "open_invoice")),
    ),
    HttpScenario(
        name="contact-get", title="GET /contacts/{id}", method="GET", path="/api/contacts/{id}",
        needs=("contacts",), ids="contact",
        goal="for comparison with GET /invoices/{id}",
        profile=lambda s: Contact.get_owned(s.administration_id, s.ids["contact"][0]),
        levels=("small",),
        quick=False,
    ),
    HttpScenario(
        name="contact-list", title="GET /contacts?archived=false&limit=100", method="GET",
        path="/api/contacts?archived=false&limit=100", needs=("contacts",), targets=READS,
        goal="p95 at large ≤ 2× p95 at small; ≥ 0.6× floor", max_p95_growth=2.0, min_floor_ratio=0.6,
        profile=lambda s: contacts.list_contacts(s.administration_id, limit=100, archived=False),
        quick=False,
    ),
    HttpScenario(
        name="contact-list-10", title="GET /contacts?limit=10, rate limiting off", method="GET",
        path="/api/contacts?limit=10", needs=("contacts",), targets=("paydock-nolimit", "baseline-nolimit"),
        goal="PayDock ≥ 0.8× a bare route running the same Peewee query", min_ratio=0.8,
        profile=lambda s: contacts.list_contacts(s.administration_id, limit=10),
        levels=("small",),
    ),
    HttpScenario(
        name="invoice-page-1", title="GET /invoices?limit=100 (page 1 of every invoice; wrk -c2)",
        method="GET", path="/api/invoices?limit=100", needs=("invoices",), targets=("paydock", "floor"),
        goal="for comparison with the deep page", levels=("large",), **PAGING,
        profile=lambda s: invoices.list_invoices(s.administration_id, limit=100),
    ),
    HttpScenario(
        name="invoice-page-deep", title="GET /invoices?limit=100&starting_after=… (deep page: 9,000 at "
        "1,000,000; wrk -c2)", method="GET", path="/api/invoices?limit=100&starting_after={id}",
        needs=("invoices",), ids="deep_cursor", targets=("paydock", "floor"), levels=("large",), **PAGING,
        goal="p95 ≤ 2× page 1's p95", max_p95_vs=("invoice-page-1", 2.0),
        profile=lambda s: invoices.list_invoices(s.administration_id, limit=100,
                                                 starting_after=s.ids["deep_cursor"][0]),
    ),
    HttpScenario(
        name="invoice-page-deep-offset",
        title="GET /invoices?limit=100&offset=… (the same deep page; wrk -c2)", method="GET",
        path="/api/invoices?limit=100&offset={id}", needs=("invoices",), ids="deep_offset",
        targets=("paydock", "floor"), levels=("large",), **PAGING, min_seconds=10,
        goal="for comparison: the same page through offset",
        profile=lambda s: invoices.list_invoices(s.administration_id, limit=100,
                                                 offset=int(s.ids["deep_offset"][0])),
    ),
    HttpScenario(
        name="contact-create", title="POST /contacts (row + outbox event)", method="POST",
        path="/api/contacts", needs=("contacts",), body=CONTACT_BODY, expect=201, writes=True,
        goal="for comparison with POST /invoices",
        profile=lambda s: contacts.create_contact(
            s.administration_id, {**json.loads(CONTACT_BODY.replace("{unique}", "profile"))}),
        levels=("small",),
        quick=False,
    ),
    HttpScenario(
        name="contact-get-keycache", title="GET /contacts/{id}: key cache off vs on",
        method="GET", path="/api/contacts/{id}", needs=("contacts",), ids="contact",
        levels=("small",), targets=("paydock-nocache", "paydock"),
        goal="cost of verifying the key in the database on every request",
        quick=False,
    ),
    CommandScenario(
        name="billing-run", title="billing run over 100,000 subscriptions (quick: 10,000)",
        needs=("subscriptions",), run=billing_scenario.billing_run,
        goal="< 60 s, each billed once", max_seconds=60),
]


@dataclass(frozen=True)
class Target:
    """A server the bench starts: PayDock or the baseline, under the same gunicorn settings."""

    name: str
    label: str
    app: str                              # gunicorn app spec
    env: dict = field(default_factory=dict)


TARGETS: dict[str, Target] = {
    "paydock": Target("paydock", "PayDock", "paydock:create_app()"),
    "baseline": Target("baseline", "baseline", "bench.baseline:create_app()"),
    "paydock-nocache": Target("paydock-nocache", "PayDock, key cache 0 s", "paydock:create_app()",
                              {"PAYDOCK_API_KEY_CACHE_SECONDS": "0"}),
    # The whole body built by PostgreSQL in one statement (bench/floor.py); its keys come
    # from the seeded levels when the bench starts it (FLOOR_KEYS).
    "floor": Target("floor", "floor (one SQL statement)", "bench.floor:create_app()"),
    "paydock-nolimit": Target("paydock-nolimit", "PayDock, rate limiting off", "paydock:create_app()",
                              {"PAYDOCK_RATE_LIMIT_PER_SECOND": "0"}),
    "baseline-nolimit": Target("baseline-nolimit", "baseline, rate limiting off",
                               "bench.baseline:create_app()", {"PAYDOCK_RATE_LIMIT_PER_SECOND": "0"}),
}
