"""`paydock worker` killed (SIGKILL) in the middle of sending a message, then restarted:
the message arrives.

Delivery is at least once. Killed while the server is still receiving the message, the
server drops it and exactly one copy arrives. Killed after the server took the message
but before the worker heard (and recorded) the reply, the server keeps that copy and the
restart sends it again: the duplicate carries the same Message-ID (derived from the
delivery id), which is how mail systems and the recipient recognise it as one message."""

from __future__ import annotations

import time

import pytest

from models import db
from models.db import utcnow
from models.deliveries import InvoiceDelivery
from tests.sending.conftest import contact, deliveries, invoice, seller_ready
from tests.sending.smtpserver import SmtpServer
from tests.webhooks.processes import WorkerProcess


def wait_until(condition, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("server_had_it", [False, True], ids=["while-receiving", "before-the-reply"])
def test_worker_killed_mid_send_then_restarted_delivers_with_the_same_message_id(tenant, settings,
                                                                                  server_had_it):
    seller_ready(tenant)
    issued = invoice(tenant, contact(tenant)["id"])
    with SmtpServer() as smtp:
        smtp.hold_data(accepted=server_had_it)  # the worker is kept waiting in DATA
        env = {"PAYDOCK_SMTP_URL": smtp.url, "PAYDOCK_SMTP_TIMEOUT": "5"}
        queued = tenant.post(f"/api/invoices/{issued['id']}/send").json()
        first = WorkerProcess(settings.database_url, **env).start()
        assert smtp.data_started.wait(60), first.stop()
        first.kill()
        smtp.release()
        [in_flight] = deliveries(tenant, issued["id"])
        assert in_flight["status"] == "queued" and in_flight["attempts"] == 0  # nothing was recorded
        with db.database.connection_context():
            lease = InvoiceDelivery.get_by_id(queued["id"]).lease_until
            assert lease is not None and lease > utcnow()  # the dead worker still holds it
            # Time passes: the dead worker's lease (2 × SMTP timeout + 5 s) runs out.
            InvoiceDelivery.update(lease_until=utcnow()).where(InvoiceDelivery.id == queued["id"]).execute()

        second = WorkerProcess(settings.database_url, **env).start()
        sent = wait_until(lambda: deliveries(tenant, issued["id"])[0]["status"] == "sent")
        assert second.stop() == 0, second.log
        assert sent, second.log

    [delivered] = deliveries(tenant, issued["id"])
    assert delivered["attempts"] == 1  # the killed attempt was never recorded
    # Twice only when the server had taken the killed worker's copy; then both are one message.
    assert len(smtp.messages) == (2 if server_had_it else 1)
    assert {m.message["Message-ID"] for m in smtp.messages} == {queued["message_id"]}
    assert all(m.rcpt_tos == ["info@acme.nl"] for m in smtp.messages)
