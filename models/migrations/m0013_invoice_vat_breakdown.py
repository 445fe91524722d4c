"""Invoices keep their VAT breakdown (JSON text) so that reading one never recomputes it.

Adds invoice.vat_breakdown and fills it for the invoices already there from their lines,
with the totals policy (models.totals) as the API has always shown it. Rows read while
this column is still null are computed on the fly, so a half-filled table is never wrong.
"""

from decimal import Decimal

import peewee

from models.migrations import add_column_if_missing

BATCH = 1000


def up(db):
    from models.serialize import vat_breakdown_json
    from models.totals import LineAmounts, invoice_totals

    add_column_if_missing(db, "invoice", "vat_breakdown", peewee.TextField(null=True))
    param = db.param
    last = None
    while True:
        after = f"AND id > {param} " if last is not None else ""
        ids = [row[0] for row in db.execute_sql(
            f"SELECT id FROM invoice WHERE vat_breakdown IS NULL {after}ORDER BY id LIMIT {BATCH}",
            [last] if last is not None else [])]
        if not ids:
            return
        last = ids[-1]
        lines: dict = {key: [] for key in ids}
        marks = ", ".join([param] * len(ids))
        for invoice_id, quantity, price, rate in db.execute_sql(
                "SELECT invoice_id, quantity, unit_price_incl, tax_percentage FROM invoice_line "
                f"WHERE invoice_id IN ({marks}) AND NOT is_text_line", ids):
            lines[invoice_id].append(LineAmounts(Decimal(int(quantity)).scaleb(-4),
                                                 Decimal(int(price)).scaleb(-2),
                                                 Decimal(int(rate)).scaleb(-2)))
        cursor = db.cursor()
        cursor.executemany(f"UPDATE invoice SET vat_breakdown = {param} WHERE id = {param}",
                           [(vat_breakdown_json(invoice_totals(amounts)), key)
                            for key, amounts in lines.items()])
