"""Products and services an administration sells."""

from __future__ import annotations

import peewee

from models import serialize
from models.db import MoneyField, RateField, TenantModel, database
from models.listing import LIST_INDEXES, Page, matching, paginate
from models.money import to_decimal, to_money
from models.records import Records
from models.tenancy import Administration

FIELDS = ("name", "description", "sku", "unit_price_incl", "tax_percentage", "unit", "active")
DEFAULTS = {"unit_price_incl": 0, "tax_percentage": 21, "active": True}


class Product(TenantModel):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    name = peewee.CharField(max_length=200)
    description = peewee.TextField(null=True)
    sku = peewee.CharField(max_length=100, null=True)
    unit_price_incl = MoneyField()
    tax_percentage = RateField()
    unit = peewee.CharField(max_length=30, null=True)
    active = peewee.BooleanField(default=True)

    class Meta:
        indexes = (
            *LIST_INDEXES,
            (("administration", "sku"), False),
        )


def _checked(values: dict) -> dict:
    """The amounts among `values` as exact Decimals (422 when they are not)."""
    checked = dict(values)
    if "unit_price_incl" in checked:
        checked["unit_price_incl"] = to_money(checked["unit_price_incl"], "unit_price_incl")
    if "tax_percentage" in checked:
        checked["tax_percentage"] = to_decimal(checked["tax_percentage"], "tax_percentage")
    return checked


RECORDS = Records(Product, "product", FIELDS, DEFAULTS, serialize.product)


def get_product(administration_id, product_id) -> Product:
    """One of the administration's products, or NotFound."""
    return Product.get_owned(administration_id, product_id)


@database.atomic()
def create_product(administration_id, data: dict) -> Product:
    """Create a product and its product.created event."""
    return RECORDS.create(administration_id, _checked(RECORDS.full(data)))


@database.atomic()
def replace_product(administration_id, product_id, data: dict) -> Product:
    """PUT: every field takes the given value or its default."""
    product = Product.get_owned(administration_id, product_id)
    return RECORDS.replace(administration_id, product, _checked(RECORDS.full(data)))


@database.atomic()
def update_product(administration_id, product_id, changes: dict) -> Product:
    """PATCH: only the given fields change (amounts checked as on PUT); product.updated when
    a value did."""
    product = Product.get_owned(administration_id, product_id)
    return RECORDS.update(administration_id, product, _checked(RECORDS.given(changes)))


@database.atomic()
def delete_product(administration_id, product_id) -> None:
    """Delete a product; invoice lines keep their own copy of its description and price."""
    RECORDS.delete(administration_id, Product.get_owned(administration_id, product_id))


def list_products(administration_id, *, q=None, active=None, sku=None, **paging) -> Page:
    """One page of products: `q` in the name or SKU, and the exact filters given."""
    query = matching(Product.of(administration_id), q, (Product.name, Product.sku),
                     ((Product.active, active), (Product.sku, sku)))
    return paginate(query, Product, administration_id=administration_id, **paging)
