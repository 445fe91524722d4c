"""A Python client generated from openapi.yaml (openapi-python-client) runs the seed scenario.

Generation must raise no warning about the spec; operationIds and schema names become the
client's functions and models (`create_contact.sync`, `Contact`). The scenario runs through
the generated client against a gunicorn server.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
from contextlib import contextmanager
from decimal import Decimal

import pytest

from models import api_keys, tenancy
from tests.conftest import bind_test_database
from tests.server import ROOT, GunicornServer

PACKAGE = "paydock_client"
# Documents (PDF, UBL XML) are bytes to a client: the generator's documented override maps
# their media types to its binary-file support.
CONFIG = (f"package_name_override: {PACKAGE}\nproject_name_override: paydock-client\n"
          "content_type_overrides:\n  application/pdf: application/octet-stream\n"
          "  application/xml: application/octet-stream\n")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """Generate the client into a temp dir and import it; yields (package, generator output)."""
    where = tmp_path_factory.mktemp("client")
    (where / "config.yaml").write_text(CONFIG)
    bin_dir = os.path.dirname(sys.executable)
    result = subprocess.run(
        [os.path.join(bin_dir, "openapi-python-client"), "generate", "--path", str(ROOT / "openapi.yaml"),
         "--config", str(where / "config.yaml"), "--meta", "none", "--output-path", str(where / PACKAGE),
         "--fail-on-warning"],
        cwd=where, capture_output=True, text=True, timeout=300,
        # The generator formats its output with ruff from the same environment.
        env={**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    sys.path.insert(0, str(where))
    try:
        yield importlib.import_module(PACKAGE), output
    finally:
        sys.path.remove(str(where))
        for name in [m for m in sys.modules if m == PACKAGE or m.startswith(PACKAGE + ".")]:
            del sys.modules[name]


def test_generation_raises_no_warning(generated):
    _, output = generated
    assert "Warning" not in output and "warning" not in output, output


def test_operation_ids_and_schemas_give_readable_names(generated):
    package, _ = generated
    contacts = importlib.import_module(f"{PACKAGE}.api.contacts")
    names = {m for m in os.listdir(os.path.dirname(contacts.__file__)) if m.endswith(".py")}
    assert names == {"__init__.py", "list_contacts.py", "create_contact.py", "get_contact.py",
                     "replace_contact.py", "update_contact.py", "delete_contact.py"}
    models = importlib.import_module(f"{PACKAGE}.models")
    for name in ("Contact", "ContactInput", "ContactUpdate", "ContactPage", "Product", "ProductInput",
                 "ProductUpdate", "ApiKeyPage",
                 "Administration", "AdministrationUpdate", "Problem"):
        assert hasattr(models, name), name


@contextmanager
def serving_client(package, tmp_path, scopes: list[str], **env: str):
    """The generated client, keyed for a new administration, against PayDock under gunicorn
    (with the PAYDOCK_* settings in `env`)."""
    url = "sqlite:///" + str(tmp_path / "client.db")
    database = bind_test_database(url)
    with database.connection_context():
        administration = tenancy.create_administration("Client BV")
        _, key = api_keys.create_api_key(administration.id, "client", scopes)
    with GunicornServer(url, workers=1, **env) as server, package.AuthenticatedClient(
            base_url=server.url + "/api", token=key, prefix="", auth_header_name="X-API-Key",
            raise_on_unexpected_status=True) as client:
        yield client


def test_seed_scenario_through_the_generated_client(generated, tmp_path):
    package, _ = generated
    load = importlib.import_module

    create_contact = load(f"{PACKAGE}.api.contacts.create_contact")
    get_contact = load(f"{PACKAGE}.api.contacts.get_contact")
    list_contacts = load(f"{PACKAGE}.api.contacts.list_contacts")
    create_product = load(f"{PACKAGE}.api.products.create_product")
    list_products = load(f"{PACKAGE}.api.products.list_products")
    update_administration = load(f"{PACKAGE}.api.administration.update_administration")
    check_health = load(f"{PACKAGE}.api.system.check_health")
    models = load(f"{PACKAGE}.models")

    with serving_client(package, tmp_path, ["read", "write", "admin"]) as client:
        assert check_health.sync(client=client).status == "ok"

        seller = update_administration.sync(client=client, body=models.AdministrationUpdate(
            kvk_number="87654321", vat_number="NL987654321B01", iban="NL91 ABNA 0417 1643 00"))
        assert isinstance(seller, models.Administration) and seller.iban == "NL91ABNA0417164300"

        contact = create_contact.sync(client=client, body=models.ContactInput(
            name="Acme BV", email="info@acme.nl", external_id="CRM-12345", city="Amsterdam",
            vat_number="NL123456789B01"))
        assert isinstance(contact, models.Contact) and contact.country == "NL"
        assert get_contact.sync(id=contact.id, client=client).name == "Acme BV"
        found = list_contacts.sync(client=client, external_id="CRM-12345")
        assert isinstance(found, models.ContactPage)
        assert found.total == 1 and found.data[0].id == contact.id
        assert found.total_exact is True and found.has_more is False

        product = create_product.sync(client=client, body=models.ProductInput(
            name="Spont POS Licentie", sku="POS-LIC", unit_price_incl=89.00, tax_percentage=21))
        assert isinstance(product, models.Product)
        assert Decimal(str(product.unit_price_incl)) == Decimal("89.00")
        assert list_products.sync(client=client, sku="POS-LIC").data[0].id == product.id

        # Errors come back as the typed problem model.
        problem = create_product.sync(client=client, body=models.ProductInput(
            name="Dubbel", unit_price_incl=1.005))
        assert isinstance(problem, models.Problem) and problem.status == 422
        assert problem.errors[0].field == "unit_price_incl"


def test_operation_ids_are_plain_names_with_a_router_controller():
    """`create_contact`, not `contacts.create_contact`: the module is named by
    `x-openapi-router-controller: handlers.<module>` on each operation."""
    import yaml

    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    seen = []
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "operationId" not in operation:
                continue
            name = operation["operationId"]
            assert name.isidentifier() and name == name.lower(), f"{method} {path}: {name}"
            controller = operation.get("x-openapi-router-controller", "")
            assert controller.startswith("handlers."), f"{method} {path}: no x-openapi-router-controller"
            seen.append(name)
    assert len(seen) == len(set(seen)), "operationIds must be unique"


def test_seed_invoice_and_payment_through_the_generated_client(generated, tmp_path):
    """The reference's scenario as typed models of the generated client: contact → product →
    invoice → payment → client portal."""
    from datetime import date

    package, _ = generated
    load = importlib.import_module
    models = load(f"{PACKAGE}.models")
    create_contact = load(f"{PACKAGE}.api.contacts.create_contact")
    create_product = load(f"{PACKAGE}.api.products.create_product")
    create_invoice = load(f"{PACKAGE}.api.invoices.create_invoice")
    get_invoice = load(f"{PACKAGE}.api.invoices.get_invoice")
    create_payment = load(f"{PACKAGE}.api.payments.create_payment")
    get_client_portal = load(f"{PACKAGE}.api.client_portal.get_client_portal")

    with serving_client(package, tmp_path, ["read", "write"]) as client:
        contact = create_contact.sync(client=client, body=models.ContactInput(
            name="Acme BV", email="info@acme.nl", external_id="CRM-12345"))
        product = create_product.sync(client=client, body=models.ProductInput(
            name="Spont POS Licentie", unit_price_incl=89.00, tax_percentage=21))
        invoice = create_invoice.sync(client=client, body=models.InvoiceInput(
            contact_id=contact.id, status=models.InvoiceInputStatus.VERZONDEN,
            invoice_date=date(2026, 4, 11), due_date=date(2026, 5, 11), lines=[
                models.InvoicePricedLineInput(description="Spont POS Licentie", quantity=1,
                                              unit_price_incl=89.00, tax_percentage=21,
                                              product_id=product.id),
                models.InvoicePricedLineInput(description="Installatie", quantity=2, unit_price_incl=125.00,
                                              tax_percentage=21),
                models.InvoiceTextLineInput(is_text_line=True,
                                            description="Notitie: Levering binnen 5 werkdagen"),
            ]))
        assert isinstance(invoice, models.Invoice), invoice
        assert [Decimal(str(x)) for x in (invoice.total_incl, invoice.total_vat, invoice.total_excl)] == [
            Decimal("339.00"), Decimal("58.83"), Decimal("280.17")]
        assert invoice.number == "2026-0001" and invoice.lines[2].is_text_line is True

        payment = create_payment.sync(client=client, body=models.PaymentInput(
            invoice_id=invoice.id, amount=339.00, payment_date=date(2026, 4, 11),
            external_method="bank_transfer", external_reference="TXN-12345",
            note="Betaling ontvangen via extern systeem"))
        assert isinstance(payment, models.Payment), payment
        paid = get_invoice.sync(id=invoice.id, client=client)
        assert paid.status == models.InvoiceStatus.BETAALD
        assert (Decimal(str(paid.amount_paid)), Decimal(str(paid.open_amount))) == (Decimal("339.00"), 0)

        portal = get_client_portal.sync(external_id="CRM-12345", client=client)
        assert portal.contact.name == "Acme BV" and portal.contact.email == "info@acme.nl"
        assert (portal.summary.open_invoice_count, Decimal(str(portal.summary.open_invoice_amount)),
                Decimal(str(portal.summary.balance))) == (0, 0, 0)
        assert [i.id for i in portal.invoices] == [invoice.id]
        assert [p.id for p in portal.recent_payments] == [payment.id]


def test_payment_link_flow_through_the_generated_client(generated, tmp_path):
    """A payment link for an invoice, paid at a stub of Mollie, registered by the webhook: all
    through the generated client's typed functions."""
    from datetime import date

    from tests.mollie_stub import MollieStub

    package, _ = generated
    load = importlib.import_module
    models = load(f"{PACKAGE}.models")
    create_contact = load(f"{PACKAGE}.api.contacts.create_contact")
    create_invoice = load(f"{PACKAGE}.api.invoices.create_invoice")
    get_invoice = load(f"{PACKAGE}.api.invoices.get_invoice")
    create_payment_link = load(f"{PACKAGE}.api.invoices.create_payment_link")
    mollie_webhook = load(f"{PACKAGE}.api.payment_providers.mollie_webhook")

    public = "http://127.0.0.1:8000"
    with MollieStub() as stub, serving_client(
            package, tmp_path, ["read", "write"], PAYDOCK_MOLLIE_API_KEY=stub.api_key,
            PAYDOCK_MOLLIE_API_URL=stub.url, PAYDOCK_PUBLIC_BASE_URL=public) as client:
        contact = create_contact.sync(client=client, body=models.ContactInput(name="Acme BV"))
        invoice = create_invoice.sync(client=client, body=models.InvoiceInput(
            contact_id=contact.id, status=models.InvoiceInputStatus.VERZONDEN, invoice_date=date(2026, 4, 11),
            lines=[models.InvoicePricedLineInput(description="Installatie", quantity=2,
                                                 unit_price_incl=125.00, tax_percentage=21)]))
        link = create_payment_link.sync(id=invoice.id, client=client)
        assert isinstance(link, models.PaymentLink), link
        assert Decimal(str(link.amount)) == Decimal("250.00") and link.provider_payment_id in stub.payments
        assert stub.created() == [{**stub.created()[0], "amount": {"currency": "EUR", "value": "250.00"},
                                   "description": invoice.number}]
        assert get_invoice.sync(id=invoice.id, client=client).payment_url == link.checkout_url

        stub.pay(link.provider_payment_id)
        token = stub.created()[0]["webhookUrl"].rsplit("/", 1)[1]
        for _ in range(3):
            answer = mollie_webhook.sync_detailed(token=token, client=client,
                                                  body=models.MollieWebhookBody(id=link.provider_payment_id))
            assert answer.status_code == 200
        paid = get_invoice.sync(id=invoice.id, client=client)
        assert paid.status == models.InvoiceStatus.BETAALD
        assert (Decimal(str(paid.amount_paid)), paid.payment_url) == (Decimal("250.00"), None)
