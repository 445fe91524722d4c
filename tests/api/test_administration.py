"""The administration's seller details: read with a read key, changed only by an admin key."""

import pytest

from models.tenancy import Administration, iban_is_valid
from tests.conftest import count_rows

SELLER = {
    "name": "Spont Kassasystemen BV",
    "address": "Herengracht 100",
    "postal_code": "1015 BS",
    "city": "Amsterdam",
    "email": "facturen@spont.nl",
    "phone": "+31 20 765 4321",
    "kvk_number": "87654321",
    "vat_number": "NL987654321B01",
    "iban": "NL91 ABNA 0417 1643 00",
    "bic": "abnanl2a",
    "payment_term_days": 14,
    "invoice_number_prefix": "F",
}


def test_defaults_then_patch_changes_only_the_given_fields(tenant):
    before = tenant.get("/api/administration")
    assert before.status_code == 200, before.text
    body = before.json()
    assert body["id"] == str(tenant.administration_id) and body["name"] == "Test BV"
    assert body["country"] == "NL" and body["payment_term_days"] == 30
    assert body["iban"] is None and body["invoice_number_prefix"] is None

    patched = tenant.patch("/api/administration", SELLER)
    assert patched.status_code == 200, patched.text
    after = patched.json()
    assert after["iban"] == "NL91ABNA0417164300" and after["bic"] == "ABNANL2A"
    assert after["kvk_number"] == "87654321" and after["payment_term_days"] == 14
    assert after["updated_at"] >= body["updated_at"]

    cleared = tenant.patch("/api/administration", {"phone": None, "city": "Utrecht"}).json()
    assert cleared["phone"] is None and cleared["city"] == "Utrecht"
    assert cleared["vat_number"] == "NL987654321B01"  # untouched
    assert tenant.get("/api/administration").json() == cleared


@pytest.mark.parametrize("body, field", [
    ({"iban": "NL91ABNA0417164301"}, "iban"),          # checksum fails
    ({"iban": "not an iban"}, "iban"),
    ({"payment_term_days": -1}, "payment_term_days"),
    ({"payment_term_days": 366}, "payment_term_days"),
    ({"country": "nl"}, "country"),
    ({"name": ""}, "name"),
    ({"name": None}, "name"),
    ({"bic": "ABN"}, "bic"),
    ({"invoice_number_prefix": "F 2026"}, "invoice_number_prefix"),
    ({"owner": "me"}, "owner"),
])
def test_invalid_changes_are_422_and_change_nothing(tenant, body, field):
    response = tenant.patch("/api/administration", body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert tenant.get("/api/administration").json()["iban"] is None
    assert count_rows(Administration, id=tenant.administration_id, name="Test BV") == 1


def test_only_admin_keys_change_it_and_portal_keys_cannot_read_it(make_tenant):
    writer = make_tenant(scopes=("read", "write"))
    assert writer.get("/api/administration").status_code == 200
    assert writer.patch("/api/administration", {"city": "Delft"}).status_code == 403
    portal = make_tenant(scopes=("portal",))
    assert portal.get("/api/administration").status_code == 403


def test_each_tenant_sees_only_its_own(tenant, other_tenant):
    tenant.patch("/api/administration", {"city": "Zwolle"})
    mine, theirs = tenant.get("/api/administration").json(), other_tenant.get("/api/administration").json()
    assert mine["id"] != theirs["id"]
    assert theirs["name"] == "Other BV" and theirs["city"] is None


def test_reminder_settings_are_each_tenants_own(tenant, other_tenant):
    defaults = other_tenant.get("/api/reminder-settings").json()
    mine = {"enabled": True, "steps": [{"days_after_due": 10, "text": "Graag betalen."}]}
    assert tenant.patch("/api/reminder-settings", mine).status_code == 200
    assert other_tenant.get("/api/reminder-settings").json() == defaults
    theirs = other_tenant.patch("/api/reminder-settings", {"steps": [{"days_after_due": 3, "text": "Kort"}]})
    assert theirs.status_code == 200 and theirs.json()["enabled"] is False
    kept = tenant.get("/api/reminder-settings").json()
    assert kept["enabled"] is True
    assert kept["steps"] == [{"days_after_due": 10, "text": "Graag betalen.",
                              "announces_collection_costs": False}]


@pytest.mark.parametrize("iban, valid", [
    ("NL91ABNA0417164300", True),
    ("nl91 abna 0417 1643 00", True),
    ("DE89370400440532013000", True),
    ("BE68539007547034", True),
    ("NL91ABNA0417164301", False),
    ("NL91", False),
    ("1234ABNA0417164300", False),
])
def test_iban_checksum(iban, valid):
    assert iban_is_valid(iban) is valid
