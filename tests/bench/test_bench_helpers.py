"""Bench helpers: COPY seeding round trips exactly, seeder order, timed CLI commands."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from decimal import Decimal

import pytest

from bench.scenarios import timed_paydock
from bench.seed import Seeded, Seeder, copy_rows, copy_text, order_seeders
from models import tenancy
from models.contacts import Contact
from models.products import Product
from tests.bench.owndb import own_database


def test_copy_text_escapes_what_copy_text_format_needs():
    assert copy_text(None) == "\\N"
    assert copy_text(True) == "t" and copy_text(False) == "f"
    assert copy_text("a\tb\nc\\d\re") == "a\\tb\\nc\\\\d\\re"
    assert copy_text(dt.datetime(2026, 1, 2, 3, 4, 5, 6)) == "2026-01-02 03:04:05.000006"
    assert copy_text(uuid.UUID(int=1)) == "00000000-0000-0000-0000-000000000001"


def test_seeders_run_after_what_they_need():
    registry = {
        "invoices": Seeder("invoices", lambda ctx: {}, needs=("contacts",)),
        "contacts": Seeder("contacts", lambda ctx: {}),
        "payments": Seeder("payments", lambda ctx: {}, needs=("invoices",)),
    }
    assert [s.name for s in order_seeders(["payments", "contacts"], registry)] == [
        "contacts", "invoices", "payments"]


@pytest.fixture(scope="module")
def copy_database(pg_server):
    """A database of its own for this module (the models are bound back afterwards)."""
    with own_database(pg_server, "bench_copy") as (_, database):
        yield database


@pytest.mark.postgres
def test_copy_rows_fills_defaults_and_round_trips_values(copy_database):
    with copy_database.connection_context():
        administration = tenancy.create_administration("Copy BV")
        created = dt.datetime(2025, 3, 1, 12, 30, 0, 123456)
        rows = [
            (administration.id, "Tab\tand\nnewline", None, True, created),
            (administration.id, "Back\\slash ünïcode", "x@example.nl", False, created),
        ]
        written = copy_rows(Contact, ("administration", "name", "email", "archived", "created_at"),
                            rows, progress=False)
        assert written == 2
        stored = list(Contact.of(administration.id).order_by(Contact.name))
    assert [(c.name, c.email, c.archived, c.created_at) for c in stored] == [
        ("Back\\slash ünïcode", "x@example.nl", False, created),
        ("Tab\tand\nnewline", None, True, created),
    ]
    # Left-out columns got the model's defaults: a fresh id each, country NL.
    assert len({c.id for c in stored}) == 2
    assert {c.country for c in stored} == {"NL"}
    assert all(c.updated_at is not None for c in stored)


@pytest.mark.postgres
def test_copy_rows_stores_money_and_rates_as_the_fields_do(copy_database):
    with copy_database.connection_context():
        administration = tenancy.create_administration("Money BV")
        copy_rows(Product, ("administration", "name", "unit_price_incl", "tax_percentage"),
                  [(administration, "Koffie", Decimal("3.49"), Decimal("9")),
                   (administration, "Licentie", Decimal("1234567.89"), Decimal("5.5"))],
                  progress=False)
        stored = {p.name: (p.unit_price_incl, p.tax_percentage, p.active)
                  for p in Product.of(administration.id)}
        cents = dict(copy_database.execute_sql(
            'SELECT name, unit_price_incl FROM "product" WHERE administration_id = %s',
            (administration.id,)).fetchall())
    assert stored == {"Koffie": (Decimal("3.49"), Decimal("9.00"), True),
                      "Licentie": (Decimal("1234567.89"), Decimal("5.50"), True)}
    assert cents == {"Koffie": 349, "Licentie": 123456789}


def test_timed_paydock_times_a_cli_command_and_reports_failures(tmp_path):
    seeded = Seeded("small", 1, uuid.UUID(int=5), keys={}, ids={})
    env = {**os.environ, "PAYDOCK_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    result = timed_paydock("migrate")(seeded, env)
    assert result["seconds"] > 0
    assert "applied" in result["output"]
    with pytest.raises(RuntimeError, match="exited 2"):
        timed_paydock("keys", "list", "--administration")(seeded, env)


def test_the_webhook_section_replaces_its_old_self_and_nothing_else():
    from bench.webhook_delivery import SECTION, replace_section

    head, tail = "# Results\n\n## Targets\n\nkept\n\n", "\n## Worker memory\n\nkept too\n"
    after = replace_section(f"{head}{SECTION}\n\nold figures\n{tail}", f"{SECTION}\n\nnew figures\n")
    assert after == f"{head}{SECTION}\n\nnew figures\n{tail}"
    assert replace_section("# Results\n", f"{SECTION}\n\nfirst\n") == f"# Results\n\n{SECTION}\n\nfirst\n"
