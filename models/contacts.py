"""Contacts (customers) of an administration."""

from __future__ import annotations

import peewee

from models import serialize
from models.db import TenantModel, database
from models.errors import Conflict
from models.listing import LIST_INDEXES, Page, matching, paginate
from models.records import Records
from models.tenancy import Administration, Party, checked_iban

FIELDS = (
    "name", "email", "phone", "company_name", "address", "postal_code", "city",
    "country", "vat_number", "kvk_number", "iban", "external_id", "notes", "archived", "is_consumer",
)
DEFAULTS = {"country": "NL", "archived": False, "is_consumer": False}


class Contact(TenantModel, Party):
    """A customer: its name, address and numbers (Party), and the company it works for. Bank
    statement entries from its `iban` are matched to its invoices."""

    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    company_name = peewee.CharField(max_length=200, null=True)
    external_id = peewee.CharField(max_length=100, null=True)
    notes = peewee.TextField(null=True)
    archived = peewee.BooleanField(default=False)
    #: A private person: payment reminders send the 14-dagenbrief before collection costs.
    # A database default too, so bulk loads that leave it out get a business contact.
    is_consumer = peewee.BooleanField(default=False, constraints=[peewee.SQL("DEFAULT FALSE")])

    class Meta:
        indexes = (
            (("administration", "external_id"), True),
            *LIST_INDEXES,
        )


RECORDS = Records(Contact, "contact", FIELDS, DEFAULTS, serialize.contact)


def _check_external_id(administration_id, external_id, exclude_id=None) -> None:
    if external_id is None:
        return
    query = Contact.of(administration_id).where(Contact.external_id == external_id)
    if exclude_id is not None:
        query = query.where(Contact.id != exclude_id)
    if query.exists():
        raise Conflict(f"a contact with external_id {external_id!r} already exists")


def get_contact(administration_id, contact_id) -> Contact:
    """One of the administration's contacts, or NotFound."""
    return Contact.get_owned(administration_id, contact_id)


def _clean(data: dict) -> dict:
    """The request's fields as stored: an IBAN without spaces, upper case, checksum checked."""
    if data.get("iban") is None:
        return data
    return {**data, "iban": checked_iban(data["iban"])}


@database.atomic()
def create_contact(administration_id, data: dict) -> Contact:
    """Create a contact and its contact.created event."""
    data = _clean(data)
    _check_external_id(administration_id, data.get("external_id"))
    return RECORDS.create(administration_id, RECORDS.full(data))


@database.atomic()
def replace_contact(administration_id, contact_id, data: dict) -> Contact:
    """PUT: every field takes the given value or its default."""
    data = _clean(data)
    contact = Contact.get_owned(administration_id, contact_id)
    _check_external_id(administration_id, data.get("external_id"), exclude_id=contact.id)
    return RECORDS.replace(administration_id, contact, RECORDS.full(data))


@database.atomic()
def update_contact(administration_id, contact_id, changes: dict) -> Contact:
    """PATCH: only the given fields change; contact.updated when a value did."""
    changes = _clean(changes)
    contact = Contact.get_owned(administration_id, contact_id)
    if "external_id" in changes:
        _check_external_id(administration_id, changes["external_id"], exclude_id=contact.id)
    return RECORDS.update(administration_id, contact, RECORDS.given(changes))


# The documents that name a contact. Their models import this module, so their tables are
# named here rather than imported: the rule holds whichever modules a process has loaded.
_INVOICE = peewee.Table("invoice")
_QUOTE = peewee.Table("quote")
_SUBSCRIPTION = peewee.Table("subscription")


def _documents_naming(contact: Contact) -> tuple[bool, bool, bool, bool]:
    """Whether the contact has issued invoices, concept invoices, quotes, subscriptions (one query)."""

    def naming(table: peewee.Table, *conditions) -> peewee.Node:
        return peewee.fn.EXISTS(table.select(peewee.SQL("1")).where(
            table.c.administration_id == Contact.administration, table.c.contact_id == Contact.id,
            *conditions))

    row = (Contact.select(naming(_INVOICE, _INVOICE.c.status != "concept"),
                          naming(_INVOICE, _INVOICE.c.status == "concept"),
                          naming(_QUOTE), naming(_SUBSCRIPTION))
           .where(Contact.id == contact.id).scalar(as_tuple=True))
    issued, concepts, quotes, subscriptions = (bool(value) for value in row)
    return issued, concepts, quotes, subscriptions


def check_deletable(contact: Contact) -> None:
    """409 when an invoice, quote or subscription names the contact: archive it instead."""
    issued, concepts, quotes, subscriptions = _documents_naming(contact)
    if issued:
        raise Conflict(f"contact {contact.id} has issued invoices and cannot be deleted; "
                       "archive it instead (archived: true)")
    if concepts:
        raise Conflict(f"contact {contact.id} has concept invoices; delete those first, "
                       "or archive the contact (archived: true)")
    if quotes:
        raise Conflict(f"contact {contact.id} has quotes and cannot be deleted; "
                       "archive it instead (archived: true)")
    if subscriptions:
        raise Conflict(f"contact {contact.id} has subscriptions and cannot be deleted; "
                       "archive it instead (archived: true)")


@database.atomic()
def delete_contact(administration_id, contact_id) -> None:
    """Delete a contact that no invoice, quote or subscription names (else 409: archive it instead)."""
    contact = Contact.get_owned(administration_id, contact_id)
    check_deletable(contact)
    RECORDS.delete(administration_id, contact)


def list_contacts(administration_id, *, q=None, external_id=None, archived=None, **paging) -> Page:
    """One page of contacts: `q` in the name or e-mail address, and the exact filters given."""
    query = matching(Contact.of(administration_id), q, (Contact.name, Contact.email),
                     ((Contact.external_id, external_id), (Contact.archived, archived)))
    return paginate(query, Contact, administration_id=administration_id, **paging)
