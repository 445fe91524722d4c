from models import payment_links, serialize
from paydock.responses import location


def create_payment_link(caller, id, settings):
    link, created = payment_links.create_payment_link(caller.administration_id, id,
                                                      payment_links.checkout(settings))
    if not created:
        return serialize.payment_link(link)
    return serialize.payment_link(link), 201, location("invoices", link.invoice_id)


def mollie_webhook(token, body, settings):
    payment_links.process_provider_webhook(token, body["id"], payment_links.checkout(settings))
    return None, 200
