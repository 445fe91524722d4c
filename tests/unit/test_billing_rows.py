"""The billing run's own ids and COPY text (it writes rows without the ORM)."""

import datetime as dt
import uuid

from models.billing import dashed, new_ids
from models.db import _copy_encoder
from models.invoices import Invoice, InvoiceLine


def test_new_ids_are_distinct_random_version_4_uuids():
    ids = new_ids(5000)
    parsed = [uuid.UUID(hex=value) for value in ids]
    assert len(set(ids)) == 5000
    assert all(u.version == 4 and u.variant == uuid.RFC_4122 and u.hex == value
               for u, value in zip(parsed, ids, strict=True))
    assert [dashed(value) for value in ids[:3]] == [str(u) for u in parsed[:3]]
    assert new_ids(0) == []


def test_copy_text_of_each_column_kind():
    text = _copy_encoder(InvoiceLine.description)
    assert text("Regel 1\nTab\there \\ €") == "Regel 1\\nTab\\there \\\\ €"
    assert text(None) == "\\N"
    flag = _copy_encoder(InvoiceLine.is_text_line)
    assert (flag(True), flag(False), flag(None)) == ("t", "f", "\\N")
    stamp = _copy_encoder(Invoice.created_at)
    moment = dt.datetime(2026, 3, 28, 9, 5, 7, 120)
    assert stamp(moment) == stamp(moment) == "2026-03-28 09:05:07.000120"
    assert stamp(None) == "\\N"
    assert stamp(dt.datetime(2026, 1, 1)) == "2026-01-01 00:00:00"
    plain = _copy_encoder(Invoice.total_incl)
    assert (plain(6050), plain(None), _copy_encoder(Invoice.invoice_date)(dt.date(2026, 3, 1))) == (
        "6050", "\\N", "2026-03-01")
