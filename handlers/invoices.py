from models import deliveries, documents, invoice_changes, invoices, reminders, serialize
from paydock.responses import location


def list_invoices(caller, limit=100, offset=0, status=None, contact_id=None, overdue=None,
                  date_from=None, date_to=None, updated_since=None, number=None,
                  starting_after=None, ending_before=None):
    page = invoices.list_invoices(
        caller.administration_id, limit=limit, offset=offset,
        starting_after=starting_after, ending_before=ending_before, status=status, contact_id=contact_id,
        overdue=overdue, date_from=date_from, date_to=date_to, updated_since=updated_since,
        number=number,
    )
    return serialize.invoice_page(page)


def create_invoice(caller, body):
    invoice = invoices.create_invoice(caller.administration_id, body)
    return serialize.invoice_document(invoice), 201, location("invoices", invoice.id)


def get_invoice(caller, id):
    return serialize.invoice_document(invoices.read_invoice(caller.administration_id, id))


def update_invoice(caller, id, body):
    return serialize.invoice_document(invoice_changes.update_invoice(caller.administration_id, id, body))


def delete_invoice(caller, id):
    invoices.delete_invoice(caller.administration_id, id)
    return None, 204


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


def list_invoice_deliveries(caller, id, limit=100, offset=0):
    page = deliveries.list_deliveries(caller.administration_id, id, limit=limit, offset=offset)
    return serialize.page(page, serialize.invoice_delivery)


def get_invoice_reminders(caller, id):
    return serialize.invoice_reminders(reminders.invoice_reminders(caller.administration_id, id))
