from handlers import crud
from models import products, serialize

(list_products, create_product, get_product, replace_product, update_product,
 delete_product) = crud.operations(
    "products", serialize.product, list=products.list_products, create=products.create_product,
    get=products.get_product, replace=products.replace_product, update=products.update_product,
    delete=products.delete_product)
