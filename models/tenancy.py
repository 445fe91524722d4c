"""Administrations (tenants) and the API keys that act for them."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

import peewee

from models.db import BaseModel, database, utcnow
from models.errors import Conflict, Invalid, NotFound
from models.listing import Page, paginate

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


class Administration(BaseModel):
    """A tenant: one business, with the seller details its invoices carry."""

    name = peewee.CharField(max_length=200)
    address = peewee.CharField(max_length=200, null=True)
    postal_code = peewee.CharField(max_length=20, null=True)
    city = peewee.CharField(max_length=100, null=True)
    country = peewee.CharField(max_length=2, default="NL")
    email = peewee.CharField(max_length=254, null=True)
    phone = peewee.CharField(max_length=50, null=True)
    kvk_number = peewee.CharField(max_length=20, null=True)
    vat_number = peewee.CharField(max_length=30, null=True)
    iban = peewee.CharField(max_length=34, null=True)
    bic = peewee.CharField(max_length=11, null=True)
    payment_term_days = peewee.IntegerField(default=30)
    invoice_number_prefix = peewee.CharField(max_length=20, null=True)


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
def create_administration(name: str) -> Administration:
    """A new, empty administration."""
    return Administration.create(name=name)


SELLER_FIELDS = (
    "name", "address", "postal_code", "city", "country", "email", "phone", "kvk_number",
    "vat_number", "iban", "bic", "payment_term_days", "invoice_number_prefix",
)


def iban_is_valid(iban: str) -> bool:
    """ISO 13616 check: move the country code and check digits to the end, then mod 97 == 1."""
    compact = iban.replace(" ", "").upper()
    if not (15 <= len(compact) <= 34) or not compact.isalnum() or not compact[:2].isalpha():
        return False
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return int(digits) % 97 == 1


def get_administration(administration_id) -> Administration:
    """The caller's own administration."""
    administration = Administration.get_or_none(Administration.id == administration_id)
    if administration is None:
        raise NotFound(f"administration {administration_id} not found")
    return administration


@database.atomic()
def update_administration(administration_id, changes: dict) -> Administration:
    """PATCH the seller details: only the given fields change; an IBAN must pass its checksum."""
    administration = get_administration(administration_id)
    unknown = sorted(set(changes) - set(SELLER_FIELDS))
    if unknown:
        raise Invalid.field(unknown[0], "unknown field")
    if changes.get("iban") is not None:
        if not iban_is_valid(changes["iban"]):
            raise Invalid.field("iban", "is not a valid IBAN (checksum)")
        changes = {**changes, "iban": changes["iban"].replace(" ", "").upper()}
    if changes.get("bic") is not None:
        changes = {**changes, "bic": changes["bic"].upper()}
    for name, value in changes.items():
        setattr(administration, name, value)
    administration.updated_at = utcnow()
    administration.save()
    return administration


@database.atomic()
def create_api_key(administration_id, name: str, scopes: list[str],
                   acting_key_id=None) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the secret, which is never stored or shown again.

    `acting_key_id` is the key that asked for it (None on the command line), for the audit log."""
    from models.audit import record_audit

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
    """Revoke a key at once in this process; other processes drop it within the cache bound.

    A key cannot revoke itself through the API, so an integrator cannot lock itself out."""
    from models.audit import record_audit

    key = ApiKey.select().where(ApiKey.administration == administration_id, ApiKey.id == key_id).first()
    if key is None:
        raise NotFound(f"api key {key_id} not found")
    if acting_key_id is not None and str(acting_key_id) == str(key.id):
        raise Conflict("A key cannot revoke itself; revoke it with another admin key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        key.save()
        record_audit(administration_id, "api_key.revoked", "api_key", key.id,
                     actor_key_id=acting_key_id, details={"name": key.name, "prefix": key.prefix})
    KEY_CACHE.forget(key.key_hash)
    return key


class KeyCache:
    """Verified key hashes, kept for a few seconds so auth costs no query per request."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, Caller]] = {}
        self._lock = threading.Lock()
        self.ttl = 10.0

    def get(self, digest: str) -> Caller | None:
        entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
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
    key = ApiKey.select().where(ApiKey.key_hash == digest).first()
    if key is None or key.revoked_at is not None or not hmac.compare_digest(key.key_hash, digest):
        return None
    ApiKey.update(last_used_at=utcnow()).where(ApiKey.id == key.id).execute()
    caller = Caller(key.administration_id, key.id, frozenset(key.scope_list))
    KEY_CACHE.put(digest, caller)
    return caller


def list_api_keys(administration_id, *, limit=100, offset=0) -> Page:
    query = ApiKey.select().where(ApiKey.administration == administration_id)
    return paginate(query, ApiKey, limit=limit, offset=offset)
