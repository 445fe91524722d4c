"""The PDF and UBL renderers take invoices as PayDock issues them (models.serialize.invoice)."""

from __future__ import annotations

import io
from decimal import Decimal

from peppol import check_rules, validate_xsd
from pypdf import PdfReader

from models import contacts, db, invoice_changes, invoices, payments, products, serialize, tenancy
from models.documents import invoice_pdf, invoice_ubl
from tests.documents.invoices import SELLER


def issued(client) -> tuple[dict, dict, dict]:
    """The reference invoice, paid and then credited in part; with the seller."""
    with db.database.connection_context():
        administration = tenancy.create_administration("Spont Kassasystemen BV")
        seller = tenancy.update_administration(administration.id, {
            k: v for k, v in SELLER.items() if k in tenancy.SELLER_FIELDS and k != "name"})
        contact = contacts.create_contact(administration.id, {
            "name": "Acme BV", "address": "Keizersgracht 1", "postal_code": "1015 CJ",
            "city": "Amsterdam", "vat_number": "NL123456789B01"})
        product = products.create_product(administration.id, {
            "name": "Spont POS Licentie", "unit_price_incl": 89.00, "tax_percentage": 21})
        invoice = invoices.create_invoice(administration.id, {
            "contact_id": contact.id, "status": "verzonden", "invoice_date": "2026-04-11",
            "due_date": "2026-05-11", "lines": [
                {"product_id": product.id},
                {"description": "Installatie", "quantity": 2, "unit_price_incl": 125.00,
                 "tax_percentage": 21},
                {"description": "Brood", "quantity": 1.5, "unit_price_incl": 3.49, "tax_percentage": 9},
                {"description": "Notitie: Levering binnen 5 werkdagen", "is_text_line": True}]})
        payments.register_payment(administration.id, {"invoice_id": invoice.id, "amount": 100.00})
        line = invoice.loaded_lines[1]
        credit = invoice_changes.credit_invoice(administration.id, invoice.id, {"line_ids": [line.id]})
        original = serialize.invoice(invoices.get_invoice(administration.id, invoice.id))
        note = serialize.invoice(invoices.get_invoice(administration.id, credit.id))
        return original, note, serialize.administration(seller)


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_issued_invoice_and_credit_note_render_and_validate(client):
    original, note, seller = issued(client)
    # 89.00 + 250.00 at 21 % and round2(1.5 × 3.49) = 5.24 at 9 %
    assert (original["total_incl"], original["total_vat"]) == (Decimal("344.24"), Decimal("59.26"))
    for xml in (invoice_ubl(original, seller), invoice_ubl(note, seller, original)):
        ok, errors = validate_xsd(xml)
        assert ok, "\n".join(errors)
        assert [str(f) for f in check_rules(xml) if f.severity == "fatal"] == []
    assert b"2026-0001" in invoice_ubl(note, seller, original)  # the credit note names the invoice
    text = text_of(invoice_pdf(original, seller))
    assert "2026-0001" in text and "€ 344.24" in text and "Notitie: Levering binnen 5 werkdagen" in text
    credit_text = text_of(invoice_pdf(note, seller, original))
    assert "2026-0002" in credit_text and "-250.00" in credit_text.replace("€ ", "").replace("−", "-")

