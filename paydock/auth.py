"""API-key authentication (Connexion's x-apikeyInfoFunc) and the per-key rate limit."""

from __future__ import annotations

import math
import threading
import time

from starlette.concurrency import run_in_threadpool

from models import db, ratelimit
from models.api_keys import Caller, cached_caller, verify_api_key
from models.errors import TooManyRequests, Unauthorized, Unavailable
from paydock import middleware
from paydock.settings import Settings

# Database failures that mean "not reachable right now", not "bad request".
DATABASE_DOWN = db.UNAVAILABLE


class FailedAuthLimiter:
    """Failed API-key checks per client address, as a token bucket in this process.

    Each address may fail `burst` times at once, refilled at `per_second`; while its bucket
    is empty, a request whose key is not already verified (cached) is refused with 429
    before any database lookup. Valid keys this process has verified keep working."""

    def __init__(self, per_second: float = 1.0, burst: int = 20) -> None:
        self.per_second = per_second
        self.burst = burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.per_second > 0 and self.burst > 0

    def _level(self, address: str, now: float) -> float:
        tokens, since = self._buckets.get(address, (float(self.burst), now))
        return min(float(self.burst), tokens + (now - since) * self.per_second)

    def retry_after(self, address: str) -> int:
        """0 if `address` may try a key now, else the seconds until it may."""
        if not self.enabled:
            return 0
        level = self._level(address, time.monotonic())
        return 0 if level >= 1 else max(1, math.ceil((1 - level) / self.per_second))

    def failed(self, address: str) -> None:
        """Take a token for a failed check from `address`."""
        if not self.enabled:
            return
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > 100_000:
                self._buckets.clear()
            self._buckets[address] = (max(0.0, self._level(address, now) - 1), now)


def client_address(request) -> str:
    """The address the request came from (as the server saw it: behind a proxy, the
    server's forwarded-address settings decide)."""
    scope = getattr(request, "scope", None) or {}
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


async def check_api_key(token, required_scopes=None, request=None):
    """x-apikeyInfoFunc: runs on the event loop, so the lookup goes to a worker thread."""
    caller = cached_caller(token)
    state = middleware.current()
    limiter = state.auth_limiter if state is not None else None
    if caller is None:
        address = client_address(request)
        wait = limiter.retry_after(address) if limiter is not None else 0
        if wait:
            raise TooManyRequests(
                f"Too many failed API-key checks from this address; retry after {wait} s",
                headers={"Retry-After": str(wait)})
        caller = await run_in_threadpool(_verify_in_thread, token)
        if caller is None and limiter is not None:
            limiter.failed(address)
    if caller is None:
        raise Unauthorized("No valid API key in X-API-Key")
    if state is not None:
        state.administration_id = str(caller.administration_id)
        state.key_id = str(caller.key_id)
    return {"sub": str(caller.key_id), "caller": caller}


def _verify_in_thread(token: str) -> Caller | None:
    try:
        with db.database.connection_context():
            return verify_api_key(token)
    except DATABASE_DOWN as exc:
        raise Unavailable("The database is unavailable") from exc



def take_rate_limit_token(caller: Caller, settings: Settings) -> None:
    decision = ratelimit.take_token(caller.administration_id, caller.key_id,
                                    rate=settings.rate_limit_per_second,
                                    burst=settings.rate_limit_burst)
    state = middleware.current()
    if state is not None:
        state.rate_limit = decision
    if not decision.allowed:
        raise TooManyRequests(
            f"Rate limit of {settings.rate_limit_per_second:g} requests per second "
            f"(bursts of {settings.rate_limit_burst}) exceeded for this API key; "
            f"retry after {decision.retry_after} s",
            headers={"Retry-After": str(decision.retry_after)},
        )


def rate_limit_charger(settings: Settings):
    """For the envelope: take a token for a keyed request refused before its operation ran."""
    if not settings.rate_limited:
        return None

    def charge_in_thread(administration_id, key_id):
        try:
            with db.database.connection_context():
                return ratelimit.take_token(administration_id, key_id,
                                            rate=settings.rate_limit_per_second,
                                            burst=settings.rate_limit_burst)
        except DATABASE_DOWN:
            return None

    async def charge(state: middleware.RequestState):
        return await run_in_threadpool(charge_in_thread, state.administration_id, state.key_id)

    return charge
