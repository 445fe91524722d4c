"""API keys: 401 for missing/malformed/unknown/revoked keys, 403 for missing scopes."""

import hashlib

import pytest

from models import db
from models.api_keys import ApiKey
from models.contacts import Contact
from tests.conftest import count_rows


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": ""}, {"X-API-Key": "not-a-key"},
                                     {"X-API-Key": "ftj_" + "x" * 43}])
def test_missing_malformed_or_unknown_key_is_401(client, headers):
    response = client.get("/api/contacts", headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401


def test_revoked_key_is_401(tenant):
    second = tenant.post("/api/api-keys", {"name": "second", "scopes": ["read"]}).json()
    headers = {"X-API-Key": second["key"]}
    assert tenant.client.get("/api/contacts", headers=headers).status_code == 200
    assert tenant.delete(f"/api/api-keys/{second['id']}").status_code == 204
    assert tenant.client.get("/api/contacts", headers=headers).status_code == 401
    assert tenant.get("/api/contacts").status_code == 200


def test_a_key_cannot_revoke_itself(tenant):
    own = tenant.get("/api/api-keys").json()["data"][0]
    assert tenant.delete(f"/api/api-keys/{own['id']}").status_code == 409
    assert tenant.get("/api/contacts").status_code == 200


def test_405_lists_the_documented_methods(client):
    response = client.request("OPTIONS", "/api/contacts")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST, HEAD"
    assert client.request("POST", "/api/products/6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f").headers[
        "allow"] == "DELETE, GET, PATCH, PUT, HEAD"


def test_read_key_cannot_write(make_tenant):
    reader = make_tenant(scopes=("read",))
    assert reader.get("/api/contacts").status_code == 200
    response = reader.post("/api/contacts", {"name": "Nope"})
    assert response.status_code == 403
    assert "write" in response.json()["detail"]
    assert count_rows(Contact, administration=reader.administration_id) == 0
    assert reader.get("/api/api-keys").status_code == 403


def test_write_key_cannot_manage_keys(make_tenant):
    writer = make_tenant(scopes=("read", "write"))
    assert writer.post("/api/api-keys", {"name": "x", "scopes": ["admin"]}).status_code == 403


def test_portal_key_cannot_use_the_rest(make_tenant):
    portal = make_tenant(scopes=("portal",))
    assert portal.get("/api/contacts").status_code == 403
    assert portal.get("/api/products").status_code == 403


def test_keys_are_stored_only_as_hashes(tenant):
    created = tenant.post("/api/api-keys", {"name": "Webshop", "scopes": ["read"]})
    assert created.status_code == 201
    secret = created.json()["key"]
    assert secret.startswith("ftj_") and len(secret) >= 36
    with db.database.connection_context():
        row = ApiKey.get_by_id(created.json()["id"])
        stored = [str(getattr(row, f.name)) for f in ApiKey._meta.sorted_fields]
    assert secret not in " ".join(stored)
    assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
    listed = tenant.get("/api/api-keys").json()
    assert "key" not in listed["data"][0]
    # The new key works and has only its scope.
    headers = {"X-API-Key": secret}
    assert tenant.client.get("/api/contacts", headers=headers).status_code == 200
    assert tenant.client.post("/api/contacts", json={"name": "A"}, headers=headers).status_code == 403


def test_last_used_at_is_recorded(tenant):
    tenant.get("/api/contacts")
    keys = tenant.get("/api/api-keys").json()["data"]
    assert keys[0]["last_used_at"] is not None


def test_other_tenants_key_cannot_be_revoked(tenant, other_tenant):
    key_id = tenant.get("/api/api-keys").json()["data"][0]["id"]
    assert other_tenant.delete(f"/api/api-keys/{key_id}").status_code == 404
    assert tenant.get("/api/contacts").status_code == 200


def test_public_endpoints_need_no_key(client):
    assert client.get("/api/health").json() == {"status": "ok"}
    assert client.get("/api/ready").json()["status"] == "ok"
    assert client.get("/api/metrics").status_code == 200
    spec = client.get("/api/openapi.json")
    assert spec.status_code == 200 and spec.json()["openapi"] == "3.0.3"
    assert client.get("/openapi.json").json() == spec.json()
    for path in ("/api/docs/", "/docs/"):
        page = client.get(path)
        assert page.status_code == 200 and "swagger-ui" in page.text
    assert count_rows(ApiKey) >= 0


def test_the_root_redirects_to_the_swagger_ui(client):
    for method in ("GET", "HEAD"):
        root = client.request(method, "/", follow_redirects=False)
        assert root.status_code == 307 and root.headers["location"] == "/api/docs/", root.headers
    page = client.get("/")
    assert page.status_code == 200 and "swagger-ui" in page.text and str(page.url).endswith("/api/docs/")
