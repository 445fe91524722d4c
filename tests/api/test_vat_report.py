"""GET /reports/vat: the Dutch VAT return per box, by hand and as the sum of the invoices' breakdowns."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, timedelta
from decimal import Decimal

from models.invoices import business_today
from tests.api.sales import line, make_contact, make_invoice, pay
from tests.querycount import count_queries


def current_quarter() -> tuple[str, date]:
    """The quarter of today (a credit note is always dated today) and its first day."""
    today = business_today()
    quarter = (today.month - 1) // 3 + 1
    return f"{today.year}-Q{quarter}", date(today.year, 3 * quarter - 2, 1)


def money(value) -> Decimal:
    return Decimal(str(value))


def build_quarter(tenant) -> tuple[str, list[str]]:
    """0/9/21 % invoices, one at 5.5 %, a credit note, a concept, one before the quarter and one
    in USD. Returns the period and the ids of the documents the report must count."""
    period, first = current_quarter()
    contact = make_contact(tenant)
    a = make_invoice(tenant, contact, invoice_date=first.isoformat(), lines=[
        line("Spont POS Licentie", 1, 89.00, 21), line("Installatie", 2, 125.00, 21),
        line("Boek", 1, 109.00, 9)])
    b = make_invoice(tenant, contact, invoice_date=first.isoformat(), lines=[
        line("Export", 1, 50.00, 0), line("Kabel", 1, 12.10, 21), line("Overig", 1, 105.50, 5.5),
        {"is_text_line": True, "description": "Levering binnen 5 werkdagen"}])
    c = make_invoice(tenant, contact, invoice_date=first.isoformat(), lines=[line("Koffie", 3, 0.99, 9)])
    pay(tenant, c["id"], 2.97)   # paid invoices count like any other issued one
    book_line = next(x["id"] for x in a["lines"] if x["description"] == "Boek")
    credit = tenant.post(f"/api/invoices/{a['id']}/credit", {"line_ids": [book_line]})
    assert credit.status_code == 201, credit.text
    make_invoice(tenant, contact, status="concept", invoice_date=first.isoformat(),
                 lines=[line("Concept", 1, 1000.00, 21)])
    make_invoice(tenant, contact, invoice_date=(first - timedelta(days=1)).isoformat(),
                 lines=[line("Vorig kwartaal", 1, 500.00, 21)])
    make_invoice(tenant, contact, invoice_date=first.isoformat(), currency="USD",
                 lines=[line("Dollars", 1, 121.00, 21)])
    return period, [a["id"], b["id"], c["id"], credit.json()["id"]]


def figures(entry: dict) -> tuple:
    return money(entry["turnover"]), money(entry["vat"]), entry["document_count"]


def test_a_hand_made_quarter_gives_the_hand_computed_boxes(tenant):
    period, _ = build_quarter(tenant)
    response = tenant.get(f"/api/reports/vat?period={period}")
    assert response.status_code == 200, response.text
    report = response.json()
    boxes = {box["box"]: box for box in report["boxes"]}
    assert [box["box"] for box in report["boxes"]] == ["1a", "1b", "1c", "1e"]
    # 1a: 339.00 incl. (VAT 58.83) on A, 12.10 (VAT 2.10) on B.
    assert figures(boxes["1a"]) == (Decimal("290.17"), Decimal("60.93"), 2)
    # 1b: 109.00 (VAT 9.00) on A, 2.97 (VAT 0.25) on C, -109.00 (VAT -9.00) on the credit note.
    assert figures(boxes["1b"]) == (Decimal("2.72"), Decimal("0.25"), 3)
    # 1c: 105.50 at 5.5 % (VAT 5.50) on B.
    assert figures(boxes["1c"]) == (Decimal("100.00"), Decimal("5.50"), 1)
    assert boxes["1c"]["tax_percentage"] is None
    # 1e: 50.00 at 0 % on B.
    assert figures(boxes["1e"]) == (Decimal("50.00"), Decimal("0.00"), 1)
    assert figures(report["total"]) == (Decimal("442.89"), Decimal("66.68"), 4)
    assert [(r["tax_percentage"], r["box"], *figures(r)) for r in report["rates"]] == [
        (0, "1e", Decimal("50.00"), Decimal("0.00"), 1),
        (5.5, "1c", Decimal("100.00"), Decimal("5.50"), 1),
        (9, "1b", Decimal("2.72"), Decimal("0.25"), 3),
        (21, "1a", Decimal("290.17"), Decimal("60.93"), 2),
    ]
    assert report["excluded_documents"] == 1
    assert report["period"] == period and report["currency"] == "EUR"


def test_the_report_is_the_sum_of_the_invoices_breakdowns(tenant):
    period, counted = build_quarter(tenant)
    report = tenant.get(f"/api/reports/vat?period={period}").json()
    listed = tenant.get(f"/api/invoices?date_from={report['date_from']}&date_to={report['date_to']}"
                        "&status=verzonden,deels_betaald,betaald,oninbaar,gecrediteerd").json()["data"]
    eur = [inv for inv in listed if inv["currency"] == "EUR"]
    assert sorted(inv["id"] for inv in eur) == sorted(counted)
    by_rate: dict = {}
    for invoice in eur:
        for rate in invoice["vat_breakdown"]:
            turnover, vat, docs = by_rate.get(rate["tax_percentage"], (Decimal(0), Decimal(0), 0))
            by_rate[rate["tax_percentage"]] = (turnover + money(rate["total_excl"]),
                                               vat + money(rate["total_vat"]), docs + 1)
    assert {r["tax_percentage"]: figures(r) for r in report["rates"]} == by_rate
    assert money(report["total"]["vat"]) == sum(money(inv["total_vat"]) for inv in eur)
    assert money(report["total"]["turnover"]) == sum(money(inv["total_excl"]) for inv in eur)


def test_csv_has_the_same_figures(tenant):
    period, _ = build_quarter(tenant)
    response = tenant.get(f"/api/reports/vat?period={period}", headers={"Accept": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    boxes = {r["box"]: r for r in rows if r["section"] == "box"}

    def shown(box):
        return boxes[box]["turnover"], boxes[box]["vat"], boxes[box]["document_count"]

    assert shown("1a") == ("290.17", "60.93", "2")
    assert shown("1b") == ("2.72", "0.25", "3")
    assert boxes["1c"]["tax_percentage"] == "" and boxes["1c"]["vat"] == "5.50"
    assert [r["tax_percentage"] for r in rows if r["section"] == "rate"] == ["0", "5.5", "9", "21"]
    total = next(r for r in rows if r["section"] == "total")
    assert (total["turnover"], total["vat"], total["document_count"]) == ("442.89", "66.68", "4")
    assert {r["period"] for r in rows} == {period}


def test_months_and_years_select_by_invoice_date(tenant):
    contact = make_contact(tenant)
    make_invoice(tenant, contact, invoice_date="2025-05-31", lines=[line("Mei", 1, 121.00, 21)])
    make_invoice(tenant, contact, invoice_date="2025-06-01", lines=[line("Juni", 1, 242.00, 21)])
    make_invoice(tenant, contact, invoice_date="2025-12-31", lines=[line("December", 1, 10.90, 9)])

    def box_1a(period):
        response = tenant.get(f"/api/reports/vat?period={period}")
        assert response.status_code == 200, response.text
        return figures(response.json()["boxes"][0]), response.json()

    assert box_1a("2025-05")[0] == (Decimal("100.00"), Decimal("21.00"), 1)
    june, shown = box_1a("2025-06")
    assert june == (Decimal("200.00"), Decimal("42.00"), 1)
    assert (shown["date_from"], shown["date_to"]) == ("2025-06-01", "2025-06-30")
    assert box_1a("2025-Q2")[0] == (Decimal("300.00"), Decimal("63.00"), 2)
    year, shown = box_1a("2025")
    assert year == (Decimal("300.00"), Decimal("63.00"), 2)
    assert (shown["date_from"], shown["date_to"]) == ("2025-01-01", "2025-12-31")
    assert figures(shown["boxes"][1]) == (Decimal("10.00"), Decimal("0.90"), 1)
    assert figures(box_1a("2024")[1]["total"]) == (Decimal("0.00"), Decimal("0.00"), 0)


def test_a_document_counts_once_per_box_whatever_its_rates_there(tenant):
    """Box 1c holds every other rate: a document with lines at 5.5 % and 13 % is one document
    in 1c and one at each rate."""
    contact = make_contact(tenant)
    make_invoice(tenant, contact, invoice_date="2023-03-15", lines=[
        line("Laag", 1, 105.50, 5.5), line("Anders", 1, 113.00, 13), line("Hoog", 1, 121.00, 21)])
    report = tenant.get("/api/reports/vat?period=2023-03").json()
    boxes = {box["box"]: figures(box) for box in report["boxes"]}
    assert boxes == {"1a": (Decimal("100.00"), Decimal("21.00"), 1),
                     "1b": (Decimal("0.00"), Decimal("0.00"), 0),
                     "1c": (Decimal("200.00"), Decimal("18.50"), 1),
                     "1e": (Decimal("0.00"), Decimal("0.00"), 0)}
    assert [(r["tax_percentage"], r["box"], *figures(r)) for r in report["rates"]] == [
        (5.5, "1c", Decimal("100.00"), Decimal("5.50"), 1),
        (13, "1c", Decimal("100.00"), Decimal("13.00"), 1),
        (21, "1a", Decimal("100.00"), Decimal("21.00"), 1)]
    assert figures(report["total"]) == (Decimal("300.00"), Decimal("39.50"), 1)


def test_a_bad_period_is_a_400(tenant):
    for period in ("2026-13", "2026-Q5", "26-Q1", "2026-Q2x", "", "0000"):
        response = tenant.get(f"/api/reports/vat?period={period}")
        assert response.status_code == 400, (period, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert tenant.get("/api/reports/vat").status_code == 400


def test_another_administrations_invoices_are_not_counted(tenant, other_tenant):
    period, _ = build_quarter(tenant)
    theirs = other_tenant.get(f"/api/reports/vat?period={period}").json()
    assert figures(theirs["total"]) == (Decimal("0.00"), Decimal("0.00"), 0)
    assert theirs["rates"] == [] and theirs["excluded_documents"] == 0


def test_the_report_takes_one_statement_whatever_the_number_of_invoices(tenant):
    period, first = current_quarter()
    contact = make_contact(tenant)
    make_invoice(tenant, contact, invoice_date=first.isoformat())
    url = f"/api/reports/vat?period={period}"
    tenant.get(url)
    with count_queries() as one:
        assert tenant.get(url).status_code == 200
    for i in range(20):
        make_invoice(tenant, contact, invoice_date=first.isoformat(),
                     lines=[line("A", 1, 10 + i, 21), line("B", 1, 5, 9), line("C", 2, 1, 0)])
    with count_queries() as many:
        response = tenant.get(url)
    assert response.json()["total"]["document_count"] == 21
    assert many.count == one.count == 1



#: The largest line PayDock takes: the most quantity at the highest price (models.lines).
LARGEST_LINE = line("Maximaal", 999999.9999, 9999999.99, 21)
MOST_LINES = 1000   # openapi.yaml: InvoiceLines maxItems


def test_one_documents_sum_at_one_rate_stays_within_64_bits():
    """The report sums line amounts in SQL only per document and rate (at most MOST_LINES lines)
    and adds the documents up in Python: the largest such SQL sum must fit a signed 64-bit
    integer, which SQLite raises on rather than widening."""
    import yaml

    from models.lines import MAX_LINE_PRICE, MAX_LINE_QUANTITY
    from models.totals import line_total_incl
    from tests.server import ROOT

    spec = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    assert spec["components"]["schemas"]["InvoiceLines"]["maxItems"] == MOST_LINES
    assert (money(LARGEST_LINE["quantity"]), money(LARGEST_LINE["unit_price_incl"])) == (
        MAX_LINE_QUANTITY, MAX_LINE_PRICE)
    largest_cents = int(line_total_incl(MAX_LINE_QUANTITY, MAX_LINE_PRICE) * 100)
    assert largest_cents == 999_999_998_900_000
    assert MOST_LINES * largest_cents < 2**63 <= 10 * MOST_LINES * largest_cents


def exact(response, status: int) -> dict:
    """The JSON body with its numbers as written (a float holds no 17-digit amount to the cent)."""
    assert response.status_code == status, response.text
    return json.loads(response.text, parse_float=Decimal)


def test_a_quarter_beyond_64_bits_of_cents_is_summed_exactly(tenant):
    """Ten of the largest invoices PayDock takes and a credit note: more cents at 21 % than a
    signed 64-bit integer holds, summed exactly, on SQLite as on PostgreSQL."""
    period, first = current_quarter()
    contact = make_contact(tenant)
    made = [exact(tenant.post("/api/invoices", {"contact_id": contact, "status": "verzonden",
                                                "invoice_date": first.isoformat(),
                                                "lines": [LARGEST_LINE] * MOST_LINES}), 201)
            for _ in range(10)]
    credit = exact(tenant.post(f"/api/invoices/{made[0]['id']}/credit",
                               {"line_ids": [made[0]["lines"][0]["id"]]}), 201)
    # By hand: a line is round2(999999.9999 x 9999999.99) = 9,999,999,989,000.00 incl. VAT.
    gross = Decimal("9999999989000000.00")          # 1000 lines
    vat = Decimal("1735537188173553.72")            # round2(gross x 21 / 121)
    credit_gross, credit_vat = Decimal("-9999999989000.00"), Decimal("-1735537188173.55")
    assert [(i["total_incl"], i["total_vat"]) for i in made] == [(gross, vat)] * 10
    assert (credit["total_incl"], credit["total_vat"]) == (credit_gross, credit_vat)
    assert (10 * gross + credit_gross) * 100 > 2**63   # these cents pass a 64-bit integer

    report = exact(tenant.get(f"/api/reports/vat?period={period}"), 200)
    box_1a = next(box for box in report["boxes"] if box["box"] == "1a")
    expected = (10 * (gross - vat) + (credit_gross - credit_vat), 10 * vat + credit_vat, 11)
    assert expected == (Decimal("82636363545463636.35"), Decimal("17353636344547363.65"), 11)
    assert figures(box_1a) == expected
    assert figures(report["total"]) == expected
    csv_form = tenant.get(f"/api/reports/vat?period={period}", headers={"Accept": "text/csv"})
    total = next(r for r in csv.DictReader(io.StringIO(csv_form.text)) if r["section"] == "total")
    assert (total["turnover"], total["vat"]) == ("82636363545463636.35", "17353636344547363.65")
