from models import events, serialize


def list_events(caller, after=None, limit=100):
    rows, has_more = events.list_events(caller.administration_id, after=after, limit=limit)
    data = [serialize.event(r) for r in rows]
    next_after = data[-1]["id"] if data else after
    return {"data": data, "limit": limit, "has_more": has_more, "next_after": next_after}


def get_event(caller, id):
    return serialize.event(events.get_event(caller.administration_id, id))
