"""Webhook endpoints API: CRUD, secrets, URL rules (SSRF), scopes, tenant isolation."""

from __future__ import annotations

import threading

import pytest

from models.webhooks import MAX_ENDPOINTS, WebhookEndpoint
from tests.conftest import count_rows
from tests.webhooks.conftest import add_endpoint

HOOK = "http://127.0.0.1:9/hook"


def test_create_read_update_delete(tenant):
    created = tenant.post("/api/webhook-endpoints", {
        "url": HOOK, "description": "Webshop", "events": ["contact.created", "payment.created"],
    })
    assert created.status_code == 201, created.text
    endpoint = created.json()
    assert created.headers["location"] == f"/api/webhook-endpoints/{endpoint['id']}"
    assert endpoint["secret"].startswith("whsec_") and len(endpoint["secret"]) == 6 + 44
    assert endpoint["url"] == HOOK and endpoint["enabled"] is True
    assert endpoint["events"] == ["contact.created", "payment.created"]
    assert endpoint["disabled_reason"] is None and endpoint["previous_secret_expires_at"] is None

    # The secret is shown once: never in reads or lists.
    fetched = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}").json()
    assert "secret" not in fetched
    assert fetched == {k: v for k, v in endpoint.items() if k != "secret"}
    listed = tenant.get("/api/webhook-endpoints").json()
    assert listed["total"] == 1 and listed["data"] == [fetched]

    patched = tenant.patch(f"/api/webhook-endpoints/{endpoint['id']}", {"events": [], "enabled": False})
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert body["events"] == [] and body["enabled"] is False
    assert body["description"] == "Webshop" and body["url"] == HOOK  # untouched fields kept

    assert tenant.delete(f"/api/webhook-endpoints/{endpoint['id']}").status_code == 204
    assert tenant.get(f"/api/webhook-endpoints/{endpoint['id']}").status_code == 404
    assert count_rows(WebhookEndpoint, id=endpoint["id"]) == 0


def test_rotate_secret_keeps_the_old_one_for_a_day(tenant):
    endpoint = add_endpoint(tenant, HOOK)
    rotated = tenant.post(f"/api/webhook-endpoints/{endpoint['id']}/rotate-secret")
    assert rotated.status_code == 200, rotated.text
    body = rotated.json()
    assert body["secret"].startswith("whsec_") and body["secret"] != endpoint["secret"]
    from models.listing import naive_utc

    overlap = naive_utc(body["previous_secret_expires_at"]) - naive_utc(body["updated_at"])
    assert overlap.total_seconds() == 24 * 3600
    from models import db

    with db.database.connection_context():
        row = WebhookEndpoint.get_by_id(endpoint["id"])
        assert row.previous_secret == endpoint["secret"] and row.secret == body["secret"]


@pytest.mark.parametrize("body, field", [
    ({"url": "ftp://127.0.0.1/hook"}, "url"),
    ({"url": "http://user:pass@127.0.0.1/hook"}, "url"),
    ({"url": "https://127.0.0.1:99999/hook"}, "url"),
    ({"url": HOOK, "events": ["contact.exploded"]}, "events.0"),
    ({"url": HOOK, "secret": "whsec_mine"}, "secret"),
    ({"description": "no url"}, "url"),
])
def test_invalid_input_is_422_and_creates_nothing(tenant, body, field):
    response = tenant.post("/api/webhook-endpoints", body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert count_rows(WebhookEndpoint, administration=tenant.administration_id) == 0


def test_https_is_required_by_default(tenant, strict_urls, dns):
    dns["hooks.webshop.nl"] = "93.184.216.34"
    response = tenant.post("/api/webhook-endpoints", {"url": "http://hooks.webshop.nl/paydock"})
    assert response.status_code == 422
    assert response.json()["errors"] == [{"field": "url", "message": "must use https"}]
    assert tenant.post("/api/webhook-endpoints",
                       {"url": "https://hooks.webshop.nl/paydock"}).status_code == 201


@pytest.mark.parametrize("url, address", [
    ("https://hooks.evil.example/x", "127.0.0.1"),
    ("https://hooks.evil.example/x", "127.8.9.10"),
    ("https://hooks.evil.example/x", "10.1.2.3"),
    ("https://hooks.evil.example/x", "172.16.0.1"),
    ("https://hooks.evil.example/x", "192.168.1.1"),
    ("https://hooks.evil.example/x", "169.254.169.254"),
    ("https://hooks.evil.example/x", "100.64.0.1"),
    ("https://hooks.evil.example/x", "0.0.0.0"),
    ("https://hooks.evil.example/x", "::1"),
    ("https://hooks.evil.example/x", "fe80::1"),
    ("https://hooks.evil.example/x", "fd00::1"),
    ("https://hooks.evil.example/x", "::ffff:10.0.0.1"),
    ("https://127.0.0.1/hook", None),
    ("https://10.0.0.8:8443/hook", None),
    ("https://169.254.169.254/latest/meta-data/", None),
    ("https://[::1]/hook", None),
    ("https://[::ffff:127.0.0.1]/hook", None),
    ("https://localhost/hook", None),
    ("https://2130706433/hook", None),  # 127.0.0.1 written as one number
])
def test_private_addresses_are_refused_by_default(tenant, strict_urls, dns, url, address):
    if address:
        dns["hooks.evil.example"] = address
    response = tenant.post("/api/webhook-endpoints", {"url": url})
    assert response.status_code == 422, response.text
    message = response.json()["errors"][0]["message"]
    assert "private, loopback or link-local" in message
    assert count_rows(WebhookEndpoint, administration=tenant.administration_id) == 0


def test_a_host_with_any_private_address_is_refused(tenant, strict_urls, monkeypatch):
    import socket

    def two_answers(host, port, *args, **kwargs):
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
                (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.9", port))]

    monkeypatch.setattr(socket, "getaddrinfo", two_answers)
    response = tenant.post("/api/webhook-endpoints", {"url": "https://mixed.example/x"})
    assert response.status_code == 422
    assert "10.0.0.9" in response.json()["detail"]


def test_patch_to_a_private_url_is_refused_and_changes_nothing(tenant, strict_urls, dns):
    dns["hooks.webshop.nl"] = "93.184.216.34"
    endpoint = add_endpoint(tenant, "https://hooks.webshop.nl/paydock")
    dns["hooks.webshop.nl"] = "10.0.0.7"
    response = tenant.patch(f"/api/webhook-endpoints/{endpoint['id']}",
                            {"url": "https://hooks.webshop.nl/other", "description": "x"})
    assert response.status_code == 422
    after = tenant.get(f"/api/webhook-endpoints/{endpoint['id']}").json()
    assert after["url"] == "https://hooks.webshop.nl/paydock" and after["description"] is None


def test_unresolvable_host_is_422(tenant, dns):
    response = tenant.post("/api/webhook-endpoints", {"url": "https://no-such-host.invalid/hook"})
    assert response.status_code == 422
    assert response.json()["errors"] == [
        {"field": "url", "message": "host 'no-such-host.invalid' does not resolve"}
    ]


def test_slow_dns_gives_up_after_the_timeout(tenant, serve_with, monkeypatch):
    import socket

    release = threading.Event()

    def hanging(*args, **kwargs):
        release.wait(10)
        raise socket.gaierror("gave up")

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    serve_with(webhook_allow_private=False, webhook_dns_timeout=0.2)
    try:
        response = tenant.post("/api/webhook-endpoints", {"url": "https://slow.example/hook"})
    finally:
        release.set()
    assert response.status_code == 422
    assert response.json()["errors"][0]["message"] == "host 'slow.example' did not resolve within 0.2 s"


def test_at_most_50_endpoints(tenant):
    for i in range(MAX_ENDPOINTS):
        add_endpoint(tenant, f"{HOOK}/{i}")
    response = tenant.post("/api/webhook-endpoints", {"url": HOOK})
    assert response.status_code == 409
    assert tenant.get("/api/webhook-endpoints?limit=500").json()["total"] == MAX_ENDPOINTS


def test_endpoints_need_the_admin_scope(make_tenant):
    writer = make_tenant(scopes=("read", "write"))
    assert writer.get("/api/webhook-endpoints").status_code == 403
    assert writer.post("/api/webhook-endpoints", {"url": HOOK}).status_code == 403
    reader = make_tenant(scopes=("read",))
    assert reader.get("/api/events").status_code == 200


def test_tenant_isolation_for_endpoints(tenant, other_tenant):
    endpoint = add_endpoint(tenant, HOOK)
    base = f"/api/webhook-endpoints/{endpoint['id']}"
    assert other_tenant.get(base).status_code == 404
    assert other_tenant.patch(base, {"enabled": False}).status_code == 404
    assert other_tenant.post(base + "/rotate-secret").status_code == 404
    assert other_tenant.get(base + "/deliveries").status_code == 404
    assert other_tenant.delete(base).status_code == 404
    assert other_tenant.get("/api/webhook-endpoints").json()["total"] == 0
    mine = tenant.get(base).json()
    assert mine["enabled"] is True and mine == {k: v for k, v in endpoint.items() if k != "secret"}


@pytest.mark.parametrize("path", [
    "/api/webhook-endpoints/not-a-uuid",
    "/api/webhook-endpoints/6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f",
    "/api/webhook-endpoints/6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f/deliveries",
])
def test_unknown_ids(tenant, path):
    assert tenant.get(path).status_code in {400, 404}


# ------------------------------------------------------------------ audit log

def test_endpoint_changes_are_audited_with_the_acting_key_and_never_the_secret(tenant, other_tenant):
    key_id = tenant.get("/api/api-keys").json()["data"][0]["id"]
    created = tenant.post("/api/webhook-endpoints", {"url": HOOK, "events": ["contact.created"]})
    endpoint_id = created.json()["id"]
    patched = tenant.patch(f"/api/webhook-endpoints/{endpoint_id}", {"enabled": False, "events": []})
    rotated = tenant.post(f"/api/webhook-endpoints/{endpoint_id}/rotate-secret")
    deleted = tenant.delete(f"/api/webhook-endpoints/{endpoint_id}")
    assert [r.status_code for r in (created, patched, rotated, deleted)] == [201, 200, 200, 204]
    # Refused changes record nothing.
    assert tenant.patch(f"/api/webhook-endpoints/{endpoint_id}", {"enabled": True}).status_code == 404
    assert tenant.post("/api/webhook-endpoints", {"url": "ftp://example.nl/x"}).status_code == 422

    log = tenant.get("/api/audit-log", params={"target_id": endpoint_id})
    assert log.status_code == 200, log.text
    entries = log.json()["data"]
    assert [e["action"] for e in entries] == ["webhook_endpoint.created", "webhook_endpoint.updated",
                                              "webhook_endpoint.secret_rotated",
                                              "webhook_endpoint.deleted"]
    assert {e["actor_key_id"] for e in entries} == {key_id}
    assert {e["target_type"] for e in entries} == {"webhook_endpoint"}
    assert [e["request_id"] for e in entries] == [
        r.headers["x-request-id"] for r in (created, patched, rotated, deleted)]
    assert entries[0]["details"] == {"url": HOOK, "events": ["contact.created"], "enabled": True}
    assert entries[1]["details"] == {"enabled": False, "events": []}
    assert entries[3]["details"] == {"url": HOOK}
    for secret in (created.json()["secret"], rotated.json()["secret"]):
        assert secret not in log.text and secret[6:] not in log.text
    assert other_tenant.get("/api/audit-log", params={"target_id": endpoint_id}).json()["total"] == 0


def test_an_endpoint_change_and_its_audit_entry_commit_together(tenant, settings, monkeypatch):
    from models import db, webhooks
    from models.audit import AuditEntry

    def broken(*args, **kwargs):
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(webhooks, "record_audit", broken)
    with db.database.connection_context(), pytest.raises(RuntimeError):
        webhooks.create_endpoint(tenant.administration_id, {"url": HOOK}, policy=settings.webhook_url_policy)
    assert count_rows(WebhookEndpoint, administration=tenant.administration_id) == 0
    assert count_rows(AuditEntry, administration=tenant.administration_id) == 1  # the key's own


@pytest.mark.parametrize("url, address", [
    ("https://[64:ff9b::7f00:1]/", None),          # NAT64 form of 127.0.0.1
    ("https://[64:ff9b::a9fe:a9fe]/", None),       # NAT64 form of 169.254.169.254
    ("https://[64:ff9b:1::a00:1]/", None),         # local-use NAT64 of 10.0.0.1
    ("https://[::127.0.0.1]/", None),              # IPv4-compatible
    ("https://[::a9fe:a9fe]/", None),
    ("https://[2002:7f00:1::]/", None),            # 6to4 of 127.0.0.1
    ("https://[2002:a9fe:a9fe::1]/", None),        # 6to4 of 169.254.169.254
    ("https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/", None),  # Teredo, client 127.0.0.1
    ("https://hooks.evil.example/x", "64:ff9b::a00:1"),
    ("https://hooks.evil.example/x", "2002:c0a8:101::1"),
])
def test_ipv6_transition_addresses_of_private_ipv4_are_refused(tenant, strict_urls, dns, url, address):
    if address:
        dns["hooks.evil.example"] = address
    response = tenant.post("/api/webhook-endpoints", {"url": url})
    assert response.status_code == 422, response.text
    assert "private, loopback or link-local" in response.json()["errors"][0]["message"]
    assert count_rows(WebhookEndpoint, administration=tenant.administration_id) == 0


@pytest.mark.parametrize("port", [22, 25, 110, 1024, 6379, 5432, 3306, 11211, 2375, 9200, 27017])
def test_ports_of_internal_services_are_refused(tenant, strict_urls, dns, port):
    dns["hooks.webshop.nl"] = "93.184.215.14"
    response = tenant.post("/api/webhook-endpoints", {"url": f"https://hooks.webshop.nl:{port}/paydock"})
    assert response.status_code == 422, response.text
    assert f"port {port} is not allowed" in response.json()["errors"][0]["message"]
    assert count_rows(WebhookEndpoint, administration=tenant.administration_id) == 0


@pytest.mark.parametrize("port", [None, 443, 8443, 8080, 3000, 50443])
def test_ordinary_web_ports_are_accepted(tenant, strict_urls, dns, port):
    dns["hooks.webshop.nl"] = "93.184.215.14"
    netloc = "hooks.webshop.nl" + (f":{port}" if port else "")
    response = tenant.post("/api/webhook-endpoints", {"url": f"https://{netloc}/paydock"})
    assert response.status_code == 201, response.text


def test_each_app_calls_by_its_own_url_policy(tenant, serve_with, dns):
    """The policy is a setting of the app that serves the request: building a stricter app in
    the same process leaves the first one as it was."""
    dns["hooks.webshop.nl"] = "127.0.0.1"
    lenient = tenant.client
    serve_with(webhook_allow_http=False, webhook_allow_private=False)
    refused = tenant.post("/api/webhook-endpoints", {"url": "http://hooks.webshop.nl/paydock"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["message"] == "must use https"
    accepted = lenient.post("/api/webhook-endpoints", json={"url": "http://hooks.webshop.nl/paydock"},
                            headers={"X-API-Key": tenant.key})
    assert accepted.status_code == 201, accepted.text


def test_the_event_filter_can_list_every_event_type(tenant):
    import yaml

    from paydock import SPEC

    schemas = yaml.safe_load(SPEC.read_text())["components"]["schemas"]
    every_type = schemas["EventType"]["enum"]
    assert schemas["WebhookEventFilter"]["maxItems"] == len(every_type)
    response = tenant.post("/api/webhook-endpoints", {"url": HOOK, "events": every_type})
    assert response.status_code == 201, response.text
    assert response.json()["events"] == every_type
