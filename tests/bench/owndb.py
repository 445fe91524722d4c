"""Bench tests seed data of their own: each module gets a fresh database on the test server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from models import db
from models.migrations import migrate


@contextmanager
def own_database(pg_server, name: str) -> Iterator[tuple[str, object]]:
    """A migrated database `name` bound to the models while inside (the previous one is bound
    back afterwards): its URL and the database."""
    previous = db.database.obj
    url = pg_server.create_database(name)
    database = db.open_database(url, timeout=30)
    db.bind(database)
    with database.connection_context():
        migrate()
    try:
        yield url, database
    finally:
        db.bind(previous)
