from models import payment_links, serialize
from models.providers import MollieProvider


def checkout(settings) -> payment_links.Checkout:
    """The payment provider and URLs these settings configure (no provider without a key)."""
    provider = (MollieProvider(settings.mollie_api_key, settings.mollie_api_url, settings.provider_timeout)
                if settings.mollie_api_key else None)
    return payment_links.Checkout(provider, settings.public_base_url, settings.payment_redirect_url)


def create_payment_link(caller, id, settings):
    link, created = payment_links.create_payment_link(caller.administration_id, id, checkout(settings))
    if not created:
        return serialize.payment_link(link)
    return serialize.payment_link(link), 201, {"Location": f"/api/invoices/{link.invoice_id}"}


def mollie_webhook(token, body, settings):
    payment_links.process_provider_webhook(token, body["id"], checkout(settings))
    return None, 200
