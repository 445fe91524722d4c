"""The SQL one request runs, statement by statement: how many, and what each SELECT costs.

Answers questions like "does COUNT(*) for `total` dominate a list at 1,000,000 rows?"
without guessing: the model-layer call is run once with its statements recorded (inside
a transaction that is rolled back, so writes leave nothing behind), then every SELECT is
run again `repeat` times on its own and its median time taken.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

from models import db


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple
    median_ms: float | None  # None: not a SELECT (not re-run)
    plan: str = ""           # EXPLAIN of a SELECT

    @property
    def kind(self) -> str:
        text = self.sql.lstrip().upper()
        if text.startswith("SELECT COUNT(") or "SELECT COUNT(" in text[:200]:
            return "count"
        return text.split(None, 1)[0].lower() if text else "?"


DATA_KINDS = {"select", "count", "insert", "update", "delete"}


@dataclass(frozen=True)
class Profile:
    statements: list[Statement]

    @property
    def count(self) -> int:
        """Statements that touch data (transaction control and savepoints left out)."""
        return sum(1 for s in self.statements if s.kind in DATA_KINDS)

    def ms(self, kind: str) -> float:
        return sum(s.median_ms or 0.0 for s in self.statements if s.kind == kind)

    @property
    def select_ms(self) -> float:
        return sum(s.median_ms or 0.0 for s in self.statements)


class _Recorder:
    def __init__(self, database) -> None:
        self.database = database
        self.statements: list[tuple[str, tuple]] = []

    def __enter__(self):
        original = self.database.execute_sql

        def execute_sql(sql, params=None, *args, **kwargs):
            self.statements.append((sql, tuple(params or ())))
            return original(sql, params, *args, **kwargs)

        self.database.execute_sql = execute_sql
        return self

    def __exit__(self, *exc):
        del self.database.execute_sql


def _time(sql: str, params: tuple, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        cursor = db.database.execute_sql(sql, params)
        cursor.fetchall()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _explain(sql: str, params: tuple) -> str:
    rows = db.database.execute_sql("EXPLAIN " + sql, params).fetchall()
    return "\n".join(row[0] for row in rows)


def profile_call(call: Callable[[], object], repeat: int = 15) -> Profile:
    """Record `call`'s statements (rolled back afterwards) and time each SELECT."""
    database = db.database.obj
    with database.connection_context():
        with database.atomic() as transaction, _Recorder(database) as recorder:
            call()
            transaction.rollback()
        statements = []
        for sql, params in recorder.statements:
            is_select = sql.lstrip().upper().startswith("SELECT")
            median = _time(sql, params, repeat) if is_select else None
            plan = _explain(sql, params) if is_select else ""
            statements.append(Statement(sql, params, median, plan))
    return Profile(statements)
