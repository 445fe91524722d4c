"""Service readiness: the database answers and the schema is up to date."""

from models.db import database
from models.errors import Unavailable
from models.migrations import SchemaMigration, available


def check_readiness() -> dict:
    """Ready when a query runs and no migration is pending; else Unavailable (503).

    An unreachable database raises the driver's error, which the API also answers with 503."""
    database.execute_sql("SELECT 1").fetchone()
    known = [version for version, _, _ in available()]
    if not database.table_exists(SchemaMigration._meta.table_name):
        raise Unavailable(f"{len(known)} migration(s) pending: run `paydock migrate`")
    applied = {m.version for m in SchemaMigration.select(SchemaMigration.version)}
    pending = [v for v in known if v not in applied]
    if pending:
        raise Unavailable(f"{len(pending)} migration(s) pending: run `paydock migrate`")
    return {"status": "ok", "database": "ok", "migrations": "up_to_date",
            "schema_version": max(applied, default=0)}
