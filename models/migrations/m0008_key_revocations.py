"""The revocation version every process checks (at most every 0.5 s) before it trusts its
cache of verified API keys, so a revoked key is refused everywhere within a second."""


def up(db):
    # A frozen copy of the table as this migration creates it (the model may change later).
    db.execute_sql("CREATE TABLE IF NOT EXISTS api_key_revocations "
                   "(id INTEGER NOT NULL PRIMARY KEY, version BIGINT NOT NULL DEFAULT 0)")
    db.execute_sql("INSERT INTO api_key_revocations (id, version) VALUES (1, 0) ON CONFLICT DO NOTHING")
