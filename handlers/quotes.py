from handlers import crud
from models import quotes, serialize
from paydock.responses import location

list_quotes, create_quote, get_quote, update_quote, delete_quote = crud.operations(
    "quotes", serialize.quote, list=quotes.list_quotes, create=quotes.create_quote,
    get=quotes.get_quote, update=quotes.update_quote, delete=quotes.delete_quote)


def invoice_quote(caller, id, body):
    invoice, created = quotes.invoice_quote(caller.administration_id, id, body)
    return serialize.invoice(invoice), 201 if created else 200, location("invoices", invoice.id)
