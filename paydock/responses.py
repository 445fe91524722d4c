"""How a handler's result becomes the HTTP response: exact-decimal JSON, built in the handler's thread."""

from __future__ import annotations

import simplejson
from connexion.jsonifier import Jsonifier
from starlette.responses import Response

#: Where the API is served: the spec's server URL. Paths in Location headers start with it.
API_BASE = "/api"

#: Money is Decimal inside PayDock and leaves as an exact JSON number (339.00).
JSONIFIER = Jsonifier(simplejson, use_decimal=True, cls=simplejson.JSONEncoder)


def encode(body) -> bytes:
    """A JSON document (dicts, lists, Decimal money) as response bytes."""
    return JSONIFIER.dumps(body)


def location(collection: str, resource_id) -> dict[str, str]:
    """The Location header of a resource: `location("invoices", invoice.id)`."""
    return {"Location": f"{API_BASE}/{collection}/{resource_id}"}


def as_json(result):
    """Handlers return body, (body, status) or (body, status, headers)."""
    parts = result if isinstance(result, tuple) else (result,)
    body = parts[0]
    status = parts[1] if len(parts) > 1 else 200
    headers = dict(parts[2]) if len(parts) > 2 else {}
    if body is not None and status != 204:
        headers.setdefault("Content-Type", "application/json")
    return body, status, headers


def respond(result) -> Response:
    """A handler's result as the finished response, built in the handler's thread: the body
    is JSON-encoded here (as Connexion's jsonifier would) so the event loop only sends it."""
    body, status, headers = as_json(result)
    content: bytes | str
    if body is None or status == 204:
        content = b""
    elif isinstance(body, bytes | str):
        content = body
    elif isinstance(body, simplejson.RawJSON):
        content = body.encoded_json
    else:
        content = encode(body)
    return Response(content, status_code=status, headers=headers)


