"""Idempotency-Key on POST, the HTTP side: claim the key, run the operation once, replay.

The storage rules (fingerprints, claims, expiry) live in `models.idempotency`."""

from __future__ import annotations

import contextlib

from connexion.context import scope as request_scope

from models import db, idempotency
from models.api_keys import Caller
from models.errors import DomainError
from paydock.problems import problem_body
from paydock.responses import as_json

DATABASE_DOWN = db.UNAVAILABLE


def idempotency_key() -> str | None:
    for name, value in request_scope["headers"]:
        if name == b"idempotency-key":
            return value.decode("latin-1")
    return None


def run_idempotently(function, args, kwargs, caller: Caller, key: str, secret_fields=(), *,
                     in_transaction: bool = True):
    """Run a POST under its Idempotency-Key: claim, run and store, or replay.

    A response with secrets (`x-secret-fields` in the spec, e.g. a new API key's
    secret) is stored without them and not replayed: a retry gets 409 naming what
    was created, because PayDock never keeps a secret it has shown once.

    The operation and the stored response share one transaction, unless the operation calls
    a service outside PayDock (`in_transaction=False`): then it runs on its own and the
    response is stored after it; the claim keeps a second request with the key out meanwhile."""
    fingerprint = idempotency.fingerprint(
        request_scope["method"], request_scope["path"],
        request_scope.get("query_string", b"").decode("latin-1"), kwargs.get("body"),
    )
    outcome = idempotency.claim(caller.administration_id, key, fingerprint)
    if isinstance(outcome, idempotency.StoredResponse):
        if secret_fields and 200 <= outcome.status < 300:
            raise idempotency.SecretNotReplayed(
                f"This Idempotency-Key already created {outcome.headers.get('Location', 'it')}; "
                "its secret is shown only once: revoke it and create a new one if it was lost"
            )
        return outcome.body, outcome.status, {**outcome.headers, "Idempotent-Replayed": "true"}
    try:
        with db.database.atomic() if in_transaction else contextlib.nullcontext():
            body, status, headers = as_json(function(*args, **kwargs))
            if status < 500:
                kept = body
                if secret_fields and isinstance(body, dict):
                    kept = {k: v for k, v in body.items() if k not in secret_fields}
                idempotency.store_response(outcome, status, kept, headers)
        return body, status, headers
    except DomainError as exc:
        if 400 <= exc.status < 500 and not isinstance(exc, idempotency.IdempotencyInProgress):
            # The operation refused the request: keep the refusal, as for a success.
            with contextlib.suppress(*DATABASE_DOWN):
                idempotency.store_refusal(outcome, exc.status, problem_body(exc),
                                          {"Content-Type": "application/problem+json"})
        else:
            with contextlib.suppress(*DATABASE_DOWN):
                idempotency.release(outcome)
        raise
    except BaseException:
        with contextlib.suppress(*DATABASE_DOWN):
            idempotency.release(outcome)
        raise
