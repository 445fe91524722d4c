"""Contacts: CRUD, validation, auth, tenancy."""

import json

import pytest

from models.contacts import Contact
from models.events import Event
from tests.conftest import count_rows

ACME = {
    "name": "Acme BV",
    "email": "info@acme.nl",
    "phone": "+31 20 123 4567",
    "company_name": "Acme BV",
    "address": "Keizersgracht 1",
    "postal_code": "1015 CJ",
    "city": "Amsterdam",
    "country": "NL",
    "vat_number": "NL123456789B01",
    "kvk_number": "12345678",
    "external_id": "CRM-12345",
}


def test_create_get_update_delete(tenant):
    created = tenant.post("/api/contacts", ACME)
    assert created.status_code == 201, created.text
    contact = created.json()
    assert created.headers["location"] == f"/api/contacts/{contact['id']}"
    assert {k: contact[k] for k in ACME} == ACME
    assert contact["archived"] is False

    fetched = tenant.get(f"/api/contacts/{contact['id']}")
    assert fetched.status_code == 200 and fetched.json() == contact

    replaced = tenant.put(f"/api/contacts/{contact['id']}", {"name": "Acme Holding BV",
                                                             "archived": True})
    assert replaced.status_code == 200, replaced.text
    body = replaced.json()
    assert body["name"] == "Acme Holding BV" and body["archived"] is True
    assert body["email"] is None and body["external_id"] is None  # PUT replaces
    assert body["updated_at"] > contact["updated_at"]

    deleted = tenant.delete(f"/api/contacts/{contact['id']}")
    assert deleted.status_code == 204 and deleted.content == b""
    assert tenant.get(f"/api/contacts/{contact['id']}").status_code == 404
    types = [e.type for e in _events(tenant)]
    assert types == ["contact.created", "contact.updated", "contact.deleted"]


def _events(tenant):
    from models import db

    with db.database.connection_context():
        return list(Event.of(tenant.administration_id).order_by(Event.created_at))


def test_list_filters_and_pagination(tenant):
    for i in range(5):
        tenant.post("/api/contacts", {"name": f"Klant {i}", "email": f"k{i}@example.nl",
                                      "external_id": f"EXT-{i}"})
    page = tenant.get("/api/contacts", params={"limit": 2, "offset": 1}).json()
    assert page["total"] == 5 and page["limit"] == 2 and page["offset"] == 1
    assert [c["name"] for c in page["data"]] == ["Klant 1", "Klant 2"]
    assert tenant.get("/api/contacts", params={"external_id": "EXT-3"}).json()["data"][0][
        "name"] == "Klant 3"
    assert tenant.get("/api/contacts", params={"q": "k4@"}).json()["total"] == 1
    everything = tenant.get("/api/contacts").json()["data"]
    since = everything[3]["updated_at"]
    assert [c["name"] for c in tenant.get("/api/contacts", params={"updated_since": since}).json()[
        "data"]] == ["Klant 3", "Klant 4"]


def test_duplicate_external_id_is_a_conflict(tenant):
    assert tenant.post("/api/contacts", {"name": "A", "external_id": "X-1"}).status_code == 201
    second = tenant.post("/api/contacts", {"name": "B", "external_id": "X-1"})
    assert second.status_code == 409
    assert second.headers["content-type"] == "application/problem+json"
    assert count_rows(Contact, administration=tenant.administration_id) == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": 12}, "name"),
        ({"name": "A", "email": "not-an-email"}, "email"),
        ({"name": "A", "country": "Netherlands"}, "country"),
        ({"name": "A", "archived": "yes"}, "archived"),
        ({"name": "A", "unknown": 1}, "unknown"),
        ({"name": "A" * 201}, "name"),
    ],
)
def test_invalid_bodies_are_rejected_and_write_nothing(tenant, body, field):
    response = tenant.post("/api/contacts", body)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert problem["status"] == 422 and problem["title"]
    assert field in [e["field"] for e in problem["errors"]]
    assert count_rows(Contact, administration=tenant.administration_id) == 0


def test_malformed_json_is_400(tenant):
    response = tenant.client.post("/api/contacts", content=b"{nope",
                                  headers={"X-API-Key": tenant.key,
                                           "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["status"] == 400


@pytest.mark.parametrize("params", [{"limit": 501}, {"limit": 0}, {"offset": -1},
                                    {"limit": "many"}, {"bogus": 1},
                                    {"updated_since": "yesterday"}])
def test_bad_query_parameters_are_400(tenant, params):
    response = tenant.get("/api/contacts", params=params)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_tenants_cannot_see_each_other(tenant, other_tenant):
    mine = tenant.post("/api/contacts", {"name": "Mijn klant", "external_id": "SAME"}).json()
    # The same external_id is free in another administration.
    theirs = other_tenant.post("/api/contacts", {"name": "Hun klant", "external_id": "SAME"})
    assert theirs.status_code == 201
    url = f"/api/contacts/{mine['id']}"
    assert other_tenant.get(url).status_code == 404
    assert other_tenant.put(url, {"name": "Overgenomen"}).status_code == 404
    assert other_tenant.delete(url).status_code == 404
    assert [c["name"] for c in other_tenant.get("/api/contacts").json()["data"]] == ["Hun klant"]
    assert tenant.get(url).json()["name"] == "Mijn klant"


def test_unknown_and_malformed_ids(tenant):
    assert tenant.get("/api/contacts/6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f").status_code == 404
    assert tenant.get("/api/contacts/not-a-uuid").status_code == 400


def test_patch_changes_only_the_given_fields(tenant):
    contact = tenant.post("/api/contacts", ACME).json()
    url = f"/api/contacts/{contact['id']}"
    patched = tenant.patch(url, {"name": "Acme Holding BV", "phone": None})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["name"] == "Acme Holding BV" and body["phone"] is None
    # Everything not given keeps its value (PUT would have cleared email and external_id).
    assert {k: body[k] for k in ACME if k not in ("name", "phone")} == \
        {k: ACME[k] for k in ACME if k not in ("name", "phone")}
    assert body["updated_at"] > contact["updated_at"]
    assert tenant.get(url).json() == body
    # The same values again change nothing: no event, the same updated_at.
    again = tenant.patch(url, {"name": "Acme Holding BV"})
    assert again.status_code == 200 and again.json() == body
    events = _events(tenant)
    assert [e.type for e in events] == ["contact.created", "contact.updated"]
    payload = json.loads(events[1].payload)["data"]
    assert payload["name"] == "Acme Holding BV" and payload["email"] == ACME["email"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": ""}, "name"),
        ({"name": None}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"country": "Netherlands"}, "country"),
        ({"archived": "yes"}, "archived"),
        ({"unknown": 1}, "unknown"),
    ],
)
def test_patch_validates_as_put_does_and_changes_nothing(tenant, body, field):
    contact = tenant.post("/api/contacts", ACME).json()
    response = tenant.patch(f"/api/contacts/{contact['id']}", body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert tenant.get(f"/api/contacts/{contact['id']}").json() == contact
    assert [e.type for e in _events(tenant)] == ["contact.created"]


def test_patch_keeps_external_ids_unique_and_tenants_apart(tenant, other_tenant):
    first = tenant.post("/api/contacts", {"name": "A", "external_id": "X-1"}).json()
    second = tenant.post("/api/contacts", {"name": "B", "external_id": "X-2"}).json()
    clash = tenant.patch(f"/api/contacts/{second['id']}", {"external_id": "X-1"})
    assert clash.status_code == 409 and clash.headers["content-type"] == "application/problem+json"
    assert tenant.get(f"/api/contacts/{second['id']}").json()["external_id"] == "X-2"
    assert tenant.patch(f"/api/contacts/{first['id']}", {"external_id": "X-1"}).status_code == 200
    assert other_tenant.patch(f"/api/contacts/{first['id']}", {"name": "Mine"}).status_code == 404
    assert tenant.get(f"/api/contacts/{first['id']}").json()["name"] == "A"


# A process that loaded only models.contacts (the command line, a script) keeps the same rule:
# the check is one query over the documents' tables, not a list other modules add to on import.
DELETE_IN_A_FRESH_PROCESS = """
import sys
from models import db
from models.contacts import delete_contact
from models.errors import Conflict

assert not {"models.invoices", "models.quotes", "models.subscriptions"} & set(sys.modules)
db.bind(db.open_database(sys.argv[1]))
with db.database.connection_context():
    try:
        delete_contact(sys.argv[2], sys.argv[3])
    except Conflict as exc:
        print(exc.detail)
    else:
        print("deleted")
"""


@pytest.mark.parametrize("document", ["concept invoice", "issued invoice", "quote", "subscription"])
def test_a_named_contact_stays_whichever_modules_are_loaded(tenant, settings, document):
    import subprocess
    import sys

    from tests.api.sales import make_contact, make_quote, make_subscription

    contact_id = make_contact(tenant)
    if document.endswith("invoice"):
        status = "verzonden" if document == "issued invoice" else "concept"
        invoice = tenant.post("/api/invoices", {"contact_id": contact_id, "status": status, "lines": [
            {"description": "Uur", "quantity": 1, "unit_price_incl": 10, "tax_percentage": 21}]})
        assert invoice.status_code == 201, invoice.text
    elif document == "quote":
        make_quote(tenant, contact_id)
    else:
        make_subscription(tenant, contact_id)
    result = subprocess.run(
        [sys.executable, "-c", DELETE_IN_A_FRESH_PROCESS, settings.database_url,
         str(tenant.administration_id), contact_id],
        capture_output=True, text=True, timeout=60, check=True)
    expected = {"concept invoice": "has concept invoices; delete those first",
                "issued invoice": "has issued invoices and cannot be deleted",
                "quote": "has quotes and cannot be deleted",
                "subscription": "has subscriptions and cannot be deleted"}[document]
    assert f"contact {contact_id} {expected}" in result.stdout
    assert tenant.get(f"/api/contacts/{contact_id}").status_code == 200
