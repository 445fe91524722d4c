"""Every invoice the API accepts can be rendered: long words and many line breaks wrap and
break across pages in the PDF, and the UBL never holds a character XML 1.0 forbids."""

from __future__ import annotations

import io

import pytest
from peppol import validate_xsd
from pypdf import PdfReader

from models.documents import invoice_pdf, invoice_ubl
from tests.api.sales import line, make_contact
from tests.documents.invoices import SELLER, seed_invoice
from tests.documents.invoices import invoice as doc_invoice
from tests.documents.invoices import line as doc_line

WORD = "Kassasysteem" * 167  # 2,004 characters without a space (cut to 2,000)


def issue(tenant, lines, **fields) -> dict:
    seller = {k: SELLER[k] for k in ("address", "postal_code", "city", "kvk_number", "vat_number", "iban")}
    assert tenant.patch("/api/administration", seller).status_code == 200
    body = {"contact_id": make_contact(tenant), "status": "verzonden", "lines": lines, **fields}
    response = tenant.post("/api/invoices", body)
    assert response.status_code == 201, response.text
    return response.json()


def pages(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


@pytest.mark.parametrize("description", [
    "\n" * 60 + "Regel 61",
    WORD[:2000],
    ("Regel\n" * 300)[:2000],
    ("Een lange omschrijving met gewone woorden " * 50)[:2000],
    "\r\n" * 999 + "x",
    "\t" * 2000,
])
def test_an_issued_invoice_with_long_or_many_lined_text_renders(tenant, description):
    invoice = issue(tenant, [line(description), line("Kabel", price=10.00),
                             {"description": description, "is_text_line": True}],
                    note=description[:2000], reference=description[:100])
    pdf = tenant.get(f"/api/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200, pdf.text[:500]
    text = "".join(pages(pdf.content))
    assert "Kabel" in text and "€ 135.00" in text
    ubl = tenant.get(f"/api/invoices/{invoice['id']}/ubl")
    assert ubl.status_code == 200, ubl.text[:500]
    ok, errors = validate_xsd(ubl.content)
    assert ok, errors[:5]


def test_a_2000_character_word_is_broken_and_printed_in_full():
    invoice = seed_invoice()
    invoice["lines"][2]["description"] = WORD[:2000]  # the text line: one row, all its own
    text = "".join("".join(pages(invoice_pdf(invoice, SELLER))).split())
    assert text.count("Kassasysteem") == 166


def test_sixty_line_breaks_continue_on_a_next_page():
    many = "\n".join(f"Regel {n}" for n in range(1, 121))
    rendered = pages(invoice_pdf(doc_invoice([doc_line(many, 1, "10.00", 21)]), SELLER))
    assert len(rendered) >= 2
    everything = "\n".join(rendered)
    assert all(f"Regel {n}\n" in everything + "\n" for n in (1, 60, 120))


@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x1b", "\x00", "\ufffe", "\uffff", "\ud800"])
def test_the_ubl_writer_never_writes_a_character_xml_forbids(char):
    """Stored text cannot hold these (422 at input); rows written before that rule still render."""
    invoice = doc_invoice([doc_line(f"Kabel{char}5m", 1, "10.00", 21)], note=f"Let op{char}",
                          reference=f"PO{char}1")
    invoice["contact"]["name"] = f"Acme{char}BV"
    xml = invoice_ubl(invoice, {**SELLER, "name": f"Spont{char}"})
    ok, errors = validate_xsd(xml)
    assert ok, errors[:5]
    assert b"Kabel\xef\xbf\xbd5m" in xml  # replaced by U+FFFD, not dropped silently
    assert invoice_pdf(invoice, SELLER).startswith(b"%PDF-")
