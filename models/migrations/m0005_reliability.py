"""Idempotency keys, rate-limit buckets and the audit log."""

import peewee

from models.audit import AuditEntry
from models.idempotency import IdempotencyKey
from models.ratelimit import RateLimitBucket


def up(db):
    db.create_tables([IdempotencyKey, RateLimitBucket, AuditEntry])
    if isinstance(db, peewee.PostgresqlDatabase):
        # Bucket updates happen on every request and need no durability (a crash at worst
        # refills the buckets), so PostgreSQL keeps them out of its write-ahead log.
        db.execute_sql("ALTER TABLE rate_limit_bucket SET UNLOGGED")
