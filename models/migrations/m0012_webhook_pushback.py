"""Webhook endpoints that push back: a pause (the receiver's `Retry-After`, or no answer) and the
start of the latest attempt (the per-endpoint cap on attempts per second)."""

import peewee

from models.migrations import add_column_if_missing


def up(db):
    add_column_if_missing(db, "webhook_endpoint", "paused_until", peewee.DateTimeField(null=True))
    add_column_if_missing(db, "webhook_endpoint", "last_attempt_at", peewee.DateTimeField(null=True))
