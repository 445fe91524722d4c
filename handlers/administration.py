from models import reminders, serialize, tenancy


def get_administration(caller):
    return serialize.administration(tenancy.get_administration(caller.administration_id))


def update_administration(caller, body):
    return serialize.administration(tenancy.update_administration(caller.administration_id, body))


def get_reminder_settings(caller):
    return serialize.reminder_settings(reminders.get_schedule(caller.administration_id))


def update_reminder_settings(caller, body):
    return serialize.reminder_settings(reminders.update_schedule(caller.administration_id, body))
