"""Webhooks: commit-safe order and a dispatch marker on events; endpoints and deliveries."""

import peewee

from models.db import utcnow
from models.events import SEQUENCE, Event
from models.migrations import add_column_if_missing
from models.webhooks import WebhookDelivery, WebhookEndpoint


def up(db):
    postgres = isinstance(db, peewee.PostgresqlDatabase)
    if postgres:
        db.execute_sql(f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE}")
    add_column_if_missing(db, "event", "xact_id", peewee.BigIntegerField(default=0))
    add_column_if_missing(db, "event", "seq", peewee.BigIntegerField(null=True))
    add_column_if_missing(db, "event", "dispatched_at", peewee.DateTimeField(null=True))
    # Events written before webhooks existed: number them in creation order, and count
    # them as dispatched (no endpoint existed to receive them).
    db.execute_sql(
        "WITH ordered AS (SELECT id, ROW_NUMBER() OVER (ORDER BY created_at, id) AS n "
        "FROM event WHERE seq IS NULL) "
        "UPDATE event SET seq = ordered.n FROM ordered WHERE event.id = ordered.id"
    )
    db.execute_sql(f"UPDATE event SET dispatched_at = {db.param} WHERE dispatched_at IS NULL",
                   (utcnow(),))
    if postgres:
        db.execute_sql(
            f"SELECT setval('{SEQUENCE}', GREATEST((SELECT MAX(seq) FROM event), 1))"
        )
    Event._schema.create_indexes(safe=True)
    db.create_tables([WebhookEndpoint, WebhookDelivery], safe=True)
