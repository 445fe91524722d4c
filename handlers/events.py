from models import events, serialize


def list_events(caller, after=None, limit=100):
    page = events.list_events(caller.administration_id, after=after, limit=limit)
    return serialize.page(page, serialize.event)


def get_event(caller, id):
    return serialize.event(events.get_event(caller.administration_id, id))
