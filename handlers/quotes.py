from models import quotes, serialize
from paydock.responses import location


def list_quotes(caller, limit=100, offset=0, status=None, contact_id=None, date_from=None, date_to=None,
                updated_since=None, number=None):
    page = quotes.list_quotes(
        caller.administration_id, limit=limit, offset=offset, status=status, contact_id=contact_id,
        date_from=date_from, date_to=date_to, updated_since=updated_since, number=number,
    )
    return serialize.page(page, serialize.quote)


def create_quote(caller, body):
    quote = quotes.create_quote(caller.administration_id, body)
    return serialize.quote(quote), 201, location("quotes", quote.id)


def get_quote(caller, id):
    return serialize.quote(quotes.get_quote(caller.administration_id, id))


def update_quote(caller, id, body):
    return serialize.quote(quotes.update_quote(caller.administration_id, id, body))


def delete_quote(caller, id):
    quotes.delete_quote(caller.administration_id, id)
    return None, 204


def invoice_quote(caller, id, body):
    invoice, created = quotes.invoice_quote(caller.administration_id, id, body)
    return serialize.invoice(invoice), 201 if created else 200, location("invoices", invoice.id)
