"""Sending invoices and payment reminders: `contact.is_consumer`, the e-mail outbox
(`invoice_delivery`) and each administration's reminder schedule."""

from models.deliveries import InvoiceDelivery
from models.reminders import ReminderSettings


def up(db):
    if "is_consumer" not in {c.name for c in db.get_columns("contact")}:
        # A database default, so rows written without the column (bulk loads) are businesses.
        db.execute_sql("ALTER TABLE contact ADD COLUMN is_consumer BOOLEAN NOT NULL DEFAULT FALSE")
    db.create_tables([InvoiceDelivery, ReminderSettings], safe=True)
