"""Quotes and their lines; subscriptions, their lines and their billed periods."""

from models.quotes import Quote, QuoteLine
from models.subscriptions import Subscription, SubscriptionLine, SubscriptionPeriod


def up(db):
    db.create_tables([Quote, QuoteLine, Subscription, SubscriptionLine, SubscriptionPeriod])
