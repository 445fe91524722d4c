"""Administrations, API keys, contacts, products and the event outbox."""

from models.api_keys import ApiKey
from models.contacts import Contact
from models.events import Event
from models.products import Product
from models.tenancy import Administration


def up(db):
    db.create_tables([Administration, ApiKey, Contact, Product, Event])
