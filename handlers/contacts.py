from handlers import crud
from models import contacts, serialize

(list_contacts, create_contact, get_contact, replace_contact, update_contact,
 delete_contact) = crud.operations(
    "contacts", serialize.contact, list=contacts.list_contacts, create=contacts.create_contact,
    get=contacts.get_contact, replace=contacts.replace_contact, update=contacts.update_contact,
    delete=contacts.delete_contact)
