from models import payments, serialize
from paydock.responses import location


def list_payments(caller, limit=100, offset=0, invoice_id=None, contact_id=None, date_from=None,
                  date_to=None, updated_since=None):
    page = payments.list_payments(
        caller.administration_id, limit=limit, offset=offset, invoice_id=invoice_id,
        contact_id=contact_id, date_from=date_from, date_to=date_to, updated_since=updated_since,
    )
    return serialize.page(page, serialize.payment)


def create_payment(caller, body):
    payment = payments.register_payment(caller.administration_id, body)
    return serialize.payment(payment), 201, location("payments", payment.id)


def get_payment(caller, id):
    return serialize.payment(payments.get_payment(caller.administration_id, id))
