"""Hand-built invoices in the shape of GET /invoices/{id}, with totals by the published policy."""

from __future__ import annotations

import uuid
from decimal import ROUND_HALF_UP, Decimal

D = Decimal
SELLER = {
    "id": "0f5e2b1c-7d3a-4e6f-9a8b-1c2d3e4f5a6b",
    "name": "Spont Kassasystemen BV",
    "address": "Herengracht 100",
    "postal_code": "1015 BS",
    "city": "Amsterdam",
    "country": "NL",
    "email": "facturen@spont.nl",
    "phone": "+31 20 765 4321",
    "kvk_number": "87654321",
    "vat_number": "NL987654321B01",
    "iban": "NL91ABNA0417164300",
    "bic": "ABNANL2A",
    "payment_term_days": 30,
    "invoice_number_prefix": None,
    "created_at": "2026-04-01T08:00:00.000000Z",
    "updated_at": "2026-04-01T08:00:00.000000Z",
}
ACME = {
    "id": "6f1c2d3e-4b5a-4c6d-8e9f-0a1b2c3d4e5f",
    "name": "Acme BV",
    "email": "info@acme.nl",
    "company_name": "Acme BV",
    "address": "Keizersgracht 1",
    "postal_code": "1015 CJ",
    "city": "Amsterdam",
    "country": "NL",
    "vat_number": "NL123456789B01",
    "kvk_number": "12345678",
}


def _round2(value: Decimal) -> Decimal:
    return value.quantize(D("0.01"), rounding=ROUND_HALF_UP)


def line(description, quantity=None, unit_price_incl=None, tax_percentage=None, *, text=False,
         product_id=None) -> dict:
    return {"description": description, "quantity": None if text else D(str(quantity)),
            "unit_price_incl": None if text else D(str(unit_price_incl)),
            "tax_percentage": None if text else D(str(tax_percentage)),
            "product_id": product_id, "is_text_line": text}


def invoice(lines: list[dict], *, number="2026-0001", credit_of=None, paid="0.00", contact=None,
            note=None, reference=None) -> dict:
    """An invoice dict; line and invoice totals follow DESIGN.md §3 (ROUND_HALF_UP)."""
    built, groups = [], {}
    for position, data in enumerate(lines, start=1):
        row = {"id": str(uuid.uuid4()), "position": position, **data,
               "total_incl": None, "total_excl": None, "total_vat": None}
        if not data["is_text_line"]:
            rate = data["tax_percentage"]
            row["total_incl"] = _round2(data["quantity"] * data["unit_price_incl"])
            row["total_vat"] = _round2(row["total_incl"] * rate / (100 + rate))
            row["total_excl"] = row["total_incl"] - row["total_vat"]
            groups[rate] = groups.get(rate, D(0)) + row["total_incl"]
        built.append(row)
    breakdown = []
    for rate in sorted(groups):
        gross = groups[rate]
        vat = _round2(gross * rate / (100 + rate))
        breakdown.append({"tax_percentage": rate, "total_incl": gross, "total_vat": vat,
                          "total_excl": gross - vat})
    total_incl = sum((g["total_incl"] for g in breakdown), D(0))
    total_vat = sum((g["total_vat"] for g in breakdown), D(0))
    paid = D(paid)
    credit = credit_of is not None
    return {
        "id": str(uuid.uuid4()), "number": number,
        "status": "betaald" if paid == total_incl else ("deels_betaald" if paid else "verzonden"),
        "is_credit_note": credit, "credit_of": credit_of,
        "contact_id": (contact or ACME)["id"], "contact": contact or ACME,
        "invoice_date": "2026-04-11", "due_date": "2026-05-11", "currency": "EUR",
        "reference": reference, "note": note, "lines": built,
        "total_incl": total_incl, "total_excl": total_incl - total_vat, "total_vat": total_vat,
        "vat_breakdown": breakdown, "amount_paid": paid, "open_amount": total_incl - paid,
        "overdue": False, "created_at": "2026-04-11T09:00:00.000000Z",
        "updated_at": "2026-04-11T09:00:00.000000Z",
    }


def seed_invoice(**kw) -> dict:
    """The public API reference's example: 89.00 + 2 × 125.00 at 21 % and a text line."""
    return invoice([
        line("Spont POS Licentie", 1, "89.00", 21, product_id="2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"),
        line("Installatie", 2, "125.00", 21),
        line("Notitie: Levering binnen 5 werkdagen", text=True),
    ], **kw)


def multi_rate_invoice(**kw) -> dict:
    """Lines at 0 %, 9 % and 21 %, fractional quantities and prices that round."""
    return invoice([
        line("Kassabonrollen (doos)", 3, "24.95", 21),
        line("Brood van de week", "7.5", "3.49", 9),
        line("Koffiebonen 1 kg", 2, "17.99", 9),
        line("Installatie", "1.25", "95.00", 21),
        line("Export naar België (0 %)", 1, "250.00", 0),
        line("Korting trouwe klant", 1, "-10.00", 21),
        line("Alle prijzen inclusief btw", text=True),
    ], number="2026-0002", note="Bedankt voor uw bestelling.", reference="PO-4711", **kw)


def credit_note(original: dict, number="2026-0003") -> dict:
    """A credit note for all of `original`: the same lines with negated quantities."""
    negated = []
    for row in original["lines"]:
        if row["is_text_line"]:
            negated.append(line(row["description"], text=True))
        else:
            negated.append(line(row["description"], -row["quantity"], row["unit_price_incl"],
                                row["tax_percentage"], product_id=row["product_id"]))
    return invoice(negated, number=number, credit_of=original["id"])
