"""Schemathesis hooks for the CLI run (SCHEMATHESIS_HOOKS) and the in-process run (imported).

Every Idempotency-Key Schemathesis generates is made unique. Generated values repeat
across test cases ("0", "00", ...), and PayDock rightly replays the first response
for a repeated key, even after the resource it created was deleted in another
scenario; Schemathesis' "created resource not found" check assumes every successful
POST created something new. Negative test cases are sent unchanged: editing them
would make Schemathesis re-classify them as positive.
The replay and mismatch behaviour is tested in tests/reliability/test_idempotency.py.
"""

import re
import uuid

import schemathesis

VALID_KEY = re.compile(r"^[!-~]{1,255}$")


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.meta is not None and case.meta.generation.mode.is_negative:
        return
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and VALID_KEY.match(key):
        headers["Idempotency-Key"] = f"{key[:200]}-{uuid.uuid4().hex}"


def _sends_nothing(value) -> bool:
    return value is None or value == [] or value == {}


@schemathesis.hook
def filter_query(ctx, query):
    """Drop generated queries whose undocumented parameter never reaches the URL (an empty
    name, or an empty list or object, which HTTP clients leave out): Schemathesis counts such
    a case as invalid, but the request PayDock receives is valid, so a 200 is right."""
    if not isinstance(query, dict) or ctx.operation is None:
        return True
    documented = {parameter.name for parameter in ctx.operation.query}
    return not any(name not in documented and (name == "" or _sends_nothing(value))
                   for name, value in query.items())
