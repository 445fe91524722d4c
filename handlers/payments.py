from handlers import crud
from models import payments, serialize

list_payments, create_payment, get_payment = crud.operations(
    "payments", serialize.payment, list=payments.list_payments, create=payments.register_payment,
    get=payments.get_payment)
