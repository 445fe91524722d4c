"""GET /invoices/{id}/pdf and /ubl: the documents of an issued invoice, through the API."""

import io

from peppol import validate_xsd
from pypdf import PdfReader

from tests.documents.invoices import SELLER

SELLER_DETAILS = {k: SELLER[k] for k in ("address", "postal_code", "city", "country", "email",
                                         "kvk_number", "vat_number", "iban", "bic")}


def seed_invoice(tenant, status="verzonden"):
    contact = tenant.post("/api/contacts", {"name": "Acme BV", "address": "Keizersgracht 1",
                                            "postal_code": "1015 CJ", "city": "Amsterdam",
                                            "vat_number": "NL123456789B01"}).json()
    response = tenant.post("/api/invoices", {
        "contact_id": contact["id"], "status": status, "invoice_date": "2026-04-11",
        "due_date": "2026-05-11", "lines": [
            {"description": "Spont POS Licentie", "quantity": 1, "unit_price_incl": 89.00,
             "tax_percentage": 21},
            {"description": "Installatie", "quantity": 2, "unit_price_incl": 125.00,
             "tax_percentage": 21},
            {"description": "Notitie: Levering binnen 5 werkdagen", "is_text_line": True}]})
    assert response.status_code == 201, response.text
    return response.json()


def test_pdf_and_ubl_of_the_seed_invoice(tenant):
    assert tenant.patch("/api/administration", SELLER_DETAILS).status_code == 200
    invoice = seed_invoice(tenant)
    pdf = tenant.get(f"/api/invoices/{invoice['id']}/pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert invoice["number"] in text and "€ 339.00" in text and "58.83" in text and "280.17" in text

    ubl = tenant.get(f"/api/invoices/{invoice['id']}/ubl")
    assert ubl.status_code == 200 and ubl.headers["content-type"] == "application/xml"
    ok, errors = validate_xsd(ubl.content)
    assert ok, "\n".join(errors)
    assert b">339.00<" in ubl.content and b">58.83<" in ubl.content

    credit = tenant.post(f"/api/invoices/{invoice['id']}/credit", {}).json()
    credit_ubl = tenant.get(f"/api/invoices/{credit['id']}/ubl")
    assert credit_ubl.status_code == 200 and b"CreditNote" in credit_ubl.content
    assert validate_xsd(credit_ubl.content)[0]


def test_concept_has_a_pdf_but_no_ubl(tenant):
    assert tenant.patch("/api/administration", SELLER_DETAILS).status_code == 200
    concept = seed_invoice(tenant, status="concept")
    assert tenant.get(f"/api/invoices/{concept['id']}/pdf").status_code == 200
    response = tenant.get(f"/api/invoices/{concept['id']}/ubl")
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"


def test_ubl_without_seller_details_is_409_naming_them(tenant):
    invoice = seed_invoice(tenant)
    response = tenant.get(f"/api/invoices/{invoice['id']}/ubl")
    assert response.status_code == 409
    assert "iban" in response.json()["detail"].lower()


def test_other_tenants_documents_are_404(tenant, other_tenant):
    invoice = seed_invoice(tenant)
    assert other_tenant.get(f"/api/invoices/{invoice['id']}/pdf").status_code == 404
    assert other_tenant.get(f"/api/invoices/{invoice['id']}/ubl").status_code == 404
