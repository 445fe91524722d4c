"""Administrations (tenants): the businesses PayDock keeps books for, and their seller details."""

from __future__ import annotations

import peewee

from models.db import BaseModel, database, save_values
from models.errors import Invalid, NotFound


class Party(BaseModel):
    """The columns of a business or person on an invoice: its name, address, registration
    numbers and bank account. The seller (Administration) and its customers
    (models.contacts.Contact) have them alike; an invoice copies its customer's."""

    name = peewee.CharField(max_length=200)
    address = peewee.CharField(max_length=200, null=True)
    postal_code = peewee.CharField(max_length=20, null=True)
    city = peewee.CharField(max_length=100, null=True)
    country = peewee.CharField(max_length=2, default="NL")
    email = peewee.CharField(max_length=254, null=True)
    phone = peewee.CharField(max_length=50, null=True)
    kvk_number = peewee.CharField(max_length=20, null=True)
    vat_number = peewee.CharField(max_length=30, null=True)
    iban = peewee.CharField(max_length=34, null=True)


class Administration(Party):
    """A tenant: one business, with the seller details its invoices carry."""

    bic = peewee.CharField(max_length=11, null=True)
    payment_term_days = peewee.IntegerField(default=30)
    invoice_number_prefix = peewee.CharField(max_length=20, null=True)


@database.atomic()
def create_administration(name: str) -> Administration:
    """A new, empty administration."""
    return Administration.create(name=name)


SELLER_FIELDS = (
    "name", "address", "postal_code", "city", "country", "email", "phone", "kvk_number",
    "vat_number", "iban", "bic", "payment_term_days", "invoice_number_prefix",
)


def iban_is_valid(iban: str) -> bool:
    """ISO 13616 check: move the country code and check digits to the end, then mod 97 == 1."""
    compact = iban.replace(" ", "").upper()
    if not (15 <= len(compact) <= 34) or not compact.isalnum() or not compact[:2].isalpha():
        return False
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return int(digits) % 97 == 1


def checked_iban(iban: str) -> str:
    """An IBAN as stored (no spaces, upper case), or a 422 when its checksum fails."""
    if not iban_is_valid(iban):
        raise Invalid.field("iban", "is not a valid IBAN (checksum)")
    return iban.replace(" ", "").upper()


def get_administration(administration_id) -> Administration:
    """The caller's own administration."""
    administration = Administration.get_or_none(Administration.id == administration_id)
    if administration is None:
        raise NotFound(f"administration {administration_id} not found")
    return administration


@database.atomic()
def update_administration(administration_id, changes: dict) -> Administration:
    """PATCH the seller details: only the given fields change; an IBAN must pass its checksum."""
    administration = get_administration(administration_id)
    unknown = sorted(set(changes) - set(SELLER_FIELDS))
    if unknown:
        raise Invalid.field(unknown[0], "unknown field")
    if changes.get("iban") is not None:
        changes = {**changes, "iban": checked_iban(changes["iban"])}
    if changes.get("bic") is not None:
        changes = {**changes, "bic": changes["bic"].upper()}
    save_values(administration, changes)
    return administration
