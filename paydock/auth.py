"""API-key authentication (Connexion's x-apikeyInfoFunc) and the per-key rate limit."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool

from models import db, ratelimit
from models.api_keys import Caller, cached_caller, verify_api_key
from models.errors import TooManyRequests, Unauthorized, Unavailable
from paydock import middleware
from paydock.settings import Settings

# Database failures that mean "not reachable right now", not "bad request".
DATABASE_DOWN = db.UNAVAILABLE


async def check_api_key(token, required_scopes=None, request=None):
    """x-apikeyInfoFunc: runs on the event loop, so the lookup goes to a worker thread."""
    caller = cached_caller(token)
    if caller is None:
        caller = await run_in_threadpool(_verify_in_thread, token)
    if caller is None:
        raise Unauthorized("No valid API key in X-API-Key")
    state = middleware.current()
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
