"""A real SMTP server on 127.0.0.1 (aiosmtpd) for the sending tests: it keeps every
message it accepts and can be told how to answer the next commands."""

from __future__ import annotations

import asyncio
import email
import email.policy
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller

from tests.server import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage

    def attachments(self) -> dict[str, tuple[str, bytes]]:
        """filename -> (content type, bytes)."""
        return {part.get_filename(): (part.get_content_type(), part.get_payload(decode=True))
                for part in self.message.iter_attachments()}


class SmtpServer:
    """`with SmtpServer() as smtp:` listens on `smtp.port`; `smtp.url` is PAYDOCK_SMTP_URL.

    `mail_replies`, `rcpt_replies`, `data_replies`: replies to give to the next MAIL, RCPT
    and DATA commands instead of accepting (e.g. "421 …", "550 …"). `hold_data()` makes the
    next DATA wait (bounded) until `release()`, to catch a client mid-send; a client that
    goes away meanwhile ends the session, and the message is kept only if it was accepted
    before the wait."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"smtp://127.0.0.1:{self.port}"
        self.messages: list[Received] = []
        self.mail_replies: list[str] = []
        self.rcpt_replies: list[str] = []
        self.data_replies: list[str] = []
        self.data_started = threading.Event()
        self._held = False
        self._keep_before_hold = False
        self._release = threading.Event()
        self.controller: Controller | None = None

    # ------------------------------------------------------------ control

    def start(self) -> SmtpServer:
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self._release.set()
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> SmtpServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def hold_data(self, *, accepted: bool = False) -> None:
        """Keep the client waiting in the next DATA; with `accepted`, the server already
        holds the message while the client waits for the reply (as after the final dot)."""
        self._held = True
        self._keep_before_hold = accepted
        self._release.clear()
        self.data_started.clear()

    def release(self) -> None:
        self._release.set()

    def wait_for(self, count: int, timeout: float = 60) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.messages) >= count:
                return True
            time.sleep(0.05)
        return False

    # ------------------------------------------------------------ aiosmtpd hooks

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.mail_replies:
            return self.mail_replies.pop(0)
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.data_replies:
            self.data_started.set()
            return self.data_replies.pop(0)
        if self._keep_before_hold:
            self._keep(envelope)
        self.data_started.set()
        if self._held:
            self._held = False
            deadline = time.monotonic() + 60
            while not self._release.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
        if not self._keep_before_hold:
            self._keep(envelope)
        return "250 2.0.0 OK: queued"

    def _keep(self, envelope) -> None:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
