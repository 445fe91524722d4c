"""Fast bulk seeding: COPY rows of any PayDock model straight into PostgreSQL.

`copy_rows(Contact, ("administration", "name"), rows)` streams tuples through
`COPY ... FROM STDIN` (psycopg2 `copy_expert`), filling the model's Python-side
defaults (id, created_at, ...) for columns the rows leave out, and converting values
the way the model's fields store them (money as integer cents, UUIDs, booleans).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal

import peewee
from tqdm import tqdm

from models import api_keys, db, tenancy

NULL = "\\N"
# COPY text format: backslash, tab, newline and carriage return are escaped.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
ROWS_PER_CHUNK = 2000
# At most this many ids per sampled list are handed to wrk (each wrk thread loads them all).
IDS_FOR_WRK = 10_000


def copy_text(value) -> str:
    """One value in PostgreSQL's COPY text format (after the field's own conversion)."""
    if value is None:
        return NULL
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, (int, dt.date, uuid.UUID)):
        return str(value)
    return str(value).translate(_ESCAPES)


def _converter(model_field: peewee.Field) -> Callable:
    """value -> COPY text for one column, using the field's db_value only where it matters."""
    if isinstance(model_field, db.CentsField):
        return lambda v: NULL if v is None else str(model_field.db_value(v))
    if isinstance(model_field, peewee.ForeignKeyField):
        return lambda v: NULL if v is None else str(getattr(v, "id", v))
    if isinstance(model_field, (peewee.DecimalField, peewee.FloatField)):
        return lambda v: NULL if v is None else str(Decimal(str(v)))
    return copy_text


def _defaults(model: type[peewee.Model], given: Sequence[str]) -> list[tuple[str, Callable]]:
    """Columns the rows leave out that have a Python-side default, with a value factory."""
    missing = []
    for name, model_field in model._meta.fields.items():
        if name in given or model_field.default is None:
            continue
        default = model_field.default
        missing.append((name, default if callable(default) else (lambda d=default: d)))
    return missing


class _CopyStream:
    """A file-like object that psycopg2's copy_expert reads COPY text from, chunk by chunk."""

    def __init__(self, lines: Iterable[str], bar: tqdm | None) -> None:
        self._lines = iter(lines)
        self._bar = bar
        self.rows = 0

    def read(self, size: int = -1) -> str:
        chunk = []
        for line in self._lines:
            chunk.append(line)
            if len(chunk) >= ROWS_PER_CHUNK:
                break
        self.rows += len(chunk)
        if self._bar is not None:
            self._bar.update(len(chunk))
        return "".join(chunk)

    def readline(self, size: int = -1) -> str:  # copy_expert only needs read(); kept for file-likeness
        return self.read(size)


def copy_rows(model: type[peewee.Model], columns: Sequence[str], rows: Iterable[Sequence], *,
              total: int | None = None, desc: str | None = None, progress: bool = True) -> int:
    """COPY `rows` (tuples in `columns` order) into `model`'s table; returns the row count.

    Columns the rows leave out get the model's default (a new uuid4 id, now() timestamps,
    ...). Needs an open connection on `models.db.database` (PostgreSQL)."""
    fields = [model._meta.fields[name] for name in columns]
    converters = [_converter(f) for f in fields]
    defaults = _defaults(model, columns)
    column_names = [f.column_name for f in fields] + [
        model._meta.fields[name].column_name for name, _ in defaults
    ]
    default_converters = [_converter(model._meta.fields[name]) for name, _ in defaults]
    default_factories = [factory for _, factory in defaults]

    def lines():
        for row in rows:
            values = [convert(v) for convert, v in zip(converters, row, strict=True)]
            values += [convert(make()) for convert, make in zip(default_converters, default_factories,
                                                                 strict=True)]
            yield "\t".join(values) + "\n"

    table = model._meta.table_name
    quoted = ", ".join(f'"{name}"' for name in column_names)
    bar = tqdm(total=total, desc=desc or table, unit=" rows", unit_scale=True, leave=False,
               disable=not progress, mininterval=0.5)
    stream = _CopyStream(lines(), bar)
    try:
        with db.database.atomic():
            cursor = db.database.connection().cursor()
            cursor.copy_expert(f'COPY "{table}" ({quoted}) FROM STDIN', stream)
    finally:
        bar.close()
    return stream.rows


def analyze(*models: type[peewee.Model]) -> None:
    """Refresh the planner's statistics after a bulk load (autovacuum may not have run yet)."""
    for model in models:
        db.database.execute_sql(f'ANALYZE "{model._meta.table_name}"')


# ------------------------------------------------------------------ data levels

@dataclass
class SeedContext:
    """What a seeder gets: the administration to fill, how many rows, and earlier seeders' ids."""

    administration_id: uuid.UUID
    size: int
    ids: dict[str, list[str]]
    progress: bool = True
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    def copy(self, model, columns, rows, *, total=None, desc=None) -> int:
        return copy_rows(model, columns, rows, total=total, desc=desc, progress=self.progress)


@dataclass(frozen=True)
class Seeder:
    """Fills an administration for some scenarios. `seed` returns named id lists (e.g.
    {"contact": [...]}) that scenarios draw `{id}`s from; `needs` run first. `size` maps
    the level's row count to this seeder's (default: the same), e.g. one subscription
    per ten contacts."""

    name: str
    seed: Callable[[SeedContext], dict[str, list[str]]]
    needs: tuple[str, ...] = ()
    size: Callable[[int], int] | None = None


@dataclass
class Seeded:
    """One data level (e.g. "large" = 1,000,000 rows) in its own administration."""

    level: str
    size: int
    administration_id: uuid.UUID
    keys: dict[str, str]
    ids: dict[str, list[str]]
    seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)


# Keys every level gets: name -> scopes. Scenarios choose one by name.
KEY_SCOPES = {"api": ["read", "write"], "portal": ["portal"]}


def seed_level(level: str, size: int, seeders: Sequence[Seeder], *, progress: bool = True,
               sizes: dict[str, int] | None = None) -> Seeded:
    """A new administration with a key per KEY_SCOPES entry, filled by `seeders` in order.

    `sizes` fixes some seeders' row counts whatever the level (e.g. 100,000 subscriptions
    next to 1,000 and to 1,000,000 invoices)."""
    administration = tenancy.create_administration(f"Bench {level} ({size:,})")
    keys = {
        name: api_keys.create_api_key(administration.id, f"bench {name}", scopes)[1]
        for name, scopes in KEY_SCOPES.items()
    }
    context = SeedContext(administration.id, size, {}, progress=progress)
    rows: dict[str, int] = {}   # main rows per seeder
    for seeder in seeders:
        if sizes and seeder.name in sizes:
            own = replace(context, size=sizes[seeder.name])
        else:
            own = replace(context, size=seeder.size(size)) if seeder.size else context
        context.ids.update(seeder.seed(own))
        rows[seeder.name] = own.size
    return Seeded(level, size, administration.id, keys, context.ids, rows=rows)


def order_seeders(wanted: Iterable[str], registry: dict[str, Seeder]) -> list[Seeder]:
    """The seeders named in `wanted` plus what they need, dependencies first."""
    ordered: list[Seeder] = []

    def visit(name: str) -> None:
        seeder = registry[name]
        if seeder in ordered:
            return
        for dependency in seeder.needs:
            visit(dependency)
        ordered.append(seeder)

    for name in wanted:
        visit(name)
    return ordered


def spread_timestamps(count: int, days: int = 730) -> Callable[[int], dt.datetime]:
    """Row i's created_at: `count` rows spread evenly over the last `days`, oldest first."""
    start = db.utcnow() - dt.timedelta(days=days)
    step = dt.timedelta(days=days) / max(count, 1)
    return lambda i: start + step * i
