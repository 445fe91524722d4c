"""The audit log: who changed an administration's access (API keys, webhook endpoints) and when.

Every security-relevant change calls `record_audit(...)` inside its own transaction,
so an entry exists exactly when the change was committed. Entries are never
changed or deleted through the API.
"""

from __future__ import annotations

import json
import uuid
from contextvars import ContextVar

import peewee

from models.db import TenantModel, database
from models.listing import LIST_INDEXES, Page, paginate
from models.tenancy import Administration

#: The id of the request being served (X-Request-Id), recorded with each entry.
#: Set by the web layer; None for the command line.
REQUEST_ID: ContextVar[str | None] = ContextVar("paydock_request_id", default=None)

ACTIONS = (
    "api_key.created",
    "api_key.revoked",
    "webhook_endpoint.created",
    "webhook_endpoint.updated",
    "webhook_endpoint.deleted",
    "webhook_endpoint.secret_rotated",
)


class AuditEntry(TenantModel):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    action = peewee.CharField(max_length=64)
    #: The API key that made the change; None when it was made on the command line.
    actor_key_id = peewee.UUIDField(null=True)
    target_type = peewee.CharField(max_length=64)
    target_id = peewee.CharField(max_length=64)
    details = peewee.TextField(default="{}")
    request_id = peewee.CharField(max_length=128, null=True)

    class Meta:
        indexes = (
            *LIST_INDEXES,
            (("administration", "action", "created_at", "id"), False),
            (("administration", "target_id"), False),
        )


def record_audit(administration_id, action: str, target_type: str, target_id, *,
                 actor_key_id=None, details: dict | None = None) -> AuditEntry:
    """Write an audit entry for a change; call inside the change's own transaction.

    `details` must never hold a secret (no keys, no webhook signing secrets)."""
    assert database.in_transaction(), "audit entries are written in the transaction of their change"
    assert action in ACTIONS, f"unknown audit action {action!r}"
    return AuditEntry.create(
        administration=administration_id,
        action=action,
        actor_key_id=actor_key_id,
        target_type=target_type,
        target_id=str(target_id),
        details=json.dumps(details or {}, default=str, sort_keys=True),
        request_id=REQUEST_ID.get(),
    )


def list_audit_entries(administration_id, *, limit=100, offset=0, updated_since=None,
                       action=None, target_id=None,
                       starting_after=None, ending_before=None) -> Page:
    """A page of the administration's audit log, oldest first."""
    query = AuditEntry.of(administration_id)
    if action is not None:
        query = query.where(AuditEntry.action.in_(action.split(",")))
    if target_id is not None:
        query = query.where(AuditEntry.target_id == str(uuid.UUID(str(target_id))))
    return paginate(query, AuditEntry, limit=limit, offset=offset,
                    administration_id=administration_id, starting_after=starting_after,
                    ending_before=ending_before, updated_since=updated_since)
