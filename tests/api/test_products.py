"""Products: CRUD with exact money, validation and tenancy."""

import pytest

from models.products import Product
from tests.conftest import count_rows

LICENCE = {"name": "Spont POS Licentie", "description": "Jaarlicentie", "sku": "POS-LIC",
           "unit_price_incl": 89.00, "tax_percentage": 21, "unit": "stuk"}


def test_crud_with_exact_money(tenant):
    created = tenant.post("/api/products", LICENCE)
    assert created.status_code == 201, created.text
    product = created.json()
    assert '"unit_price_incl": 89.00' in created.text
    assert product["tax_percentage"] == 21 and product["active"] is True
    assert created.headers["location"] == f"/api/products/{product['id']}"

    cheap = tenant.put(f"/api/products/{product['id']}", {"name": "Los", "unit_price_incl": 0.07,
                                                           "tax_percentage": 9})
    assert cheap.status_code == 200, cheap.text
    assert '"unit_price_incl": 0.07' in cheap.text and cheap.json()["sku"] is None

    assert tenant.get(f"/api/products/{product['id']}").json()["unit_price_incl"] == 0.07
    assert tenant.delete(f"/api/products/{product['id']}").status_code == 204
    assert tenant.get(f"/api/products/{product['id']}").status_code == 404


def test_list_filters(tenant):
    tenant.post("/api/products", LICENCE)
    tenant.post("/api/products", {"name": "Oud", "active": False, "sku": "OLD"})
    assert tenant.get("/api/products", params={"active": "true"}).json()["total"] == 1
    assert tenant.get("/api/products", params={"sku": "OLD"}).json()["data"][0]["name"] == "Oud"
    assert tenant.get("/api/products", params={"q": "POS"}).json()["total"] == 1


@pytest.mark.parametrize(
    "body, field",
    [
        ({"name": "A", "unit_price_incl": 12.345}, "unit_price_incl"),
        ({"name": "A", "unit_price_incl": "12.00"}, "unit_price_incl"),
        ({"name": "A", "tax_percentage": -1}, "tax_percentage"),
        ({"name": "A", "tax_percentage": 21.001}, "tax_percentage"),
        ({"name": "A", "unit_price_incl": 1e15}, "unit_price_incl"),
        ({"unit_price_incl": 10}, "name"),
    ],
)
def test_invalid_products_write_nothing(tenant, body, field):
    response = tenant.post("/api/products", body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert count_rows(Product, administration=tenant.administration_id) == 0


def test_other_tenant_gets_404(tenant, other_tenant):
    product = tenant.post("/api/products", LICENCE).json()
    url = f"/api/products/{product['id']}"
    assert other_tenant.get(url).status_code == 404
    assert other_tenant.put(url, {"name": "x"}).status_code == 404
    assert other_tenant.delete(url).status_code == 404
    assert other_tenant.get("/api/products").json()["total"] == 0


def test_patch_changes_only_the_given_fields(tenant):
    product = tenant.post("/api/products", LICENCE).json()
    url = f"/api/products/{product['id']}"
    patched = tenant.patch(url, {"unit_price_incl": 99.00, "description": None})
    assert patched.status_code == 200, patched.text
    assert '"unit_price_incl": 99.00' in patched.text
    body = patched.json()
    assert body["description"] is None and body["updated_at"] > product["updated_at"]
    assert {k: body[k] for k in ("name", "sku", "tax_percentage", "unit", "active")} == \
        {"name": "Spont POS Licentie", "sku": "POS-LIC", "tax_percentage": 21, "unit": "stuk", "active": True}
    assert tenant.patch(url, {"unit_price_incl": 99}).json() == body   # the same amount: no change
    assert tenant.patch(url, {"active": False}).json()["active"] is False
    from models import db
    from models.events import Event

    with db.database.connection_context():
        types = [e.type for e in Event.of(tenant.administration_id).order_by(Event.created_at)]
    assert types == ["product.created", "product.updated", "product.updated"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"unit_price_incl": 12.345}, "unit_price_incl"),
        ({"unit_price_incl": None}, "unit_price_incl"),
        ({"tax_percentage": -1}, "tax_percentage"),
        ({"name": ""}, "name"),
        ({"price": 10}, "price"),
    ],
)
def test_patch_validates_as_put_does_and_changes_nothing(tenant, other_tenant, body, field):
    product = tenant.post("/api/products", LICENCE).json()
    response = tenant.patch(f"/api/products/{product['id']}", body)
    assert response.status_code == 422, response.text
    assert field in [e["field"] for e in response.json()["errors"]]
    assert tenant.get(f"/api/products/{product['id']}").json() == product
    assert other_tenant.patch(f"/api/products/{product['id']}", {"name": "x"}).status_code == 404
