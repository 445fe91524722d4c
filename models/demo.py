"""Demo data for `paydock demo` / `make run`."""

from __future__ import annotations

from collections.abc import Callable

from tqdm import tqdm

from models import api_keys, contacts, products, tenancy
from models.tenancy import Administration

DEMO_NAME = "PayDock Demo BV"

DEMO_SELLER = {
    "address": "Herengracht 100", "postal_code": "1015 BS", "city": "Amsterdam",
    "email": "facturen@paydock-demo.nl", "kvk_number": "87654321", "vat_number": "NL987654321B01",
    "iban": "NL91ABNA0417164300", "bic": "ABNANL2A",
}
DEMO_CONTACTS = [
    {"name": "Acme BV", "email": "info@acme.nl", "external_id": "CRM-12345", "city": "Amsterdam",
     "address": "Keizersgracht 1", "postal_code": "1015 CJ", "vat_number": "NL123456789B01",
     "kvk_number": "12345678"},
    {"name": "Bakkerij De Gouden Korst", "email": "bestel@goudenkorst.nl", "external_id": "CRM-20001",
     "city": "Utrecht"},
    {"name": "Fietsenmaker Jansen", "email": "jan@fietsjansen.nl", "city": "Haarlem"},
]
DEMO_PRODUCTS = [
    {"name": "Spont POS Licentie", "sku": "POS-LIC", "unit_price_incl": 89.00, "tax_percentage": 21},
    {"name": "Installatie", "sku": "INST", "unit_price_incl": 125.00, "tax_percentage": 21,
     "unit": "uur"},
    {"name": "Kassabonrollen (doos)", "sku": "ROL-50", "unit_price_incl": 24.95,
     "tax_percentage": 21},
    {"name": "Brood van de week", "sku": "BROOD", "unit_price_incl": 3.49, "tax_percentage": 9},
]


def create_demo(progress: bool = False) -> tuple[Administration, str]:
    """The demo administration (created with sample data the first time) and a new key."""
    administration = Administration.get_or_none(Administration.name == DEMO_NAME)
    if administration is None:
        administration = tenancy.create_administration(DEMO_NAME)
        tenancy.update_administration(administration.id, DEMO_SELLER)
        steps: list[tuple[Callable[[object, dict], object], dict]] = [
            (contacts.create_contact, data) for data in DEMO_CONTACTS]
        steps += [(products.create_product, data) for data in DEMO_PRODUCTS]
        # Progress goes to stderr (tqdm's default), so stdout keeps only the key.
        for create, data in tqdm(steps, desc="demo data", unit="row", disable=not progress):
            create(administration.id, data)
    _, token = api_keys.create_api_key(administration.id, "demo", ["read", "write", "admin"])
    return administration, token
