from models import products, serialize
from paydock.responses import location


def list_products(caller, limit=100, offset=0, updated_since=None, q=None, sku=None, active=None):
    page = products.list_products(
        caller.administration_id, limit=limit, offset=offset, updated_since=updated_since,
        q=q, sku=sku, active=active,
    )
    return serialize.page(page, serialize.product)


def create_product(caller, body):
    product = products.create_product(caller.administration_id, body)
    return serialize.product(product), 201, location("products", product.id)


def get_product(caller, id):
    return serialize.product(products.get_product(caller.administration_id, id))


def replace_product(caller, id, body):
    return serialize.product(products.replace_product(caller.administration_id, id, body))


def update_product(caller, id, body):
    return serialize.product(products.update_product(caller.administration_id, id, body))


def delete_product(caller, id):
    products.delete_product(caller.administration_id, id)
    return None, 204
