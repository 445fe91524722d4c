from models import serialize, subscriptions
from paydock.responses import location


def list_subscriptions(caller, limit=100, offset=0, status=None, contact_id=None, date_from=None,
                       date_to=None, updated_since=None):
    page = subscriptions.list_subscriptions(
        caller.administration_id, limit=limit, offset=offset, status=status, contact_id=contact_id,
        date_from=date_from, date_to=date_to, updated_since=updated_since,
    )
    return serialize.page(page, serialize.subscription)


def create_subscription(caller, body):
    subscription = subscriptions.create_subscription(caller.administration_id, body)
    return serialize.subscription(subscription), 201, location("subscriptions", subscription.id)


def get_subscription(caller, id):
    return serialize.subscription(subscriptions.get_subscription(caller.administration_id, id))


def update_subscription(caller, id, body):
    return serialize.subscription(subscriptions.update_subscription(caller.administration_id, id, body))
