"""Security: request ids, security headers and a CSP the Swagger UI works under, JSON logs
without keys, the audit log, constant-time key checks, and the spec rules that keep
every operation documented for idempotency and rate limits."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import subprocess
import tempfile
import time
import uuid

import httpx
import pytest
import yaml

from models import api_keys, db
from models.audit import AuditEntry
from paydock import SPEC
from tests.conftest import count_rows
from tests.openapi_check import outside_the_contract
from tests.reliability.conftest import GENEROUS_LIMITS, new_tenant_key
from tests.server import GunicornServer

SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "strict-transport-security": "max-age=63072000; includeSubDomains",
}


def _assert_secure(response) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, (name, response.request.url)
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]


# ------------------------------------------------------------------ request ids

def test_every_response_has_a_request_id_and_security_headers(tenant, client, monkeypatch):
    from models import contacts

    responses = [
        tenant.get("/api/contacts"),
        tenant.post("/api/contacts", {"name": ""}),  # 422
        client.get("/api/contacts"),  # 401
        client.get("/api/no-such-thing"),  # 404 without a route
        client.request("OPTIONS", "/api/contacts"),  # 405
        tenant.post("/api/contacts", content=b"x" * (1024 * 1024 + 1),
                    headers={"content-type": "application/json"}),  # 413
        client.get("/api/health"),
        client.get("/api/openapi.json"),
        client.get("/api/docs/"),
    ]
    monkeypatch.setattr(contacts, "list_contacts", lambda *a, **k: 1 / 0)
    with outside_the_contract():
        responses.append(tenant.get("/api/contacts"))  # 500
    assert [r.status_code for r in responses] == [200, 422, 401, 404, 405, 413, 200, 200, 200, 500]
    ids = [r.headers["x-request-id"] for r in responses]
    assert all(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids) and len(set(ids)) == len(ids)
    for response in responses:
        _assert_secure(response)


@pytest.mark.parametrize("sent, echoed", [
    ("req-2026-04-01.abc:42", True),
    (str(uuid.uuid4()), True),
    ("a" * 128, True),
    ("a" * 129, False),
    ("has space", False),
    ("<script>", False),
    ("-starts-with-dash", False),
    ("", False),
])
def test_a_sane_client_request_id_is_echoed(tenant, sent, echoed):
    response = tenant.get("/api/contacts", headers={"X-Request-Id": sent})
    assert (response.headers["x-request-id"] == sent) is echoed
    assert response.headers["x-request-id"]


# ------------------------------------------------------------------ CSP and the docs

def _docs_assets(html: str):
    scripts = re.findall(r"<script[^>]*\bsrc=\"([^\"]+)\"", html)
    styles = re.findall(r"<link[^>]*rel=\"stylesheet\"[^>]*href=\"([^\"]+)\"", html)
    inline_scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", html, re.S)
    inline_styles = re.findall(r"<style[^>]*>(.*?)</style>", html, re.S)
    return scripts, styles, inline_scripts, inline_styles


def _sha256(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


@pytest.mark.parametrize("path", ["/api/docs/", "/docs/"])
def test_the_docs_csp_allows_exactly_the_page_own_scripts_and_styles(client, path):
    page = client.get(path)
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    _assert_secure(page)
    csp = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    assert csp["default-src"] == "'none'"
    assert "'unsafe-inline'" not in page.headers["content-security-policy"]
    assert "'unsafe-eval'" not in page.headers["content-security-policy"]
    scripts, styles, inline_scripts, inline_styles = _docs_assets(page.text)
    assert scripts and styles and inline_scripts and inline_styles
    for src in scripts + styles:  # same-origin files: allowed by 'self', and really there
        assert "://" not in src and not src.startswith("//")
        asset = client.get(path + src.removeprefix("./"))
        assert asset.status_code == 200, src
    assert "'self'" in csp["script-src"] and "'self'" in csp["style-src"]
    for block in inline_scripts:
        assert _sha256(block) in csp["script-src"]
    for block in inline_styles:
        assert _sha256(block) in csp["style-src"]
    assert csp["connect-src"] == "'self'"  # the UI fetches /api/openapi.json


def test_json_responses_get_the_strict_csp(tenant):
    response = tenant.get("/api/contacts")
    assert response.headers["content-security-policy"].startswith("default-src 'none'")
    assert "script-src" not in response.headers["content-security-policy"]


@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs chromium (apt-get install chromium)")
def test_swagger_ui_renders_every_operation_in_a_browser_under_the_csp():
    """Headless Chromium loads /api/docs/ from gunicorn: the UI renders one block per operation
    and the browser reports no Content-Security-Policy violation."""
    url = "sqlite:///" + tempfile.mkdtemp(prefix="paydock-docs-") + "/docs.db"
    new_tenant_key(url)
    operations = sum(1 for item in yaml.safe_load(SPEC.read_text())["paths"].values()
                     for method in item if method in {"get", "post", "put", "patch", "delete"})
    with GunicornServer(url) as server:
        result = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={tempfile.mkdtemp(prefix='paydock-chromium-')}",
             "--enable-logging=stderr", "--v=0", "--dump-dom", "--virtual-time-budget=15000",
             f"{server.url}/api/docs/"],
            capture_output=True, text=True, timeout=120,
        )
    assert result.stdout.count("opblock-summary-path") == operations, result.stderr[-3000:]
    violations = [line for line in result.stderr.splitlines() if "Content Security Policy" in line]
    assert violations == []


# ------------------------------------------------------------------ logs

def test_json_access_log_has_one_line_per_request_and_never_the_key(database_url, app):
    administration_id, key = new_tenant_key(database_url)
    with GunicornServer(database_url, workers=1, PAYDOCK_LOG_LEVEL="INFO", **GENEROUS_LIMITS) as server:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=30) as client:
            listed = client.get("/api/contacts", headers={"X-Request-Id": "trace-me-1"})
            created = client.post("/api/contacts", json={"name": "Log BV"},
                                  headers={"Idempotency-Key": "log-1"})
            missing = client.get(f"/api/contacts/{uuid.uuid4()}")
            refused = client.get("/api/contacts", headers={"X-API-Key": key + "x"})
        # Each access line is written just after its response went out.
        ids = [r.headers["x-request-id"] for r in (listed, created, missing, refused)]
        deadline = time.monotonic() + 10
        while not all(i in server.log_text() for i in ids) and time.monotonic() < deadline:
            time.sleep(0.05)
        log = server.log_text()
    lines = [json.loads(line) for line in log.splitlines() if line.strip()]  # every line is JSON
    access = {entry["request_id"]: entry for entry in lines if entry["logger"] == "paydock.access"}
    assert key not in log and key[4:] not in log
    expected = [(listed, "GET", "/api/contacts", "list_contacts", 200),
                (created, "POST", "/api/contacts", "create_contact", 201),
                (missing, "GET", "/api/contacts/{id}", "get_contact", 404),
                (refused, "GET", "/api/contacts", "list_contacts", 401)]
    assert access["trace-me-1"]["status"] == 200
    for response, method, route, operation, status in expected:
        entry = access[response.headers["x-request-id"]]
        assert (entry["method"], entry["route"], entry["operation_id"], entry["status"]) == (
            method, route, operation, status)
        assert entry["duration_ms"] >= 0 and entry["level"] == "INFO"
        expected_admin = None if status == 401 else str(administration_id)
        assert entry["administration_id"] == expected_admin


# ------------------------------------------------------------------ audit log

def test_key_creation_and_revocation_are_audited(tenant, other_tenant, make_tenant):
    own_key_id = tenant.get("/api/api-keys").json()["data"][0]["id"]
    created = tenant.post("/api/api-keys", {"name": "Webshop", "scopes": ["read", "write"]})
    new_id = created.json()["id"]
    revoked = tenant.delete(f"/api/api-keys/{new_id}")
    assert revoked.status_code == 204
    log = tenant.get("/api/audit-log")
    assert log.status_code == 200
    entries = log.json()["data"]
    # The fixture's own key was made outside the API (no actor, no request).
    assert [e["action"] for e in entries] == ["api_key.created", "api_key.created", "api_key.revoked"]
    cli, made, gone = entries
    assert cli["target_id"] == own_key_id and cli["actor_key_id"] is None and cli["request_id"] is None
    assert made["target_id"] == gone["target_id"] == new_id
    assert made["actor_key_id"] == gone["actor_key_id"] == own_key_id
    assert made["request_id"] == created.headers["x-request-id"]
    assert gone["request_id"] == revoked.headers["x-request-id"]
    assert made["details"] == {"name": "Webshop", "prefix": created.json()["prefix"],
                               "scopes": ["read", "write"]}
    assert created.json()["key"] not in log.text
    # Filters, tenancy and scope.
    only_revoked = tenant.get("/api/audit-log", params={"action": "api_key.revoked"}).json()
    assert [e["id"] for e in only_revoked["data"]] == [gone["id"]]
    by_target = tenant.get("/api/audit-log", params={"target_id": new_id}).json()
    assert by_target["total"] == 2
    assert other_tenant.get("/api/audit-log").json()["total"] == 1  # only its own key
    assert make_tenant(scopes=("read", "write")).get("/api/audit-log").status_code == 403
    # Revoking again changes nothing and records nothing.
    tenant.delete(f"/api/api-keys/{new_id}")
    assert count_rows(AuditEntry, administration=tenant.administration_id) == 3


def test_record_audit_refuses_to_run_outside_a_transaction(tenant):
    from models.audit import record_audit

    with db.database.connection_context(), pytest.raises(AssertionError):
        record_audit(tenant.administration_id, "api_key.created", "api_key", uuid.uuid4())


# ------------------------------------------------------------------ keys

def test_keys_are_checked_by_hash_in_constant_time(tenant, monkeypatch):
    compared = []
    real = api_keys.hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(api_keys.hmac, "compare_digest", spy)
    api_keys.KEY_CACHE.clear()
    assert tenant.get("/api/contacts").status_code == 200
    digest = api_keys.hash_key(tenant.key)
    assert compared == [(digest, digest)]


# ------------------------------------------------------------------ spec rules

def _operations():
    spec = yaml.safe_load(SPEC.read_text())
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in {"get", "post", "put", "patch", "delete"}:
                yield f"{method.upper()} {path}", method, operation


def test_every_post_takes_an_idempotency_key_and_documents_409():
    """New POST operations must reference the shared Idempotency-Key header: PayDock applies
    it to every POST, and the spec has to say so. Add to the operation:

        parameters:
          - $ref: "#/components/parameters/IdempotencyKey"
        responses: "409" (Conflict or IdempotencyConflict)
    """
    missing = [name for name, method, op in _operations() if method == "post" and (
        {"$ref": "#/components/parameters/IdempotencyKey"} not in op.get("parameters", [])
        or "409" not in op["responses"])]
    assert missing == []


def test_every_keyed_operation_documents_rate_limits_and_outages():
    """Operations with an API key document 429 and 503, the RateLimit-* headers on their 2xx
    responses, and (with a body) 413 and 415."""
    problems = []
    for name, _method, op in _operations():
        if op.get("security") == []:
            continue
        for status in ("429", "503") + (("413", "415") if "requestBody" in op else ()):
            if status not in op["responses"]:
                problems.append(f"{name}: no {status}")
        for status, response in op["responses"].items():
            headers = response.get("headers", {})
            if status.startswith("2") and not {"RateLimit-Limit", "RateLimit-Remaining",
                                               "RateLimit-Reset"} <= set(headers):
                problems.append(f"{name}: {status} lacks RateLimit-* headers")
    assert problems == []


def test_only_public_operations_skip_the_database():
    """`x-uses-database: false` (answer while the database is down) fits only operations
    without a key: a keyed one needs the database for its key and its rate limit."""
    skipping = [name for name, _method, op in _operations() if op.get("x-uses-database") is False]
    assert skipping == ["GET /health", "GET /metrics"]
    assert all(op.get("security") == [] for name, _method, op in _operations() if name in skipping)


# ------------------------------------------------------------------ redirects

@pytest.mark.parametrize("path, host, expected", [
    ("/api/health/", "evil.example", "/api/health"),
    ("/api/health/?x=1", "evil.example:8443", "/api/health?x=1"),
])
def test_redirects_never_echo_the_host_header(client, path, host, expected):
    response = client.get(path, headers={"Host": host}, follow_redirects=False)
    assert response.status_code in (301, 302, 307, 308), response.text
    location = response.headers["location"]
    assert location == expected
    assert "evil.example" not in location.split("/")[2:3] and not location.startswith("//")


def test_a_location_is_always_a_path_on_this_server():
    from paydock.middleware import _relative

    assert _relative(b"http://evil.example/api/health") == b"/api/health"
    assert _relative(b"https://evil.example:8443") == b"/"
    assert _relative(b"http://paydock.example//evil.example/x") == b"/evil.example/x"
    assert _relative(b"//evil.example/x?y=1") == b"/x?y=1"
    assert _relative(b"/api/invoices/1") == b"/api/invoices/1"


def test_redirect_location_is_a_path_over_a_real_socket(database_url, app):
    with GunicornServer(database_url, workers=1, **GENEROUS_LIMITS) as server:
        response = httpx.get(server.url + "/api/health/", headers={"Host": "evil.example"})
    assert response.status_code == 307
    assert response.headers["location"] == "/api/health"


# ------------------------------------------------------------------ gunicorn

def test_gunicorn_makes_no_control_socket_shared_between_instances(database_url, app, tmp_path):
    """gunicorn's default control socket is one path per user (~/.gunicorn/gunicorn.ctl), which
    every instance on the machine would share; PayDock's servers run without one."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**GENEROUS_LIMITS, "HOME": str(home), "XDG_RUNTIME_DIR": ""}
    with GunicornServer(database_url, workers=1, **env) as first, \
            GunicornServer(database_url, workers=1, **env) as second:
        assert httpx.get(first.url + "/api/health").status_code == 200
        assert httpx.get(second.url + "/api/health").status_code == 200
        assert not (home / ".gunicorn").exists()
        assert "control" not in first.log_text().lower() + second.log_text().lower()
