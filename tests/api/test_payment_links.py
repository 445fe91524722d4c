"""Payment links through Mollie, against a stub of Mollie's payments API on loopback.

The app under test is configured with the stub's URL and key; the tests play the customer
and the merchant at the stub (`pay`, `refund`, `expire`) and then call PayDock's webhook
as Mollie does: a form body with only the payment's id.
"""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from starlette.testclient import TestClient

from models import api_keys, db, tenancy
from models.invoices import Invoice
from models.payment_links import PaymentLink, ProviderTransaction
from models.payments import Payment
from tests.api.sales import events, line, make_contact, make_invoice, pay, unique
from tests.conftest import Tenant, bind_test_database, count_rows
from tests.mollie_stub import MollieStub
from tests.server import free_port

PUBLIC = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def stub():
    with MollieStub() as running:
        yield running


def _app(settings, **changes):
    from paydock import create_app

    application = create_app(replace(settings, public_base_url=PUBLIC, **changes))
    bind_test_database(settings.database_url)
    return application


@pytest.fixture(scope="module")
def paying_client(settings, stub):
    with TestClient(_app(settings, mollie_api_key=stub.api_key, mollie_api_url=stub.url),
                    raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def unreachable_client(settings, stub):
    """The same PayDock, but Mollie's address answers nothing (no server on that port)."""
    with TestClient(_app(settings, mollie_api_key=stub.api_key, mollie_api_url=f"http://127.0.0.1:{free_port()}",
                         provider_timeout=2), raise_server_exceptions=False) as test_client:
        yield test_client


def _tenant(client, name="Betaal BV") -> Tenant:
    with db.database.connection_context():
        administration = tenancy.create_administration(name)
        _, key = api_keys.create_api_key(administration.id, "test", ["read", "write"])
    return Tenant(administration.id, key, client)


@pytest.fixture
def shop(paying_client, settings) -> Tenant:
    bind_test_database(settings.database_url)
    return _tenant(paying_client)


def seed_invoice(tenant, **fields) -> dict:
    """The reference's invoice: 339.00 incl. VAT."""
    contact = make_contact(tenant, external_id=unique("PAY"))
    return make_invoice(tenant, contact, lines=[line("Spont POS Licentie", 1, 89.00, 21),
                                                line("Installatie", 2, 125.00, 21)], **fields)


def link_for(tenant, invoice_id, **kw):
    response = tenant.post(f"/api/invoices/{invoice_id}/payment-link", **kw)
    assert response.status_code in (200, 201), response.text
    return response


def webhook_url(stub) -> str:
    """The path of the webhook URL PayDock gave Mollie with its last payment."""
    url = stub.created()[-1]["webhookUrl"]
    assert url.startswith(PUBLIC + "/api/providers/mollie/webhook/")
    return url[len(PUBLIC):]


def call_webhook(client, path: str, payment_id: str):
    return client.post(path, data={"id": payment_id})


def payments_of(invoice_id) -> list[Payment]:
    with db.database.connection_context():
        return list(Payment.select().where(Payment.invoice == invoice_id).order_by(Payment.created_at))


def invoice_of(tenant, invoice_id) -> dict:
    return tenant.get(f"/api/invoices/{invoice_id}").json()


# ------------------------------------------------------------------ creating a link

def test_a_link_is_created_for_the_open_amount_and_shown_on_the_invoice_and_portal(shop, stub):
    invoice = seed_invoice(shop)
    pay(shop, invoice["id"], 39.00)
    before = len(stub.created())
    response = link_for(shop, invoice["id"])
    assert response.status_code == 201 and response.headers["location"] == f"/api/invoices/{invoice['id']}"
    link = response.json()
    sent = stub.created()[-1]
    assert sent["amount"] == {"currency": "EUR", "value": "300.00"}
    assert sent["description"] == invoice["number"]
    assert sent["redirectUrl"] == PUBLIC
    assert stub.requests[-1]["headers"]["authorization"] == f"Bearer {stub.api_key}"
    assert (link["provider"], link["status"], Decimal(str(link["amount"]))) == ("mollie", "open",
                                                                                  Decimal("300.00"))
    assert len(stub.created()) == before + 1 and link["provider_payment_id"].startswith("tr_")
    assert link["checkout_url"] == stub.payments[link["provider_payment_id"]]["_links"]["checkout"]["href"]

    shown = invoice_of(shop, invoice["id"])
    assert shown["payment_url"] == link["checkout_url"]
    contact = shop.get(f"/api/contacts/{invoice['contact_id']}").json()
    portal = shop.get(f"/api/client-portal/{contact['external_id']}").json()
    assert [i["payment_url"] for i in portal["invoices"]] == [link["checkout_url"]]
    updated = [e for e in events(shop, "invoice.updated") if e["data"]["id"] == invoice["id"]]
    assert updated[-1]["data"]["payment_url"] == link["checkout_url"]

    # Asking again while that link is open for the same amount answers it, and makes no second one.
    again = link_for(shop, invoice["id"])
    assert again.status_code == 200 and again.json()["id"] == link["id"]
    assert len(stub.created()) == before + 1
    assert count_rows(PaymentLink, invoice=invoice["id"]) == 1


def test_a_payment_elsewhere_takes_the_link_off_the_invoice(shop, stub):
    invoice = seed_invoice(shop)
    link_for(shop, invoice["id"])
    pay(shop, invoice["id"], 100.00)
    assert invoice_of(shop, invoice["id"])["payment_url"] is None
    fresh = link_for(shop, invoice["id"])
    assert fresh.status_code == 201
    assert stub.created()[-1]["amount"]["value"] == "239.00"


def test_the_idempotency_key_replays_the_link_without_calling_mollie_again(shop, stub):
    invoice = seed_invoice(shop)
    before = len(stub.created())
    first = link_for(shop, invoice["id"], headers={"Idempotency-Key": unique("link")})
    key = unique("link-2")
    second = link_for(shop, invoice["id"], headers={"Idempotency-Key": key})
    replay = link_for(shop, invoice["id"], headers={"Idempotency-Key": key})
    assert first.status_code == 201 and second.status_code == 200
    assert replay.headers.get("idempotent-replayed") == "true" and replay.json() == second.json()
    assert len(stub.created()) == before + 1


@pytest.mark.parametrize("case", ["concept", "betaald", "credit_note", "oninbaar"])
def test_an_invoice_with_nothing_to_pay_online_gets_409(shop, stub, case):
    before = len(stub.created())
    if case == "concept":
        invoice = seed_invoice(shop, status="concept")
    else:
        invoice = seed_invoice(shop)
        if case == "betaald":
            pay(shop, invoice["id"], 339.00)
        elif case == "oninbaar":
            assert shop.patch(f"/api/invoices/{invoice['id']}", {"status": "oninbaar"}).status_code == 200
        else:
            invoice = shop.post(f"/api/invoices/{invoice['id']}/credit", {}).json()
    response = shop.post(f"/api/invoices/{invoice['id']}/payment-link")
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert len(stub.created()) == before


def test_without_a_configured_provider_a_link_is_503(tenant):
    invoice = seed_invoice(tenant)
    response = tenant.post(f"/api/invoices/{invoice['id']}/payment-link")
    assert response.status_code == 503
    assert "PAYDOCK_MOLLIE_API_KEY" in response.json()["detail"]
    assert count_rows(PaymentLink, invoice=invoice["id"]) == 0


def test_another_administrations_invoice_is_404(shop, paying_client, stub):
    invoice = seed_invoice(shop)
    other = _tenant(paying_client, "Ander BV")
    before = len(stub.created())
    assert other.post(f"/api/invoices/{invoice['id']}/payment-link").status_code == 404
    assert len(stub.created()) == before


# ------------------------------------------------------------------ the webhook

def test_the_webhook_three_times_for_one_paid_payment_registers_one_payment(shop, paying_client, stub):
    invoice = seed_invoice(shop)
    link = link_for(shop, invoice["id"]).json()
    path = webhook_url(stub)
    # Before the customer paid, Mollie may call about the open payment: nothing to register.
    assert call_webhook(paying_client, path, link["provider_payment_id"]).status_code == 200
    assert payments_of(invoice["id"]) == []
    stub.pay(link["provider_payment_id"])
    for _ in range(3):
        response = call_webhook(paying_client, path, link["provider_payment_id"])
        assert response.status_code == 200, response.text
    registered = payments_of(invoice["id"])
    assert [(p.amount, p.external_method, p.external_reference) for p in registered] == [
        (Decimal("339.00"), "mollie", link["provider_payment_id"])]
    shown = invoice_of(shop, invoice["id"])
    assert (shown["status"], shown["amount_paid"], shown["open_amount"], shown["payment_url"]) == (
        "betaald", 339.00, 0.00, None)
    created = [e for e in events(shop, "payment.created") if e["data"]["invoice_id"] == invoice["id"]]
    assert len(created) == 1 and created[0]["data"]["external_reference"] == link["provider_payment_id"]
    assert count_rows(ProviderTransaction, reference=link["provider_payment_id"]) == 1
    with db.database.connection_context():
        stored = PaymentLink.get_by_id(link["id"])
    assert (stored.status, stored.payment_id) == ("paid", registered[0].id)


def test_a_payment_for_40_percent_leaves_the_invoice_partly_paid_with_a_link_for_the_rest(
        shop, paying_client, stub):
    invoice = seed_invoice(shop)
    link = link_for(shop, invoice["id"]).json()
    path = webhook_url(stub)
    stub.pay(link["provider_payment_id"], amount="135.60")     # 40 % of 339.00
    assert call_webhook(paying_client, path, link["provider_payment_id"]).status_code == 200
    shown = invoice_of(shop, invoice["id"])
    assert (shown["status"], shown["amount_paid"], shown["open_amount"]) == ("deels_betaald", 135.60, 203.40)
    rest = stub.created()[-1]
    assert rest["amount"] == {"currency": "EUR", "value": "203.40"}
    assert rest["description"] == invoice["number"]
    new_id = list(stub.payments)[-1]   # the payment made last (numbers repeat across administrations)
    assert stub.payments[new_id]["amount"]["value"] == "203.40"
    assert shown["payment_url"] == stub.payments[new_id]["_links"]["checkout"]["href"]
    # Mollie calling again about the first payment changes nothing and makes no third link.
    links_before = len(stub.created())
    assert call_webhook(paying_client, path, link["provider_payment_id"]).status_code == 200
    assert len(stub.created()) == links_before
    assert [p.amount for p in payments_of(invoice["id"])] == [Decimal("135.60")]
    # The customer pays the rest through the new link.
    stub.pay(new_id)
    assert call_webhook(paying_client, path, new_id).status_code == 200
    shown = invoice_of(shop, invoice["id"])
    assert (shown["status"], shown["amount_paid"], shown["payment_url"]) == ("betaald", 339.00, None)
    assert len(stub.created()) == links_before


def test_refunds_at_mollie_become_refunds_here_once_each(shop, paying_client, stub):
    invoice = seed_invoice(shop)
    link = link_for(shop, invoice["id"]).json()
    path = webhook_url(stub)
    stub.pay(link["provider_payment_id"])
    call_webhook(paying_client, path, link["provider_payment_id"])
    first = stub.refund(link["provider_payment_id"], "39.00")
    stub.refund(link["provider_payment_id"], "10.00", status="pending")   # may still be cancelled
    links_before = len(stub.created())
    for _ in range(2):
        assert call_webhook(paying_client, path, link["provider_payment_id"]).status_code == 200
    assert [(p.amount, p.external_reference) for p in payments_of(invoice["id"])] == [
        (Decimal("339.00"), link["provider_payment_id"]), (Decimal("-39.00"), first)]
    shown = invoice_of(shop, invoice["id"])
    assert (shown["status"], shown["amount_paid"], shown["payment_url"]) == ("deels_betaald", 300.00, None)
    assert len(stub.created()) == links_before   # a refund asks for no new link
    refunded = [e for e in events(shop, "payment.refunded") if e["data"]["invoice_id"] == invoice["id"]]
    assert [e["data"]["amount"] for e in refunded] == [-39.00]


def test_a_full_refund_pending_at_first_is_registered_once_it_is_refunded(shop, paying_client, stub):
    invoice = seed_invoice(shop)
    link = link_for(shop, invoice["id"]).json()
    path = webhook_url(stub)
    stub.pay(link["provider_payment_id"])
    assert call_webhook(paying_client, path, link["provider_payment_id"]).status_code == 200
    refund = stub.refund(link["provider_payment_id"], "339.00", status="pending")
    assert call_webhook(paying_client, path, link["provider_payment_id"]).status_code == 200
    assert [p.amount for p in payments_of(invoice["id"])] == [Decimal("339.00")]   # may still be cancelled
    with stub.lock:
        stub.refunds[link["provider_payment_id"]][0]["status"] = "refunded"
    links_before = len(stub.created())
    for _ in range(2):
        assert call_webhook(paying_client, path, link["provider_payment_id"]).status_code == 200
    assert [(p.amount, p.external_method, p.external_reference) for p in payments_of(invoice["id"])] == [
        (Decimal("339.00"), "mollie", link["provider_payment_id"]), (Decimal("-339.00"), "mollie", refund)]
    shown = invoice_of(shop, invoice["id"])
    assert (shown["status"], shown["amount_paid"], shown["open_amount"], shown["payment_url"]) == (
        "verzonden", 0.00, 339.00, None)
    assert len(stub.created()) == links_before   # the merchant refunded: no new link of PayDock's own
    refunded = [e for e in events(shop, "payment.refunded") if e["data"]["invoice_id"] == invoice["id"]]
    assert [(e["data"]["amount"], e["data"]["external_reference"]) for e in refunded] == [(-339.00, refund)]
    assert count_rows(ProviderTransaction, reference=refund) == 1


def test_an_expired_link_leaves_the_invoice(shop, paying_client, stub):
    invoice = seed_invoice(shop)
    link = link_for(shop, invoice["id"]).json()
    stub.expire(link["provider_payment_id"])
    assert call_webhook(paying_client, webhook_url(stub), link["provider_payment_id"]).status_code == 200
    shown = invoice_of(shop, invoice["id"])
    assert (shown["status"], shown["payment_url"]) == ("verzonden", None)
    again = link_for(shop, invoice["id"])
    assert again.status_code == 201   # a new one, the old is dead
    assert again.json()["provider_payment_id"] != link["provider_payment_id"]
    first, second = (r["headers"]["idempotency-key"] for r in stub.requests if r["method"] == "POST"
                     and r["body"]["metadata"]["paydock_invoice_id"] == invoice["id"])
    assert first != second   # another intent: the provider is not asked to replay the dead payment


def snapshot(invoice_id) -> tuple:
    with db.database.connection_context():
        row = Invoice.get_by_id(invoice_id)
        links = [(r.status, r.payment_id)
                 for r in PaymentLink.select().where(PaymentLink.invoice == invoice_id)]
        return (row.status, row.amount_paid, row.payment_url, links, Payment.select().where(
            Payment.invoice == invoice_id).count(), ProviderTransaction.select().count())


def test_an_unknown_or_another_administrations_payment_id_is_200_and_changes_nothing(
        shop, paying_client, stub):
    mine = seed_invoice(shop)
    link_for(shop, mine["id"])
    my_path = webhook_url(stub)
    other = _tenant(paying_client, "Ander BV")
    theirs = seed_invoice(other)
    their_link = link_for(other, theirs["id"]).json()
    stub.pay(their_link["provider_payment_id"])
    before = (snapshot(mine["id"]), snapshot(theirs["id"]), len(stub.requests), len(events(shop)),
              len(events(other)))
    for payment_id in (their_link["provider_payment_id"], "tr_unknown0000", "tr_"):
        response = call_webhook(paying_client, my_path, payment_id)
        assert response.status_code == 200, response.text
    assert (snapshot(mine["id"]), snapshot(theirs["id"]), len(stub.requests), len(events(shop)),
            len(events(other))) == before
    # An unknown token is not a webhook at all.
    response = call_webhook(paying_client, "/api/providers/mollie/webhook/not-a-token", "tr_x")
    assert response.status_code == 404


def test_mollie_unreachable_is_503_and_changes_nothing(shop, paying_client, unreachable_client, stub):
    invoice = seed_invoice(shop)
    link = link_for(shop, invoice["id"]).json()
    path = webhook_url(stub)
    stub.pay(link["provider_payment_id"])
    before = snapshot(invoice["id"])
    response = call_webhook(unreachable_client, path, link["provider_payment_id"])
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "Mollie" in response.json()["detail"]
    assert snapshot(invoice["id"]) == before

    other = seed_invoice(shop)
    offline = Tenant(shop.administration_id, shop.key, unreachable_client)
    refused = offline.post(f"/api/invoices/{other['id']}/payment-link")
    assert refused.status_code == 503 and refused.headers["content-type"] == "application/problem+json"
    status, paid, url, links, payments, _ = snapshot(other["id"])
    assert (status, paid, url, links, payments) == ("verzonden", Decimal("0.00"), None, [], 0)

    # Mollie calls again once it is back: the payment is registered then, once.
    assert call_webhook(paying_client, path, link["provider_payment_id"]).status_code == 200
    assert invoice_of(shop, invoice["id"])["status"] == "betaald"


@pytest.fixture(scope="module")
def impatient_client(settings, stub):
    """The same PayDock, waiting at most a second for Mollie."""
    with TestClient(_app(settings, mollie_api_key=stub.api_key, mollie_api_url=stub.url, provider_timeout=1),
                    raise_server_exceptions=False) as test_client:
        yield test_client


TROUBLE = {
    "a 503 problem": {"status": 503},
    "a 500 problem": {"status": 500},
    "a 502 html page": {"status": 502, "html": True},
    "too slow": {"status": 200, "delay": 3.0},   # answered after PayDock stopped waiting
}


@pytest.mark.parametrize("trouble", sorted(TROUBLE))
def test_mollie_in_trouble_is_503_and_changes_nothing(shop, impatient_client, stub, trouble):
    invoice = seed_invoice(shop)
    link = link_for(shop, invoice["id"]).json()
    path = webhook_url(stub)
    stub.pay(link["provider_payment_id"])
    other = seed_invoice(shop)
    impatient = Tenant(shop.administration_id, shop.key, impatient_client)
    before = (snapshot(invoice["id"]), snapshot(other["id"]), len(events(shop)), len(stub.created()))
    with stub.trouble(**TROUBLE[trouble]):
        answers = [call_webhook(impatient_client, path, link["provider_payment_id"]),
                   impatient.post(f"/api/invoices/{other['id']}/payment-link")]
    for response in answers:
        assert response.status_code == 503, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert "Mollie" in response.json()["detail"]
    assert (snapshot(invoice["id"]), snapshot(other["id"]), len(events(shop)), len(stub.created())) == before
    # Mollie calls again once it is well: the payment is registered then, once.
    assert call_webhook(impatient_client, path, link["provider_payment_id"]).status_code == 200
    assert invoice_of(shop, invoice["id"])["status"] == "betaald"
    assert [p.amount for p in payments_of(invoice["id"])] == [Decimal("339.00")]


def test_when_the_link_for_the_rest_cannot_be_made_mollie_is_asked_to_call_again(
        shop, paying_client, stub):
    """A partial payment is registered; making the link for the rest then fails at Mollie. The
    answer is 503 so that Mollie calls again, and that call makes the link (the payment stays
    registered once)."""
    invoice = seed_invoice(shop)
    link = link_for(shop, invoice["id"]).json()
    path = webhook_url(stub)
    stub.pay(link["provider_payment_id"], amount="135.60")
    links_before = len(stub.created())
    with stub.trouble(503, methods=("POST",)):
        refused = call_webhook(paying_client, path, link["provider_payment_id"])
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    shown = invoice_of(shop, invoice["id"])
    assert (shown["status"], shown["amount_paid"], shown["payment_url"]) == ("deels_betaald", 135.60, None)
    assert len(stub.created()) == links_before
    assert call_webhook(paying_client, path, link["provider_payment_id"]).status_code == 200
    assert [p.amount for p in payments_of(invoice["id"])] == [Decimal("135.60")]
    assert stub.created()[links_before:] == [{**stub.created()[-1], "amount": {"currency": "EUR",
                                                                               "value": "203.40"}}]
    rest = list(stub.payments)[-1]   # the payment made last
    assert invoice_of(shop, invoice["id"])["payment_url"] == stub.payments[rest]["_links"]["checkout"]["href"]
    # A third call finds the rest's link made: nothing more.
    assert call_webhook(paying_client, path, link["provider_payment_id"]).status_code == 200
    assert len(stub.created()) == links_before + 1


def test_concurrent_webhook_calls_register_the_payment_once(shop, stub, settings):
    """Mollie may call twice at the same moment: both read the paid payment, one registers it."""
    import threading

    from models.payment_links import checkout, process_provider_webhook

    invoice = seed_invoice(shop)
    link = link_for(shop, invoice["id"]).json()
    token = webhook_url(stub).rsplit("/", 1)[1]
    stub.pay(link["provider_payment_id"])
    configured = checkout(replace(settings, mollie_api_key=stub.api_key, mollie_api_url=stub.url,
                                  public_base_url=PUBLIC))
    start, failures = threading.Barrier(4), []

    def call():
        try:
            start.wait(timeout=10)
            with db.database.connection_context():
                process_provider_webhook(token, link["provider_payment_id"], configured)
        except Exception as exc:   # noqa: BLE001 - collected and asserted below
            failures.append(exc)

    threads = [threading.Thread(target=call) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert [p.amount for p in payments_of(invoice["id"])] == [Decimal("339.00")]
    assert invoice_of(shop, invoice["id"])["status"] == "betaald"


def test_links_asked_for_at_the_same_moment_are_one_provider_payment(shop, stub, settings):
    """Four requests race for one invoice's link while Mollie takes a second to answer: each
    asks Mollie with the same Idempotency-Key, Mollie makes one payment, and PayDock stores
    one link and shows it (one request made it, the others answer that link)."""
    import threading

    from models.payment_links import checkout, create_payment_link

    invoice = seed_invoice(shop)
    configured = checkout(replace(settings, mollie_api_key=stub.api_key, mollie_api_url=stub.url,
                                  public_base_url=PUBLIC))
    start, results, failures = threading.Barrier(4), [], []
    updated_before = len(events(shop, "invoice.updated"))

    def call():
        try:
            start.wait(timeout=10)
            with db.database.connection_context():
                results.append(create_payment_link(shop.administration_id, invoice["id"], configured))
        except Exception as exc:   # noqa: BLE001 - collected and asserted below
            failures.append(exc)

    stub.create_delay = 1.0
    try:
        threads = [threading.Thread(target=call) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    finally:
        stub.create_delay = 0.0
    assert failures == []
    asked = [r for r in stub.requests if r["method"] == "POST"
             and r["body"]["metadata"]["paydock_invoice_id"] == invoice["id"]]
    # All four reach Mollie unless one starts a second late (then it finds the stored link).
    assert 2 <= len(asked) <= 4
    assert len({r["headers"]["idempotency-key"] for r in asked}) == 1
    made = {link.provider_payment_id for link, _ in results}
    assert len(made) == 1 and len(results) == 4
    assert sorted(created for _, created in results) == [False, False, False, True]
    payment_id = made.pop()
    assert [p["id"] for p in stub.payments.values()
            if p["metadata"]["paydock_invoice_id"] == invoice["id"]] == [payment_id]
    with db.database.connection_context():
        assert PaymentLink.select().where(PaymentLink.invoice == invoice["id"]).count() == 1
    assert invoice_of(shop, invoice["id"])["payment_url"] == \
        stub.payments[payment_id]["_links"]["checkout"]["href"]
    assert len(events(shop, "invoice.updated")) == updated_before + 1   # the one link shown
