from handlers import crud
from models import deliveries, documents, invoice_changes, invoices, reminders, serialize
from paydock.responses import location

list_invoices, create_invoice, get_invoice, update_invoice, delete_invoice = crud.operations(
    "invoices", serialize.invoice_document, page=serialize.invoice_page, list=invoices.list_invoices,
    create=invoices.create_invoice, get=invoices.read_invoice, update=invoice_changes.update_invoice,
    delete=invoices.delete_invoice)


def credit_invoice(caller, id, body):
    credit = invoice_changes.credit_invoice(caller.administration_id, id, body)
    return serialize.invoice_document(credit), 201, location("invoices", credit.id)


def get_invoice_pdf(caller, id):
    pdf = documents.render_invoice(caller.administration_id, id, "pdf")
    return pdf, 200, {"Content-Type": "application/pdf",
                      "Content-Disposition": f'inline; filename="invoice-{id}.pdf"'}


def get_invoice_ubl(caller, id):
    xml = documents.render_invoice(caller.administration_id, id, "ubl")
    return xml, 200, {"Content-Type": "application/xml",
                      "Content-Disposition": f'attachment; filename="invoice-{id}.xml"'}


def send_invoice(caller, id, body):
    delivery = deliveries.send_invoice(caller.administration_id, id, body)
    sent = serialize.invoice_delivery(delivery)
    return sent, 202, location("invoices", f"{delivery.invoice_id}/deliveries")


def list_invoice_deliveries(caller, id, limit=100, offset=0, starting_after=None, ending_before=None):
    page = deliveries.list_deliveries(caller.administration_id, id, limit=limit, offset=offset,
                                      starting_after=starting_after, ending_before=ending_before)
    return serialize.page(page, serialize.invoice_delivery)


def get_invoice_reminders(caller, id):
    return serialize.invoice_reminders(reminders.invoice_reminders(caller.administration_id, id))
