"""Invoice PDF: the text a reader sees (extracted with pypdf) has the numbers, VAT lines and €."""

import io

from pypdf import PdfReader

from models.documents import invoice_pdf
from tests.documents.invoices import SELLER, credit_note, multi_rate_invoice, seed_invoice


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_seed_invoice_shows_number_totals_vat_line_and_euro_sign():
    data = invoice_pdf(seed_invoice(), SELLER)
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    assert "Invoice" in text and "2026-0001" in text
    assert "€ 339.00" in text
    assert "€ 280.17" in text
    assert "VAT 21% over € 280.17" in text and "€ 58.83" in text
    # Lines, the text line, buyer, seller and how to pay.
    assert "Spont POS Licentie" in text and "€ 89.00" in text and "€ 250.00" in text
    assert "Notitie: Levering binnen 5 werkdagen" in text
    assert "Acme BV" in text and "Keizersgracht 1" in text and "NL123456789B01" in text
    assert "KvK 87654321" in text and "NL987654321B01" in text
    assert "Please pay € 339.00 by 2026-05-11 to IBAN NL91 ABNA 0417 1643 00" in text


def test_embedded_font_is_dejavu():
    reader = PdfReader(io.BytesIO(invoice_pdf(seed_invoice(), SELLER)))
    fonts = {str(font["/BaseFont"]) for font in reader.pages[0]["/Resources"]["/Font"].values()}
    assert any("DejaVuSans" in name for name in fonts), fonts


def test_multi_rate_invoice_lists_every_rate():
    invoice = multi_rate_invoice()
    text = pdf_text(invoice_pdf(invoice, SELLER))
    for entry in invoice["vat_breakdown"]:
        rate = format(entry["tax_percentage"].normalize(), "f")
        assert f"VAT {rate}% over € {entry['total_excl']:,.2f}" in text
        assert f"€ {entry['total_vat']:,.2f}" in text
    assert f"€ {invoice['total_incl']:,.2f}" in text
    assert "Bedankt voor uw bestelling." in text and "PO-4711" in text


def test_partly_paid_invoice_shows_the_amount_due():
    text = pdf_text(invoice_pdf(seed_invoice(paid="100.00"), SELLER))
    assert "Paid" in text and "€ 100.00" in text
    assert "Amount due" in text and "€ 239.00" in text
    assert "Please pay € 239.00" in text


def test_credit_note_names_the_credited_invoice():
    original = seed_invoice()
    text = pdf_text(invoice_pdf(credit_note(original), SELLER, preceding=original))
    assert "Credit note" in text and "2026-0003" in text
    assert "Credits invoice" in text and "2026-0001" in text
    assert "€ -339.00" in text
    assert "refund € 339.00" in text


def test_zero_vat_on_a_credit_note_is_not_minus_zero():
    original = multi_rate_invoice()
    text = pdf_text(invoice_pdf(credit_note(original), SELLER, preceding=original))
    assert "VAT 0% over € -250.00" in text
    assert "-0.00" not in text


def test_long_invoices_continue_on_further_pages():
    from tests.documents.invoices import invoice, line

    many = invoice([line(f"Regel {n} met een langere omschrijving die over de kolom heen loopt", 1,
                         "10.00", 21) for n in range(1, 121)])
    reader = PdfReader(io.BytesIO(invoice_pdf(many, SELLER)))
    assert len(reader.pages) >= 3
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert "Regel 120" in text and "€ 1,200.00" in text
