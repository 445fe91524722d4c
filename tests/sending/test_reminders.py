"""Payment reminders on a calendar driven by an injected clock: the steps on their days,
the consumer's 14-dagenbrief with its amount and term, the statutory costs on the open
amount, a payment stopping the rest, and nothing sent twice."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta

from pypdf import PdfReader

from models import db
from models.deliveries import InvoiceDelivery
from models.invoices import business_today
from models.reminders import run_reminders
from tests.api.sales import events, line, pay
from tests.sending.conftest import contact, deliveries, invoice, run_worker, seller_ready
from tests.webhooks.conftest import FakeClock

DUE = date(2026, 5, 11)
SCHEDULE = {"enabled": True, "steps": [
    {"days_after_due": 7, "text": "Wij hebben uw betaling nog niet ontvangen."},
    {"days_after_due": 21, "text": "Ondanks onze herinnering staat het bedrag nog open.",
     "announces_collection_costs": True},
    {"days_after_due": 35, "text": "Wij brengen de incassokosten in rekening."},
]}


def morning(day: date) -> datetime:
    """06:00 UTC (08:00 in Amsterdam) on `day`, as the worker's naive-UTC clock reads it."""
    return datetime(day.year, day.month, day.day, 6, 0)


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def overdue_invoice(tenant, *, consumer: bool, lines=None, email="klant@example.nl", due: date = DUE) -> dict:
    customer = contact(tenant, name="J. de Vries", company_name=None, vat_number=None, kvk_number=None,
                       email=email, is_consumer=consumer)
    assert customer["is_consumer"] is consumer
    return invoice(tenant, customer["id"], invoice_date=(due - timedelta(days=30)).isoformat(),
                   due_date=due.isoformat(), lines=lines)


def enable(tenant, schedule=SCHEDULE) -> None:
    response = tenant.patch("/api/reminder-settings", schedule)
    assert response.status_code == 200, response.text


def live_days(tenant, smtp, make_worker, first: int, last: int, on_day=None,
              due: date = DUE) -> dict[int, list]:
    """Run the worker twice each morning from `due` + first to `due` + last; the messages
    that arrived per day (days after the due date)."""
    clock = FakeClock(morning(due + timedelta(days=first)))
    worker = make_worker(clock, smtp_url=smtp.url)
    arrived: dict[int, list] = {}
    for offset in range(first, last + 1):
        clock.now = morning(due + timedelta(days=offset))
        if on_day:
            on_day(offset)
        before = len(smtp.messages)
        run_worker(worker)
        run_worker(worker)  # the same day's run again: nothing more
        clock.now += timedelta(hours=2)
        run_worker(worker)  # and the next hourly run of that day
        if len(smtp.messages) > before:
            arrived[offset] = smtp.messages[before:]
    return arrived


def test_consumer_calendar_with_the_14_dagenbrief(tenant, smtp, make_worker):
    seller_ready(tenant)
    enable(tenant)
    overdue = overdue_invoice(tenant, consumer=True)  # 339.00
    number = overdue["number"]

    arrived = live_days(tenant, smtp, make_worker, 0, 45)
    # 7 and 21 days after the due date; the third step waits for the letter's term:
    # sent on day 21, 14 days from day 22 is day 36, costs may be charged from day 37.
    assert sorted(arrived) == [7, 21, 37]
    assert all(len(messages) == 1 for messages in arrived.values())
    first, letter, costs = (arrived[day][0] for day in (7, 21, 37))
    seller = "Spont Kassasystemen BV"
    assert first.message["Subject"] == f"Herinnering: factuur {number} van {seller}"
    assert letter.message["Subject"] == f"Aanmaning, 14-dagenbrief: factuur {number} van {seller}"
    assert costs.message["Subject"] == f"Aanmaning: factuur {number} van {seller}"
    assert {m.rcpt_tos[0] for m in (first, letter, costs)} == {"klant@example.nl"}

    first_text = pdf_text(first.attachments()[f"herinnering-{number}.pdf"][1])
    assert number in first_text and "€ 339,00" in first_text and "2026-05-11" in first_text
    assert "Incassokosten" not in first_text

    # The 14-dagenbrief: the amount, the costs (15 % of 339.00) and the term with its last day.
    letter_text = " ".join(pdf_text(letter.attachments()[f"aanmaning-{number}.pdf"][1]).split())
    assert "Aanmaning (14-dagenbrief)" in letter_text and number in letter_text
    assert "€ 339,00" in letter_text and "€ 50,85" in letter_text
    assert "binnen 14 dagen na de dag van ontvangst" in letter_text
    assert "uiterlijk op 16 juni 2026" in letter_text  # sent 1 June: 2 to 15 June, one day's grace
    assert "€ 50,85" in letter.message.get_body(("plain",)).get_content()

    costs_text = " ".join(pdf_text(costs.attachments()[f"aanmaning-{number}.pdf"][1]).split())
    assert "€ 50,85" in costs_text and "€ 389,85" in costs_text  # costs, and open amount plus costs

    state = tenant.get(f"/api/invoices/{overdue['id']}/reminders").json()
    assert state["is_consumer"] is True and state["state"] == "collection_costs_chargeable"
    assert state["collection_costs"] == 50.85 and state["collection_costs_chargeable_from"] == "2026-06-17"
    assert [(s["step"], s["kind"], s["status"], s["scheduled_on"]) for s in state["steps"]] == [
        (1, "reminder", "sent", "2026-05-18"),
        (2, "fourteen_day_letter", "sent", "2026-06-01"),
        (3, "collection_costs", "sent", "2026-06-17"),
    ]
    assert state["steps"][1]["pay_by"] == "2026-06-16" and state["steps"][1]["collection_costs"] == 50.85
    assert [d["reminder"]["step"] for d in deliveries(tenant, overdue["id"])] == [1, 2, 3]
    reminded = events(tenant, "invoice.reminded")
    assert [e["data"]["reminder"]["kind"] for e in reminded] == ["reminder", "fourteen_day_letter",
                                                                 "collection_costs"]


def test_the_state_while_the_term_runs_and_in_the_client_portal(tenant, smtp, make_worker):
    """The API reads the state on today's date: the letter goes out today (the worker's
    clock at today's morning), so its term is running."""
    seller_ready(tenant)
    enable(tenant)
    today = business_today()
    due = today - timedelta(days=21)
    overdue = overdue_invoice(tenant, consumer=True, due=due)
    external_id = f"CRM-{overdue['id']}"
    tenant.put(f"/api/contacts/{overdue['contact_id']}", {"name": "J. de Vries", "email": "klant@example.nl",
                                                          "is_consumer": True, "external_id": external_id})
    before = tenant.get(f"/api/invoices/{overdue['id']}/reminders").json()
    assert before["state"] == "none" and before["collection_costs"] is None
    assert [(s["status"], s["scheduled_on"]) for s in before["steps"]] == [
        ("scheduled", str(due + timedelta(days=7))), ("scheduled", str(due + timedelta(days=21))),
        ("scheduled", str(due + timedelta(days=35)))]

    live_days(tenant, smtp, make_worker, 20, 21, due=due)  # step 1 yesterday (late), the letter today
    chargeable_from = str(today + timedelta(days=16))
    during = tenant.get(f"/api/invoices/{overdue['id']}/reminders").json()
    assert during["state"] == "collection_costs_announced"
    assert during["collection_costs"] == 50.85
    assert during["collection_costs_chargeable_from"] == chargeable_from
    assert during["steps"][1]["pay_by"] == str(today + timedelta(days=15))
    third = during["steps"][2]
    assert (third["status"], third["scheduled_on"]) == ("scheduled", chargeable_from)

    portal = tenant.get(f"/api/client-portal/{external_id}").json()
    [shown] = [i for i in portal["invoices"] if i["id"] == overdue["id"]]
    assert shown["reminders"]["state"] == "collection_costs_announced"
    assert shown["reminders"]["reminders_sent"] == 2
    assert shown["reminders"]["collection_costs"] == 50.85
    assert shown["reminders"]["collection_costs_chargeable_from"] == chargeable_from


def test_a_payment_between_steps_stops_the_rest(tenant, smtp, make_worker):
    seller_ready(tenant)
    enable(tenant)
    overdue = overdue_invoice(tenant, consumer=False)

    def pay_after_the_first(day: int) -> None:
        if day == 10:
            pay(tenant, overdue["id"], 339.00)

    arrived = live_days(tenant, smtp, make_worker, 0, 60, on_day=pay_after_the_first)
    assert sorted(arrived) == [7]
    state = tenant.get(f"/api/invoices/{overdue['id']}/reminders").json()
    assert state["state"] == "stopped"
    assert [s["status"] for s in state["steps"]] == ["sent", "cancelled", "cancelled"]


def test_credit_note_and_write_off_stop_reminders(tenant, smtp, make_worker):
    seller_ready(tenant)
    enable(tenant)
    credited = overdue_invoice(tenant, consumer=False)
    written_off = overdue_invoice(tenant, consumer=False)
    assert tenant.post(f"/api/invoices/{credited['id']}/credit", {}).status_code == 201
    assert tenant.patch(f"/api/invoices/{written_off['id']}", {"status": "oninbaar"}).status_code == 200
    assert live_days(tenant, smtp, make_worker, 0, 40) == {}


def test_partial_payments_lower_the_costs_to_the_open_amount(tenant, smtp, make_worker):
    """A business invoice of 3,000.00 with 500.00 paid: the costs step states the costs on
    the 2,500.00 still open (375.00), not on the total (425.00)."""
    seller_ready(tenant)
    enable(tenant)
    overdue = overdue_invoice(tenant, consumer=False, lines=[line("Kassasysteem", 1, 3000.00)])
    pay(tenant, overdue["id"], 500.00)
    arrived = live_days(tenant, smtp, make_worker, 0, 22)
    assert sorted(arrived) == [7, 21]
    notice = arrived[21][0]
    assert notice.message["Subject"].startswith("Aanmaning: factuur")  # a business gets no 14-dagenbrief
    text = " ".join(pdf_text(notice.attachments()[f"aanmaning-{overdue['number']}.pdf"][1]).split())
    assert "€ 2.500,00" in text and "€ 375,00" in text and "€ 425,00" not in text
    [_, costs_step] = [d for d in deliveries(tenant, overdue["id"])]
    assert costs_step["reminder"] == {"step": 2, "kind": "collection_costs", "open_amount": 2500.00,
                                      "collection_costs": 375.00, "pay_by": "2026-06-16"}


def test_a_reminder_queued_but_paid_before_it_goes_out_is_cancelled(tenant, smtp, make_worker):
    seller_ready(tenant)
    enable(tenant)
    overdue = overdue_invoice(tenant, consumer=True)
    now = morning(DUE + timedelta(days=7))
    with db.database.connection_context():
        assert run_reminders(now) == 1
        assert run_reminders(now) == 0  # the same day again: nothing more
    pay(tenant, overdue["id"], 339.00)
    run_worker(make_worker(FakeClock(now), smtp_url=smtp.url))
    assert smtp.messages == []
    [cancelled] = deliveries(tenant, overdue["id"])
    assert cancelled["status"] == "cancelled"
    assert cancelled["last_error"] == "not sent: the invoice is betaald"


def test_reminders_wait_for_the_schedule_to_be_on(tenant, smtp, make_worker):
    seller_ready(tenant)
    overdue = overdue_invoice(tenant, consumer=False)
    assert tenant.get("/api/reminder-settings").json()["enabled"] is False
    assert live_days(tenant, smtp, make_worker, 6, 8) == {}
    state = tenant.get(f"/api/invoices/{overdue['id']}/reminders").json()
    assert state["state"] == "none" and {s["status"] for s in state["steps"]} == {"cancelled"}


def test_an_invoice_without_an_address_gets_no_reminder(tenant, smtp, make_worker):
    seller_ready(tenant)
    enable(tenant)
    overdue_invoice(tenant, consumer=True, email=None)
    assert live_days(tenant, smtp, make_worker, 6, 8) == {}


def test_reminder_settings_are_checked_and_per_administration(tenant, other_tenant):
    defaults = tenant.get("/api/reminder-settings").json()
    assert defaults["enabled"] is False and defaults["updated_at"] is None
    assert [s["days_after_due"] for s in defaults["steps"]] == [7, 21, 35]
    assert [s["announces_collection_costs"] for s in defaults["steps"]] == [False, True, False]

    wrong = tenant.patch("/api/reminder-settings", {"steps": [
        {"days_after_due": 14, "text": "a"}, {"days_after_due": 14, "text": "b"}]})
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "steps.1.days_after_due"
    assert tenant.patch("/api/reminder-settings", {"steps": []}).status_code in (400, 422)
    assert tenant.get("/api/reminder-settings").json() == defaults  # nothing changed

    short = {"steps": [{"days_after_due": 3, "text": "Kort"}]}
    changed = tenant.patch("/api/reminder-settings", short).json()
    assert changed["enabled"] is False and changed["steps"] == [
        {"days_after_due": 3, "text": "Kort", "announces_collection_costs": False}]
    assert tenant.patch("/api/reminder-settings", {"enabled": True}).json()["steps"] == changed["steps"]
    assert other_tenant.get("/api/reminder-settings").json() == defaults


def test_reminder_settings_need_the_admin_scope_to_change(make_tenant):
    writer = make_tenant(scopes=("read", "write"))
    assert writer.get("/api/reminder-settings").status_code == 200
    assert writer.patch("/api/reminder-settings", {"enabled": True}).status_code == 403


def test_another_administrations_reminders_stay_apart(tenant, other_tenant, smtp, make_worker):
    """One administration's schedule never reminds another's invoices."""
    seller_ready(tenant)
    seller_ready(other_tenant)
    enable(tenant)
    mine = overdue_invoice(tenant, consumer=False)
    theirs = overdue_invoice(other_tenant, consumer=False)
    live_days(tenant, smtp, make_worker, 7, 7)
    assert len(deliveries(tenant, mine["id"])) == 1
    assert deliveries(other_tenant, theirs["id"]) == []
    with db.database.connection_context():
        assert InvoiceDelivery.select().where(InvoiceDelivery.invoice == theirs["id"]).count() == 0
