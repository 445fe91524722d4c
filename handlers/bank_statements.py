from models import bank_statements, serialize
from paydock.responses import location


def import_bank_statement(caller, body):
    imported = bank_statements.import_statement(caller.administration_id, body)
    shown = serialize.bank_statement(imported.statement, imported.entries)
    if not imported.created:
        return shown
    return shown, 201, location("bank-statements", imported.statement.id)


def list_bank_statements(caller, limit=100, offset=0, updated_since=None, starting_after=None,
                         ending_before=None):
    page = bank_statements.list_statements(caller.administration_id, limit=limit, offset=offset,
                                           updated_since=updated_since, starting_after=starting_after,
                                           ending_before=ending_before)
    return serialize.page(page, serialize.bank_statement)


def get_bank_statement(caller, id):
    return serialize.bank_statement(*bank_statements.get_statement(caller.administration_id, id))


def match_bank_statement_entry(caller, id, body):
    return serialize.bank_statement_entry(bank_statements.match_entry(caller.administration_id, id, body))
