"""Gapless document numbers per administration, series and year (`2026-0001`).

One counter row per (administration, kind, year). `next_number` bumps it with a
single `INSERT … ON CONFLICT DO UPDATE SET last_number = last_number + 1 RETURNING`,
inside the caller's transaction: the row stays locked until that transaction ends,
so concurrent issuers queue, and a rollback takes the number back with it (no gap).
Invoices use kind 'invoice' (credit notes share that series); quotes use 'quote'.
"""

from __future__ import annotations

import peewee

from models.db import TenantModel, database, utcnow
from models.tenancy import Administration


class NumberSeries(TenantModel):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    kind = peewee.CharField(max_length=20)
    year = peewee.IntegerField()
    last_number = peewee.IntegerField()

    class Meta:
        table_name = "number_series"
        indexes = ((("administration", "kind", "year"), True),)


def format_number(year: int, sequence: int, prefix: str = "") -> str:
    """`2026-0001`: the year, a dash and the sequence, at least four digits."""
    return f"{prefix}{year}-{sequence:04d}"


def next_number(administration_id, kind: str, year: int, prefix: str = "") -> str:
    """Take the next number of a series; call inside the transaction that uses it."""
    assert database.in_transaction(), "a number is taken in the transaction that issues it"
    now = utcnow()
    query = (
        NumberSeries.insert(administration=administration_id, kind=kind, year=year, last_number=1,
                            created_at=now, updated_at=now)
        .on_conflict(
            conflict_target=[NumberSeries.administration, NumberSeries.kind, NumberSeries.year],
            update={NumberSeries.last_number: NumberSeries.last_number + 1,
                    NumberSeries.updated_at: now},
        )
        .returning(NumberSeries.last_number)
    )
    ((sequence,),) = list(query.tuples().execute())
    return format_number(year, sequence, prefix)


def next_numbers(administration_id, kind: str, year: int, count: int, prefix: str = "") -> list[str]:
    """Take the next `count` numbers of a series with one statement (for batch jobs such as
    the billing run); the same rules as next_number."""
    assert database.in_transaction(), "numbers are taken in the transaction that issues them"
    if count < 1:
        return []
    now = utcnow()
    query = (
        NumberSeries.insert(administration=administration_id, kind=kind, year=year, last_number=count,
                            created_at=now, updated_at=now)
        .on_conflict(
            conflict_target=[NumberSeries.administration, NumberSeries.kind, NumberSeries.year],
            update={NumberSeries.last_number: NumberSeries.last_number + count,
                    NumberSeries.updated_at: now},
        )
        .returning(NumberSeries.last_number)
    )
    ((last,),) = list(query.tuples().execute())
    return [format_number(year, sequence, prefix) for sequence in range(last - count + 1, last + 1)]
