"""An imported bank statement is the same file again only for the same account and message id:
message ids are unique at their sender, so two banks' (or accounts') statements may share one.

Replaces the unique index on (administration_id, message_id) with one on (administration_id,
account_iban, message_id); existing rows satisfy it, since they satisfied the narrower one."""

# Frozen copies of the index names (the models may change later). A database created after
# this migration already has the new index, from the model: same name.
CREATED = {
    "bank_statement_administration_id_account_iban_message_id":
        "bank_statement (administration_id, account_iban, message_id)",
}
DROPPED = ("bank_statement_administration_id_message_id",)


def up(db):
    for name in DROPPED:
        db.execute_sql(f"DROP INDEX IF EXISTS {name}")
    for name, columns in CREATED.items():
        db.execute_sql(f"CREATE UNIQUE INDEX IF NOT EXISTS {name} ON {columns}")
