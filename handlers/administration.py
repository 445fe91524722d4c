from models import serialize, tenancy


def get_administration(caller):
    return serialize.administration(tenancy.get_administration(caller.administration_id))


def update_administration(caller, body):
    return serialize.administration(tenancy.update_administration(caller.administration_id, body))
