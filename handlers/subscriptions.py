from handlers import crud
from models import serialize, subscriptions

list_subscriptions, create_subscription, get_subscription, update_subscription = crud.operations(
    "subscriptions", serialize.subscription, list=subscriptions.list_subscriptions,
    create=subscriptions.create_subscription, get=subscriptions.get_subscription,
    update=subscriptions.update_subscription)
