"""The list envelope: exact `total` up to TOTAL_COUNT_LIMIT, `total_exact`, `has_more`, and
a COUNT only when the page does not already imply the total."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from models import contacts, db
from models.contacts import Contact
from models.listing import TOTAL_COUNT_LIMIT, Page

LISTS = ["/api/contacts", "/api/products", "/api/invoices", "/api/payments", "/api/quotes",
         "/api/subscriptions", "/api/api-keys", "/api/webhook-endpoints", "/api/audit-log"]


def seed_contacts(tenant, count: int, *, archived_every: int = 0) -> list[str]:
    """`count` contacts a millisecond apart, inserted in one transaction; their ids, oldest first."""
    start = datetime(2026, 1, 1)
    rows = [{"id": uuid.uuid4(), "administration": tenant.administration_id, "name": f"Klant {i}",
             "country": "NL", "archived": bool(archived_every) and i % archived_every == 0,
             "created_at": start + timedelta(milliseconds=i), "updated_at": start}
            for i in range(count)]
    with db.database.connection_context(), db.database.atomic():
        for first in range(0, count, 500):
            Contact.insert_many(rows[first:first + 500]).execute()
    return [str(row["id"]) for row in rows]


def envelope(tenant, **params) -> tuple[list[str], tuple]:
    response = tenant.get("/api/contacts", params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["limit"], body["offset"]) == (params.get("limit", 100), params.get("offset", 0))
    return [c["id"] for c in body["data"]], (body["total"], body["total_exact"], body["has_more"])


@pytest.mark.parametrize("url", LISTS)
def test_every_list_answers_the_paging_fields(tenant, url):
    body = tenant.get(url, params={"limit": 500}).json()
    assert set(body) == {"data", "total", "total_exact", "has_more", "limit", "offset"}
    assert body["total"] == len(body["data"]) and body["total_exact"] is True
    assert (body["has_more"], body["limit"], body["offset"]) == (False, 500, 0)


def test_exact_totals_and_has_more_at_the_edges(tenant):
    ids = seed_contacts(tenant, 5)
    assert envelope(tenant, limit=10) == (ids, (5, True, False))             # fewer than limit
    assert envelope(tenant, limit=5) == (ids, (5, True, False))              # exactly limit
    assert envelope(tenant, limit=4) == (ids[:4], (5, True, True))           # more than limit
    assert envelope(tenant, limit=2, offset=2) == (ids[2:4], (5, True, True))  # a middle page
    assert envelope(tenant, limit=4, offset=4) == (ids[4:], (5, True, False))  # the last, short
    assert envelope(tenant, limit=1, offset=4) == (ids[4:], (5, True, False))  # the last, full
    assert envelope(tenant, limit=5, offset=5) == ([], (5, True, False))     # just past the end
    assert envelope(tenant, offset=500) == ([], (5, True, False))            # far past the end
    assert envelope(tenant, limit=1, q="Klant 3") == ([ids[3]], (1, True, False))


def test_an_empty_list(tenant):
    assert envelope(tenant) == ([], (0, True, False))
    assert envelope(tenant, offset=10) == ([], (0, True, False))


def test_total_stops_counting_above_the_limit(tenant):
    """10,050 contacts of which 50 archived: 10,000 active ones are still counted exactly."""
    assert TOTAL_COUNT_LIMIT == 10_000
    ids = seed_contacts(tenant, TOTAL_COUNT_LIMIT + 50, archived_every=201)
    active = [i for n, i in enumerate(ids) if n % 201]
    assert len(active) == TOTAL_COUNT_LIMIT

    capped = (TOTAL_COUNT_LIMIT, False)
    assert envelope(tenant, limit=1) == (ids[:1], (*capped, True))
    assert envelope(tenant, limit=500, offset=5000) == (ids[5000:5500], (*capped, True))
    assert envelope(tenant, limit=100, offset=9950) == (ids[9950:10050], (*capped, False))
    assert envelope(tenant, limit=100, offset=10_000) == (ids[10_000:], (*capped, False))
    assert envelope(tenant, offset=20_000) == ([], (*capped, False))

    exact = (TOTAL_COUNT_LIMIT, True)
    assert envelope(tenant, limit=1, archived="false") == (active[:1], (*exact, True))
    assert envelope(tenant, limit=2, offset=9998, archived="false") == (active[9998:], (*exact, False))
    assert envelope(tenant, limit=1, offset=9998, archived="false") == (active[9998:9999], (*exact, True))
    assert envelope(tenant, offset=TOTAL_COUNT_LIMIT, archived="false") == ([], (*exact, False))
    assert envelope(tenant, limit=1, archived="true") == (ids[:1], (50, True, True))


def list_statements(tenant, **params) -> tuple[list[tuple[str, tuple]], Page]:
    """The statements (SQL and parameters) one contacts page runs, and the page."""
    database = db.database.obj
    seen: list[tuple[str, tuple]] = []
    original = database.execute_sql

    def recording(sql, values=None, *args, **kwargs):
        seen.append((sql, tuple(values or ())))
        return original(sql, values, *args, **kwargs)

    with db.database.connection_context():
        database.execute_sql = recording
        try:
            page = contacts.list_contacts(tenant.administration_id, **params)
        finally:
            del database.execute_sql
    return seen, page


def test_the_count_runs_only_when_the_page_does_not_imply_the_total(tenant):
    seed_contacts(tenant, 30)

    def counts(statements) -> list[tuple[str, tuple]]:
        return [s for s in statements if "COUNT(" in s[0].upper()]

    def shape(statements, page) -> tuple:
        return len(statements), len(counts(statements)), page.total, page.total_exact, page.has_more

    assert shape(*list_statements(tenant, limit=100)) == (1, 0, 30, True, False)       # short first page
    assert shape(*list_statements(tenant, limit=30)) == (1, 0, 30, True, False)        # full, none after
    assert shape(*list_statements(tenant, limit=10, offset=25)) == (1, 0, 30, True, False)  # last page
    assert shape(*list_statements(tenant, limit=10, offset=40)) == (2, 1, 30, True, False)  # past the end
    statements, page = list_statements(tenant, limit=10, offset=10)
    assert shape(statements, page) == (2, 1, 30, True, True)                            # more follow
    # The count reads at most TOTAL_COUNT_LIMIT + 1 rows, and the page one row beyond `limit`.
    [(count_sql, count_params)] = counts(statements)
    assert "LIMIT" in count_sql.upper() and TOTAL_COUNT_LIMIT + 1 in count_params
    assert TOTAL_COUNT_LIMIT + 1 not in statements[0][1] and 11 in statements[0][1]


SYNC_LISTS = ["/api/contacts", "/api/products", "/api/invoices", "/api/payments", "/api/quotes",
              "/api/subscriptions", "/api/audit-log"]


@pytest.mark.parametrize("url", SYNC_LISTS)
def test_updated_since_takes_every_rfc3339_spelling_and_the_edges_of_time(tenant, url):
    """Lower-case `t`/`z`, and instants that leave the years 1-9999 once moved to UTC: the
    lower bound is clamped to the first or last representable instant."""
    tenant.post("/api/contacts", {"name": "Sync BV"})
    everything = tenant.get(url).json()["total"]
    for value, expected in [("2026-04-01t00:00:00z", None), ("2000-01-01t00:00:00.5z", everything),
                            ("0001-01-01T00:00:00+01:00", everything),
                            ("0001-01-01T00:00:00-01:00", everything),
                            ("9999-12-31T23:59:59-01:00", 0), ("9999-12-31T23:59:59+01:00", 0)]:
        response = tenant.get(url, params={"updated_since": value})
        assert response.status_code == 200, (value, response.text)
        if expected is not None:
            assert response.json()["total"] == expected, value
    lower = tenant.get("/api/contacts", params={"updated_since": "2000-01-01t00:00:00z"}).json()
    upper = tenant.get("/api/contacts", params={"updated_since": "2000-01-01T00:00:00Z"}).json()
    assert lower["total"] == upper["total"] == 1
