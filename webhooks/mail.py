"""E-mail delivery in `paydock worker`: invoices and payment reminders from the
`invoice_delivery` outbox (models.deliveries), over SMTP or into `.eml` files.

Transports:
- `PAYDOCK_SMTP_URL=smtp://user:pass@host:587`: SMTP, upgraded with STARTTLS when the
  server offers it (certificate verified), then AUTH when a user is given;
  `smtp+ssl://user:pass@host:465`: implicit TLS.
- No SMTP URL: each message is written as `<delivery id>.eml` into `PAYDOCK_MAIL_DIR`
  (by default `mail/` beside the SQLite database), for development and `make run`.

Outcomes: accepted (2xx) → `sent` and the `invoice.sent` / `invoice.reminded` event;
no connection, a timeout, a dropped connection or a 4xx reply → retried after 5 s,
5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h (then `failed`); a 5xx reply →
`failed` at once with the server's reply. Every attempt of a delivery carries its
Message-ID, so a message resent after a worker died mid-send is recognisable as the
same message (and the `.eml` transport overwrites its own file). Time comes from the
injectable clock, so tests never sleep.
"""

from __future__ import annotations

import contextlib
import logging
import os
import smtplib
import ssl
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import unquote, urlparse

from models import deliveries, documents, serialize
from models.db import database, utcnow
from models.deliveries import InvoiceDelivery
from models.documents.mail import invoice_email, reminder_email
from models.documents.reminder import reminder_pdf
from models.errors import DomainError
from models.reminders import business_day, pay_by_for, statutory_collection_costs

log = logging.getLogger("paydock.mail")

Clock = Callable[[], datetime]
FALLBACK_SENDER = "noreply@paydock.invalid"


class MailError(Exception):
    """A failed attempt; `temporary` ones are retried."""

    def __init__(self, text: str, *, temporary: bool) -> None:
        super().__init__(text)
        self.text = text
        self.temporary = temporary


# ------------------------------------------------------------------ transports

class SmtpTransport:
    """Sends over SMTP (`smtp://` with STARTTLS when offered, `smtp+ssl://` implicit TLS)."""

    def __init__(self, url: str, timeout: float = 30.0) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in {"smtp", "smtp+ssl", "smtps"} or not parsed.hostname:
            raise ValueError(f"PAYDOCK_SMTP_URL must be smtp://[user:pass@]host[:port] or smtp+ssl://…, "
                             f"not {url!r}")
        self.implicit_tls = parsed.scheme in {"smtp+ssl", "smtps"}
        self.host = parsed.hostname
        self.port = parsed.port or (465 if self.implicit_tls else 587)
        self.user = unquote(parsed.username) if parsed.username else None
        self.password = unquote(parsed.password) if parsed.password else ""
        self.timeout = timeout

    def describe(self) -> str:
        return f"SMTP {'with implicit TLS ' if self.implicit_tls else ''}to {self.host}:{self.port}"

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        try:
            self._send(message, sender, recipient)
        except smtplib.SMTPRecipientsRefused as exc:
            code, reply = next(iter(exc.recipients.values()))
            raise MailError(_reply(code, reply), temporary=400 <= code < 500) from None
        except smtplib.SMTPResponseException as exc:  # sender refused, data refused, auth, …
            temporary = 400 <= exc.smtp_code < 500
            raise MailError(_reply(exc.smtp_code, exc.smtp_error), temporary=temporary) from None
        except smtplib.SMTPNotSupportedError as exc:
            raise MailError(f"SMTP server does not support it: {exc}", temporary=False) from None
        except (smtplib.SMTPException, OSError) as exc:  # refused, unreachable, timeout, dropped
            raise MailError(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__,
                            temporary=True) from None

    def _send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        context = ssl.create_default_context()
        client: smtplib.SMTP
        if self.implicit_tls:
            client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        with client:
            client.ehlo()
            if not self.implicit_tls and client.has_extn("starttls"):
                client.starttls(context=context)
                client.ehlo()
            if self.user:
                client.login(self.user, self.password)
            client.send_message(message, from_addr=sender, to_addrs=[recipient])


def _reply(code: int, text) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {text}".strip()


class DirectoryTransport:
    """Writes each message as `<delivery id>.eml` into a folder (no mail server needed)."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def describe(self) -> str:
        return f".eml files in {self.directory}"

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            name = message["Message-ID"].strip("<>").partition("@")[0] + ".eml"
            # Written whole, then renamed: a reader never sees half a message, and a resend
            # after a crash replaces the file instead of adding a second one.
            fd, temporary = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
            with os.fdopen(fd, "wb") as out:
                out.write(message.as_bytes())
            os.replace(temporary, self.directory / name)
        except OSError as exc:
            raise MailError(f"cannot write to {self.directory}: {exc}", temporary=True) from None


def transport_from_settings(settings):
    if settings.smtp_url:
        return SmtpTransport(settings.smtp_url, settings.smtp_timeout)
    return DirectoryTransport(settings.mail_directory)


# ------------------------------------------------------------------ the sender

class MailSender:
    """Sends due invoice e-mails one at a time, in `paydock worker`: on a thread of its own
    (`DeliveryWorker.run`) or as part of a pass (`run_once`).

    It holds a database connection only for its short reads and writes, never while the
    SMTP server is talking, and takes `writing()` (the worker's SQLite writer turn) around
    each write."""

    def __init__(self, settings, *, clock: Clock = utcnow, transport=None,
                 next_attempt_after: Callable[[int, datetime], datetime | None],
                 writing: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext) -> None:
        self.transport = transport or transport_from_settings(settings)
        self.sender = settings.mail_from
        self.clock = clock
        self.lease = timedelta(seconds=2 * settings.smtp_timeout + 5)
        self.next_attempt_after = next_attempt_after
        self.writing = writing
        self.stopping: Callable[[], bool] = lambda: False

    @contextlib.contextmanager
    def _write(self):
        with database.connection_context(), self.writing():
            yield

    def run_once(self, max_messages: int = 1000) -> int:
        """Send every delivery due now; returns the attempts made."""
        attempts = 0
        for _ in range(max_messages):
            if self.stopping():
                break
            now = self.clock()
            with database.connection_context():
                if not deliveries.delivery_due(now):  # a read: nothing due needs no write turn
                    break
            with self._write():
                delivery = deliveries.claim_due_delivery(now, self.lease)
            if delivery is None:
                break
            attempts += self.deliver(delivery)
        return attempts

    def deliver(self, delivery: InvoiceDelivery) -> int:
        """One attempt at a leased delivery, recorded; returns 1 if an attempt was made."""
        attempted_at = self.clock()
        try:
            with database.connection_context():
                prepared = self.prepare(delivery, attempted_at)
        except DomainError as exc:
            # The message cannot be made (e.g. seller details UBL needs were removed): no retry helps.
            with self._write():
                deliveries.record_failure(delivery, attempted_at, self.clock(), f"not sent: {exc.detail}",
                                          None)
            return 1
        if isinstance(prepared, str):
            with self._write():
                deliveries.record_cancelled(delivery, attempted_at, prepared)
            log.info("reminder %s cancelled: %s", delivery.id, prepared)
            return 0
        message, sender, facts = prepared
        try:
            self.transport.send(message, sender, delivery.recipient)
        except MailError as exc:
            retry_at = self.next_attempt_after(delivery.failures + 1, self.clock()) if exc.temporary else None
            with self._write():
                deliveries.record_failure(delivery, attempted_at, self.clock(), exc.text, retry_at)
            log.info("e-mail %s to %s not sent (%s): %s", delivery.id, delivery.recipient,
                     "will retry" if retry_at else "failed", exc.text)
            return 1
        with self._write():
            recorded = deliveries.record_sent(delivery, attempted_at, self.clock(), **facts)
        if not recorded:
            log.warning("e-mail %s was sent but its lease had passed to another worker", delivery.id)
        else:
            log.info("e-mail %s (%s %s) sent to %s", delivery.id, delivery.kind, delivery.invoice_number,
                     delivery.recipient)
        return 1

    def prepare(self, delivery: InvoiceDelivery, now: datetime):
        """The message to send, its sender and what a reminder states; for a reminder whose
        invoice is no longer open, the reason it is cancelled instead (a string). Reads only."""
        invoice, seller, preceding = documents.invoice_sources(delivery.administration_id,
                                                               delivery.invoice_id)
        sender = self.sender or seller.get("email") or FALLBACK_SENDER
        row = serialize.invoice_delivery(delivery)
        if delivery.kind != "reminder":
            pdf = documents.invoice_pdf(invoice, seller, preceding)
            ubl = documents.invoice_ubl(invoice, seller, preceding) if delivery.attach_ubl else None
            return invoice_email(sender=sender, seller=seller, delivery=row, invoice=invoice, pdf=pdf,
                                 ubl=ubl, sent_at=now), sender, {}
        if invoice["status"] not in ("verzonden", "deels_betaald") or invoice["open_amount"] <= 0:
            return f"not sent: the invoice is {invoice['status']}"
        # The letter states the amounts and the term as they are on the day it goes out.
        letter_date = business_day(now)
        open_amount = invoice["open_amount"]
        costs = statutory_collection_costs(open_amount) if delivery.reminder_kind != "reminder" else None
        pay_by = pay_by_for(letter_date) if delivery.reminder_pay_by is not None else None
        reminder = {**row["reminder"], "open_amount": open_amount, "collection_costs": costs,
                    "pay_by": pay_by}
        row["reminder"] = reminder
        pdf = reminder_pdf(invoice, seller, reminder, delivery.message or "", letter_date)
        message = reminder_email(sender=sender, seller=seller, delivery=row, invoice=invoice, pdf=pdf,
                                 letter_date=letter_date, sent_at=now)
        return message, sender, {"open_amount": open_amount, "collection_costs": costs, "pay_by": pay_by}
