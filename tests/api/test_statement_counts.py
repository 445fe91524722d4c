"""Every list and detail read takes a fixed number of SQL statements, whatever the number of rows.

Each scenario reads an endpoint with one row, adds rows until there are at least 20, and
asserts the exact same count again. The rows carry the related objects their serializers
read, so a related object fetched row by row would add a statement per row: the last test
makes each scenario do exactly that and checks that it fails.
"""

from __future__ import annotations

import contextlib
import importlib
from datetime import datetime, timedelta

import pytest

from models import db, serialize
from models import invoices as invoice_models
from models import portal as portal_models
from models import webhooks as webhook_models
from models.events import Event
from models.reminders import run_reminders
from models.webhooks import WebhookDelivery
from tests.api.sales import line, make_contact, make_invoice, make_product
from tests.api.test_invoice_documents import SELLER_DETAILS
from tests.querycount import count_queries

N = 20


def statements(tenant, url: str) -> int:
    """The statements one GET of `url` runs (the key is verified and cached first)."""
    tenant.get(url)
    with count_queries() as seen:
        response = tenant.get(url)
    assert response.status_code == 200, response.text
    return seen.count


def listed(tenant, url: str) -> list[dict]:
    return tenant.get(url).json()["data"]


def created(response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


# ------------------------------------------------------------------ scenarios

def contact_reads(tenant) -> None:
    first = make_contact(tenant, external_id=f"CRM-{tenant.administration_id}-0")
    one, detail = statements(tenant, "/api/contacts"), statements(tenant, f"/api/contacts/{first}")
    for i in range(1, N):
        make_contact(tenant, name=f"Klant {i}", external_id=f"CRM-{tenant.administration_id}-{i}")
    assert len(listed(tenant, "/api/contacts")) == N
    assert statements(tenant, "/api/contacts") == one == 1  # the page (a short page implies its total)
    assert statements(tenant, "/api/contacts?q=Klant&archived=false&limit=500") == 1
    assert statements(tenant, "/api/contacts?limit=5") == 2  # page, bounded count: more rows follow
    assert statements(tenant, f"/api/contacts/{listed(tenant, '/api/contacts')[-1]['id']}") == detail == 1


def product_reads(tenant) -> None:
    first = make_product(tenant, sku="SKU-0")
    one, detail = statements(tenant, "/api/products"), statements(tenant, f"/api/products/{first}")
    for i in range(1, N):
        make_product(tenant, name=f"Product {i}", sku=f"SKU-{i}", active=i % 2 == 0)
    assert len(listed(tenant, "/api/products")) == N
    assert statements(tenant, "/api/products") == one == 1
    assert statements(tenant, "/api/products?active=true&q=Product") == 1
    assert statements(tenant, "/api/products?limit=5") == 2
    assert statements(tenant, f"/api/products/{listed(tenant, '/api/products')[-1]['id']}") == detail == 1


def api_key_list(tenant) -> None:
    one = statements(tenant, "/api/api-keys")  # the tenant's own key
    for i in range(1, N):
        created(tenant.post("/api/api-keys", {"name": f"Koppeling {i}", "scopes": ["read"]}))
    assert len(listed(tenant, "/api/api-keys")) == N
    assert statements(tenant, "/api/api-keys") == one == 1
    assert statements(tenant, "/api/api-keys?limit=5") == 2


def add_endpoint(tenant, i: int) -> dict:
    # Disabled: no delivery worker of another test sends these endpoints anything.
    return created(tenant.post("/api/webhook-endpoints", {
        "url": f"http://127.0.0.1:9/hooks/{i}", "description": f"Koppeling {i}",
        "events": ["invoice.created", "payment.created"], "enabled": False}))


def webhook_endpoint_reads(tenant) -> None:
    first = add_endpoint(tenant, 0)
    one = statements(tenant, "/api/webhook-endpoints")
    detail = statements(tenant, f"/api/webhook-endpoints/{first['id']}")
    for i in range(1, N):
        add_endpoint(tenant, i)
    last = listed(tenant, "/api/webhook-endpoints")[-1]
    assert len(listed(tenant, "/api/webhook-endpoints")) == N
    assert statements(tenant, "/api/webhook-endpoints") == one == 1
    assert statements(tenant, "/api/webhook-endpoints?limit=5") == 2
    assert statements(tenant, f"/api/webhook-endpoints/{last['id']}") == detail == 1


def add_deliveries(tenant, endpoint_id: str, events: list[Event]) -> None:
    """Deliveries as the worker leaves them, each pointing at its own event."""
    with db.database.connection_context():
        for n, event in enumerate(events):
            WebhookDelivery.create(
                administration=tenant.administration_id, endpoint=endpoint_id, event=event.id,
                event_xact_id=event.xact_id, event_seq=event.seq,
                status="delivered" if n % 2 else "failed", attempts=n % 3 + 1,
                response_status=200 if n % 2 else 500, response_time_ms=12)


def webhook_delivery_list(tenant) -> None:
    endpoint = add_endpoint(tenant, 0)
    for i in range(N):
        make_contact(tenant, name=f"Klant {i}")
    with db.database.connection_context():
        events = list(Event.of(tenant.administration_id).order_by(Event.xact_id, Event.seq))
    assert len(events) >= N
    url = f"/api/webhook-endpoints/{endpoint['id']}/deliveries"
    add_deliveries(tenant, endpoint["id"], events[:1])
    one = statements(tenant, url)
    add_deliveries(tenant, endpoint["id"], events[1:N])
    page = listed(tenant, url)
    assert len(page) == N and {d["event_type"] for d in page} == {"contact.created"}
    assert statements(tenant, url) == one == 2  # endpoint, page with event types
    assert statements(tenant, f"{url}?status=delivered,failed&limit=500") == 2
    assert statements(tenant, f"{url}?event_id={events[3].id}") == 2
    assert statements(tenant, f"{url}?limit=5") == 3  # endpoint, page, bounded count


def event_reads(tenant) -> None:
    make_contact(tenant, name="Klant 0")
    [first] = listed(tenant, "/api/events")
    one, detail = statements(tenant, "/api/events"), statements(tenant, f"/api/events/{first['id']}")
    for i in range(1, N):
        make_contact(tenant, name=f"Klant {i}")
    events = listed(tenant, "/api/events")
    assert len(events) == N
    assert statements(tenant, "/api/events") == one == 1  # the page, one row more than asked
    assert statements(tenant, f"/api/events?after={first['id']}&limit=500") == 2  # cursor, page
    assert statements(tenant, f"/api/events/{events[-1]['id']}") == detail == 1


def audit_log_list(tenant) -> None:
    assert len(listed(tenant, "/api/audit-log")) == 1  # the creation of the tenant's own key
    one = statements(tenant, "/api/audit-log")
    for i in range(1, N):
        created(tenant.post("/api/api-keys", {"name": f"Koppeling {i}", "scopes": ["read"]}))
    entries = listed(tenant, "/api/audit-log")
    assert len(entries) == N
    assert statements(tenant, "/api/audit-log") == one == 1
    filtered = f"/api/audit-log?action=api_key.created&target_id={entries[5]['target_id']}"
    assert statements(tenant, filtered) == 1
    assert statements(tenant, "/api/audit-log?limit=5") == 2


def administration_read(tenant) -> None:
    alone = statements(tenant, "/api/administration")
    contact_id = make_contact(tenant)
    for i in range(N):
        created(tenant.post("/api/api-keys", {"name": f"Koppeling {i}", "scopes": ["read"]}))
        make_invoice(tenant, contact_id)
    assert statements(tenant, "/api/administration") == alone == 1


def invoice_documents(tenant) -> None:
    assert tenant.patch("/api/administration", SELLER_DETAILS).status_code == 200
    contact_id = make_contact(tenant)
    product_id = make_product(tenant)
    small = make_invoice(tenant, contact_id, lines=[line(product_id=product_id)])
    concept = make_invoice(tenant, contact_id, status="concept", lines=[line()] * N)
    lines = [line(f"Regel {i}", product_id=product_id) for i in range(2 * N)]
    big = make_invoice(tenant, contact_id, lines=lines + [{"is_text_line": True, "description": "Levering"}])
    credit = created(tenant.post(f"/api/invoices/{big['id']}/credit", {}))
    assert len(credit["lines"]) == 2 * N + 1
    for kind in ("pdf", "ubl"):
        # The invoice with its contact, its lines, the seller.
        assert statements(tenant, f"/api/invoices/{small['id']}/{kind}") == 3
        assert statements(tenant, f"/api/invoices/{big['id']}/{kind}") == 3
        # A credit note also reads the invoice it credits, with its lines.
        assert statements(tenant, f"/api/invoices/{credit['id']}/{kind}") == 5
    assert statements(tenant, f"/api/invoices/{concept['id']}/pdf") == 3


def invoice_deliveries(tenant) -> None:
    """The deliveries of an invoice (its e-mails and reminders), and its reminder state."""
    assert tenant.patch("/api/administration", SELLER_DETAILS).status_code == 200
    invoice = make_invoice(tenant, make_contact(tenant), invoice_date="2026-04-01", due_date="2026-05-01")
    url = f"/api/invoices/{invoice['id']}/deliveries"
    reminders = f"/api/invoices/{invoice['id']}/reminders"
    # The invoice with its contact, the schedule (looked for, not found), the reminders sent.
    assert statements(tenant, reminders) == 3
    assert statements(tenant, url) == 2  # an empty page, and whether the invoice exists
    assert tenant.post(f"/api/invoices/{invoice['id']}/send").status_code == 202
    one = statements(tenant, url)
    for i in range(1, N):
        again = tenant.post(f"/api/invoices/{invoice['id']}/send", {"email": f"klant{i}@acme.nl"})
        assert again.status_code == 202
    assert len(listed(tenant, url)) == N
    assert statements(tenant, url) == one == 1
    assert statements(tenant, f"{url}?limit=5") == 2  # page, bounded count
    # A schedule of ten steps, each queued on its day: the reminder state reads no more.
    steps = [{"days_after_due": 7 * (i + 1), "text": f"Herinnering {i + 1}"} for i in range(10)]
    assert tenant.patch("/api/reminder-settings", {"enabled": True, "steps": steps}).status_code == 200
    with db.database.connection_context():
        for i in range(10):
            run_reminders(datetime(2026, 5, 1, 6) + timedelta(days=7 * (i + 1)))
    state = tenant.get(reminders).json()
    assert [s["status"] for s in state["steps"]] == ["queued"] * 10
    assert len(listed(tenant, f"{url}?limit=500")) == N + 10
    assert statements(tenant, reminders) == 3
    assert statements(tenant, url) == 1


def reminder_settings_read(tenant) -> None:
    assert statements(tenant, "/api/reminder-settings") == 1  # the defaults: looked for, not found
    steps = [{"days_after_due": 7 * (i + 1), "text": f"Stap {i}"} for i in range(10)]
    assert tenant.patch("/api/reminder-settings", {"enabled": True, "steps": steps}).status_code == 200
    assert statements(tenant, "/api/reminder-settings") == 1


# ------------------------------------------------------------------ the tests

def test_contact_reads_take_a_fixed_number_of_statements(tenant):
    contact_reads(tenant)


def test_product_reads_take_a_fixed_number_of_statements(tenant):
    product_reads(tenant)


def test_api_key_list_takes_a_fixed_number_of_statements(tenant):
    api_key_list(tenant)


def test_webhook_endpoint_reads_take_a_fixed_number_of_statements(tenant):
    webhook_endpoint_reads(tenant)


def test_webhook_delivery_list_takes_a_fixed_number_of_statements(tenant):
    webhook_delivery_list(tenant)


def test_event_reads_take_a_fixed_number_of_statements(tenant):
    event_reads(tenant)


def test_audit_log_list_takes_a_fixed_number_of_statements(tenant):
    audit_log_list(tenant)


def test_administration_read_takes_a_fixed_number_of_statements(tenant):
    administration_read(tenant)


def test_invoice_documents_take_a_fixed_number_of_statements(tenant):
    invoice_documents(tenant)


def test_invoice_deliveries_take_a_fixed_number_of_statements(tenant):
    invoice_deliveries(tenant)


def test_reminder_settings_read_takes_a_fixed_number_of_statements(tenant):
    reminder_settings_read(tenant)


# ------------------------------------------------------------------ the scenarios can fail

def _a_query_per_row(serializer):
    """`serializer`, reading each row's administration through its foreign key (one query a row)."""

    def serialize_row(row, *args, **kwargs):
        model = type(row)
        if "administration" in model._meta.fields:
            row.administration.name  # noqa: B018 - the lazy foreign key read is the point
        else:
            model.get_by_id(row.id)
        return serializer(row, *args, **kwargs)

    return serialize_row


@contextlib.contextmanager
def _invoice_lines_read_per_invoice(monkeypatch):
    """Invoices are read as database values, not model instances, so no serializer can
    fetch a related row; the per-row mistake left is reading each invoice's lines alone."""
    original = invoice_models.read_lines

    def per_invoice(administration_id, rows):
        return [read for row in rows for read in original(administration_id, [row])]

    monkeypatch.setattr(invoice_models, "read_lines", per_invoice)
    monkeypatch.setattr(portal_models, "read_lines", per_invoice)
    yield


@contextlib.contextmanager
def _deliveries_without_their_events():
    """The delivery log read without the join, so each row fetches its event on its own."""
    original = webhook_models._deliveries
    webhook_models._deliveries = WebhookDelivery.select
    try:
        yield
    finally:
        webhook_models._deliveries = original


def _existing(module: str, test: str, **arguments):
    """A statement-count test of another module, as a scenario."""

    def scenario(tenant):
        getattr(importlib.import_module(f"tests.api.{module}"), test)(tenant, **arguments)

    scenario.__name__ = module.removeprefix("test_")
    return scenario


@pytest.mark.parametrize("scenario, serializer", [
    pytest.param(contact_reads, "contact", id="contacts"),
    pytest.param(product_reads, "product", id="products"),
    pytest.param(api_key_list, "api_key", id="api-keys"),
    pytest.param(webhook_endpoint_reads, "webhook_endpoint", id="webhook-endpoints"),
    pytest.param(webhook_delivery_list, "webhook_delivery", id="webhook-deliveries"),
    pytest.param(webhook_delivery_list, None, id="webhook-deliveries-without-the-event-join"),
    pytest.param(event_reads, "event", id="events"),
    pytest.param(audit_log_list, "audit_entry", id="audit-log"),
    pytest.param(administration_read, "administration", id="administration"),
    pytest.param(invoice_documents, "line_values", id="invoice-documents"),
    pytest.param(invoice_deliveries, "invoice_delivery", id="invoice-deliveries"),
    pytest.param(_existing("test_invoices", "test_list_and_detail_use_a_fixed_number_of_queries"),
                 "read_lines", id="invoices"),
    pytest.param(_existing("test_payments", "test_payment_list_and_detail_use_a_fixed_number_of_queries"),
                 "payment", id="payments"),
    pytest.param(_existing("test_quotes", "test_quote_reads_take_a_fixed_number_of_statements",
                           lines_per_quote=1), "quote", id="quotes"),
    pytest.param(_existing("test_subscriptions", "test_subscription_reads_take_a_fixed_number_of_statements",
                           lines_per_subscription=1), "subscription", id="subscriptions"),
    pytest.param(_existing("test_portal", "test_portal_queries_do_not_grow_with_the_history"),
                 "read_lines", id="client-portal"),
])
def test_a_query_per_row_fails_the_scenario(tenant, monkeypatch, scenario, serializer):
    if serializer is None:
        patched = _deliveries_without_their_events()
    elif serializer == "read_lines":
        patched = _invoice_lines_read_per_invoice(monkeypatch)
    else:
        monkeypatch.setattr(serialize, serializer, _a_query_per_row(getattr(serialize, serializer)))
        patched = contextlib.nullcontext()
    with patched, pytest.raises(AssertionError, match=r"assert \d+ =="):
        scenario(tenant)


def patch_statements(tenant, url: str, body: dict) -> list[str]:
    """The statements one PATCH of `url` runs (the key is verified and cached first)."""
    tenant.get(url)
    with count_queries() as seen:
        response = tenant.patch(url, body)
    assert response.status_code == 200, response.text
    return seen.sql


def test_contact_and_product_patches_take_a_fixed_number_of_statements(tenant):
    """PATCH reads the row, writes it and its event; a field more changes nothing in that,
    and an unchanged value writes nothing."""
    contact = f"/api/contacts/{make_contact(tenant, external_id=f'CRM-{tenant.administration_id}')}"
    one_field = patch_statements(tenant, contact, {"phone": "020 1"})
    many_fields = patch_statements(tenant, contact, {"phone": "020 2", "city": "Utrecht", "name": "B",
                                                     "notes": "x", "archived": True})
    assert len(one_field) == len(many_fields) == 3, many_fields   # SELECT, UPDATE, INSERT event
    # external_id also checks uniqueness: one statement more.
    assert len(patch_statements(tenant, contact, {"external_id": "CRM-other"})) == 4
    assert len(patch_statements(tenant, contact, {"phone": "020 2"})) == 1   # unchanged: the SELECT

    product = f"/api/products/{make_product(tenant, sku='SKU-P')}"
    assert len(patch_statements(tenant, product, {"unit_price_incl": 12.50})) == 3
    assert len(patch_statements(tenant, product, {"unit_price_incl": 13.50, "name": "C", "sku": "S",
                                                  "active": False, "tax_percentage": 9})) == 3
    assert len(patch_statements(tenant, product, {"unit_price_incl": 13.50})) == 1
