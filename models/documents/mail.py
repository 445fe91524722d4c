"""The e-mails PayDock sends: an invoice with its PDF (and UBL XML), or a payment reminder
with its letter as PDF. Pure: everything comes in as the API's own dicts and bytes."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from models.documents.pdf import iban_groups
from models.documents.reminder import collection_costs_notice, euro


def _filename_part(number: str | None) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", number or "concept").strip("-") or "factuur"


def _unfolded_headers(message: EmailMessage) -> EmailMessage:
    """Headers on one line each (RFC 5322 allows 998 characters): Python's folding moves a
    header that does not fit on its first line whole onto a continuation line, which readers
    then show with a leading space. The body and attachments are encoded already."""
    message.policy = message.policy.clone(max_line_length=998)
    return message


def _envelope(*, sender: str, seller: dict, delivery: dict, sent_at: datetime) -> EmailMessage:
    message = EmailMessage()
    message["From"] = formataddr((seller.get("name") or "", sender))
    message["To"] = delivery["recipient"]
    if seller.get("email") and seller["email"] != sender:
        message["Reply-To"] = seller["email"]
    message["Subject"] = delivery["subject"]
    message["Date"] = format_datetime(sent_at.replace(tzinfo=UTC) if sent_at.tzinfo is None else sent_at)
    message["Message-ID"] = delivery["message_id"]
    return message


def _salutation(invoice: dict) -> str:
    contact = invoice.get("contact") or {}
    return f"Beste {contact.get('name') or 'klant'},"


def _signature(seller: dict) -> str:
    lines = ["Met vriendelijke groet,", seller.get("name") or ""]
    if seller.get("email"):
        lines.append(seller["email"])
    return "\n".join(lines)


def invoice_email(*, sender: str, seller: dict, delivery: dict, invoice: dict, pdf: bytes,
                  ubl: bytes | None, sent_at: datetime) -> EmailMessage:
    """The invoice e-mail: text, the PDF and (when given) the UBL XML attached."""
    message = _envelope(sender=sender, seller=seller, delivery=delivery, sent_at=sent_at)
    number = invoice.get("number") or ""
    parts = [_salutation(invoice), ""]
    if delivery.get("message"):
        parts += [delivery["message"], ""]
    kind = "creditnota" if invoice.get("is_credit_note") else "factuur"
    parts.append(f"In de bijlage vindt u {kind} {number} van {invoice['invoice_date']} "
                 f"over {euro(invoice['total_incl'])}.")
    open_amount = invoice.get("open_amount", invoice["total_incl"])
    if not invoice.get("is_credit_note") and open_amount > 0:
        account = f" op IBAN {iban_groups(seller['iban'])}" if seller.get("iban") else ""
        parts.append(f"Wij verzoeken u {euro(open_amount)} uiterlijk op {invoice['due_date']} over te "
                     f"maken{account} ten name van {seller.get('name') or ''}, onder vermelding van "
                     f"het factuurnummer {number}.")
    if ubl is not None:
        parts.append("De factuur is ook bijgevoegd als UBL-bestand (e-factuur) voor uw boekhouding.")
    parts += ["", _signature(seller)]
    # Quoted-printable: plain ASCII on the wire whatever the server supports (no 8BITMIME needed).
    message.set_content("\n".join(parts), cte="quoted-printable")
    name = _filename_part(number)
    message.add_attachment(pdf, maintype="application", subtype="pdf", filename=f"factuur-{name}.pdf")
    if ubl is not None:
        message.add_attachment(ubl, maintype="application", subtype="xml", filename=f"factuur-{name}.xml")
    return _unfolded_headers(message)


def reminder_email(*, sender: str, seller: dict, delivery: dict, invoice: dict, pdf: bytes,
                   letter_date, sent_at: datetime) -> EmailMessage:
    """A payment reminder: the step's text, the amounts, and the letter as PDF."""
    message = _envelope(sender=sender, seller=seller, delivery=delivery, sent_at=sent_at)
    reminder = delivery["reminder"]
    number = invoice.get("number") or ""
    parts = [_salutation(invoice), "", delivery.get("message") or "", "",
             f"Factuur {number} van {invoice['invoice_date']}, vervallen op {invoice['due_date']}: "
             f"openstaand {euro(reminder['open_amount'])}."]
    notice = collection_costs_notice(reminder, letter_date)
    if notice:
        parts += ["", notice]
    if seller.get("iban"):
        parts += ["", f"U kunt betalen op IBAN {iban_groups(seller['iban'])} ten name van "
                      f"{seller.get('name') or ''}, onder vermelding van factuurnummer {number}."]
    parts += ["", _signature(seller)]
    # Quoted-printable: plain ASCII on the wire whatever the server supports (no 8BITMIME needed).
    message.set_content("\n".join(parts), cte="quoted-printable")
    label = "herinnering" if reminder["kind"] == "reminder" else "aanmaning"
    message.add_attachment(pdf, maintype="application", subtype="pdf",
                           filename=f"{label}-{_filename_part(number)}.pdf")
    return _unfolded_headers(message)
