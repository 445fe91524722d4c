"""Swagger UI in a real browser: Debian's headless Chromium driven by Playwright.

It opens /api/docs on a gunicorn server, authorizes with an API key, runs "Try it out" on
GET /contacts and reads the 200 response Swagger UI renders, and checks that every tag of
the spec is shown. Without /usr/bin/chromium (`apt-get install chromium`; `make test`
installs it) the test is skipped with that reason, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import os
import shutil

import pytest
import yaml

from models import api_keys, tenancy
from tests.conftest import bind_test_database
from tests.server import ROOT, GunicornServer

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT_MS = 30_000


def _chromium_or_skip() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    reason = "no Chromium at /usr/bin/chromium (install Debian's chromium package; `make test` does)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the browser test: {reason}")
    pytest.skip(reason)


def _spec_tags() -> list[str]:
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    used = {tag for item in spec["paths"].values() for op in item.values() if isinstance(op, dict)
            for tag in op.get("tags", [])}
    return [tag["name"] for tag in spec["tags"] if tag["name"] in used]


@pytest.fixture(scope="module")
def docs_server(tmp_path_factory):
    url = "sqlite:///" + str(tmp_path_factory.mktemp("browser") / "browser.db")
    database = bind_test_database(url)
    from models import contacts

    with database.connection_context():
        administration = tenancy.create_administration("Browser BV")
        _, key = api_keys.create_api_key(administration.id, "browser", ["read", "write"])
        contacts.create_contact(administration.id, {"name": "Zichtbaar in Swagger BV",
                                                    "external_id": "CRM-UI-1"})
    with GunicornServer(url, workers=1) as server:
        yield server, key


@pytest.fixture(scope="module")
def page(docs_server):
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context()
        context.set_default_timeout(TIMEOUT_MS)
        tab = context.new_page()
        server, _ = docs_server
        tab.goto(server.url + "/api/docs/")
        tab.wait_for_selector(".swagger-ui .opblock-tag")
        yield tab
        context.close()
        browser.close()


def test_every_tag_is_rendered(page):
    rendered = page.locator(".opblock-tag").evaluate_all(
        "els => els.map(e => e.getAttribute('data-tag'))")
    assert rendered == _spec_tags()
    # One operation block per documented operation of the Contacts tag.
    assert page.locator("#operations-tag-Contacts").count() == 1
    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    contacts = sum("Contacts" in op.get("tags", []) for item in spec["paths"].values()
                   for op in item.values() if isinstance(op, dict))
    assert contacts >= 5
    assert page.locator("[id^='operations-Contacts-']").count() == contacts


def test_authorize_then_try_out_get_contacts_renders_200(page, docs_server):
    _, key = docs_server
    page.click("button.btn.authorize")
    page.fill(".modal-ux input[type=text], .modal-ux input[type=password]", key)
    page.click(".modal-ux .auth-btn-wrapper button.authorize")
    page.click(".modal-ux button.btn-done")

    operation = page.locator("#operations-Contacts-list_contacts")
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    # Swagger UI fills each filter with its documented example (q=acme, ...): clear them.
    filters = operation.locator(".parameters input[type=text]")
    for index in range(filters.count()):
        filters.nth(index).fill("")
    operation.locator("button.execute").click()

    status = operation.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    body = operation.locator(".live-responses-table .response-col_description pre").first.inner_text()
    assert "Zichtbaar in Swagger BV" in body and '"total": 1' in body
