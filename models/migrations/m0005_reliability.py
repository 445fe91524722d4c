"""Idempotency keys, rate-limit buckets and the audit log."""

from models.audit import AuditEntry
from models.idempotency import IdempotencyKey
from models.ratelimit import RateLimitBucket


def up(db):
    db.create_tables([IdempotencyKey, RateLimitBucket, AuditEntry])
