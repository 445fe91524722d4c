"""Service health."""

from models.db import database


def check_database() -> dict:
    """Runs a trivial query; raises the driver's error when the database is unreachable."""
    database.execute_sql("SELECT 1").fetchone()
    return {"status": "ok", "database": "ok"}
