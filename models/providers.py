"""Payment providers behind one small adapter: create a payment, read it back, list its refunds.

Mollie is the first provider (mollie-api-python). A provider's answers are turned into
plain values (`ProviderPayment`, `ProviderRefund`) so the payment-link rules in
models/payment_links.py never see the provider's own objects. Anything that keeps the
provider from answering (unreachable, timeout, a 5xx, an answer that is not its API) is
`ProviderUnavailable` (503): the caller changes nothing and may retry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Protocol

from mollie.api.client import Client as MollieClient
from mollie.api.error import Error as MollieError
from mollie.api.error import NotFoundError as MollieNotFound

from models.errors import Unavailable


class ProviderUnavailable(Unavailable):
    """The payment provider could not be reached or gave no usable answer (503)."""


@dataclass(frozen=True)
class ProviderPayment:
    id: str
    #: The provider's status; Mollie: open, pending, authorized, paid, canceled, expired, failed.
    status: str
    amount: Decimal
    currency: str
    checkout_url: str | None
    expires_at: datetime | None
    paid_at: datetime | None
    amount_refunded: Decimal


@dataclass(frozen=True)
class ProviderRefund:
    id: str
    #: Mollie: queued, pending, processing, refunded, failed, canceled.
    status: str
    amount: Decimal
    currency: str
    created_at: datetime | None


class PaymentProvider(Protocol):
    name: str

    def create_payment(self, *, amount: Decimal, currency: str, description: str, redirect_url: str,
                       webhook_url: str, metadata: dict, idempotency_key: str) -> ProviderPayment:
        """A new payment; asked again with the same `idempotency_key`, the same payment."""

    def get_payment(self, payment_id: str) -> ProviderPayment | None: ...

    def refunds(self, payment_id: str) -> list[ProviderRefund]: ...


def _amount(value: dict | None) -> tuple[Decimal, str]:
    """Mollie's `{"currency": "EUR", "value": "10.00"}`."""
    if not value:
        return Decimal("0.00"), "EUR"
    try:
        return Decimal(str(value["value"])).quantize(Decimal("0.01")), str(value["currency"])
    except (KeyError, TypeError, InvalidOperation) as exc:
        raise ProviderUnavailable(f"the payment provider sent an unreadable amount: {value!r}") from exc


def _timestamp(value: str | None) -> datetime | None:
    """An ISO 8601 timestamp from the provider as naive UTC (as PayDock stores time)."""
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


class MollieProvider:
    """Mollie's Payments API (v2) through mollie-api-python."""

    name = "mollie"

    def __init__(self, api_key: str, api_url: str, timeout: float) -> None:
        # Connection errors are retried once (https only: the client mounts its retry there).
        seconds = max(1, round(timeout))
        self.client = MollieClient(api_endpoint=api_url, timeout=(seconds, seconds), retry=1)
        self.client.set_api_key(api_key)

    def _call(self, action, *args, **kwargs):
        try:
            return action(*args, **kwargs)
        except MollieNotFound:
            raise
        except MollieError as exc:
            raise ProviderUnavailable(f"Mollie did not answer as expected: {str(exc)[:300]}") from exc

    @staticmethod
    def _payment(data) -> ProviderPayment:
        amount, currency = _amount(data.get("amount"))
        refunded, _ = _amount(data.get("amountRefunded"))
        checkout = (data.get("_links") or {}).get("checkout") or {}
        if not data.get("id") or not data.get("status"):
            raise ProviderUnavailable("Mollie answered without a payment id or status")
        return ProviderPayment(
            id=str(data["id"]), status=str(data["status"]), amount=amount, currency=currency,
            checkout_url=checkout.get("href"), expires_at=_timestamp(data.get("expiresAt")),
            paid_at=_timestamp(data.get("paidAt")), amount_refunded=refunded,
        )

    def create_payment(self, *, amount: Decimal, currency: str, description: str, redirect_url: str,
                       webhook_url: str, metadata: dict, idempotency_key: str) -> ProviderPayment:
        body = {"amount": {"currency": currency, "value": f"{amount:.2f}"}, "description": description,
                "redirectUrl": redirect_url, "webhookUrl": webhook_url, "metadata": metadata}
        try:
            # Mollie answers a repeated Idempotency-Key with the payment it made the first time.
            created = self._call(self.client.payments.create, body, idempotency_key=idempotency_key)
        except MollieNotFound as exc:
            raise ProviderUnavailable(f"Mollie did not answer as expected: {str(exc)[:300]}") from exc
        return self._payment(created)

    def get_payment(self, payment_id: str) -> ProviderPayment | None:
        """The payment, or None when the provider does not know it."""
        try:
            return self._payment(self._call(self.client.payments.get, payment_id))
        except MollieNotFound:
            return None

    def refunds(self, payment_id: str) -> list[ProviderRefund]:
        """Every refund of the payment (GET /v2/payments/{id}/refunds, all pages)."""
        found: list[ProviderRefund] = []
        try:
            page = self._call(self.client.perform_http_call, "GET", f"payments/{payment_id}/refunds",
                              params={"limit": 250})
        except MollieNotFound:
            return found
        for _ in range(100):   # bounded: 100 pages of 250 refunds
            try:
                data = page.json()
            except ValueError as exc:
                raise ProviderUnavailable("Mollie's refund list is not JSON") from exc
            if page.status_code == 404:
                return found
            if not 200 <= page.status_code < 300:
                raise ProviderUnavailable(f"Mollie answered {page.status_code} for refunds of {payment_id}")
            for item in (data.get("_embedded") or {}).get("refunds") or []:
                amount, currency = _amount(item.get("amount"))
                found.append(ProviderRefund(str(item["id"]), str(item.get("status")), amount, currency,
                                            _timestamp(item.get("createdAt"))))
            following = ((data.get("_links") or {}).get("next") or {}).get("href")
            if not following:
                return found
            page = self._call(self.client.perform_http_call, "GET", following)
        return found

