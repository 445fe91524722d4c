"""Invoice documents: the PDF a customer reads and the UBL 2.1 (Peppol BIS 3.0) a system reads.

Both take an invoice as GET /invoices/{id} returns it and the seller as GET /administration
returns it; neither touches the database.
"""

from models.documents.pdf import invoice_pdf
from models.documents.ubl import invoice_ubl

__all__ = ["invoice_pdf", "invoice_ubl"]
