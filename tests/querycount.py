"""Count the SQL statements the models run, to prove list and detail reads have no N+1."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from dataclasses import dataclass, field

from models import db


@dataclass
class Statements:
    sql: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.sql)


@contextmanager
def count_queries():
    """Every statement run through the bound database (any thread) while inside the block,
    except the rate limit's and the API-key revocation check's."""
    database = db.database.obj
    seen = Statements()
    lock = threading.Lock()
    original = database.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        # The per-key rate limit takes one statement on every keyed request, and the key
        # cache reads the revocation version at most every 0.5 s, whatever a request reads.
        if "rate_limit_bucket" not in sql and "api_key_revocations" not in sql:
            with lock:
                seen.sql.append(sql)
        return original(sql, params, *args, **kwargs)

    database.execute_sql = counting
    try:
        yield seen
    finally:
        del database.execute_sql
