"""Seller details on the administration: address, KvK, VAT number, IBAN, payment term, number prefix."""

import peewee

from models.migrations import add_column_if_missing

# Frozen copies of the columns as this migration adds them (the model may change later).
COLUMNS = {
    "address": lambda: peewee.CharField(max_length=200, null=True),
    "postal_code": lambda: peewee.CharField(max_length=20, null=True),
    "city": lambda: peewee.CharField(max_length=100, null=True),
    "country": lambda: peewee.CharField(max_length=2, default="NL"),
    "email": lambda: peewee.CharField(max_length=254, null=True),
    "phone": lambda: peewee.CharField(max_length=50, null=True),
    "kvk_number": lambda: peewee.CharField(max_length=20, null=True),
    "vat_number": lambda: peewee.CharField(max_length=30, null=True),
    "iban": lambda: peewee.CharField(max_length=34, null=True),
    "bic": lambda: peewee.CharField(max_length=11, null=True),
    "payment_term_days": lambda: peewee.IntegerField(default=30),
    "invoice_number_prefix": lambda: peewee.CharField(max_length=20, null=True),
}


def up(db):
    for column, make_field in COLUMNS.items():
        add_column_if_missing(db, "administration", column, make_field())
