"""The database handle, base model and exact-number fields shared by every model."""

from __future__ import annotations

import io
import math
import select
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlparse

import peewee
from playhouse.db_url import parse as parse_db_url
from playhouse.pool import MaxConnectionsExceeded, PooledPostgresqlDatabase, PooledSqliteDatabase

from models.errors import NotFound

database = peewee.DatabaseProxy()

#: Errors that mean "the database cannot serve this request right now" (answered with 503):
#: unreachable, restarting, statement timeout, SQLite busy beyond its timeout, pool exhausted.
UNAVAILABLE = (peewee.OperationalError, peewee.InterfaceError, MaxConnectionsExceeded)


class CheckedPostgresqlDatabase(PooledPostgresqlDatabase):
    """A pool that drops connections the server has closed before handing them out.

    After a PostgreSQL restart every idle pooled connection is dead, but the driver only
    notices on its next query, which would fail one request per connection. An idle
    connection never has anything to read unless the server sent an error or closed it,
    so a zero-timeout poll of its socket finds those without a round trip."""

    def _is_closed(self, conn):
        # The pool's own check costs a `SELECT 1` round trip per checkout, made while it
        # holds the pool's lock, so every request thread waited on every other's round trip.
        if conn.closed:
            return True
        status = self._adapter.txn_status(conn)
        if status == self._adapter.txn_unknown:
            return True
        if status != self._adapter.txn_idle:
            try:
                conn.rollback()
            except Exception:
                return True
        try:
            readable, _, _ = select.select([conn], [], [], 0)
        except (OSError, ValueError):
            return True
        return bool(readable)


def utcnow() -> datetime:
    """Naive UTC timestamp, as stored in the database."""
    return datetime.now(UTC).replace(tzinfo=None)


def open_database(url: str, *, timeout: float = 5.0, pool_size: int = 20) -> peewee.Database:
    """Build (not connect) the database for a `sqlite:///path` or `postgresql://` URL."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        path = url[len("sqlite:///") :] or ":memory:"
        # Pooled: a request borrows an open connection instead of opening the file, setting
        # the pragmas and closing it again. Closing the last connection after a write makes
        # SQLite checkpoint the WAL with an fsync, which cost ~10 ms per write request.
        pooled = path != ":memory:"
        database_class = PooledSqliteDatabase if pooled else peewee.SqliteDatabase
        extra: dict[str, Any] = {"timeout": max(timeout, 5.0)}
        if pooled:
            extra.update(max_connections=pool_size, stale_timeout=300, check_same_thread=False)
        return database_class(
            path,
            autoconnect=False,
            # Writers take the lock up front so concurrent writes queue instead of failing.
            lock_type="IMMEDIATE",
            pragmas={
                "journal_mode": "wal",
                "foreign_keys": 1,
                "busy_timeout": int(max(timeout, 5.0) * 1000),
                "synchronous": "normal",
            },
            **extra,
        )
    if scheme in {"postgres", "postgresql"}:
        params = parse_db_url(url)
        params.pop("scheme", None)
        name = params.pop("database")
        return CheckedPostgresqlDatabase(
            name,
            autoconnect=False,
            max_connections=pool_size,
            stale_timeout=300,
            # Seconds to wait for a free pooled connection (then MaxConnectionsExceeded -> 503).
            timeout=timeout,
            # libpq counts whole seconds and treats anything below 2 as 2.
            connect_timeout=max(2, math.ceil(timeout)),
            # Statements (including lock waits) are cancelled by the server after `timeout`.
            options=f"-c statement_timeout={int(timeout * 1000)}",
            # A server that vanishes mid-query (no FIN/RST) is noticed within `timeout`
            # instead of after the kernel's TCP retransmission limit (~15 minutes).
            tcp_user_timeout=int(timeout * 1000),
            keepalives=1,
            keepalives_idle=max(1, int(timeout)),
            keepalives_interval=1,
            keepalives_count=3,
            **params,
        )
    raise ValueError(f"unsupported database URL scheme: {scheme!r}")


def bind(db: peewee.Database) -> None:
    """Point every model at `db`."""
    database.initialize(db)


def is_postgres() -> bool:
    return isinstance(database.obj, peewee.PostgresqlDatabase)


class CentsField(peewee.BigIntegerField):
    """A Decimal stored as an exact integer number of `1/scale` units."""

    scale = 100

    def db_value(self, value):
        if value is None:
            return None
        return int((Decimal(value) * self.scale).to_integral_value())

    def python_value(self, value):
        if value is None:
            return None
        exponent = Decimal(1).scaleb(-len(str(self.scale)) + 1)
        return (Decimal(int(value)) / self.scale).quantize(exponent)


class MoneyField(CentsField):
    scale = 100


class QuantityField(CentsField):
    scale = 10000


class RateField(CentsField):
    """A percentage such as 21 or 5.5, stored in hundredths."""

    scale = 100


class BaseModel(peewee.Model):
    id = peewee.UUIDField(primary_key=True, default=uuid.uuid4)
    created_at = peewee.DateTimeField(default=utcnow)
    updated_at = peewee.DateTimeField(default=utcnow)

    class Meta:
        database = database
        legacy_table_names = False


class RetriedSend(BaseModel):
    """The retry columns of something PayDock sends out until it arrives (a webhook delivery,
    an invoice e-mail): the worker tries again at `next_attempt_at` (webhooks.worker)."""

    attempts = peewee.IntegerField(default=0)
    #: Failed attempts in a row (since the last success or redelivery): the place in the retry
    #: schedule.
    failures = peewee.IntegerField(default=0)
    next_attempt_at = peewee.DateTimeField(null=True)
    last_attempt_at = peewee.DateTimeField(null=True)


class Leased(BaseModel):
    """A row one worker at a time takes for a while (an endpoint and its deliveries, an
    invoice e-mail): no other worker takes it before `lease_until` has passed, and the
    holder's writes count only while the row still has the `lease_token` it set. Each model
    declares its `lease_token` column itself."""

    lease_until = peewee.DateTimeField(null=True)
    lease_token: Any

    @classmethod
    def unleased(cls, now: datetime) -> peewee.Expression:
        """The rows no worker holds at `now`."""
        return cls.lease_until.is_null() | (cls.lease_until < now)

    def held(self) -> peewee.Expression:
        """This row, as long as it still has the lease this instance took."""
        model = type(self)
        return (model.id == self.id) & (model.lease_token == self.lease_token)


def changed_values(row: peewee.Model, values: dict) -> dict:
    """The `values` that differ from what `row` holds now."""
    return {name: value for name, value in values.items() if getattr(row, name) != value}


def save_values(row: BaseModel, values: dict) -> None:
    """Give `row` these column values and write it, with a new `updated_at`."""
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at = utcnow()
    row.save()


class TenantModel(BaseModel):
    """A row that belongs to one administration; every query filters on it."""

    @classmethod
    def of(cls, administration_id):
        return cls.select().where(cls.administration == administration_id)

    @classmethod
    def get_owned(cls, administration_id, row_id, *, lock: bool = False):
        """The row with this id in this administration, or NotFound (never another tenant's).

        With `lock`, the row stays locked until the transaction ends (FOR UPDATE on
        PostgreSQL; SQLite already serialises writers with BEGIN IMMEDIATE)."""
        try:
            key = row_id if isinstance(row_id, uuid.UUID) else uuid.UUID(str(row_id))
        except ValueError:
            raise NotFound(f"{cls.__name__.lower()} {row_id} not found") from None
        query = cls.of(administration_id).where(cls.id == key)
        if lock and is_postgres():
            query = query.for_update()
        row = query.first()
        if row is None:
            raise NotFound(f"{cls.__name__.lower()} {row_id} not found")
        return row


# ------------------------------------------------------------------ bulk writes

#: Rows per multi-row INSERT where COPY is not available.
INSERT_CHUNK = 500
# COPY text format: backslash, tab, newline and carriage return are escaped; \N is NULL.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_encoder(model_field: peewee.Field):
    """value -> COPY text for one column's database values (what its db_value returns)."""
    if isinstance(model_field, peewee.BooleanField):
        return lambda v: "\\N" if v is None else ("t" if v else "f")
    if isinstance(model_field, peewee.DateTimeField):
        last: list = [None, "\\N"]    # a batch's rows share their timestamps: format each once

        def encode_datetime(v) -> str:
            if v is not last[0]:
                last[:] = [v, "\\N" if v is None else v.isoformat(sep=" ")]
            return last[1]
        return encode_datetime
    if isinstance(model_field, (peewee.CharField, peewee.TextField)):
        return lambda v: "\\N" if v is None else v.translate(_COPY_ESCAPES)
    return lambda v: "\\N" if v is None else str(v)   # integers, uuid hex, dates


def write_rows(model: type[peewee.Model], fields: list[peewee.Field], rows: Sequence[Sequence[Any]]) -> None:
    """INSERT `rows` into `model`'s table: tuples of database values (what each field's
    db_value returns: cents as integers, uuids as hex) in `fields` order.

    For batch jobs: on PostgreSQL one COPY (no SQL to build or parse per row), elsewhere
    multi-row INSERTs. Inside the caller's transaction, like any INSERT."""
    if not rows:
        return
    table = model._meta.table_name
    columns = ", ".join(f'"{f.column_name}"' for f in fields)
    if is_postgres():
        encoders = [_copy_encoder(f) for f in fields]
        text = io.StringIO("".join(
            "\t".join([encode(v) for encode, v in zip(encoders, row, strict=True)]) + "\n" for row in rows))
        database.cursor().copy_expert(f'COPY "{table}" ({columns}) FROM STDIN', text)
        return
    placeholders = "(" + ", ".join([database.param] * len(fields)) + ")"
    for offset in range(0, len(rows), INSERT_CHUNK):
        chunk = rows[offset:offset + INSERT_CHUNK]
        database.execute_sql(f'INSERT INTO "{table}" ({columns}) VALUES '
                             + ", ".join([placeholders] * len(chunk)), [v for row in chunk for v in row])
