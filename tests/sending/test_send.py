"""POST /invoices/{id}/send: issued with the queued message in one transaction, delivered
by the worker over a real SMTP server on 127.0.0.1, retried, failed, once per intent."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from pypdf import PdfReader

from models import db
from models.deliveries import InvoiceDelivery
from models.invoices import Invoice
from tests.api.sales import events
from tests.conftest import count_rows
from tests.documents.test_ubl import assert_valid
from tests.sending.conftest import contact, deliveries, invoice, run_worker, seller_ready
from tests.sending.smtpserver import SmtpServer
from webhooks.worker import RETRY_SCHEDULE


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def drain(worker) -> None:
    """Run worker passes until one finds nothing to do (bounded)."""
    for _ in range(10):
        if run_worker(worker) == 0:
            return
    raise AssertionError("the worker kept finding work")


def send(tenant, invoice_id, body=None, **kw):
    return tenant.post(f"/api/invoices/{invoice_id}/send", body, **kw)


def test_a_sent_concept_arrives_once_with_its_number_pdf_and_valid_ubl(tenant, smtp, make_worker, clock):
    seller_ready(tenant)
    customer = contact(tenant, email="boekhouding@acme.nl")
    concept = invoice(tenant, customer["id"], status="concept")
    assert concept["number"] is None

    response = send(tenant, concept["id"])
    assert response.status_code == 202, response.text
    queued = response.json()
    assert response.headers["location"] == f"/api/invoices/{concept['id']}/deliveries"
    assert queued["status"] == "queued" and queued["attempts"] == 0 and queued["kind"] == "invoice"
    assert queued["recipient"] == "boekhouding@acme.nl" and queued["attach_ubl"] is True
    # Issued in the request that queued the message: number and status are there already.
    issued = tenant.get(f"/api/invoices/{concept['id']}").json()
    assert issued["status"] == "verzonden" and issued["number"]
    assert queued["invoice_number"] == issued["number"]
    assert issued["number"] in queued["subject"]
    assert queued["message_id"] == f"<{queued['id']}@spont.nl>"
    assert smtp.messages == []  # nothing leaves inside the request

    worker = make_worker(clock, smtp_url=smtp.url)
    assert run_worker(worker) >= 1
    drain(worker)  # later passes (the invoice.sent event's fan-out) send nothing again
    [received] = smtp.messages
    assert received.rcpt_tos == ["boekhouding@acme.nl"]
    message = received.message
    assert message["To"] == "boekhouding@acme.nl"
    assert issued["number"] in message["Subject"]
    assert message["Message-ID"] == queued["message_id"]
    # Without PAYDOCK_MAIL_FROM the administration's own address sends.
    assert message["From"] == "Spont Kassasystemen BV <facturen@spont.nl>" and message["Reply-To"] is None
    attachments = received.attachments()
    assert sorted(attachments) == [f"factuur-{issued['number']}.pdf", f"factuur-{issued['number']}.xml"]
    pdf_type, pdf = attachments[f"factuur-{issued['number']}.pdf"]
    assert pdf_type == "application/pdf"
    text = pdf_text(pdf)
    assert issued["number"] in text and "€ 339.00" in text
    xml_type, xml = attachments[f"factuur-{issued['number']}.xml"]
    assert xml_type == "application/xml"
    assert_valid(xml)
    assert f"<cbc:ID>{issued['number']}</cbc:ID>".encode() in xml
    assert "339,00" in message.get_body(("plain",)).get_content()

    [sent] = deliveries(tenant, concept["id"])
    assert sent["status"] == "sent" and sent["attempts"] == 1 and sent["last_error"] is None
    assert sent["sent_at"] is not None and sent["next_attempt_at"] is None
    [event] = events(tenant, "invoice.sent")
    assert event["data"] == sent
    [updated] = [e for e in events(tenant, "invoice.updated") if e.get("previous_status") == "concept"]
    assert updated["data"]["number"] == issued["number"]


def test_a_failing_send_issues_nothing(tenant):
    """The number and the queued message commit together: when the message cannot be
    queued (no address to send to), the concept stays a concept without a number."""
    seller_ready(tenant)
    customer = contact(tenant, email=None)
    concept = invoice(tenant, customer["id"], status="concept")
    response = send(tenant, concept["id"], {"attach_ubl": False})
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["field"] == "email"
    after = tenant.get(f"/api/invoices/{concept['id']}").json()
    assert after["status"] == "concept" and after["number"] is None
    assert deliveries(tenant, concept["id"]) == []
    # The next invoice issued takes the first number: none was used up.
    issued = invoice(tenant, customer["id"])
    assert issued["number"].endswith("-0001")


def test_ubl_needs_the_seller_details_or_nothing_is_issued(tenant):
    customer = contact(tenant)
    concept = invoice(tenant, customer["id"], status="concept")
    response = send(tenant, concept["id"])
    assert response.status_code == 409
    assert "PATCH /administration" in response.json()["detail"]
    assert tenant.get(f"/api/invoices/{concept['id']}").json()["number"] is None
    # Without the UBL the PDF alone can go.
    assert send(tenant, concept["id"], {"attach_ubl": False}).status_code == 202


def test_override_address_message_and_pdf_only(tenant, smtp, make_worker, clock):
    seller_ready(tenant)
    issued = invoice(tenant, contact(tenant)["id"])
    body = {"email": "crediteuren@acme.nl", "message": "Hierbij de factuur van april.", "attach_ubl": False}
    queued = send(tenant, issued["id"], body).json()
    assert (queued["recipient"], queued["message"], queued["attach_ubl"]) == (
        "crediteuren@acme.nl", "Hierbij de factuur van april.", False)
    run_worker(make_worker(clock, smtp_url=smtp.url, mail_from="facturatie@paydock.example"))
    [received] = smtp.messages
    assert received.rcpt_tos == ["crediteuren@acme.nl"]
    assert received.mail_from == "facturatie@paydock.example"
    assert received.message["From"] == "Spont Kassasystemen BV <facturatie@paydock.example>"
    assert received.message["Reply-To"] == "facturen@spont.nl"
    assert list(received.attachments()) == [f"factuur-{issued['number']}.pdf"]
    assert "Hierbij de factuur van april." in received.message.get_body(("plain",)).get_content()


def test_one_idempotency_key_one_message(tenant, smtp, make_worker, clock):
    seller_ready(tenant)
    concept = invoice(tenant, contact(tenant)["id"], status="concept")
    headers = {"Idempotency-Key": f"send-{concept['id']}"}
    first = send(tenant, concept["id"], {}, headers=headers)
    again = send(tenant, concept["id"], {}, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    assert count_rows(InvoiceDelivery, invoice=concept["id"]) == 1
    run_worker(make_worker(clock, smtp_url=smtp.url))
    assert len(smtp.messages) == 1
    # Without the key a second send is a second message, on purpose.
    assert send(tenant, concept["id"], {}).status_code == 202
    run_worker(make_worker(clock, smtp_url=smtp.url))
    assert len(smtp.messages) == 2
    assert smtp.messages[0].message["Message-ID"] != smtp.messages[1].message["Message-ID"]


def test_server_down_then_421_then_delivered_once(tenant, make_worker, clock):
    """Not listening, then 421 (service not available): retried on the schedule with the
    injected clock, delivered on the third attempt, one message."""
    seller_ready(tenant)
    issued = invoice(tenant, contact(tenant)["id"])
    smtp = SmtpServer()  # its port is chosen, nothing listens on it yet
    worker = make_worker(clock, smtp_url=smtp.url)
    assert send(tenant, issued["id"]).status_code == 202

    run_worker(worker)
    [first] = deliveries(tenant, issued["id"])
    assert first["status"] == "queued" and first["attempts"] == 1
    assert "Connection refused" in first["last_error"] or "ConnectionRefused" in first["last_error"]
    assert first["next_attempt_at"] is not None
    assert run_worker(worker) == 0  # not due before its retry time

    with smtp:
        smtp.mail_replies.append("421 4.3.2 Service not available, try again later")
        clock.advance(seconds=RETRY_SCHEDULE[0].total_seconds())
        run_worker(worker)
        [second] = deliveries(tenant, issued["id"])
        assert second["status"] == "queued" and second["attempts"] == 2
        assert second["last_error"].startswith("421 4.3.2 Service not available")
        assert smtp.messages == []

        clock.advance(seconds=RETRY_SCHEDULE[1].total_seconds())
        run_worker(worker)
        run_worker(worker)
    [delivered] = deliveries(tenant, issued["id"])
    assert delivered["status"] == "sent" and delivered["attempts"] == 3 and delivered["last_error"] is None
    assert len(smtp.messages) == 1
    assert smtp.messages[0].message["Message-ID"] == delivered["message_id"]


def test_a_550_fails_the_delivery_with_the_reply(tenant, smtp, make_worker, clock):
    seller_ready(tenant)
    issued = invoice(tenant, contact(tenant, email="onbekend@acme.nl")["id"])
    smtp.rcpt_replies.append("550 5.1.1 <onbekend@acme.nl>: Recipient address rejected: User unknown")
    send(tenant, issued["id"])
    worker = make_worker(clock, smtp_url=smtp.url)
    run_worker(worker)
    [failed] = deliveries(tenant, issued["id"])
    assert failed["status"] == "failed" and failed["attempts"] == 1 and failed["next_attempt_at"] is None
    assert failed["last_error"] == "550 5.1.1 <onbekend@acme.nl>: Recipient address rejected: User unknown"
    clock.advance(days=2)
    run_worker(worker)
    assert smtp.messages == [] and deliveries(tenant, issued["id"])[0]["attempts"] == 1
    assert events(tenant, "invoice.sent") == []


def test_every_retry_failing_ends_failed(tenant, make_worker, clock):
    seller_ready(tenant)
    issued = invoice(tenant, contact(tenant)["id"])
    send(tenant, issued["id"])
    worker = make_worker(clock, smtp_url=SmtpServer().url)  # never listening
    for wait in (timedelta(0), *RETRY_SCHEDULE):
        clock.advance(seconds=wait.total_seconds())
        run_worker(worker)
    [failed] = deliveries(tenant, issued["id"])
    assert failed["status"] == "failed" and failed["attempts"] == len(RETRY_SCHEDULE) + 1


def test_a_credit_note_is_sent_as_one(tenant, smtp, make_worker, clock):
    seller_ready(tenant)
    issued = invoice(tenant, contact(tenant)["id"])
    credit = tenant.post(f"/api/invoices/{issued['id']}/credit", {}).json()
    send(tenant, credit["id"])
    run_worker(make_worker(clock, smtp_url=smtp.url))
    [received] = smtp.messages
    _, xml = received.attachments()[f"factuur-{credit['number']}.xml"]
    assert_valid(xml)
    assert b"<CreditNote" in xml and issued["number"].encode() in xml


@pytest.mark.parametrize("path", ["send", "deliveries", "reminders"])
def test_another_administrations_invoice_is_404(tenant, other_tenant, path):
    seller_ready(tenant)
    issued = invoice(tenant, contact(tenant)["id"])
    url = f"/api/invoices/{issued['id']}/{path}"
    response = other_tenant.post(url, {}) if path == "send" else other_tenant.get(url)
    assert response.status_code == 404
    assert response.json()["status"] == 404
    assert deliveries(tenant, issued["id"]) == []
    with db.database.connection_context():
        assert Invoice.get_by_id(issued["id"]).status == "verzonden"


def test_unknown_invoice_is_404_and_a_malformed_id_400(tenant):
    for invoice_id, status in (("0b6a4a8e-9c55-4d0b-8d1f-0f2b6f0c1a11", 404), ("not-a-uuid", 400)):
        assert tenant.post(f"/api/invoices/{invoice_id}/send", {}).status_code == status
        assert tenant.get(f"/api/invoices/{invoice_id}/deliveries").status_code == status
        assert tenant.get(f"/api/invoices/{invoice_id}/reminders").status_code == status


def test_send_needs_the_write_scope(make_tenant):
    reader = make_tenant(scopes=("read",))
    response = reader.post("/api/invoices/0b6a4a8e-9c55-4d0b-8d1f-0f2b6f0c1a11/send", {})
    assert response.status_code == 403
