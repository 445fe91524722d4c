"""Invoices, their lines, payments and the document number series."""

from models.invoices import Invoice, InvoiceLine
from models.numbering import NumberSeries
from models.payments import Payment


def up(db):
    db.create_tables([NumberSeries, Invoice, InvoiceLine, Payment])
