from models import portal, serialize


def get_client_portal(caller, external_id):
    return serialize.client_portal(portal.client_portal(caller.administration_id, external_id))
