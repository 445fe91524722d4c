"""API keys: the secrets that act for an administration, their scopes, and the cache that
spares a query per request.

Only a SHA-256 hash of a key is stored; the key itself is shown once, when it is created.
Creating and revoking a key are written to the audit log (models.audit).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

import peewee

from models.audit import record_audit
from models.db import UNAVAILABLE, BaseModel, database, utcnow
from models.errors import Conflict, Invalid, NotFound
from models.listing import Page, paginate
from models.tenancy import Administration, create_administration

KEY_PREFIX = "ftj_"
SCOPES = ("read", "write", "portal", "admin")
# A scope grants the scopes listed with it: admin can do everything a write key can, and
# every key that may read may also read the client portal; a portal key only that.
IMPLIED_SCOPES = {
    "admin": {"admin", "write", "read", "portal"},
    "write": {"write", "read", "portal"},
    "read": {"read", "portal"},
    "portal": {"portal"},
}


class ApiKey(BaseModel):
    administration = peewee.ForeignKeyField(Administration, backref="api_keys", on_delete="CASCADE")
    name = peewee.CharField(max_length=200)
    key_hash = peewee.CharField(max_length=64, unique=True)
    prefix = peewee.CharField(max_length=16)
    scopes = peewee.CharField(max_length=100)
    revoked_at = peewee.DateTimeField(null=True)
    last_used_at = peewee.DateTimeField(null=True)

    class Meta:
        indexes = ((("administration", "created_at", "id"), False),)

    @property
    def scope_list(self) -> list[str]:
        return [s for s in self.scopes.split(",") if s]


@dataclass(frozen=True)
class Caller:
    """Who is calling: the administration and the scopes its key grants."""

    administration_id: object
    key_id: object
    scopes: frozenset[str]

    def may(self, scope: str) -> bool:
        return any(scope in IMPLIED_SCOPES[s] for s in self.scopes)


def hash_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@database.atomic()
def create_api_key(administration_id, name: str, scopes: list[str],
                   acting_key_id=None) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the secret, which is never stored or shown again.

    `acting_key_id` is the key that asked for it (None on the command line), for the audit log."""
    unknown = [s for s in scopes if s not in SCOPES]
    if not scopes or unknown:
        raise Invalid.field("scopes", f"choose from {', '.join(SCOPES)}")
    token = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey.create(
        administration=administration_id,
        name=name,
        key_hash=hash_key(token),
        prefix=token[:8],
        scopes=",".join(dict.fromkeys(scopes)),
    )
    record_audit(administration_id, "api_key.created", "api_key", key.id, actor_key_id=acting_key_id,
                 details={"name": name, "prefix": key.prefix, "scopes": key.scope_list})
    return key, token


@database.atomic()
def create_administration_with_key(name: str, scopes: list[str]) -> tuple[Administration, ApiKey, str]:
    """A new administration and its first key (`paydock keys create`): both or, when the key
    is refused, neither."""
    administration = create_administration(name)
    key, token = create_api_key(administration.id, name, scopes)
    return administration, key, token


@database.atomic()
def revoke_api_key(administration_id, key_id, acting_key_id=None) -> ApiKey:
    """Revoke a key at once in this process; every other process refuses it within
    REVOCATION_CHECK_SECONDS (it reads the revocation version this bumps).

    A key cannot revoke itself through the API, so an integrator cannot lock itself out."""
    key = ApiKey.select().where(ApiKey.administration == administration_id, ApiKey.id == key_id).first()
    if key is None:
        raise NotFound(f"api key {key_id} not found")
    if acting_key_id is not None and str(acting_key_id) == str(key.id):
        raise Conflict("A key cannot revoke itself; revoke it with another admin key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        key.save()
        # Every process sees the new version within REVOCATION_CHECK_SECONDS and drops its cache.
        bumped = (KeyRevocations.update(version=KeyRevocations.version + 1)
                  .where(KeyRevocations.id == 1).execute())
        if not bumped:
            KeyRevocations.insert(id=1, version=1).on_conflict_ignore().execute()
        record_audit(administration_id, "api_key.revoked", "api_key", key.id,
                     actor_key_id=acting_key_id, details={"name": key.name, "prefix": key.prefix})
    KEY_CACHE.forget(key.key_hash)
    return key


class KeyRevocations(peewee.Model):
    """One row whose `version` goes up with every revocation: a process compares it with the
    version its key cache was filled under, reading it at most every REVOCATION_CHECK_SECONDS."""

    id = peewee.IntegerField(primary_key=True)
    version = peewee.BigIntegerField(default=0)

    class Meta:
        database = database
        table_name = "api_key_revocations"


#: How old the revocation version a process trusts may be. A revoked key is refused by every
#: process within this bound plus one request's time (at most 1 s in all).
REVOCATION_CHECK_SECONDS = 0.5


def revocation_version() -> int:
    """The current revocation version (needs a database connection)."""
    version = KeyRevocations.select(KeyRevocations.version).where(KeyRevocations.id == 1).scalar()
    return int(version or 0)


class KeyCache:
    """Verified key hashes, kept so auth costs no query per request.

    An entry lives `ttl` seconds, but is served only while the revocation version was
    checked within REVOCATION_CHECK_SECONDS; a changed version empties the cache."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Caller]] = {}
        self._lock = threading.Lock()
        self.ttl = 10.0
        self._version: int | None = None
        self._checked = float("-inf")

    @property
    def current(self) -> bool:
        """Whether the revocation version was checked recently enough to serve entries."""
        return time.monotonic() - self._checked < REVOCATION_CHECK_SECONDS

    def check_revocations(self) -> None:
        """Read the revocation version (database) and drop every entry if it changed. While
        the database is unreachable the cache keeps serving: nothing can be revoked then."""
        started = time.monotonic()
        try:
            version = revocation_version()
        except UNAVAILABLE:
            self._checked = started
            return
        with self._lock:
            if version != self._version:
                self._entries.clear()
                self._version = version
            self._checked = started

    def get(self, digest: str) -> Caller | None:
        entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic() or not self.current:
            return None
        return entry[1]

    def put(self, digest: str, caller: Caller) -> None:
        with self._lock:
            if len(self._entries) > 10000:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + self.ttl, caller)

    def forget(self, digest: str) -> None:
        with self._lock:
            self._entries.pop(digest, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._checked = float("-inf")


KEY_CACHE = KeyCache()


def cached_caller(token: str) -> Caller | None:
    """The caller for a key if it was verified a moment ago (no database access)."""
    if not token.startswith(KEY_PREFIX):
        return None
    return KEY_CACHE.get(hash_key(token))


def verify_api_key(token: str) -> Caller | None:
    """The caller for a valid, unrevoked key, or None. Needs a database connection."""
    if not token.startswith(KEY_PREFIX) or len(token) > 200:
        return None
    digest = hash_key(token)
    if not KEY_CACHE.current:
        KEY_CACHE.check_revocations()
    cached = KEY_CACHE.get(digest)
    if cached is not None:
        return cached
    key = ApiKey.select().where(ApiKey.key_hash == digest).first()
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, digest):
        return None
    ApiKey.update(last_used_at=utcnow()).where(ApiKey.id == key.id).execute()
    caller = Caller(key.administration_id, key.id, frozenset(key.scope_list))
    KEY_CACHE.put(digest, caller)
    return caller


def list_api_keys(administration_id, *, limit=100, offset=0,
                  starting_after=None, ending_before=None) -> Page:
    query = ApiKey.select().where(ApiKey.administration == administration_id)
    return paginate(query, ApiKey, limit=limit, offset=offset,
                    administration_id=administration_id, starting_after=starting_after,
                    ending_before=ending_before)
