"""Products and services an administration sells."""

from __future__ import annotations

import peewee

from models import serialize
from models.db import MoneyField, RateField, TenantModel, changed_values, database, save_values
from models.events import record_event
from models.listing import Page, paginate
from models.money import to_decimal, to_money
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
            (("administration", "created_at", "id"), False),
            (("administration", "updated_at"), False),
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


def _values(data: dict) -> dict:
    """Every field: the given value or its default (PUT and POST)."""
    return _checked({f: data.get(f, DEFAULTS.get(f)) for f in FIELDS})


def get_product(administration_id, product_id) -> Product:
    """One of the administration's products, or NotFound."""
    return Product.get_owned(administration_id, product_id)


@database.atomic()
def create_product(administration_id, data: dict) -> Product:
    """Create a product and its product.created event."""
    product = Product.create(administration=administration_id, **_values(data))
    record_event(administration_id, "product.created", serialize.product(product))
    return product


@database.atomic()
def replace_product(administration_id, product_id, data: dict) -> Product:
    """PUT: every field takes the given value or its default."""
    product = Product.get_owned(administration_id, product_id)
    save_values(product, _values(data))
    record_event(administration_id, "product.updated", serialize.product(product))
    return product


@database.atomic()
def update_product(administration_id, product_id, changes: dict) -> Product:
    """PATCH: only the given fields change (amounts checked as on PUT); product.updated when
    a value did."""
    product = Product.get_owned(administration_id, product_id)
    changed = changed_values(product, _checked({f: v for f, v in changes.items() if f in FIELDS}))
    if changed:
        save_values(product, changed)
        record_event(administration_id, "product.updated", serialize.product(product))
    return product


@database.atomic()
def delete_product(administration_id, product_id) -> None:
    """Delete a product; invoice lines keep their own copy of its description and price."""
    product = Product.get_owned(administration_id, product_id)
    data = serialize.product(product)
    product.delete_instance()
    record_event(administration_id, "product.deleted", data)


def list_products(administration_id, *, limit=100, offset=0, updated_since=None, q=None,
                  active=None, sku=None,
                  starting_after=None, ending_before=None) -> Page:
    query = Product.of(administration_id)
    if q:
        query = query.where(Product.name.contains(q) | Product.sku.contains(q))
    if active is not None:
        query = query.where(Product.active == active)
    if sku is not None:
        query = query.where(Product.sku == sku)
    return paginate(query, Product, limit=limit, offset=offset,
                    administration_id=administration_id, starting_after=starting_after,
                    ending_before=ending_before, updated_since=updated_since)
