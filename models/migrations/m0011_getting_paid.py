"""Getting paid: payment links at a provider and what the provider reported (registered once
per provider payment or refund), imported bank statements, the invoice's `payment_url` and
the contact's `iban`."""

import peewee

from models.bank_statements import BankStatement, BankStatementEntry
from models.migrations import add_column_if_missing
from models.payment_links import PaymentLink, ProviderTransaction, ProviderWebhookToken


def up(db):
    # Frozen copies of the columns as this migration adds them (the models may change later).
    add_column_if_missing(db, "invoice", "payment_url", peewee.CharField(max_length=1000, null=True))
    add_column_if_missing(db, "contact", "iban", peewee.CharField(max_length=34, null=True))
    db.create_tables([PaymentLink, ProviderTransaction, ProviderWebhookToken, BankStatement,
                      BankStatementEntry])
