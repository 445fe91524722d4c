"""Cursor pagination: `starting_after` / `ending_before` page by keyset on every list."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from models import contacts, db
from models.contacts import Contact
from tests.api.test_pagination import LISTS, seed_contacts


def page(tenant, url="/api/contacts", **params) -> tuple[list[str], dict]:
    response = tenant.get(url, params=params)
    assert response.status_code == 200, response.text
    body = response.json()
    return [row["id"] for row in body["data"]], body


def test_starting_after_walks_the_whole_list_once(tenant):
    ids = seed_contacts(tenant, 25)
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 7} | ({"starting_after": cursor} if cursor else {})
        got, body = page(tenant, **params)
        pages += 1
        assert (body["total"], body["total_exact"], body["offset"]) == (25, True, 0)
        seen += got
        if not body["has_more"]:
            break
        cursor = got[-1]
    assert seen == ids and pages == 4
    assert page(tenant, limit=7, starting_after=ids[-1])[0] == []
    assert page(tenant, limit=5, starting_after=ids[19])[1]["has_more"] is False
    assert page(tenant, limit=4, starting_after=ids[19])[1]["has_more"] is True


def test_ending_before_walks_back_in_list_order(tenant):
    ids = seed_contacts(tenant, 25)
    got, body = page(tenant, limit=7, ending_before=ids[-1])
    assert got == ids[17:24] and body["has_more"] is True
    seen, cursor = [], ids[-1]
    while True:
        got, body = page(tenant, limit=7, ending_before=cursor)
        seen = got + seen
        if not body["has_more"]:
            break
        cursor = got[0]
    assert seen == ids[:-1]
    assert page(tenant, limit=5, ending_before=ids[5])[1]["has_more"] is False
    assert page(tenant, limit=5, ending_before=ids[6])[1]["has_more"] is True
    assert page(tenant, ending_before=ids[0])[0] == []


def test_rows_created_at_the_same_moment_are_ordered_by_id(tenant):
    """The keyset is (created_at, id): rows sharing a timestamp are neither skipped nor repeated."""
    moment = datetime(2026, 3, 1, 12, 0)
    rows = [{"id": uuid.uuid4(), "administration": tenant.administration_id, "name": f"Tweeling {i}",
             "country": "NL", "created_at": moment, "updated_at": moment} for i in range(9)]
    with db.database.connection_context():
        Contact.insert_many(rows).execute()
    ids = sorted(str(row["id"]) for row in rows)
    assert page(tenant)[0] == ids
    assert page(tenant, limit=3, starting_after=ids[2])[0] == ids[3:6]
    assert page(tenant, limit=3, ending_before=ids[6])[0] == ids[3:6]


def test_the_cursor_row_need_not_match_the_filter_any_more(tenant):
    ids = seed_contacts(tenant, 6)
    assert page(tenant, archived="false", limit=2, starting_after=ids[1])[0] == ids[2:4]
    with db.database.connection_context():
        Contact.update(archived=True).where(Contact.id == uuid.UUID(ids[1])).execute()
    got, body = page(tenant, archived="false", limit=2, starting_after=ids[1])
    assert got == ids[2:4] and body["total"] == 5


def test_filters_apply_to_cursor_pages(tenant):
    ids = seed_contacts(tenant, 12, archived_every=3)   # 0, 3, 6, 9 archived
    assert page(tenant, archived="true", starting_after=ids[0])[0] == [ids[3], ids[6], ids[9]]
    assert page(tenant, archived="false", ending_before=ids[5], limit=2)[0] == [ids[2], ids[4]]
    assert page(tenant, archived="true", starting_after=ids[0])[1]["total"] == 4


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("param", ["starting_after", "ending_before"])
def test_every_list_takes_a_cursor_and_refuses_an_unknown_one(tenant, url, param):
    response = tenant.get(url, params={param: str(uuid.uuid4())})
    assert response.status_code == 404, response.text
    problem = response.json()
    assert problem["errors"][0]["field"] == param


@pytest.mark.parametrize("param", ["starting_after", "ending_before"])
def test_the_cursor_of_an_api_key_pages_the_keys(tenant, param):
    for n in range(3):
        assert tenant.post("/api/api-keys", json={"name": f"k{n}", "scopes": ["read"]}).status_code == 201
    ids, _ = page(tenant, "/api/api-keys")
    assert len(ids) == 4
    if param == "starting_after":
        assert page(tenant, "/api/api-keys", starting_after=ids[1])[0] == ids[2:]
    else:
        assert page(tenant, "/api/api-keys", ending_before=ids[2])[0] == ids[:2]


def test_another_tenants_row_is_no_cursor(tenant, other_tenant):
    theirs = seed_contacts(other_tenant, 2)
    seed_contacts(tenant, 2)
    response = tenant.get("/api/contacts", params={"starting_after": theirs[0]})
    assert response.status_code == 404
    assert "Klant" not in response.text


def test_both_cursors_give_the_rows_between(tenant):
    ids = seed_contacts(tenant, 10)
    got, body = page(tenant, starting_after=ids[2], ending_before=ids[8], limit=4)
    assert got == ids[3:7] and body["has_more"] is True and body["total"] == 10
    got, body = page(tenant, starting_after=ids[2], ending_before=ids[8], limit=5)
    assert got == ids[3:8] and body["has_more"] is False
    assert page(tenant, starting_after=ids[5], ending_before=ids[2])[0] == []


def test_an_offset_counts_from_the_cursor(tenant):
    ids = seed_contacts(tenant, 10)
    got, body = page(tenant, starting_after=ids[1], offset=2, limit=3)
    assert got == ids[4:7] and (body["offset"], body["has_more"]) == (2, True)
    assert page(tenant, ending_before=ids[9], offset=2, limit=3)[0] == ids[4:7]
    assert tenant.get("/api/contacts", params={"starting_after": "nope"}).status_code == 400


def test_an_unknown_cursor_is_404_also_past_the_end(tenant):
    ids = seed_contacts(tenant, 3)
    gone = str(uuid.uuid4())
    response = tenant.get("/api/contacts", params={"starting_after": ids[0], "ending_before": gone})
    assert response.status_code == 404 and response.json()["errors"][0]["field"] == "ending_before"
    assert page(tenant, starting_after=ids[-1])[0] == []     # a known last row: simply the end


def test_a_cursor_page_runs_two_statements(tenant):
    """The page reads the cursor row inside its own statement; the second one is the count."""
    ids = seed_contacts(tenant, 30)
    database = db.database.obj
    seen: list[str] = []
    original = database.execute_sql

    def recording(sql, values=None, *args, **kwargs):
        seen.append(sql)
        return original(sql, values, *args, **kwargs)

    with db.database.connection_context():
        database.execute_sql = recording
        try:
            listed = contacts.list_contacts(tenant.administration_id, limit=10, starting_after=ids[9])
        finally:
            del database.execute_sql
    assert [str(c.id) for c in listed.rows] == ids[10:20]
    assert len(seen) == 2 and "OFFSET" not in seen[0].upper()



def test_every_list_in_the_spec_takes_both_cursors():
    """Every operation that pages by `offset` also pages by `starting_after` / `ending_before`."""
    import yaml

    from paydock import SPEC

    spec = yaml.safe_load(SPEC.read_text())
    paged = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "get" and isinstance(operation, dict):
                names = {p.get("$ref", "").rsplit("/", 1)[-1] for p in operation.get("parameters", [])}
                if "Offset" in names:
                    paged[path] = names
                    assert {"StartingAfter", "EndingBefore"} <= names, path
                    assert "404" in operation["responses"], path
    assert len(paged) >= 12, sorted(paged)


def test_an_invoices_deliveries_page_by_cursor(tenant):
    from tests.api.sales import make_contact, make_invoice

    invoice = make_invoice(tenant, make_contact(tenant, email="klant@acme.nl"), status="concept")
    sent = [tenant.post(f"/api/invoices/{invoice['id']}/send", {"email": f"k{i}@acme.nl",
                                                                 "attach_ubl": False}).json()["id"]
            for i in range(5)]
    url = f"/api/invoices/{invoice['id']}/deliveries"
    assert page(tenant, url, limit=2, starting_after=sent[0])[0] == sent[1:3]
    assert page(tenant, url, limit=2, ending_before=sent[4])[0] == sent[2:4]
    assert tenant.get(url, params={"starting_after": str(uuid.uuid4())}).status_code == 404


def test_bank_statements_page_by_cursor(tenant):
    from tests.api.test_bank_statements import _many_entries, upload

    ids = []
    for i in range(4):
        response = upload(tenant, _many_entries(1, f"STMT-CURSOR-{uuid.uuid4().hex[:8]}-{i}"))
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    assert page(tenant, "/api/bank-statements", limit=2, starting_after=ids[0])[0] == ids[1:3]
    assert page(tenant, "/api/bank-statements", limit=2, ending_before=ids[3])[0] == ids[1:3]
    response = tenant.get("/api/bank-statements", params={"ending_before": str(uuid.uuid4())})
    assert response.status_code == 404
