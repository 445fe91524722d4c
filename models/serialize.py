"""Resources as the API returns them (and as webhook payloads carry them).

Invoices, the largest documents PayDock serves, have one definition written as JSON text
(`invoice_json`): it takes the values exactly as the database returns them (integer cents,
uuids as text, SQLite's timestamps as text), so a list reads rows without building model
instances, Decimals or UUIDs, and the page is encoded without walking a thousand small
dicts. The list, the detail, the client portal, the webhook payloads and the billing run
all write an invoice through it; `invoice` is the same document as a dict (for the PDF/UBL
renderers).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, NamedTuple

import simplejson
import simplejson.encoder

from models.listing import CursorPage, Page
from models.periods import business_today
from models.totals import InvoiceTotals, LineAmounts, invoice_totals


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


# ------------------------------------------------------------------ invoices as JSON text

#: The values `invoice_json` takes, in this order: Invoice columns by name, "contact.<f>" the
#: live Contact's (shown while the invoice is a concept). models.invoices selects exactly
#: these; the billing run builds them for the invoices it writes.
INVOICE_VALUES = (
    "id", "number", "status", "is_credit_note", "credit_of", "contact",
    *(f"contact_{f}" for f in INVOICE_CONTACT_FIELDS), *(f"contact.{f}" for f in INVOICE_CONTACT_FIELDS),
    "invoice_date", "due_date", "currency", "reference", "note",
    "total_incl", "total_vat", "total_excl", "amount_paid", "payment_url", "vat_breakdown",
    "created_at", "updated_at",
)
#: The values of one line, in this order (InvoiceLine columns).
LINE_VALUES = ("id", "position", "description", "quantity", "unit_price_incl", "tax_percentage", "product",
               "is_text_line", "total_incl", "total_excl", "total_vat")

_I = {name: index for index, name in enumerate(INVOICE_VALUES)}
_SNAPSHOT = slice(_I[f"contact_{INVOICE_CONTACT_FIELDS[0]}"], _I[f"contact_{INVOICE_CONTACT_FIELDS[-1]}"] + 1)
_LIVE = slice(_I[f"contact.{INVOICE_CONTACT_FIELDS[0]}"], _I[f"contact.{INVOICE_CONTACT_FIELDS[-1]}"] + 1)
#: Statuses in which an invoice can be overdue (models.invoices.OPEN_STATUSES, which checks
#: that they agree: models.invoices imports this module).
OVERDUE_STATUSES = ("verzonden", "deels_betaald")
_quote = simplejson.encoder.encode_basestring_ascii


class InvoiceRead(NamedTuple):
    """An invoice as read for the API: its INVOICE_VALUES and its lines' LINE_VALUES."""

    values: Sequence
    lines: Sequence[Sequence]


def _text(value) -> str:
    return "null" if value is None else _quote(value)


def _uuid(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, str) and len(value) == 32:    # SQLite keeps uuids as hex
        return f'"{value[:8]}-{value[8:12]}-{value[12:16]}-{value[16:20]}-{value[20:]}"'
    return f'"{value}"'


def _timestamp(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, str):     # SQLite: "YYYY-MM-DD HH:MM:SS[.ffffff]"
        return f'"{value[:10]}T{value[11:19]}{value[19:26] if len(value) > 19 else ".000000"}Z"'
    return f'"{value.isoformat(timespec="microseconds")}Z"'


def _day(value) -> str:
    if value is None:
        return "null"
    return f'"{value}"' if isinstance(value, str) else f'"{value.isoformat()}"'


def _fixed(value, scale: int, digits: int, padded: bool) -> str:
    """An integer number of 1/scale units as an exact JSON number: with `digits` decimals
    (money, as `money`), or without padding zeros (quantities and rates, as `plain`)."""
    if value is None:
        return "null"
    units = int(value)
    sign = "-" if units < 0 else ""
    whole, part = divmod(-units if units < 0 else units, scale)
    if padded:
        return f"{sign}{whole}.{part:0{digits}d}"
    if not part:
        return f"{sign}{whole}" if whole else "0"
    return f"{sign}{whole}.{part:0{digits}d}".rstrip("0")


def _money(cents) -> str:
    return _fixed(cents, 100, 2, True)


def _bool(value) -> str:
    return "true" if value else "false"


def vat_breakdown_json(totals: InvoiceTotals) -> str:
    """The `vat_breakdown` of these totals as JSON text (stored on the invoice when its lines
    are set: reading an invoice never recomputes it)."""
    return "[" + ", ".join(
        f'{{"tax_percentage": {plain(rate.tax_percentage)}, "total_incl": {money(rate.total_incl)}, '
        f'"total_vat": {money(rate.total_vat)}, "total_excl": {money(rate.total_excl)}}}'
        for rate in totals.vat_breakdown) + "]"


def _line_amounts(line: Sequence) -> LineAmounts:
    return LineAmounts(Decimal(int(line[3])).scaleb(-4), Decimal(int(line[4])).scaleb(-2),
                       Decimal(int(line[5])).scaleb(-2))


def invoice_line_json(line: Sequence) -> str:
    """One line (LINE_VALUES, database values) as JSON text, as `invoice_line` shows it."""
    (line_id, position, description, quantity, price, rate, product, is_text_line,
     total_incl, total_excl, total_vat) = line
    return (f'{{"id": {_uuid(line_id)}, "position": {position}, "description": {_text(description)}, '
            f'"quantity": {_fixed(quantity, 10000, 4, False)}, "unit_price_incl": {_money(price)}, '
            f'"tax_percentage": {_fixed(rate, 100, 2, False)}, "product_id": {_uuid(product)}, '
            f'"is_text_line": {_bool(is_text_line)}, "total_incl": {_money(total_incl)}, '
            f'"total_excl": {_money(total_excl)}, "total_vat": {_money(total_vat)}}}')


def invoice_json(values: Sequence, lines: Sequence[Sequence], today: date) -> str:
    """An invoice or credit note (INVOICE_VALUES and its lines' LINE_VALUES, as the database
    returns them) as the API's JSON text; `today` decides `overdue`."""
    status = values[2]
    contact = values[_LIVE] if status == "concept" else values[_SNAPSHOT]
    contact_json = ", ".join(f'"{name}": {_text(value)}'
                             for name, value in zip(INVOICE_CONTACT_FIELDS, contact, strict=True))
    (total_incl, total_vat, total_excl, amount_paid, payment_url, breakdown,
     created_at, updated_at) = values[_I["total_incl"]:]
    total_incl, amount_paid = int(total_incl), int(amount_paid)
    open_cents = total_incl - amount_paid
    due_date = values[_I["due_date"]]
    if status not in PAYABLE_ONLINE or open_cents <= 0:
        payment_url = None
    overdue = (status in OVERDUE_STATUSES and open_cents > 0
               and (due_date if isinstance(due_date, str) else due_date.isoformat()) < today.isoformat())
    if breakdown is None:   # written before breakdowns were stored
        breakdown = vat_breakdown_json(invoice_totals(_line_amounts(line) for line in lines if not line[7]))
    return (f'{{"id": {_uuid(values[0])}, "number": {_text(values[1])}, "status": {_text(status)}, '
            f'"is_credit_note": {_bool(values[3])}, "credit_of": {_uuid(values[4])}, '
            f'"contact_id": {_uuid(values[5])}, "contact": {{"id": {_uuid(values[5])}, {contact_json}}}, '
            f'"invoice_date": {_day(values[_I["invoice_date"]])}, "due_date": {_day(due_date)}, '
            f'"currency": {_text(values[_I["currency"]])}, "reference": {_text(values[_I["reference"]])}, '
            f'"note": {_text(values[_I["note"]])}, '
            f'"lines": [{", ".join([invoice_line_json(line) for line in lines])}], '
            f'"total_incl": {_money(total_incl)}, "total_excl": {_money(total_excl)}, '
            f'"total_vat": {_money(total_vat)}, "vat_breakdown": {breakdown}, '
            f'"amount_paid": {_money(amount_paid)}, "open_amount": {_money(open_cents)}, '
            f'"payment_url": {_text(payment_url)}, '
            f'"overdue": {_bool(overdue)}, "created_at": {_timestamp(created_at)}, '
            f'"updated_at": {_timestamp(updated_at)}}}')


def invoice_values(row) -> tuple:
    """An Invoice instance's INVOICE_VALUES as database values (the live contact is read only
    while it is a concept, as the API shows it only then)."""
    meta = type(row)._meta
    values: list[Any] = []
    for name in INVOICE_VALUES:
        if name.startswith("contact."):
            field = name[len("contact."):]
            values.append(getattr(row.contact, field) if row.status == "concept" else None)
        else:
            field_object = meta.fields[name]
            values.append(field_object.db_value(getattr(row, field_object.name if name != "contact"
                                                        and name != "credit_of" else f"{name}_id")))
    return tuple(values)


def line_values(line) -> tuple:
    """An InvoiceLine instance's LINE_VALUES as database values."""
    meta = type(line)._meta
    return tuple(meta.fields[name].db_value(getattr(line, "product_id" if name == "product" else name))
                 for name in LINE_VALUES)


def _read_of(row, lines=None) -> InvoiceRead:
    if isinstance(row, InvoiceRead):
        return row
    lines = row.loaded_lines if lines is None else lines
    return InvoiceRead(invoice_values(row), [line_values(line) for line in lines])


def _today() -> date:
    return business_today()


def invoice_document(row, lines=None, today: date | None = None) -> simplejson.RawJSON:
    """An invoice (an Invoice with its lines, or an InvoiceRead) as the API's JSON, encoded."""
    read = _read_of(row, lines)
    return simplejson.RawJSON(invoice_json(read.values, read.lines, today or _today()))


def invoice(row, lines=None) -> dict:
    """An invoice or credit note with its lines (`lines` defaults to `row.loaded_lines`), as a
    dict with Decimal amounts: `invoice_document` read back."""
    return simplejson.loads(invoice_document(row, lines).encoded_json, use_decimal=True)


def invoice_page(listed: Page) -> dict:
    """A page of InvoiceRead rows as the list envelope (one `today` for the whole page)."""
    today = _today()
    return page(listed, lambda read: simplejson.RawJSON(invoice_json(read.values, read.lines, today)))


def vat_breakdown(totals) -> list[dict]:
    """The totals per VAT rate of a document (models.totals.InvoiceTotals)."""
    return [{"tax_percentage": plain(rate.tax_percentage), "total_incl": money(rate.total_incl),
             "total_vat": money(rate.total_vat), "total_excl": money(rate.total_excl)}
            for rate in totals.vat_breakdown]


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


def with_reminders(document: simplejson.RawJSON, state) -> simplejson.RawJSON:
    """An invoice's JSON with its reminder state (models.reminders.ReminderState) added."""
    extra = simplejson.dumps(reminder_state(state), use_decimal=True)
    return simplejson.RawJSON(f'{document.encoded_json[:-1]}, "reminders": {extra}}}')


def client_portal(view) -> dict:
    """GET /client-portal/{external_id} (models.portal.PortalView)."""
    today = _today()
    return {
        "contact": contact(view.contact),
        "summary": {
            "open_invoice_count": view.open_invoice_count,
            "open_invoice_amount": money(view.open_invoice_amount),
            "active_subscriptions": view.active_subscriptions,
            "balance": money(view.balance),
        },
        "invoices": [with_reminders(invoice_document(read, today=today), view.reminders[read.values[0]])
                     for read in view.invoices],
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
