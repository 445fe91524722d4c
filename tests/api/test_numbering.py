"""The number series on both backends: per series and year, and a rollback leaves no gap."""

from __future__ import annotations

import pytest

from models import db, tenancy
from models.numbering import NumberSeries, format_number, next_number


class Rollback(Exception):
    pass


def test_numbers_count_per_series_and_year_and_a_rollback_takes_its_number_back(client):
    with db.database.connection_context():
        admin = tenancy.create_administration("Nummers BV").id
        with db.database.atomic():
            assert next_number(admin, "invoice", 2026) == "2026-0001"
            assert next_number(admin, "invoice", 2026) == "2026-0002"
            assert next_number(admin, "quote", 2026) == "2026-0001"
            assert next_number(admin, "invoice", 2027) == "2027-0001"
        with pytest.raises(Rollback), db.database.atomic():
            assert next_number(admin, "invoice", 2026) == "2026-0003"
            raise Rollback
        with db.database.atomic():
            assert next_number(admin, "invoice", 2026) == "2026-0003"
        assert sorted((s.kind, s.year, s.last_number) for s in NumberSeries.of(admin)) == [
            ("invoice", 2026, 3), ("invoice", 2027, 1), ("quote", 2026, 1)]


def test_a_number_is_only_taken_inside_a_transaction(client):
    with db.database.connection_context(), pytest.raises(AssertionError):
        next_number(tenancy.create_administration("X").id, "invoice", 2026)


def test_format():
    assert format_number(2026, 1) == "2026-0001"
    assert format_number(2026, 12345) == "2026-12345"
    assert format_number(2026, 7, prefix="F") == "F2026-0007"
