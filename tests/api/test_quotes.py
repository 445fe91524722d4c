"""Quotes: totals as invoices, the status table, computed `verlopen`, numbering, one invoice each."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from models import db, quotes
from models.events import Event
from models.invoices import Invoice, InvoiceLine, business_today
from models.numbering import NumberSeries
from models.quotes import QUOTE_TRANSITIONS, STATUSES, Quote, QuoteLine
from tests.api.sales import events, line, make_contact, make_product, make_quote
from tests.conftest import count_rows
from tests.querycount import count_queries

TODAY = business_today()
LATER = (TODAY + timedelta(days=60)).isoformat()
YESTERDAY = (TODAY - timedelta(days=1)).isoformat()


def seed_lines(product_id) -> list[dict]:
    return [line("Spont POS Licentie", 1, 89.00, product_id=product_id), line("Installatie", 2, 125.00),
            {"description": "Notitie: Levering binnen 5 werkdagen", "is_text_line": True}]


def snapshot(tenant) -> dict:
    """Everything a quote operation could change for this tenant."""
    admin = tenant.administration_id
    with db.database.connection_context():
        return {
            "quotes": sorted((str(q.id), q.number, q.status, q.valid_until, q.quote_date, q.note,
                              q.total_incl, q.invoice_id, q.contact_id, q.updated_at)
                             for q in Quote.of(admin)),
            "lines": sorted((str(x.id), x.quote_id, x.description, x.quantity) for x in QuoteLine.of(admin)),
            "invoices": Invoice.of(admin).count(),
            "invoice_lines": InvoiceLine.of(admin).count(),
            "events": Event.of(admin).count(),
            "series": sorted((s.kind, s.year, s.last_number) for s in NumberSeries.of(admin)),
        }


def quote_in(tenant, status: str) -> dict:
    """A quote that shows `status`, reached through the API."""
    quote = make_quote(tenant, quote_date="2026-04-01", valid_until=LATER)
    url = f"/api/quotes/{quote['id']}"
    steps = {"concept": [], "verzonden": [{"status": "verzonden"}],
             "verlopen": [{"status": "verzonden"}, {"valid_until": "2026-04-02"}],
             "geaccepteerd": [{"status": "verzonden"}, {"status": "geaccepteerd"}],
             "afgewezen": [{"status": "verzonden"}, {"status": "afgewezen"}],
             "gefactureerd": [{"status": "verzonden"}, {"status": "geaccepteerd"}, "invoice"]}[status]
    for step in steps:
        response = (tenant.post(f"{url}/invoice") if step == "invoice" else tenant.patch(url, step))
        assert response.status_code in (200, 201), response.text
    shown = tenant.get(url).json()
    assert shown["status"] == status
    return shown


# ------------------------------------------------------------------ the whole flow

def test_quote_goes_concept_sent_accepted_invoice_and_converting_twice_gives_one_invoice(tenant):
    contact_id = make_contact(tenant)
    product_id = make_product(tenant)
    created = tenant.post("/api/quotes", {"contact_id": contact_id, "quote_date": "2026-04-01",
                                          "valid_until": LATER, "lines": seed_lines(product_id),
                                          "reference": "PO-77", "note": "Inclusief installatie"})
    assert created.status_code == 201, created.text
    quote = created.json()
    assert created.headers["location"] == f"/api/quotes/{quote['id']}"
    assert (quote["status"], quote["number"], quote["invoice"]) == ("concept", None, None)
    assert (quote["total_incl"], quote["total_vat"], quote["total_excl"]) == (339.00, 58.83, 280.17)
    assert '"total_incl": 339.00' in created.text
    assert quote["vat_breakdown"] == [{"tax_percentage": 21, "total_incl": 339.00, "total_vat": 58.83,
                                       "total_excl": 280.17}]
    assert [x["total_incl"] for x in quote["lines"]] == [89.00, 250.00, None]
    assert quote["contact"]["name"] == "Acme BV"
    url = f"/api/quotes/{quote['id']}"

    sent = tenant.patch(url, {"status": "verzonden"})
    assert sent.status_code == 200, sent.text
    assert (sent.json()["status"], sent.json()["number"]) == ("verzonden", "OFF-2026-0001")
    accepted = tenant.patch(url, {"status": "geaccepteerd"})
    assert accepted.json()["status"] == "geaccepteerd"

    first = tenant.post(f"{url}/invoice")
    assert first.status_code == 201, first.text
    invoice = first.json()
    assert first.headers["location"] == f"/api/invoices/{invoice['id']}"
    assert (invoice["status"], invoice["number"], invoice["contact_id"]) == ("concept", None, contact_id)
    assert (invoice["total_incl"], invoice["total_vat"], invoice["total_excl"]) == (339.00, 58.83, 280.17)
    assert [(x["description"], x["quantity"], x["unit_price_incl"], x["product_id"], x["is_text_line"])
            for x in invoice["lines"]] == [
        ("Spont POS Licentie", 1, 89.00, product_id, False), ("Installatie", 2, 125.00, None, False),
        ("Notitie: Levering binnen 5 werkdagen", None, None, None, True)]
    assert (invoice["reference"], invoice["note"]) == ("PO-77", "Inclusief installatie")

    after = tenant.get(url).json()
    assert (after["status"], after["invoice"]) == ("gefactureerd", invoice["id"])

    again = tenant.post(f"{url}/invoice", {"status": "verzonden"})
    assert again.status_code == 200, again.text
    assert again.json()["id"] == invoice["id"] and again.json()["status"] == "concept"
    assert count_rows(Invoice, administration=tenant.administration_id) == 1
    assert tenant.get("/api/invoices").json()["total"] == 1

    updates = events(tenant, "quote.created", "quote.updated")
    assert [(e["type"], e.get("previous_status"), e["data"]["status"]) for e in updates] == [
        ("quote.created", None, "concept"), ("quote.updated", "concept", "verzonden"),
        ("quote.updated", "verzonden", "geaccepteerd"), ("quote.updated", "geaccepteerd", "gefactureerd")]
    assert len(events(tenant, "invoice.created")) == 1


def test_conversion_can_issue_the_invoice_with_its_own_number(tenant):
    quote = quote_in(tenant, "geaccepteerd")
    assert quote["number"] == "OFF-2026-0001"
    response = tenant.post(f"/api/quotes/{quote['id']}/invoice",
                           {"status": "verzonden", "invoice_date": "2026-04-20"})
    assert response.status_code == 201, response.text
    invoice = response.json()
    assert (invoice["status"], invoice["number"], invoice["due_date"]) == ("verzonden", "2026-0001",
                                                                           "2026-05-20")
    assert invoice["open_amount"] == 125.00


def test_quote_numbers_are_their_own_gapless_series(tenant):
    contact_id = make_contact(tenant)
    numbers = [make_quote(tenant, contact_id, status="verzonden", quote_date=f"2026-0{m}-01",
                          valid_until=LATER)["number"] for m in (1, 2, 3)]
    concept = make_quote(tenant, contact_id, quote_date="2026-05-01", valid_until=LATER)
    assert tenant.delete(f"/api/quotes/{concept['id']}").status_code == 204
    numbers.append(make_quote(tenant, contact_id, status="verzonden", quote_date="2027-01-01",
                              valid_until=LATER)["number"])
    assert numbers == ["OFF-2026-0001", "OFF-2026-0002", "OFF-2026-0003", "OFF-2027-0001"]
    invoice = tenant.post("/api/invoices", {"contact_id": contact_id, "status": "verzonden",
                                            "invoice_date": "2026-04-01", "lines": [line()]})
    assert invoice.json()["number"] == "2026-0001"


# ------------------------------------------------------------------ verlopen

def test_verlopen_is_computed_from_valid_until_and_filterable(tenant):
    contact_id = make_contact(tenant)
    expired = make_quote(tenant, contact_id, status="verzonden", quote_date="2026-01-05",
                         valid_until=YESTERDAY)
    valid = make_quote(tenant, contact_id, status="verzonden", quote_date="2026-01-06", valid_until=LATER)
    concept = make_quote(tenant, contact_id, quote_date="2026-01-07", valid_until=YESTERDAY)
    assert expired["status"] == "verlopen" and valid["status"] == "verzonden"
    assert concept["status"] == "concept"

    def ids(query):
        response = tenant.get(f"/api/quotes?{query}")
        assert response.status_code == 200, response.text
        return [q["id"] for q in response.json()["data"]]

    assert ids("status=verlopen") == [expired["id"]]
    assert ids("status=verzonden") == [valid["id"]]
    assert ids("status=verzonden,verlopen") == [expired["id"], valid["id"]]
    assert ids("status=concept,verlopen") == [expired["id"], concept["id"]]
    assert tenant.get("/api/quotes?status=verlopen").json()["total"] == 1
    assert tenant.get("/api/quotes?status=bogus").status_code == 400

    url = f"/api/quotes/{expired['id']}"
    refused = tenant.patch(url, {"status": "geaccepteerd"})
    assert refused.status_code == 409
    assert refused.json()["allowed"] == ["afgewezen"]
    revived = tenant.patch(url, {"valid_until": LATER, "status": "geaccepteerd"})
    assert revived.status_code == 200, revived.text
    assert revived.json()["status"] == "geaccepteerd"
    assert events(tenant, "quote.updated")[-1]["previous_status"] == "verlopen"


# ------------------------------------------------------------------ the status table

ILLEGAL = [(current, target) for current in QUOTE_TRANSITIONS for target in STATUSES
           if target != current and "request" not in QUOTE_TRANSITIONS[current].get(target, ())]


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_every_illegal_status_change_is_409_and_changes_nothing(tenant, current, target):
    quote = quote_in(tenant, current)
    before = snapshot(tenant)
    response = tenant.patch(f"/api/quotes/{quote['id']}", {"status": target})
    assert response.status_code == 409, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["allowed"] == sorted(
        to for to, causes in QUOTE_TRANSITIONS[current].items() if "request" in causes)
    assert snapshot(tenant) == before


@pytest.mark.parametrize("current", ["concept", "verzonden", "verlopen", "afgewezen"])
def test_only_an_accepted_quote_converts(tenant, current):
    quote = quote_in(tenant, current)
    before = snapshot(tenant)
    response = tenant.post(f"/api/quotes/{quote['id']}/invoice")
    assert response.status_code == 409, response.text
    assert snapshot(tenant) == before


def test_asking_for_the_current_status_changes_nothing_but_is_recorded(tenant):
    quote = quote_in(tenant, "verzonden")
    response = tenant.patch(f"/api/quotes/{quote['id']}", {"status": "verzonden"})
    assert response.status_code == 200 and response.json()["number"] == quote["number"]
    assert "previous_status" not in events(tenant, "quote.updated")[-1]


def test_sent_quotes_keep_their_content(tenant):
    quote = quote_in(tenant, "verzonden")
    url = f"/api/quotes/{quote['id']}"
    before = snapshot(tenant)
    for change in ({"lines": [line()]}, {"contact_id": quote["contact_id"]}, {"quote_date": "2026-04-02"},
                   {"currency": "USD"}, {"reference": "x"}):
        assert tenant.patch(url, change).status_code == 409, change
    assert tenant.delete(url).status_code == 409
    assert snapshot(tenant) == before
    assert tenant.patch(url, {"note": "Nagebeld"}).json()["note"] == "Nagebeld"
    accepted = quote_in(tenant, "geaccepteerd")
    assert tenant.patch(f"/api/quotes/{accepted['id']}", {"valid_until": LATER}).status_code == 409


def test_concept_lines_change_and_totals_follow(tenant):
    quote = make_quote(tenant, valid_until=LATER)
    url = f"/api/quotes/{quote['id']}"
    changed = tenant.patch(url, {"lines": [line("Broodjes", 12, 2.35, 9), line("Koffie", 3, 2.50, 21)]})
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert (body["total_incl"], body["total_vat"], body["total_excl"]) == (35.70, 3.63, 32.07)
    assert [b["tax_percentage"] for b in body["vat_breakdown"]] == [9, 21]
    assert tenant.get(url).json()["lines"] == body["lines"]
    assert count_rows(QuoteLine, quote=quote["id"]) == 2
    assert tenant.delete(url).status_code == 204
    assert tenant.get(url).status_code == 404
    assert count_rows(QuoteLine, quote=quote["id"]) == 0
    assert events(tenant, "quote.deleted")[0]["data"]["id"] == quote["id"]


# ------------------------------------------------------------------ bad input

def test_bad_input_is_a_clear_4xx_and_creates_nothing(tenant, other_tenant):
    contact_id = make_contact(tenant)
    foreign_contact = make_contact(other_tenant)
    foreign_product = make_product(other_tenant)
    before = snapshot(tenant)
    cases = [
        ({"contact_id": contact_id, "quote_date": "2026-04-10", "valid_until": "2026-04-01",
          "lines": [line()]}, 422),
        ({"contact_id": contact_id, "lines": [line(price=1.005)]}, 422),
        ({"contact_id": contact_id, "lines": []}, 422),
        ({"contact_id": contact_id, "quote_date": "2026-02-30", "lines": [line()]}, 422),
        ({"contact_id": contact_id, "quote_date": "2100-01-01", "lines": [line()]}, 422),
        ({"contact_id": foreign_contact, "lines": [line()]}, 422),
        ({"contact_id": contact_id, "lines": [{"product_id": foreign_product}]}, 422),
        ({"contact_id": contact_id, "status": "geaccepteerd", "lines": [line()]}, 422),
    ]
    for body, status in cases:
        response = tenant.post("/api/quotes", body)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert snapshot(tenant) == before


def test_a_contact_with_quotes_cannot_be_deleted(tenant):
    quote = make_quote(tenant, valid_until=LATER)
    response = tenant.delete(f"/api/contacts/{quote['contact_id']}")
    assert response.status_code == 409
    assert "archive" in response.json()["detail"]


# ------------------------------------------------------------------ tenancy and queries

def test_another_tenants_quotes_are_404(tenant, other_tenant):
    quote = quote_in(tenant, "geaccepteerd")
    url = f"/api/quotes/{quote['id']}"
    before = snapshot(tenant)
    assert other_tenant.get(url).status_code == 404
    assert other_tenant.patch(url, {"status": "afgewezen"}).status_code == 404
    assert other_tenant.delete(url).status_code == 404
    assert other_tenant.post(f"{url}/invoice").status_code == 404
    assert other_tenant.get("/api/quotes").json()["total"] == 0
    assert other_tenant.get(f"/api/quotes?contact_id={quote['contact_id']}").json()["data"] == []
    assert snapshot(tenant) == before
    assert tenant.get("/api/quotes/not-a-uuid").status_code in (400, 404)


def test_list_filters(tenant):
    first = make_contact(tenant)
    second = make_contact(tenant, name="Bakkerij")
    a = make_quote(tenant, first, quote_date="2026-02-01", valid_until=LATER)
    b = make_quote(tenant, second, status="verzonden", quote_date="2026-03-01", valid_until=LATER)

    def ids(query):
        return [q["id"] for q in tenant.get(f"/api/quotes?{query}").json()["data"]]

    assert ids(f"contact_id={second}") == [b["id"]]
    assert ids("date_from=2026-02-15") == [b["id"]]
    assert ids("date_to=2026-02-15") == [a["id"]]
    assert ids("number=OFF-2026-0001") == [b["id"]]
    assert ids("limit=1&offset=1") == [b["id"]]
    since = tenant.get(f"/api/quotes/{b['id']}").json()["updated_at"]
    assert ids(f"updated_since={since}") == [b["id"]]


@pytest.mark.parametrize("lines_per_quote", [1, 40])
def test_quote_reads_take_a_fixed_number_of_statements(tenant, lines_per_quote):
    contact_id = make_contact(tenant)
    lines = [line(f"Regel {i}", price=10.00) for i in range(lines_per_quote)]
    made = [make_quote(tenant, contact_id, lines=lines, valid_until=LATER) for _ in range(21)]
    tenant.get("/api/quotes?limit=1")  # the key is verified (and cached) outside the counted block

    with count_queries() as one:
        assert len(tenant.get("/api/quotes?limit=1").json()["data"]) == 1
    with count_queries() as page:
        assert len(tenant.get("/api/quotes?limit=20").json()["data"]) == 20
    with count_queries() as everything:
        assert tenant.get("/api/quotes?limit=25").json()["total"] == 21
    with count_queries() as detail:
        assert len(tenant.get(f"/api/quotes/{made[0]['id']}").json()["lines"]) == lines_per_quote
    assert one.count == page.count == 3, page.sql      # page with contacts, count (more follow), lines
    assert everything.count == 2, everything.sql       # a short first page implies its total: no count
    assert detail.count == 2, detail.sql               # quote with contact, lines


# ------------------------------------------------------------------ concurrency

def test_concurrent_conversions_make_one_invoice(tenant):
    quote = quote_in(tenant, "geaccepteerd")
    barrier = threading.Barrier(4)
    results, errors = [], []

    def convert():
        try:
            with db.database.connection_context():
                barrier.wait(timeout=10)
                invoice, created = quotes.invoice_quote(tenant.administration_id, quote["id"])
                results.append((invoice.id, created))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=convert) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert len({invoice_id for invoice_id, _ in results}) == 1
    assert sorted(created for _, created in results) == [False, False, False, True]
    assert count_rows(Invoice, administration=tenant.administration_id) == 1
    assert tenant.get(f"/api/quotes/{quote['id']}").json()["invoice"] == str(results[0][0])
