"""`paydock worker` sends e-mail on a thread of its own: an SMTP server that keeps the
worker waiting in the middle of a message holds up neither webhook deliveries nor their
recording (on SQLite the e-mail thread takes the writer's turn only for its own short
writes, never while the server is talking), and stopping the worker lets the message in
flight finish and be recorded."""

from __future__ import annotations

import threading
import time

from models import db
from models.webhooks import WebhookDelivery, WebhookEndpoint
from tests.sending.conftest import contact, deliveries, invoice, seller_ready
from tests.sending.smtpserver import SmtpServer
from tests.webhooks.conftest import add_endpoint
from tests.webhooks.receiver import Receiver


def wait_until(condition, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def delivered(endpoint_id: str, event_type: str) -> bool:
    with db.database.connection_context():
        return any(d.event.type == event_type for d in WebhookDelivery.select().where(
            WebhookDelivery.endpoint == endpoint_id, WebhookDelivery.status == "delivered"))


def test_a_message_held_in_smtp_holds_up_no_webhook(tenant, make_worker, clock):
    seller_ready(tenant)
    issued = invoice(tenant, contact(tenant)["id"])
    with SmtpServer() as smtp, Receiver() as receiver:
        endpoint = add_endpoint(tenant, receiver.url(), events=["contact.created"])
        worker = make_worker(clock, smtp_url=smtp.url, smtp_timeout=30.0, worker_poll_interval=0.05)
        running = threading.Thread(target=worker.run, name="worker")
        try:
            smtp.hold_data()  # the server takes the message and then says nothing
            queued = tenant.post(f"/api/invoices/{issued['id']}/send").json()
            running.start()
            assert smtp.data_started.wait(30), "the worker never reached DATA"

            # While the e-mail thread waits for the SMTP server, a webhook goes out and is recorded.
            customer = contact(tenant, name="Nieuwe klant BV", external_id=f"NEW-{issued['id']}")
            assert receiver.wait_for(lambda requests: any(
                r.json["data"]["id"] == customer["id"] for r in requests), timeout=30)
            assert wait_until(lambda: delivered(endpoint["id"], "contact.created"))
            assert smtp.messages == []  # still held
            [waiting] = deliveries(tenant, issued["id"])
            assert waiting["status"] == "queued" and waiting["attempts"] == 0

            # Stopping: the message in flight is finished and recorded before `run` returns.
            worker.stop()
            running.join(0.5)  # stopping, while the server still holds the message
            assert running.is_alive()
            smtp.release()
            running.join(30)
            assert not running.is_alive()
        finally:
            worker.stop()
            smtp.release()
            if running.ident is not None:
                running.join(30)
            with db.database.connection_context():
                WebhookEndpoint.update(enabled=False).where(WebhookEndpoint.id == endpoint["id"]).execute()
    [sent] = deliveries(tenant, issued["id"])
    assert sent["status"] == "sent" and sent["attempts"] == 1
    [message] = smtp.messages
    assert message.message["Message-ID"] == queued["message_id"]
