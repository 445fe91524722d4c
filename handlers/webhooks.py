from models import serialize, webhooks
from paydock.responses import location


def list_webhook_endpoints(caller, limit=100, offset=0):
    page = webhooks.list_endpoints(caller.administration_id, limit=limit, offset=offset)
    return serialize.page(page, serialize.webhook_endpoint)


def create_webhook_endpoint(caller, body, settings):
    endpoint = webhooks.create_endpoint(caller.administration_id, body, policy=settings.webhook_url_policy,
                                        acting_key_id=caller.key_id)
    return ({**serialize.webhook_endpoint(endpoint), "secret": endpoint.secret}, 201,
            location("webhook-endpoints", endpoint.id))


def get_webhook_endpoint(caller, id):
    return serialize.webhook_endpoint(webhooks.get_endpoint(caller.administration_id, id))


def update_webhook_endpoint(caller, id, body, settings):
    return serialize.webhook_endpoint(webhooks.update_endpoint(
        caller.administration_id, id, body, policy=settings.webhook_url_policy, acting_key_id=caller.key_id))


def delete_webhook_endpoint(caller, id):
    webhooks.delete_endpoint(caller.administration_id, id, acting_key_id=caller.key_id)
    return None, 204


def rotate_webhook_secret(caller, id):
    endpoint = webhooks.rotate_secret(caller.administration_id, id, acting_key_id=caller.key_id)
    return {**serialize.webhook_endpoint(endpoint), "secret": endpoint.secret}


def list_webhook_deliveries(caller, id, limit=100, offset=0, status=None, event_id=None):
    page = webhooks.list_deliveries(
        caller.administration_id, id, limit=limit, offset=offset,
        status=status, event_id=event_id,
    )
    return serialize.page(page, serialize.webhook_delivery)


def redeliver_webhook(caller, id):
    return serialize.webhook_delivery(webhooks.redeliver(caller.administration_id, id)), 202
