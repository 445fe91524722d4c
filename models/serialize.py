"""Resources as the API returns them (and as webhook payloads carry them)."""

from __future__ import annotations

from datetime import date, datetime

import simplejson


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 UTC with a Z, from a naive UTC datetime."""
    return None if value is None else value.isoformat(timespec="microseconds") + "Z"


def day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _base(row) -> dict:
    return {
        "id": str(row.id),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
    }


def contact(row) -> dict:
    return {
        "id": str(row.id),
        "name": row.name,
        "email": row.email,
        "phone": row.phone,
        "company_name": row.company_name,
        "address": row.address,
        "postal_code": row.postal_code,
        "city": row.city,
        "country": row.country,
        "vat_number": row.vat_number,
        "kvk_number": row.kvk_number,
        "external_id": row.external_id,
        "notes": row.notes,
        "archived": row.archived,
        **_base(row),
    }


def product(row) -> dict:
    return {
        "id": str(row.id),
        "name": row.name,
        "description": row.description,
        "sku": row.sku,
        "unit_price_incl": row.unit_price_incl,
        "tax_percentage": row.tax_percentage,
        "unit": row.unit,
        "active": row.active,
        **_base(row),
    }


def api_key(row) -> dict:
    return {
        "id": str(row.id),
        "name": row.name,
        "prefix": row.prefix,
        "scopes": row.scope_list,
        "revoked_at": timestamp(row.revoked_at),
        "last_used_at": timestamp(row.last_used_at),
        **_base(row),
    }


def webhook_endpoint(row) -> dict:
    return {
        "id": str(row.id),
        "url": row.url,
        "description": row.description,
        "events": row.event_types,
        "enabled": row.enabled,
        "disabled_reason": row.disabled_reason,
        "failing_since": timestamp(row.failing_since),
        "previous_secret_expires_at": timestamp(row.previous_secret_expires_at),
        **_base(row),
    }


def webhook_delivery(row) -> dict:
    return {
        "id": str(row.id),
        "endpoint_id": str(row.endpoint_id),
        "event_id": str(row.event_id),
        "event_type": row.event.type,
        "webhook_id": row.webhook_id,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": timestamp(row.next_attempt_at),
        "last_attempt_at": timestamp(row.last_attempt_at),
        "response_status": row.response_status,
        "response_time_ms": row.response_time_ms,
        "last_error": row.last_error,
        "delivered_at": timestamp(row.delivered_at),
        **_base(row),
    }


def event(row) -> dict:
    """An event exactly as webhooks deliver it: `{id, type, created_at, data, ...}`."""
    return simplejson.loads(row.payload, use_decimal=True)


def page(rows: list[dict], total: int, limit: int, offset: int) -> dict:
    return {"data": rows, "total": total, "limit": limit, "offset": offset}


def administration(row) -> dict:
    return {
        "id": str(row.id),
        "name": row.name,
        "address": row.address,
        "postal_code": row.postal_code,
        "city": row.city,
        "country": row.country,
        "email": row.email,
        "phone": row.phone,
        "kvk_number": row.kvk_number,
        "vat_number": row.vat_number,
        "iban": row.iban,
        "bic": row.bic,
        "payment_term_days": row.payment_term_days,
        "invoice_number_prefix": row.invoice_number_prefix,
        **_base(row),
    }
