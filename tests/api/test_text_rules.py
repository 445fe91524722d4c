"""What text PayDock accepts: `pattern`s with ECMA-262 anchors, the stored-text rule, e-mail
addresses without header injection, and `external_id`s with a `/` that the portal reaches."""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
import yaml

from models.contacts import Contact
from paydock import SPEC
from paydock.validation import FORBIDDEN_TEXT, ecma_regex
from tests.api.sales import line, make_contact, unique
from tests.conftest import count_rows

SCHEMAS = yaml.safe_load(SPEC.read_text())["components"]["schemas"]


# ------------------------------------------------------------------ patterns: `$` is the very end

@pytest.mark.parametrize("path, body", [
    ("/api/contacts", {"name": "Kust BV", "country": "NL\n"}),
    ("/api/contacts", {"name": "Kust BV", "country": "NL\r\n"}),
    ("/api/invoices", {"contact_id": None, "currency": "EUR\n", "lines": [line()]}),
    ("/api/quotes", {"contact_id": None, "currency": "EUR\n", "lines": [line()]}),
    ("/api/subscriptions", {"contact_id": None, "currency": "EUR\n", "interval": "month",
                            "start_date": "2026-01-01", "lines": [line()]}),
    ("/api/subscriptions", {"contact_id": None, "interval": "month",
                            "start_date": "2026-01-01\n", "lines": [line()]}),
])
def test_a_trailing_newline_never_matches_a_pattern(tenant, path, body):
    if "contact_id" in body:
        body = {**body, "contact_id": make_contact(tenant)}
    before = count_rows(Contact, administration=tenant.administration_id)
    response = tenant.post(path, body)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    after = count_rows(Contact, administration=tenant.administration_id)
    assert after == before


@pytest.mark.parametrize("field, value", [("country", "NL\n"), ("invoice_number_prefix", "F\n"),
                                          ("bic", "ABNANL2A\n"), ("iban", "NL91ABNA0417164300\n")])
def test_the_administration_refuses_a_trailing_newline(tenant, field, value):
    response = tenant.patch("/api/administration", {field: value})
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert tenant.get("/api/administration").json()[field] != value


def test_a_trailing_newline_in_a_query_filter_is_400(tenant):
    response = tenant.get("/api/invoices", params={"status": "verzonden\n"})
    assert response.status_code == 400, response.text


def test_ecma_regex_anchors_only_the_end():
    for pattern in ("^[A-Z]{2}$", "^(a|b)$", r"^[!-~]+$"):
        assert re.search(ecma_regex(pattern), "NL\n" if "A-Z" in pattern else "a\n") is None
    assert ecma_regex(r"^a\$$") == r"^a\$\Z"
    assert ecma_regex("^[$]$") == r"^[$]\Z"
    assert ecma_regex("^[]$]$") == r"^[]$]\Z"


# ------------------------------------------------------------------ the stored-text rule

@pytest.mark.parametrize("char", ["\x00", "\x0b", "\x0c", "\x1b", "\x7f", "\ufffe", "\uffff", "\ufdd0"])
def test_text_with_a_control_character_or_noncharacter_is_422(tenant, char):
    contact = make_contact(tenant)
    response = tenant.post("/api/invoices", {"contact_id": contact, "lines": [line(f"Kabel{char}5m")]})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "lines.0.description"
    assert tenant.post("/api/contacts", {"name": f"A{char}B"}).status_code == 422


def test_tab_newline_and_any_other_unicode_are_kept_verbatim(tenant):
    text = "Regel 1\r\nRegel 2\tkolom ✓ 🧾 \x85 עברית \U0001fffe"
    created = tenant.post("/api/contacts", {"name": "Tekst BV", "notes": text})
    assert created.status_code == 201, created.text
    assert tenant.get(f"/api/contacts/{created.json()['id']}").json()["notes"] == text


def test_the_spec_text_pattern_is_the_rule_the_validator_applies():
    pattern = re.compile(ecma_regex(SCHEMAS["Text"]["pattern"]))
    disagree = [hex(code) for code in range(0x110000) if not 0xD800 <= code < 0xE000
                and bool(pattern.search(chr(code))) == bool(FORBIDDEN_TEXT.search(chr(code)))]
    assert disagree == []


# ------------------------------------------------------------------ e-mail addresses

@pytest.mark.parametrize("email", ["a@b.nl\r\nBcc: x@y.nl", "a@b.nl\nBcc: x@y.nl", "a b@c.nl",
                                   "a@b.nl\r", "a@b@c.nl", "@b.nl", "a@", "a\t@b.nl"])
def test_an_email_address_that_could_inject_a_header_is_422(tenant, email):
    response = tenant.post("/api/contacts", {"name": "Mail BV", "email": email})
    assert response.status_code == 422, (email, response.text)
    assert response.json()["errors"][0]["field"] == "email"
    assert tenant.patch("/api/administration", {"email": email}).status_code == 422


def test_ordinary_email_addresses_are_accepted(tenant):
    for email in ("info@acme.nl", "jan.de.vries+facturen@sub.voorbeeld.co.uk", "o'brien@example.ie"):
        response = tenant.post("/api/contacts", {"name": "Mail BV", "email": email})
        assert response.status_code == 201, response.text
        assert response.json()["email"] == email


# ------------------------------------------------------------------ external_id with a slash

@pytest.mark.parametrize("external_id", ["SL/1", "a/b/c", "SL/", "met spatie/één"])
def test_the_portal_reaches_an_external_id_with_a_slash(tenant, external_id):
    external_id = external_id + "-" + unique("p")
    contact = make_contact(tenant, external_id=external_id)
    for spelled in (quote(external_id, safe=""), quote(external_id, safe="/")):
        response = tenant.get(f"/api/client-portal/{spelled}")
        assert response.status_code == 200, (spelled, response.text)
        assert response.json()["contact"]["id"] == contact
        assert response.json()["contact"]["external_id"] == external_id
