"""The test client checks every response against openapi.yaml with openapi-core
(tests/openapi_check.py): here a server that answers wrongly, on purpose, is caught."""

from __future__ import annotations

import uuid

import pytest
from starlette.applications import Starlette
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.conftest import CheckedTestClient
from tests.openapi_check import ResponseMismatch

CONTACT_ID = str(uuid.uuid4())
GOOD_CONTACT = {
    "id": CONTACT_ID, "name": "Acme BV", "email": None, "phone": None, "company_name": None,
    "address": None, "postal_code": None, "city": None, "country": "NL", "vat_number": None,
    "kvk_number": None, "external_id": None, "notes": None, "archived": False, "is_consumer": False,
    "created_at": "2026-01-15T10:00:00Z", "updated_at": "2026-01-15T10:00:00Z",
}


async def contact(request):
    kind = request.query_params.get("kind")
    if kind == "missing-field":
        return JSONResponse({k: v for k, v in GOOD_CONTACT.items() if k != "name"})
    if kind == "wrong-type":
        return JSONResponse({**GOOD_CONTACT, "archived": "no"})
    if kind == "undocumented-status":
        return JSONResponse(GOOD_CONTACT, status_code=418)
    if kind == "bad-header":
        return JSONResponse(GOOD_CONTACT, headers={"RateLimit-Remaining": "-3"})
    if kind == "wrong-content-type":
        return Response("Acme BV", media_type="text/plain")
    return JSONResponse(GOOD_CONTACT)


async def create_contact(request):
    # 201 without the Location header the spec requires.
    return JSONResponse(GOOD_CONTACT, status_code=201)


@pytest.fixture(scope="module")
def wrong_server():
    """A server that answers PayDock's contact operations, wrongly when asked to."""
    app = Starlette(routes=[Route("/api/contacts/{id}", contact),
                            Route("/api/contacts", create_contact, methods=["POST"])])
    with CheckedTestClient(app) as test_client:
        yield test_client


def test_a_conforming_response_passes(wrong_server):
    assert wrong_server.get(f"/api/contacts/{CONTACT_ID}").json()["name"] == "Acme BV"


@pytest.mark.parametrize(("kind", "complaint"), [
    ("missing-field", "'name' is a required property"),
    ("wrong-type", "'no' is not of type 'boolean'"),
    ("undocumented-status", "Unknown response http status: 418"),
    ("bad-header", "RateLimit-Remaining"),
    ("wrong-content-type", "text/plain"),
])
def test_a_wrong_response_is_caught(wrong_server, kind, complaint):
    with pytest.raises(ResponseMismatch) as caught:
        wrong_server.get(f"/api/contacts/{CONTACT_ID}", params={"kind": kind})
    assert complaint in str(caught.value)


def test_a_missing_required_header_is_caught(wrong_server):
    with pytest.raises(ResponseMismatch, match="Location"):
        wrong_server.post("/api/contacts", json={"name": "Acme BV"})


def test_the_api_suite_client_is_the_checked_one(client):
    assert isinstance(client, CheckedTestClient)
