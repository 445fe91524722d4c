"""Indexes for the list orders and filters that had none: API keys and the webhook delivery log
in their list order, the audit log by `updated_since` and `action`.

Each replaced index only served an order no query uses any more."""

# Frozen copies of the indexes as this migration adds them (the models may change later). A
# database created after this migration already has them, from the models: same names.
CREATED = {
    "api_key_administration_id_created_at_id": "api_key (administration_id, created_at, id)",
    "audit_entry_administration_id_updated_at": "audit_entry (administration_id, updated_at)",
    "audit_entry_administration_id_action_created_at_id":
        "audit_entry (administration_id, action, created_at, id)",
    "webhook_delivery_log_order_idx":
        "webhook_delivery (administration_id, endpoint_id, event_xact_id, event_seq, id)",
}
DROPPED = (
    "api_key_administration_id_created_at",
    "webhook_delivery_administration_id_endpoint_id_created_at_id",
)


def up(db):
    for name, columns in CREATED.items():
        db.execute_sql(f"CREATE INDEX IF NOT EXISTS {name} ON {columns}")
    for name in DROPPED:
        db.execute_sql(f"DROP INDEX IF EXISTS {name}")
