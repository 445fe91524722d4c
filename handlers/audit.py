from models import audit, serialize


def list_audit_log(caller, limit=100, offset=0, updated_since=None, action=None, target_id=None,
                   starting_after=None, ending_before=None):
    page = audit.list_audit_entries(
        caller.administration_id, limit=limit, offset=offset,
        starting_after=starting_after, ending_before=ending_before, updated_since=updated_since,
        action=action, target_id=target_id,
    )
    return serialize.page(page, serialize.audit_entry)
