"""Versioned schema migrations: `paydock migrate` applies every `mNNNN_*.py` not yet applied.

Each migration module has `up(db)`, runs in one transaction and is recorded in
`schema_migration`. A released migration is never edited: a change is a new module.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import peewee

from models.db import database, is_postgres, utcnow

_LOCK_ID = 7_201_334  # advisory lock that serialises concurrent `paydock migrate` runs


class SchemaMigration(peewee.Model):
    version = peewee.IntegerField(primary_key=True)
    name = peewee.CharField(max_length=200)
    applied_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        database = database
        table_name = "schema_migration"


def available() -> list[tuple[int, str, ModuleType]]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("m") and info.name[1:5].isdigit():
            module = importlib.import_module(f"{__name__}.{info.name}")
            found.append((int(info.name[1:5]), info.name, module))
    return sorted(found, key=lambda item: item[0])


def migrate() -> list[str]:
    """Apply pending migrations in order; returns the names applied."""
    applied_now = []
    with database.atomic():
        if is_postgres():
            database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
        database.create_tables([SchemaMigration], safe=True)
    for version, name, module in available():
        with database.atomic():
            if is_postgres():
                database.execute_sql("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            if SchemaMigration.get_or_none(SchemaMigration.version == version):
                continue
            module.up(database.obj)
            SchemaMigration.create(version=version, name=name)
            applied_now.append(name)
    return applied_now


def add_column_if_missing(db, table: str, column: str, field) -> None:
    """For later migrations that add a column to a table an earlier one created."""
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrate import migrate as run

    if column not in {c.name for c in db.get_columns(table)}:
        run(SchemaMigrator.from_database(db).add_column(table, column, field))
