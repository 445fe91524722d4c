"""The invoice status table and the status a payment total gives, without a database."""

from decimal import Decimal as D

import pytest

from models.invoices import (
    CREDITABLE_STATUSES,
    INVOICE_TRANSITIONS,
    PAYABLE_STATUSES,
    STATUSES,
    allowed_statuses,
    payment_status,
)


def test_the_table_covers_every_status_and_only_known_ones():
    assert set(INVOICE_TRANSITIONS) == set(STATUSES)
    for targets in INVOICE_TRANSITIONS.values():
        assert set(targets) <= set(STATUSES)
        assert all(causes <= {"request", "payment", "credit"} for causes in targets.values())


def test_what_a_client_may_ask_for():
    assert [allowed_statuses(s, "request") for s in STATUSES] == [
        ["verzonden"], ["betaald", "oninbaar"], ["betaald", "oninbaar"], [], [], []]
    assert PAYABLE_STATUSES == ("verzonden", "deels_betaald", "betaald")
    assert CREDITABLE_STATUSES == ("verzonden", "deels_betaald", "betaald")
    # Nothing leads back to concept, and written-off or credited invoices are final.
    assert all("concept" not in targets for targets in INVOICE_TRANSITIONS.values())
    assert INVOICE_TRANSITIONS["oninbaar"] == INVOICE_TRANSITIONS["gecrediteerd"] == {}


@pytest.mark.parametrize("total, paid, status", [
    ("339.00", "0.00", "verzonden"),
    ("339.00", "0.01", "deels_betaald"),
    ("339.00", "338.99", "deels_betaald"),
    ("339.00", "339.00", "betaald"),
    ("339.00", "400.00", "betaald"),       # paid too much: still paid, open_amount negative
    ("-250.00", "0.00", "verzonden"),      # a credit note: refunds count towards it
    ("-250.00", "-100.00", "deels_betaald"),
    ("-250.00", "-250.00", "betaald"),
    ("0.00", "0.00", "betaald"),           # nothing to pay
])
def test_status_follows_what_is_paid(total, paid, status):
    assert payment_status(D(total), D(paid)) == status
