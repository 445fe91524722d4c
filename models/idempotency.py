"""Idempotency keys for POST requests (Stripe semantics), stored per administration.

A POST with an `Idempotency-Key` first *claims* the key: a row inserted under a
unique (administration, key) constraint and committed before the operation runs,
so of several concurrent requests with one key exactly one runs. The operation's
own transaction then stores the response in that row before it commits: the
change and its stored response are committed together or not at all. A later
request with the same key and the same request replays the stored response; with
a different request it gets 409; while the first is still running it gets 409.

Which responses are kept: every 2xx, and every 4xx the operation itself raised
(a rule it refused, a missing resource), as Stripe does, so a retry gets the same
answer. Requests refused before the operation runs (malformed, unauthorised,
rate limited) claim nothing. On a 5xx or a lost database connection the claim is
released, so the request may be retried with the same key. A claim left behind by
a process that died is taken over after CLAIM_LEASE: its change cannot have been
committed, because the change and the response commit together.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

import peewee
import simplejson

from models.db import TenantModel, database, utcnow
from models.errors import Conflict
from models.tenancy import Administration

#: How long a key and its response are kept.
TTL = timedelta(hours=24)
#: After this long a claim without a response is considered abandoned (its process died).
CLAIM_LEASE = timedelta(seconds=60)
#: The response headers that are part of the stored response.
KEPT_HEADERS = ("Location", "Content-Type")


class IdempotencyKey(TenantModel):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    key = peewee.CharField(max_length=255)
    #: SHA-256 of the method, path, query and canonical JSON body of the first request.
    fingerprint = peewee.CharField(max_length=64)
    #: Which request holds the claim; changes when an abandoned claim is taken over.
    lock_id = peewee.UUIDField()
    locked_at = peewee.DateTimeField()
    status_code = peewee.IntegerField(null=True)
    response_body = peewee.TextField(null=True)
    response_headers = peewee.TextField(null=True)

    class Meta:
        indexes = (
            (("administration", "key"), True),
            (("administration", "created_at"), False),
        )


class IdempotencyMismatch(Conflict):
    """The key was used before for a different request."""


class IdempotencyInProgress(Conflict):
    """A request with the key is still running."""


class SecretNotReplayed(Conflict):
    """The key's first response held a secret, which is never stored, so it cannot be replayed."""


@dataclass(frozen=True)
class Claim:
    row_id: uuid.UUID
    lock_id: uuid.UUID


@dataclass(frozen=True)
class StoredResponse:
    status: int
    body: object
    headers: dict[str, str]


def fingerprint(method: str, path: str, query: str, body) -> str:
    """What makes two requests "the same": method, path, query string and canonical body."""
    if isinstance(body, bytes | bytearray):
        # A body that is not JSON (a bank statement file) counts by its exact bytes, which
        # need not be text at all.
        body = {"sha256": hashlib.sha256(body).hexdigest()}
    canonical = simplejson.dumps(body, sort_keys=True, separators=(",", ":"), use_decimal=True,
                                 ensure_ascii=False, default=str)
    text = f"{method.upper()} {path}?{query}\n{canonical}"
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def claim(administration_id, key: str, request_fingerprint: str) -> Claim | StoredResponse:
    """Claim `key` for a request, or return the response stored for it.

    Raises IdempotencyMismatch (different request) or IdempotencyInProgress (still running).
    Commits before returning, so other processes see the claim at once."""
    for _attempt in range(3):
        outcome = _claim_once(administration_id, key, request_fingerprint)
        if outcome is not None:
            return outcome
    raise IdempotencyInProgress(_IN_PROGRESS, headers={"Retry-After": "1"})


_IN_PROGRESS = "A request with this Idempotency-Key is still being processed; retry later"


def _claim_once(administration_id, key, request_fingerprint) -> Claim | StoredResponse | None:
    now = utcnow()
    with database.atomic():
        # An expired key makes way for a new use of the same key.
        IdempotencyKey.delete().where(
            IdempotencyKey.administration == administration_id,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at < now - TTL,
        ).execute()
        lock_id = uuid.uuid4()
        try:
            with database.atomic():
                row = IdempotencyKey.create(
                    administration=administration_id, key=key, fingerprint=request_fingerprint,
                    lock_id=lock_id, locked_at=now, created_at=now, updated_at=now,
                )
            return Claim(row.id, lock_id)
        except peewee.IntegrityError:
            pass
        existing = IdempotencyKey.of(administration_id).where(IdempotencyKey.key == key).first()
        if existing is None:
            return None  # released by a failed request in the meantime: claim again
        if existing.fingerprint != request_fingerprint:
            raise IdempotencyMismatch(
                "This Idempotency-Key was used for a different request; use a new key"
            )
        if existing.status_code is not None:
            return StoredResponse(
                existing.status_code,
                simplejson.loads(existing.response_body, use_decimal=True),
                simplejson.loads(existing.response_headers or "{}"),
            )
        if existing.locked_at > now - CLAIM_LEASE:
            raise IdempotencyInProgress(_IN_PROGRESS, headers={"Retry-After": "1"})
        # Abandoned by a process that died: take it over.
        taken = IdempotencyKey.update(lock_id=lock_id, locked_at=now, updated_at=now).where(
            IdempotencyKey.id == existing.id,
            IdempotencyKey.lock_id == existing.lock_id,
            IdempotencyKey.status_code.is_null(),
        ).execute()
        if taken != 1:
            raise IdempotencyInProgress(_IN_PROGRESS, headers={"Retry-After": "1"})
        return Claim(existing.id, lock_id)


def store_response(held: Claim, status: int, body, headers: dict[str, str]) -> None:
    """Keep the response in the claimed row. Call inside the transaction of the change,
    so that the change commits only if its response is stored (and the claim still held)."""
    kept = {name: value for name, value in headers.items() if name in KEPT_HEADERS}
    updated = IdempotencyKey.update(
        status_code=status,
        response_body=simplejson.dumps(body, use_decimal=True),
        response_headers=simplejson.dumps(kept),
        updated_at=utcnow(),
    ).where(IdempotencyKey.id == held.row_id, IdempotencyKey.lock_id == held.lock_id).execute()
    if updated != 1:
        raise IdempotencyInProgress(
            "This request's Idempotency-Key was taken over by a retry; nothing was changed",
            headers={"Retry-After": "1"},
        )


def store_refusal(held: Claim, status: int, body, headers: dict[str, str]) -> None:
    """Keep a 4xx the operation raised (its own transaction was rolled back)."""
    with database.atomic():
        store_response(held, status, body, headers)


def release(held: Claim) -> None:
    """Give the key up after a failure, so that the request can be retried with it."""
    IdempotencyKey.delete().where(
        IdempotencyKey.id == held.row_id, IdempotencyKey.lock_id == held.lock_id,
        IdempotencyKey.status_code.is_null(),
    ).execute()


def purge_expired(now=None) -> int:
    """Delete keys older than TTL in every administration; returns how many.

    One administration at a time, so each delete uses the (administration, created_at) index."""
    cutoff = (now or utcnow()) - TTL
    deleted = 0
    for administration in Administration.select(Administration.id).iterator():
        deleted += IdempotencyKey.delete().where(
            IdempotencyKey.administration == administration.id,
            IdempotencyKey.created_at < cutoff,
        ).execute()
    return deleted
