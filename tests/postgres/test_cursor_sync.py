"""Syncing a list while other clients write to it (PostgreSQL, a real server, threads): every
invoice that existed when the sync began is seen exactly once, by offset and by either cursor."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import date, datetime, timedelta

import httpx
import pytest

from models import api_keys, contacts, db, tenancy
from models.invoices import Invoice
from tests.conftest import bind_test_database
from tests.server import GunicornServer

pytestmark = pytest.mark.postgres

EXISTING = 2_500
LINE = {"description": "Licentie", "quantity": 1, "unit_price_incl": 10.00, "tax_percentage": 21}


def seed(pg_url) -> tuple[str, str, list[str]]:
    """An administration with EXISTING issued invoices; its key, contact id and invoice ids in list order."""
    database = bind_test_database(pg_url)
    with database.connection_context():
        administration = tenancy.create_administration("Sync BV")
        _, key = api_keys.create_api_key(administration.id, "sync", ["read", "write"])
        contact = contacts.create_contact(administration.id, {"name": "Klant"})
        start = datetime(2026, 1, 1)
        rows = [{"id": uuid.uuid4(), "administration": administration.id, "contact": contact.id,
                 "number": f"S-{i:05d}", "status": "verzonden", "invoice_date": date(2026, 1, 1),
                 "due_date": date(2026, 1, 31), "contact_name": "Klant",
                 # Pairs share a timestamp: the id decides their order.
                 "created_at": start + timedelta(milliseconds=i // 2), "updated_at": start}
                for i in range(EXISTING)]
        with db.database.atomic():
            for first in range(0, EXISTING, 500):
                Invoice.insert_many(rows[first:first + 500]).execute()
    ordered = sorted(rows, key=lambda r: (r["created_at"], str(r["id"])))
    return key, str(contact.id), [str(r["id"]) for r in ordered]


def walk(client, method: str, newer_id: str) -> tuple[list[str], int]:
    """All ids one client reads by `method` (100 per page); and how many pages it took."""
    seen: list[str] = []
    cursor, offset, pages = None, 0, 0
    if method == "ending_before":
        cursor = newer_id   # walk back from an invoice created after all existing ones
    while pages < 100:
        params: dict = {"limit": 100}
        if method == "offset":
            params["offset"] = offset
        elif cursor is not None:
            params[method] = cursor
        response = client.get("/api/invoices", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        ids = [row["id"] for row in body["data"]]
        pages += 1
        seen = ids + seen if method == "ending_before" else seen + ids
        if not body["has_more"]:
            break
        offset += len(ids)
        cursor = ids[0] if method == "ending_before" else ids[-1]
    return seen, pages


def test_every_invoice_once_by_each_method_while_others_insert(pg_url):
    key, contact_id, existing = seed(pg_url)
    stop = threading.Event()
    inserted: list[str] = []
    errors: list[str] = []

    with GunicornServer(pg_url, workers=2) as server:
        def insert():
            with httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=60) as writer:
                deadline = time.monotonic() + 120
                while not stop.is_set() and time.monotonic() < deadline:
                    response = writer.post("/api/invoices", json={
                        "contact_id": contact_id, "status": "verzonden", "lines": [LINE]})
                    if response.status_code != 201:
                        errors.append(response.text)
                        return
                    inserted.append(response.json()["id"])

        writers = [threading.Thread(target=insert) for _ in range(3)]
        for thread in writers:
            thread.start()
        try:
            results = {}
            with httpx.Client(base_url=server.url, headers={"X-API-Key": key}, timeout=60) as reader:
                while len(inserted) < 3 and not errors:   # the writers are under way
                    time.sleep(0.05)
                for method in ("offset", "starting_after", "ending_before"):
                    before = len(inserted)
                    results[method] = walk(reader, method, inserted[0])
                    assert len(inserted) > before, f"nothing was inserted during the {method} walk"
        finally:
            stop.set()
            for thread in writers:
                thread.join(timeout=60)

    assert errors == []
    new = set(inserted)
    for method, (seen, pages) in results.items():
        assert len(seen) == len(set(seen)), f"{method}: an invoice was seen twice"
        old = [i for i in seen if i not in new]
        assert old == existing, f"{method}: the existing invoices, each once, in list order"
        assert pages >= EXISTING // 100, method
    # The forward walks also met invoices created while they ran, each once.
    assert set(results["starting_after"][0]) & new and set(results["offset"][0]) & new
