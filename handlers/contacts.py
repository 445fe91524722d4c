from models import contacts, serialize
from paydock.responses import location


def list_contacts(caller, limit=100, offset=0, updated_since=None, q=None, external_id=None,
                  archived=None):
    page = contacts.list_contacts(
        caller.administration_id, limit=limit, offset=offset, updated_since=updated_since,
        q=q, external_id=external_id, archived=archived,
    )
    return serialize.page(page, serialize.contact)


def create_contact(caller, body):
    contact = contacts.create_contact(caller.administration_id, body)
    return serialize.contact(contact), 201, location("contacts", contact.id)


def get_contact(caller, id):
    return serialize.contact(contacts.get_contact(caller.administration_id, id))


def replace_contact(caller, id, body):
    return serialize.contact(contacts.replace_contact(caller.administration_id, id, body))


def update_contact(caller, id, body):
    return serialize.contact(contacts.update_contact(caller.administration_id, id, body))


def delete_contact(caller, id):
    contacts.delete_contact(caller.administration_id, id)
    return None, 204
