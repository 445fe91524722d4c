from models import audit, serialize


def list_audit_log(caller, limit=100, offset=0, updated_since=None, action=None, target_id=None):
    page = audit.list_audit_entries(
        caller.administration_id, limit=limit, offset=offset, updated_since=updated_since,
        action=action, target_id=target_id,
    )
    return serialize.page(page, serialize.audit_entry)
