"""Invoice documents: the PDF a customer reads and the UBL 2.1 (Peppol BIS 3.0) a system reads.

The renderers take an invoice as GET /invoices/{id} returns it and the seller as
GET /administration returns it; `render_invoice` loads both for one invoice.
"""

from models import invoices, serialize
from models.documents.pdf import invoice_pdf
from models.documents.ubl import invoice_ubl
from models.errors import Conflict
from models.tenancy import Administration

__all__ = ["invoice_pdf", "invoice_sources", "invoice_ubl", "render_invoice"]

FORMATS = {"pdf": invoice_pdf, "ubl": invoice_ubl}


def invoice_sources(administration_id, invoice_id) -> tuple[dict, dict, dict | None]:
    """The invoice as GET /invoices/{id} returns it, the seller as GET /administration
    returns it, and for a credit note the invoice it credits: what the renderers take."""
    invoice = invoices.get_invoice(administration_id, invoice_id)
    seller = serialize.administration(Administration.get_by_id(administration_id))
    preceding = None
    if invoice.credit_of_id is not None:
        preceding = serialize.invoice(invoices.get_invoice(administration_id, invoice.credit_of_id))
    return serialize.invoice(invoice), seller, preceding


def render_invoice(administration_id, invoice_id, document_format: str) -> bytes:
    """The invoice's PDF or UBL; a concept has no number yet, so it has no UBL (409)."""
    invoice, seller, preceding = invoice_sources(administration_id, invoice_id)
    if document_format == "ubl" and invoice["status"] == "concept":
        raise Conflict("A concept invoice has no number yet: send it before exchanging it as UBL")
    return FORMATS[document_format](invoice, seller, preceding)
