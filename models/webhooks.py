"""Webhook endpoints of an administration and the delivery log of their events.

Deliveries are created by the worker (`webhooks.outbox.dispatch_events`) from the event
outbox, one per (endpoint, event), and sent by `webhooks.worker`. This module holds what
the API does with them.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import peewee

from models.audit import record_audit
from models.db import Leased, RetriedSend, TenantModel, database, utcnow
from models.errors import Conflict, Invalid
from models.events import EVENT_TYPES, Event
from models.listing import Page, paginate
from models.tenancy import Administration
from webhooks.signing import new_secret
from webhooks.urls import UnsafeUrl, UrlPolicy, check_url

#: How long the previous secret still signs deliveries after a rotation.
ROTATION_OVERLAP = timedelta(hours=24)
#: Endpoints per administration.
MAX_ENDPOINTS = 50
DELIVERY_STATUSES = ("pending", "delivered", "failed")


class WebhookEndpoint(TenantModel, Leased):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    administration_id: uuid.UUID
    url = peewee.CharField(max_length=2000)
    description = peewee.CharField(max_length=500, null=True)
    #: Comma-separated event types; empty means every event.
    events = peewee.TextField(default="")
    enabled = peewee.BooleanField(default=True)
    secret = peewee.CharField(max_length=100)
    previous_secret = peewee.CharField(max_length=100, null=True)
    previous_secret_expires_at = peewee.DateTimeField(null=True)
    #: Start of the current run of failed attempts (NULL after a success).
    failing_since = peewee.DateTimeField(null=True)
    disabled_reason = peewee.TextField(null=True)
    #: A worker owns the endpoint's deliveries until `lease_until` (see webhooks.worker).
    lease_token = peewee.CharField(max_length=36, null=True)
    last_claimed_at = peewee.DateTimeField(null=True)
    #: No attempt before then: the receiver asked to wait (`Retry-After`) or did not answer.
    paused_until = peewee.DateTimeField(null=True)
    #: Start of the latest attempt, which paces the next (PAYDOCK_WEBHOOK_MAX_PER_SECOND).
    last_attempt_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "webhook_endpoint"
        indexes = ((("administration", "created_at", "id"), False),)

    @property
    def event_types(self) -> list[str]:
        return [t for t in self.events.split(",") if t]

    def wants(self, event_type: str) -> bool:
        return not self.events or event_type in self.event_types

    def signing_secrets(self, now) -> list[str]:
        """The current secret, and the previous one while its overlap lasts."""
        current = [self.secret]
        if self.previous_secret and self.previous_secret_expires_at and \
                self.previous_secret_expires_at > now:
            current.append(self.previous_secret)
        return current


class WebhookDelivery(TenantModel, RetriedSend):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE")
    endpoint = peewee.ForeignKeyField(WebhookEndpoint, on_delete="CASCADE")
    event = peewee.ForeignKeyField(Event, on_delete="CASCADE")
    #: The event's commit-safe order, copied so due deliveries sort by an index.
    event_xact_id = peewee.BigIntegerField(default=0)
    event_seq = peewee.BigIntegerField(default=0)
    status = peewee.CharField(max_length=16, default="pending")
    response_status = peewee.IntegerField(null=True)
    response_time_ms = peewee.IntegerField(null=True)
    last_error = peewee.CharField(max_length=500, null=True)
    delivered_at = peewee.DateTimeField(null=True)

    class Meta:
        table_name = "webhook_delivery"
        indexes = (
            (("endpoint", "event"), True),
            (("administration", "endpoint", "status", "next_attempt_at"), False),
            (("administration", "endpoint", "status", "event_xact_id", "event_seq"), False),
        )

    @property
    def webhook_id(self) -> str:
        """The `webhook-id` header: the same for every attempt, so receivers can deduplicate."""
        return f"msg_{self.id.hex}"


# An endpoint's delivery log in the order its events happened (GET .../deliveries), unsorted.
WebhookDelivery.add_index(WebhookDelivery.index(
    WebhookDelivery.administration, WebhookDelivery.endpoint, WebhookDelivery.event_xact_id,
    WebhookDelivery.event_seq, WebhookDelivery.id, name="webhook_delivery_log_order_idx"))


def _checked_url(url: str, policy: UrlPolicy) -> str:
    """The URL if `policy` lets PayDock call it (resolving its host now), else a 422."""
    try:
        check_url(url, policy)
    except UnsafeUrl as exc:
        raise Invalid.field("url", str(exc)) from None
    return url


def _event_list(events) -> str:
    unknown = [t for t in events if t not in EVENT_TYPES]
    if unknown:
        raise Invalid.field("events", f"unknown event type {unknown[0]!r}")
    return ",".join(dict.fromkeys(events))


def _audit(endpoint: WebhookEndpoint, action: str, acting_key_id, details: dict) -> None:
    """The audit entry of an endpoint change (never with a secret)."""
    record_audit(endpoint.administration_id, action, "webhook_endpoint", endpoint.id,
                 actor_key_id=acting_key_id, details=details)


def _described(endpoint: WebhookEndpoint) -> dict:
    return {"url": endpoint.url, "events": endpoint.event_types, "enabled": endpoint.enabled}


def create_endpoint(administration_id, data: dict, *, policy: UrlPolicy,
                    acting_key_id=None) -> WebhookEndpoint:
    """A new enabled endpoint with a fresh secret (returned once, by the caller).

    `policy` says which URLs may be called (the settings' webhook_url_policy); `acting_key_id`
    (here and below) is the API key that asked, for the audit log."""
    url = _checked_url(data["url"], policy)  # DNS outside the transaction
    with database.atomic():
        if WebhookEndpoint.of(administration_id).count() >= MAX_ENDPOINTS:
            raise Conflict(f"an administration can have at most {MAX_ENDPOINTS} webhook endpoints")
        endpoint = WebhookEndpoint.create(
            administration=administration_id,
            url=url,
            description=data.get("description"),
            events=_event_list(data.get("events") or []),
            enabled=data.get("enabled", True),
            secret=new_secret(),
        )
        _audit(endpoint, "webhook_endpoint.created", acting_key_id, _described(endpoint))
        return endpoint


def update_endpoint(administration_id, endpoint_id, data: dict, *, policy: UrlPolicy,
                    acting_key_id=None) -> WebhookEndpoint:
    """PATCH: change only the given fields (a new URL must pass `policy`). Enabling clears the
    reason it was disabled."""
    url = _checked_url(data["url"], policy) if "url" in data else None
    with database.atomic():
        endpoint = WebhookEndpoint.get_owned(administration_id, endpoint_id)
        before = _described(endpoint)
        if url is not None:
            endpoint.url = url
        if "description" in data:
            endpoint.description = data["description"]
        if "events" in data:
            endpoint.events = _event_list(data["events"] or [])
        if "enabled" in data and data["enabled"] != endpoint.enabled:
            endpoint.enabled = data["enabled"]
            endpoint.disabled_reason = None
            endpoint.failing_since = None
        endpoint.updated_at = utcnow()
        endpoint.save()
        after = _described(endpoint)
        changed = {name: after[name] for name in after if after[name] != before[name]}
        if "description" in data:
            changed["description"] = endpoint.description
        _audit(endpoint, "webhook_endpoint.updated", acting_key_id, changed)
        return endpoint


@database.atomic()
def delete_endpoint(administration_id, endpoint_id, acting_key_id=None) -> None:
    """Delete an endpoint and its delivery log."""
    endpoint = WebhookEndpoint.get_owned(administration_id, endpoint_id)
    _audit(endpoint, "webhook_endpoint.deleted", acting_key_id, {"url": endpoint.url})
    endpoint.delete_instance()


@database.atomic()
def rotate_secret(administration_id, endpoint_id, acting_key_id=None) -> WebhookEndpoint:
    """A new secret; the one it replaces keeps signing (alongside) for 24 hours."""
    endpoint = WebhookEndpoint.get_owned(administration_id, endpoint_id)
    now = utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    endpoint.save()
    _audit(endpoint, "webhook_endpoint.secret_rotated", acting_key_id,
           {"previous_secret_expires_at": now + ROTATION_OVERLAP})
    return endpoint


def get_endpoint(administration_id, endpoint_id) -> WebhookEndpoint:
    """One of the administration's webhook endpoints, or NotFound."""
    return WebhookEndpoint.get_owned(administration_id, endpoint_id)


def list_endpoints(administration_id, *, limit=100, offset=0,
                   starting_after=None, ending_before=None) -> Page:
    return paginate(WebhookEndpoint.of(administration_id), WebhookEndpoint, limit=limit, offset=offset,
                    administration_id=administration_id, starting_after=starting_after,
                    ending_before=ending_before)


def _deliveries():
    return WebhookDelivery.select(WebhookDelivery, Event.id, Event.type).join(Event)


def list_deliveries(administration_id, endpoint_id, *, limit=100, offset=0, status: str | None = None,
                    event_id=None, starting_after=None, ending_before=None) -> Page:
    """An endpoint's delivery log in the order its events happened; `status` is a
    comma-separated filter such as `pending,failed`."""
    endpoint = WebhookEndpoint.get_owned(administration_id, endpoint_id)
    query = _deliveries().where(
        WebhookDelivery.administration == administration_id,
        WebhookDelivery.endpoint == endpoint.id,
    )
    if status:
        query = query.where(WebhookDelivery.status.in_(status.split(",")))
    if event_id is not None:
        query = query.where(WebhookDelivery.event == event_id)
    return paginate(query, WebhookDelivery, limit=limit, offset=offset,
                    administration_id=administration_id, starting_after=starting_after,
                    ending_before=ending_before,
                    order=(WebhookDelivery.event_xact_id, WebhookDelivery.event_seq, WebhookDelivery.id))


def get_delivery(administration_id, delivery_id) -> WebhookDelivery:
    delivery = WebhookDelivery.get_owned(administration_id, delivery_id)
    return _deliveries().where(WebhookDelivery.id == delivery.id).get()


def redeliver(administration_id, delivery_id) -> WebhookDelivery:
    """Send the delivery again as soon as a worker gets to it (same `webhook-id`), with a
    fresh retry schedule. 409 while its endpoint is disabled."""
    with database.atomic():
        delivery = WebhookDelivery.get_owned(administration_id, delivery_id)
        endpoint = WebhookEndpoint.get_by_id(delivery.endpoint_id)
        if not endpoint.enabled:
            raise Conflict("the webhook endpoint is disabled; enable it first")
        now = utcnow()
        WebhookDelivery.update(
            status="pending", failures=0, next_attempt_at=now, updated_at=now
        ).where(WebhookDelivery.id == delivery.id).execute()
    return get_delivery(administration_id, delivery_id)
