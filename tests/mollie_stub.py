"""A stand-in for Mollie's Payments API v2 on loopback, for tests.

It answers `POST /v2/payments` (a repeated `Idempotency-Key` gets the first answer again),
`GET /v2/payments/{id}` and `GET /v2/payments/{id}/refunds`
with the request and response shapes of Mollie's API reference (amounts as
`{"currency": "EUR", "value": "10.00"}`, HAL `_links` with `checkout`, errors as
`{"status", "title", "detail"}` problems, `application/hal+json`), and keeps every request
it received. Tests play the customer and the merchant with `pay`, `expire` and `refund`,
and an outage with `trouble` (error answers, or answers slower than PayDock waits).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

AMOUNT = re.compile(r"^\d+\.\d{2}$")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class MollieStub:
    """Mollie's payments API on 127.0.0.1:<free port>; use as a context manager."""

    def __init__(self, api_key: str = "test_paydockstubkey00000000000000") -> None:
        self.api_key = api_key
        self.payments: dict[str, dict] = {}
        self.refunds: dict[str, list[dict]] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        #: While set (see `trouble`): how requests are answered instead of by the API.
        self.fault: dict | None = None
        #: Idempotency-Key -> the answer to the first POST /v2/payments that carried it.
        self.idempotent: dict[str, tuple[int, dict]] = {}
        #: Seconds a POST /v2/payments waits before it is answered (requests that race).
        self.create_delay = 0.0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1},
                                       daemon=True)

    def __enter__(self) -> MollieStub:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    # ---------------------------------------------------------------- what tests do

    def created(self) -> list[dict]:
        """The bodies of every POST /v2/payments, in order."""
        return [r["body"] for r in self.requests if r["method"] == "POST" and r["path"] == "/v2/payments"]

    def pay(self, payment_id: str, amount: str | None = None) -> None:
        """The customer pays (for `amount`, when the payment was for something else)."""
        with self.lock:
            payment = self.payments[payment_id]
            if amount is not None:
                payment["amount"] = {"currency": "EUR", "value": amount}
            payment.update(status="paid", paidAt=_now(), isCancelable=False)
            payment["amountRefunded"] = {"currency": "EUR", "value": "0.00"}
            payment["amountRemaining"] = dict(payment["amount"])
            payment.pop("expiresAt", None)
            payment["_links"].pop("checkout", None)

    def expire(self, payment_id: str) -> None:
        with self.lock:
            payment = self.payments[payment_id]
            payment.update(status="expired", expiredAt=_now())
            payment.pop("expiresAt", None)
            payment["_links"].pop("checkout", None)

    def refund(self, payment_id: str, amount: str, status: str = "refunded") -> str:
        """The merchant refunds part of a paid payment in Mollie's dashboard."""
        with self.lock:
            payment = self.payments[payment_id]
            refund_id = "re_" + secrets.token_hex(5)
            self.refunds.setdefault(payment_id, []).append({
                "resource": "refund", "id": refund_id, "amount": {"currency": "EUR", "value": amount},
                "status": status, "createdAt": _now(), "description": "Terugbetaling", "metadata": None,
                "paymentId": payment_id,
                "_links": {"self": {"href": f"{self.url}/v2/payments/{payment_id}/refunds/{refund_id}",
                                    "type": "application/hal+json"}},
            })
            refunded = sum(Decimal(r["amount"]["value"]) for r in self.refunds[payment_id])
            paid = Decimal(payment["amount"]["value"])
            payment["amountRefunded"] = {"currency": "EUR", "value": f"{refunded:.2f}"}
            payment["amountRemaining"] = {"currency": "EUR", "value": f"{paid - refunded:.2f}"}
            payment["_links"]["refunds"] = {"href": f"{self.url}/v2/payments/{payment_id}/refunds",
                                            "type": "application/hal+json"}
            return refund_id

    @contextmanager
    def trouble(self, status: int = 503, *, html: bool = False, delay: float = 0.0,
                methods: tuple[str, ...] = ("GET", "POST")):
        """Mollie in trouble while the block runs: requests with these methods are answered
        `status` (a Mollie problem, or a load balancer's HTML page when `html`), after `delay`
        seconds (at most 5) when it is set. Such requests are not recorded as API calls."""
        self.fault = {"status": status, "html": html, "delay": min(delay, 5.0), "methods": methods}
        try:
            yield self
        finally:
            self.fault = None

    def _faulty(self, method: str) -> tuple[int, bytes, str] | None:
        fault = self.fault
        if fault is None or method not in fault["methods"]:
            return None
        if fault["delay"]:
            time.sleep(fault["delay"])
        if fault["html"]:
            return fault["status"], b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html"
        body = {"status": fault["status"], "title": "Service Unavailable",
                "detail": "Mollie is temporarily unavailable"}
        return fault["status"], json.dumps(body).encode(), "application/hal+json"

    # ---------------------------------------------------------------- the API

    def _create(self, body: dict) -> tuple[int, dict]:
        amount = body.get("amount") or {}
        problems = []
        if not isinstance(amount, dict) or not AMOUNT.match(str(amount.get("value", ""))) \
                or amount.get("currency") != "EUR":
            problems.append(("amount", "The amount is invalid"))
        for field in ("description", "redirectUrl"):
            if not body.get(field):
                problems.append((field, f"The {field} is missing"))
        if problems:
            field, detail = problems[0]
            return 422, {"status": 422, "title": "Unprocessable Entity", "detail": detail, "field": field,
                         "_links": {"documentation": {"href": "https://docs.mollie.com/overview/handling-errors",
                                                      "type": "text/html"}}}
        payment_id = "tr_" + secrets.token_hex(5)
        payment = {
            "resource": "payment", "id": payment_id, "mode": "test", "createdAt": _now(),
            "amount": {"currency": amount["currency"], "value": amount["value"]},
            "description": body["description"], "method": None, "metadata": body.get("metadata"),
            "status": "open", "isCancelable": False,
            "expiresAt": (datetime.now(UTC) + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "profileId": "pfl_QkEhN94Ba", "sequenceType": "oneoff", "redirectUrl": body["redirectUrl"],
            "webhookUrl": body.get("webhookUrl"),
            "_links": {
                "self": {"href": f"{self.url}/v2/payments/{payment_id}", "type": "application/hal+json"},
                "checkout": {"href": f"{self.url}/checkout/select-method/{payment_id[3:]}",
                             "type": "text/html"},
                "documentation": {"href": "https://docs.mollie.com/reference/create-payment",
                                  "type": "text/html"},
            },
        }
        self.payments[payment_id] = payment
        return 201, payment

    def _not_found(self, what: str) -> tuple[int, dict]:
        return 404, {"status": 404, "title": "Not Found", "detail": f"No payment exists with token {what}.",
                     "_links": {"documentation": {"href": "https://docs.mollie.com/overview/handling-errors",
                                                  "type": "text/html"}}}

    def answer(self, method: str, path: str, headers: dict, body: dict | None) -> tuple[int, dict]:
        if headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {"status": 401, "title": "Unauthorized Request", "detail": "Missing authentication, "
                         "or failed to authenticate"}
        with self.lock:
            if method == "POST" and path == "/v2/payments":
                # As Mollie: a repeated Idempotency-Key gets the first answer, nothing new.
                key = headers.get("idempotency-key")
                if key and key in self.idempotent:
                    return self.idempotent[key]
                answer = self._create(body or {})
                if key:
                    self.idempotent[key] = answer
                return answer
            found = re.fullmatch(r"/v2/payments/([^/?]+)(/refunds)?", path.split("?")[0])
            if method == "GET" and found:
                payment = self.payments.get(found.group(1))
                if payment is None:
                    return self._not_found(found.group(1))
                if found.group(2):
                    refunds = self.refunds.get(found.group(1), [])
                    return 200, {"count": len(refunds), "_embedded": {"refunds": refunds},
                                 "_links": {"self": {"href": f"{self.url}{path}",
                                                     "type": "application/hal+json"},
                                            "previous": None, "next": None}}
                return 200, payment
        return 404, {"status": 404, "title": "Not Found", "detail": f"No route {method} {path}"}

    def _handler(self):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                body = json.loads(raw) if raw.strip() else None
                headers = {k.lower(): v for k, v in self.headers.items()}
                faulty = stub._faulty(self.command)
                if faulty is not None:
                    status, data, content_type = faulty
                else:
                    stub.requests.append({"method": self.command, "path": self.path, "headers": headers,
                                          "body": body})
                    if self.command == "POST" and stub.create_delay:
                        time.sleep(stub.create_delay)
                    status, answer = stub.answer(self.command, self.path, headers, body)
                    data, content_type = json.dumps(answer).encode(), "application/hal+json"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):   # the caller stopped waiting
                    pass

            do_GET = do_POST = _serve

            def log_message(self, *args) -> None:   # quiet
                pass

        return Handler
