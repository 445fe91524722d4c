"""Rate limits per API key: a token bucket kept in the database, shared by every API node.

The bucket is stored as one number, its "theoretical arrival time" (GCRA, the
token bucket written as a schedule): each request pushes `tat` one interval
(1/rate seconds) into the future, and a request is refused when that would put
`tat` more than `burst` intervals ahead of now. Checking and taking a token is a
single UPSERT ... RETURNING, so one statement per request answers both "may it
run?" and the numbers for the RateLimit-* headers, and concurrent requests on any
node serialise on the bucket's row.

Why the database and not a separate store: PayDock's nodes already share one
database, and the UPSERT is one short statement on the connection the request
already holds. Measured on a 2-core machine (gunicorn with 2 workers, 8 clients on
loopback, GET /contacts?limit=1, the bucket on vs off, three rounds each): SQLite
0.96x the requests per second (one statement ~60 us), PostgreSQL about 0.85x (one
statement ~0.4 ms against ~0.75 ms for the one-row list itself; noisy shared
machine). A separate store such as Redis would add a service to run and still cost
a network round trip. On PostgreSQL the table is UNLOGGED (migration m0005):
bucket updates need no durability, so they write no WAL and wait for no fsync.
"""

from __future__ import annotations

import math
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass

import peewee

from models.api_keys import ApiKey
from models.db import database, is_postgres
from models.tenancy import Administration


class RateLimitBucket(peewee.Model):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    api_key = peewee.ForeignKeyField(ApiKey, on_delete="CASCADE")
    #: Theoretical arrival time, seconds since the epoch.
    tat = peewee.DoubleField()
    #: Whether the request that last touched the bucket was let through.
    allowed = peewee.BooleanField()

    class Meta:
        database = database
        table_name = "rate_limit_bucket"
        primary_key = peewee.CompositeKey("administration", "api_key")


@dataclass(frozen=True)
class RateDecision:
    """The outcome of one request against its key's bucket, and the header values."""

    allowed: bool
    limit: int
    remaining: int
    #: Seconds until the bucket is full again.
    reset: int
    #: Seconds until the next request may run (0 when this one was allowed).
    retry_after: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset),
        }


_UPSERT = """
INSERT INTO rate_limit_bucket (administration_id, api_key_id, tat, allowed)
VALUES ({p}, {p}, {p}, {true})
ON CONFLICT (administration_id, api_key_id) DO UPDATE SET
  allowed = ({greatest}(rate_limit_bucket.tat, {p}) + {p} - {p} <= {p}),
  tat = CASE WHEN {greatest}(rate_limit_bucket.tat, {p}) + {p} - {p} <= {p}
             THEN {greatest}(rate_limit_bucket.tat, {p}) + {p}
             ELSE rate_limit_bucket.tat END
RETURNING tat, allowed
"""


# On SQLite the threads of one process take turns on this lock, which hands over at
# once, rather than on SQLite's busy handler, which sleeps at least 1 ms per retry.
_SQLITE_WRITER = threading.Lock()


#: A refusal decided with a clock reading older than this (seconds) is decided again: a
#: request that waited for the database (SQLite's single writer, a busy server) must not
#: be judged by the time before its wait, when others have since moved the bucket on.
STALE_AFTER = 0.05


def take_token(administration_id, key_id, *, rate: float, burst: int,
               now: float | None = None) -> RateDecision:
    """Take one token from the key's bucket (one statement; a second only for a refusal
    decided with a stale clock); says whether the request may run."""
    if now is not None:
        return _take_token(administration_id, key_id, rate=rate, burst=burst, now=now)
    started = time.time()
    decision = _take_token(administration_id, key_id, rate=rate, burst=burst, now=started)
    if not decision.allowed and time.time() - started > STALE_AFTER:
        decision = _take_token(administration_id, key_id, rate=rate, burst=burst, now=time.time())
    return decision


def _take_token(administration_id, key_id, *, rate: float, burst: int, now: float) -> RateDecision:
    interval = 1.0 / rate
    # A hair of tolerance so that float rounding never refuses the last token of a burst.
    capacity = burst * interval + 1e-9
    postgres = is_postgres()
    sql = _UPSERT.format(
        p=database.param,
        greatest="GREATEST" if postgres else "MAX",
        true="TRUE" if postgres else "1",
    )
    admin = RateLimitBucket.administration.db_value(administration_id)
    key = RateLimitBucket.api_key.db_value(key_id)
    params = (
        admin, key, now + interval,
        now, interval, now, capacity,
        now, interval, now, capacity,
        now, interval,
    )
    with nullcontext() if postgres else _SQLITE_WRITER:
        tat, allowed = database.execute_sql(sql, params).fetchone()
    allowed = bool(allowed)
    backlog = max(0.0, tat - now)
    remaining = max(0, math.floor((capacity - backlog) / interval))
    retry_after = 0 if allowed else max(1, math.ceil(backlog + interval - capacity))
    return RateDecision(
        allowed=allowed,
        limit=burst,
        remaining=min(remaining, burst),
        reset=math.ceil(backlog),
        retry_after=retry_after,
    )
