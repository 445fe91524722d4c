"""Resources as the API returns them (and as webhook payloads carry them)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import simplejson

from models.listing import CursorPage, Page
from models.totals import invoice_totals


def timestamp(value: datetime | None) -> str | None:
    """RFC 3339 UTC with a Z, from a naive UTC datetime."""
    return None if value is None else value.isoformat(timespec="microseconds") + "Z"


def day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


def _fields(row, *names: str) -> dict:
    """The row's values of these columns, as stored (strings, numbers, booleans)."""
    return {name: getattr(row, name) for name in names}


def _id(value) -> str | None:
    """An id, or None for an empty reference."""
    return None if value is None else str(value)


def _base(row) -> dict:
    return {
        "id": str(row.id),
        "created_at": timestamp(row.created_at),
        "updated_at": timestamp(row.updated_at),
    }


CONTACT_FIELDS = ("name", "email", "phone", "company_name", "address", "postal_code", "city", "country",
                  "vat_number", "kvk_number", "iban", "external_id", "notes", "archived", "is_consumer")


def contact(row) -> dict:
    return {"id": str(row.id), **_fields(row, *CONTACT_FIELDS), **_base(row)}


def product(row) -> dict:
    return {"id": str(row.id), **_fields(row, "name", "description", "sku", "unit_price_incl",
                                         "tax_percentage", "unit", "active"), **_base(row)}


def api_key(row) -> dict:
    return {"id": str(row.id), **_fields(row, "name", "prefix"), "scopes": row.scope_list,
            "revoked_at": timestamp(row.revoked_at), "last_used_at": timestamp(row.last_used_at),
            **_base(row)}


def webhook_endpoint(row) -> dict:
    return {"id": str(row.id), **_fields(row, "url", "description"), "events": row.event_types,
            **_fields(row, "enabled", "disabled_reason"), "failing_since": timestamp(row.failing_since),
            "paused_until": timestamp(row.paused_until),
            "previous_secret_expires_at": timestamp(row.previous_secret_expires_at), **_base(row)}


def webhook_delivery(row) -> dict:
    return {
        "id": str(row.id), "endpoint_id": str(row.endpoint_id), "event_id": str(row.event_id),
        "event_type": row.event.type, **_fields(row, "webhook_id", "status", "attempts"),
        "next_attempt_at": timestamp(row.next_attempt_at), "last_attempt_at": timestamp(row.last_attempt_at),
        **_fields(row, "response_status", "response_time_ms", "last_error"),
        "delivered_at": timestamp(row.delivered_at), **_base(row),
    }


def event(row) -> dict:
    """An event exactly as webhooks deliver it: `{id, type, created_at, data, ...}`."""
    return simplejson.loads(row.payload, use_decimal=True)


def money(value: Decimal | None) -> Decimal | None:
    """An amount as it is shown: two decimals, never a negative zero."""
    return None if value is None else value.quantize(Decimal("0.01")) + 0


def plain(value: Decimal | None) -> Decimal | None:
    """A quantity or VAT rate without padding zeros: 21.00 → 21, 1.5000 → 1.5."""
    if value is None:
        return None
    if value == value.to_integral_value():
        return value.quantize(Decimal(1)) + 0
    return value.normalize()


#: Invoice statuses that show their payment link (models.invoices.OPEN_STATUSES).
PAYABLE_ONLINE = ("verzonden", "deels_betaald")
INVOICE_CONTACT_FIELDS = ("name", "email", "company_name", "address", "postal_code", "city", "country",
                          "vat_number", "kvk_number")


def invoice_contact(row) -> dict:
    """The invoice's customer: the frozen copy once issued, the live contact while concept."""
    if row.status == "concept":
        source = {f: getattr(row.contact, f) for f in INVOICE_CONTACT_FIELDS}
    else:
        source = {f: getattr(row, f"contact_{f}") for f in INVOICE_CONTACT_FIELDS}
    return {"id": str(row.contact_id), **source}


def invoice_line(row) -> dict:
    return {
        "id": str(row.id),
        "position": row.position,
        "description": row.description,
        "quantity": plain(row.quantity),
        "unit_price_incl": money(row.unit_price_incl),
        "tax_percentage": plain(row.tax_percentage),
        "product_id": _id(row.product_id),
        "is_text_line": row.is_text_line,
        "total_incl": money(row.total_incl),
        "total_excl": money(row.total_excl),
        "total_vat": money(row.total_vat),
    }


def vat_breakdown(totals) -> list[dict]:
    """The totals per VAT rate of a document (models.totals.InvoiceTotals)."""
    return [{"tax_percentage": plain(rate.tax_percentage), "total_incl": money(rate.total_incl),
             "total_vat": money(rate.total_vat), "total_excl": money(rate.total_excl)}
            for rate in totals.vat_breakdown]


def invoice(row, lines=None) -> dict:
    """An invoice or credit note with its lines; `lines` defaults to `row.loaded_lines`."""
    lines = row.loaded_lines if lines is None else lines
    totals = invoice_totals(line.amounts() for line in lines if not line.is_text_line)
    return {
        "id": str(row.id),
        "number": row.number,
        "status": row.status,
        "is_credit_note": row.is_credit_note,
        "credit_of": _id(row.credit_of_id),
        "contact_id": str(row.contact_id),
        "contact": invoice_contact(row),
        "invoice_date": day(row.invoice_date),
        "due_date": day(row.due_date),
        "currency": row.currency,
        "reference": row.reference,
        "note": row.note,
        "lines": [invoice_line(line) for line in lines],
        "total_incl": money(row.total_incl),
        "total_excl": money(row.total_excl),
        "total_vat": money(row.total_vat),
        "vat_breakdown": vat_breakdown(totals),
        "amount_paid": money(row.amount_paid),
        "open_amount": money(row.open_amount),
        "payment_url": row.payment_url if row.status in PAYABLE_ONLINE and row.open_amount > 0 else None,
        "overdue": row.overdue,
        **_base(row),
    }


def payment(row) -> dict:
    return {"id": str(row.id), "invoice_id": str(row.invoice_id), "contact_id": str(row.contact_id),
            "amount": money(row.amount), "payment_date": day(row.payment_date),
            **_fields(row, "external_method", "external_reference", "note"), **_base(row)}


def invoice_delivery(row) -> dict:
    """An invoice's e-mail (models.deliveries.InvoiceDelivery), as listed and as events carry it."""
    reminder = None
    if row.kind == "reminder":
        reminder = {
            "step": row.reminder_step,
            "kind": row.reminder_kind,
            "open_amount": money(row.reminder_open_amount),
            "collection_costs": money(row.reminder_collection_costs),
            "pay_by": day(row.reminder_pay_by),
        }
    return {
        "id": str(row.id),
        "invoice_id": str(row.invoice_id),
        "invoice_number": row.invoice_number,
        "kind": row.kind,
        "recipient": row.recipient,
        "subject": row.subject,
        "message": row.message,
        "attach_ubl": row.attach_ubl,
        "message_id": row.message_id,
        "status": row.status,
        "attempts": row.attempts,
        "next_attempt_at": timestamp(row.next_attempt_at),
        "last_attempt_at": timestamp(row.last_attempt_at),
        "last_error": row.last_error,
        "sent_at": timestamp(row.sent_at),
        "reminder": reminder,
        **_base(row),
    }


def reminder_settings(schedule) -> dict:
    """GET /reminder-settings (models.reminders.Schedule)."""
    return {
        "enabled": schedule.enabled,
        "steps": [{"days_after_due": step.days_after_due, "text": step.text,
                   "announces_collection_costs": step.announces_collection_costs} for step in schedule.steps],
        "updated_at": timestamp(schedule.updated_at),
    }


def reminder_state(state) -> dict:
    """An invoice's reminder state in the client portal (models.reminders.ReminderState)."""
    return {
        "state": state.state,
        "reminders_sent": state.reminders_sent,
        "last_sent_at": timestamp(state.last_sent_at),
        "collection_costs": money(state.collection_costs),
        "collection_costs_chargeable_from": day(state.chargeable_from),
    }


def invoice_reminders(view) -> dict:
    """GET /invoices/{id}/reminders (models.reminders.InvoiceReminders)."""
    return {
        "invoice_id": str(view.invoice.id),
        "invoice_number": view.invoice.number,
        "is_consumer": view.is_consumer,
        "state": view.state.state,
        "open_amount": money(view.invoice.open_amount),
        "collection_costs": money(view.state.collection_costs),
        "collection_costs_chargeable_from": day(view.state.chargeable_from),
        "steps": [{
            **step,
            "scheduled_on": day(step["scheduled_on"]),
            "delivery_id": None if step["delivery_id"] is None else str(step["delivery_id"]),
            "sent_at": timestamp(step["sent_at"]),
            "open_amount": money(step["open_amount"]),
            "collection_costs": money(step["collection_costs"]),
            "pay_by": day(step["pay_by"]),
        } for step in view.steps],
    }


def page(listed: Page | CursorPage, item: Callable[[Any], dict]) -> dict:
    """The list envelope: each row through `item`, then the page's paging fields."""
    return {"data": [item(row) for row in listed.rows], **listed.envelope()}


def audit_entry(row) -> dict:
    return {
        "id": str(row.id),
        "action": row.action,
        "actor_key_id": _id(row.actor_key_id),
        "target_type": row.target_type,
        "target_id": row.target_id,
        "details": json.loads(row.details),
        "request_id": row.request_id,
        "created_at": timestamp(row.created_at),
    }


ADMINISTRATION_FIELDS = ("name", "address", "postal_code", "city", "country", "email", "phone", "kvk_number",
                         "vat_number", "iban", "bic", "payment_term_days", "invoice_number_prefix")


def administration(row) -> dict:
    return {"id": str(row.id), **_fields(row, *ADMINISTRATION_FIELDS), **_base(row)}


# ------------------------------------------------------------------ quotes, subscriptions, portal

def document_contact(row) -> dict:
    """The customer of a quote or subscription: the contact's current details."""
    return {"id": str(row.contact_id), **{f: getattr(row.contact, f) for f in INVOICE_CONTACT_FIELDS}}


def _amounts(lines) -> dict:
    """total_incl/excl/vat and vat_breakdown of a document's lines (the invoice totals policy)."""
    totals = invoice_totals(line.amounts() for line in lines if not line.is_text_line)
    return {
        "total_incl": money(totals.total_incl),
        "total_excl": money(totals.total_excl),
        "total_vat": money(totals.total_vat),
        "vat_breakdown": vat_breakdown(totals),
    }


def _customer(row) -> dict:
    return {"contact_id": str(row.contact_id), "contact": document_contact(row)}


def _terms_and_lines(row) -> dict:
    """Currency, reference, note, the lines (`row.loaded_lines`) and what they add up to."""
    return {**_fields(row, "currency", "reference", "note"),
            "lines": [invoice_line(line) for line in row.loaded_lines], **_amounts(row.loaded_lines)}


def quote(row) -> dict:
    """A quote with its lines (`row.loaded_lines`); `status` includes the computed `verlopen`."""
    return {"id": str(row.id), "number": row.number, "status": row.status_shown, **_customer(row),
            "quote_date": day(row.quote_date), "valid_until": day(row.valid_until), **_terms_and_lines(row),
            "invoice": _id(row.invoice_id), **_base(row)}


def subscription(row) -> dict:
    """A subscription with its lines (`row.loaded_lines`); the totals are those of one period."""
    return {"id": str(row.id), "status": row.status, **_customer(row),
            **_fields(row, "interval", "interval_count"), "start_date": day(row.start_date),
            "end_date": day(row.end_date), **_fields(row, "invoice_status", "payment_term_days"),
            **_terms_and_lines(row), "next_period_start": day(row.next_period_start), **_base(row)}


def client_portal(view) -> dict:
    """GET /client-portal/{external_id} (models.portal.PortalView)."""
    return {
        "contact": contact(view.contact),
        "summary": {
            "open_invoice_count": view.open_invoice_count,
            "open_invoice_amount": money(view.open_invoice_amount),
            "active_subscriptions": view.active_subscriptions,
            "balance": money(view.balance),
        },
        "invoices": [{**invoice(row), "reminders": reminder_state(view.reminders[row.id])}
                     for row in view.invoices],
        "quotes": [quote(row) for row in view.quotes],
        "subscriptions": [subscription(row) for row in view.subscriptions],
        "recent_payments": [payment(row) for row in view.payments],
    }


# ------------------------------------------------------------------ reports

def _figures(figures) -> dict:
    return {"turnover": money(figures.turnover), "vat": money(figures.vat),
            "document_count": len(figures.documents)}


def vat_report(report) -> dict:
    """GET /reports/vat (models.reports.VatReport)."""
    return {
        "period": report.period,
        "date_from": day(report.date_from),
        "date_to": day(report.date_to),
        "currency": "EUR",
        "boxes": [{"box": box.box, "description": box.description,
                   "tax_percentage": None if box.tax_percentage is None else plain(box.tax_percentage),
                   **_figures(box.figures)} for box in report.boxes],
        "rates": [{"tax_percentage": plain(rate.tax_percentage), "box": rate.box, **_figures(rate.figures)}
                  for rate in report.rates],
        "total": _figures(report.total),
        "excluded_documents": report.excluded_documents,
    }


def vat_report_csv(report) -> str:
    """The VAT report as CSV: one row per box, one per rate, and the total."""
    shown = vat_report(report)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["period", "section", "box", "tax_percentage", "turnover", "vat", "document_count"])
    for box in shown["boxes"]:
        rate = "" if box["tax_percentage"] is None else box["tax_percentage"]
        writer.writerow([report.period, "box", box["box"], rate, box["turnover"], box["vat"],
                         box["document_count"]])
    for rate in shown["rates"]:
        writer.writerow([report.period, "rate", rate["box"], rate["tax_percentage"], rate["turnover"],
                         rate["vat"], rate["document_count"]])
    total = shown["total"]
    writer.writerow([report.period, "total", "", "", total["turnover"], total["vat"],
                     total["document_count"]])
    return out.getvalue()


# ------------------------------------------------------------------ getting paid

def payment_link(row) -> dict:
    return {"id": str(row.id), "invoice_id": str(row.invoice_id),
            **_fields(row, "provider", "provider_payment_id", "status"), "amount": money(row.amount),
            **_fields(row, "currency", "checkout_url"), "expires_at": timestamp(row.expires_at),
            "payment_id": _id(row.payment_id), **_base(row)}


def bank_statement_entry(row) -> dict:
    return {
        "id": str(row.id), "statement_id": str(row.statement_id), **_fields(row, "position", "account_iban",
                                                                            "bank_reference"),
        "booking_date": day(row.booking_date), "credit_debit": row.credit_debit, "amount": money(row.amount),
        **_fields(row, "currency", "counterparty_name", "counterparty_iban", "remittance_information",
                  "structured_reference", "status", "ignored_reason", "match_method"),
        "invoice_id": _id(row.invoice_id), "payment_id": _id(row.payment_id),
        "candidates": [{**c, "open_amount": money(Decimal(c["open_amount"]))} for c in row.candidate_list],
        **_base(row),
    }


def bank_statement(row, entries=None) -> dict:
    """A bank statement; with its entries on the detail and import responses."""
    shown = {"id": str(row.id), **_fields(row, "message_id", "account_iban", "statement_reference"),
             "date_from": day(row.date_from), "date_to": day(row.date_to),
             **_fields(row, "entry_count", "matched_count", "unmatched_count", "ignored_count",
                       "duplicate_count"), **_base(row)}
    if entries is not None:
        shown["entries"] = [bank_statement_entry(entry) for entry in entries]
    return shown
