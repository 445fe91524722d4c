from models import api_keys, serialize
from paydock.responses import location


def list_api_keys(caller, limit=100, offset=0):
    page = api_keys.list_api_keys(caller.administration_id, limit=limit, offset=offset)
    return serialize.page(page, serialize.api_key)


def create_api_key(caller, body):
    key, secret = api_keys.create_api_key(caller.administration_id, body["name"], body["scopes"],
                                         acting_key_id=caller.key_id)
    return {**serialize.api_key(key), "key": secret}, 201, location("api-keys", key.id)


def revoke_api_key(caller, id):
    api_keys.revoke_api_key(caller.administration_id, id, acting_key_id=caller.key_id)
    return None, 204
