"""The load harness against gunicorn with contacts: concurrent creates (some retried with the
same Idempotency-Key), reads and lists; afterwards every invariant is checked in the database.

The invoice/payment scenario plugs into the same harness: a scenario function and checkers."""

from __future__ import annotations

from collections import defaultdict

import pytest

from models import db
from models.contacts import Contact
from models.events import Event
from tests.reliability.conftest import new_tenant_key
from tests.reliability.harness import LoadReport, new_key, run_load


def contact_scenario(client, worker: int, iteration: int) -> None:
    """Create a contact; every third one is retried with the same key; read it; list now and then."""
    key = new_key()
    body = {"name": f"Load {worker}-{iteration}", "external_id": f"LOAD-{worker}-{iteration}"}
    created = client.post("/api/contacts", body, idempotency_key=key, operation="create")
    if created is None or created.status_code != 201:
        return
    contact_id = created.json()["id"]
    client.report.note("created", (key, contact_id))
    if iteration % 3 == 0:
        retry = client.post("/api/contacts", body, idempotency_key=key, operation="create (retry)")
        if retry is not None and retry.status_code == 201:
            replayed = retry.headers.get("idempotent-replayed")
            client.report.note("replayed", (key, retry.json()["id"], replayed))
    client.get(f"/api/contacts/{contact_id}", operation="get")
    if iteration % 5 == 0:
        client.get("/api/contacts?limit=20", operation="list")


def no_server_errors(report: LoadReport) -> list[str]:
    problems = [f"{n} responses with status {s}" for s, n in report.statuses.items() if s >= 500]
    problems += [f"{n} transport errors ({e})" for e, n in report.transport_errors.items()]
    return problems


def one_contact_per_idempotency_key(report: LoadReport) -> list[str]:
    ids_by_key = defaultdict(set)
    for key, contact_id in report.notes.get("created", []):
        ids_by_key[key].add(contact_id)
    problems = []
    for key, contact_id, flag in report.notes.get("replayed", []):
        ids_by_key[key].add(contact_id)
        if flag != "true":
            problems.append(f"retry with key {key} was not a replay")
    problems += [f"key {k} made {len(ids)} contacts" for k, ids in ids_by_key.items() if len(ids) != 1]
    return problems


def database_matches_responses(administration_id):
    """Every 201 is a row, every row was a 201, each with exactly one contact.created event."""

    def check(report: LoadReport) -> list[str]:
        created = {contact_id for _, contact_id in report.notes.get("created", [])}
        with db.database.connection_context():
            rows = {str(c.id) for c in Contact.of(administration_id)}
            events = [e.payload for e in Event.of(administration_id).where(Event.type == "contact.created")]
        problems = []
        if rows != created:
            problems.append(f"{len(rows - created)} contacts nobody got a 201 for, "
                            f"{len(created - rows)} 201s without a contact")
        if len(events) != len(rows):
            problems.append(f"{len(events)} contact.created events for {len(rows)} contacts")
        return problems

    return check


def test_contacts_under_concurrent_load_keep_every_invariant(live_server, database_url):
    administration_id, key = new_tenant_key(database_url)
    report = run_load(live_server.url, contact_scenario, headers={"X-API-Key": key},
                      clients=8, max_seconds=30, max_requests=1200)
    print(report.summary())
    assert report.requests == 1200, report.summary()
    assert report.notes["created"] and report.notes["replayed"]
    violations = report.violations(no_server_errors, one_contact_per_idempotency_key,
                                   database_matches_responses(administration_id))
    assert violations == [], report.summary()


def test_the_harness_is_bounded_and_refuses_remote_hosts():
    with pytest.raises(ValueError):
        run_load("http://example.com", contact_scenario, max_seconds=1, max_requests=1)
    report = run_load("http://127.0.0.1:9", lambda c, w, i: c.get("/"), clients=2,
                      max_seconds=5, max_requests=7, request_timeout=1)
    assert report.requests == 7 and sum(report.transport_errors.values()) == 7
