"""Payment reminders (aanmaningen) under Dutch law: a schedule per administration, the
consumer's 14-dagenbrief and the statutory collection costs.

The schedule lists steps by days after the due date. `paydock worker` runs
`run_reminders` every hour: for each open, overdue invoice (not a credit note) of an
administration whose schedule is on, it queues the next step once its day has come,
through the invoice e-mail outbox (models.deliveries). A step is queued at most once
per invoice: UNIQUE(invoice, step) in the database, so neither a second run nor a
second worker can queue it again. Steps go out in order, at most one per invoice per
day. A payment in full, a credit note or a write-off closes the invoice and so stops
the steps not yet sent (one queued but not yet sent is cancelled by the worker).

The first step that announces collection costs gives 14 days to pay without them,
counted from the day after it was sent (`pay_by` = sent + 15 days); for a consumer
(`contact.is_consumer`) that step is the 14-dagenbrief the law requires before costs
may be charged. Later steps (which state the costs as owed) wait until the day after
`pay_by`. The costs follow the Besluit vergoeding voor buitengerechtelijke
incassokosten (`statutory_collection_costs`) on the open amount.
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Protocol

import peewee

from models.contacts import Contact
from models.db import TenantModel, database, utcnow
from models.errors import Invalid, NotFound
from models.invoices import BUSINESS_TIMEZONE, OPEN_STATUSES, Invoice, locked_invoice
from models.parsing import parse_uuid
from models.tenancy import Administration

CENT = Decimal("0.01")
#: The statutory scale: (width of the tranche, percentage) over the open amount, in order.
COLLECTION_COST_TRANCHES = (
    (Decimal("2500"), Decimal("15")),
    (Decimal("2500"), Decimal("10")),
    (Decimal("5000"), Decimal("5")),
    (Decimal("190000"), Decimal("1")),
    (None, Decimal("0.5")),
)
MINIMUM_COLLECTION_COSTS = Decimal("40.00")
MAXIMUM_COLLECTION_COSTS = Decimal("6775.00")
#: Days to pay after the day a step announcing collection costs was sent.
PAYMENT_TERM_DAYS = 14
MAX_STEPS = 10
#: Invoices looked at per query of the reminder run.
RUN_CHUNK = 500

KIND_REMINDER = "reminder"
KIND_FOURTEEN_DAY_LETTER = "fourteen_day_letter"
KIND_COLLECTION_COSTS = "collection_costs"


def statutory_collection_costs(open_amount: Decimal) -> Decimal:
    """The collection costs the Besluit vergoeding voor buitengerechtelijke incassokosten
    allows on `open_amount`: 15 % of the first €2,500 (at least €40), 10 % of the next
    €2,500, 5 % of the next €5,000, 1 % of the next €190,000 and 0.5 % of the rest, at
    most €6,775. Nothing open, no costs."""
    if open_amount <= 0:
        return Decimal("0.00")
    rest, costs = Decimal(open_amount), Decimal(0)
    for width, percentage in COLLECTION_COST_TRANCHES:
        part = rest if width is None else min(rest, width)
        costs += part * percentage / 100
        rest -= part
        if rest <= 0:
            break
    costs = costs.quantize(CENT, rounding=ROUND_HALF_UP)
    return min(max(costs, MINIMUM_COLLECTION_COSTS), MAXIMUM_COLLECTION_COSTS)


def pay_by_for(sent_on: date) -> date:
    """The last day to pay without collection costs: 14 days after the day after sending."""
    return sent_on + timedelta(days=1 + PAYMENT_TERM_DAYS)


def business_day(moment: datetime) -> date:
    """The Dutch calendar day of a naive-UTC moment."""
    return moment.replace(tzinfo=UTC).astimezone(BUSINESS_TIMEZONE).date()


# ------------------------------------------------------------------ the schedule

@dataclass(frozen=True)
class Step:
    days_after_due: int
    text: str
    announces_collection_costs: bool = False


DEFAULT_STEPS = (
    Step(7, "Wij hebben uw betaling van onderstaande factuur nog niet ontvangen. Wilt u het "
            "openstaande bedrag alsnog overmaken? Heeft u al betaald, dan kunt u deze herinnering "
            "als niet verzonden beschouwen."),
    Step(21, "Ondanks onze herinnering staat onderstaande factuur nog open. Wij verzoeken u het "
             "openstaande bedrag binnen de genoemde termijn te betalen.", True),
    Step(35, "Wij hebben het openstaande bedrag nog steeds niet ontvangen. Wij brengen daarom de "
             "incassokosten in rekening. Betaal het totaalbedrag per omgaande om verdere "
             "maatregelen te voorkomen."),
)


class ReminderSettings(TenantModel):
    administration = peewee.ForeignKeyField(Administration, on_delete="CASCADE", unique=True)
    enabled = peewee.BooleanField(default=False)
    #: The steps as a JSON list of {days_after_due, text, announces_collection_costs}.
    steps = peewee.TextField()

    administration_id: uuid.UUID

    class Meta:
        table_name = "reminder_settings"


def _steps_from_json(text: str) -> tuple[Step, ...]:
    return tuple(Step(int(s["days_after_due"]), s["text"], bool(s.get("announces_collection_costs")))
                 for s in json.loads(text))


def _steps_to_json(steps) -> str:
    return json.dumps([{"days_after_due": s.days_after_due, "text": s.text,
                        "announces_collection_costs": s.announces_collection_costs} for s in steps])


@dataclass
class Schedule:
    """An administration's reminder schedule (the defaults until it is changed)."""

    enabled: bool
    steps: tuple[Step, ...]
    updated_at: datetime | None


def get_schedule(administration_id) -> Schedule:
    """The administration's schedule: one query."""
    row = ReminderSettings.of(administration_id).first()
    if row is None:
        return Schedule(False, DEFAULT_STEPS, None)
    return Schedule(row.enabled, _steps_from_json(row.steps), row.updated_at)


@database.atomic()
def update_schedule(administration_id, changes: dict) -> Schedule:
    """PATCH /reminder-settings: only the given fields; `steps` replaces the list."""
    current = get_schedule(administration_id)
    steps = current.steps
    if "steps" in changes:
        steps = tuple(Step(int(s["days_after_due"]), s["text"], bool(s.get("announces_collection_costs")))
                      for s in changes["steps"])
        if not 1 <= len(steps) <= MAX_STEPS:
            raise Invalid.field("steps", f"give 1 to {MAX_STEPS} steps")
        for index in range(1, len(steps)):
            if steps[index].days_after_due <= steps[index - 1].days_after_due:
                raise Invalid.field(f"steps.{index}.days_after_due",
                                    "must be larger than the step before it")
    enabled = bool(changes.get("enabled", current.enabled))
    now = utcnow()
    row = ReminderSettings.of(administration_id).first()
    if row is None:
        ReminderSettings.create(administration=administration_id, enabled=enabled,
                                steps=_steps_to_json(steps), created_at=now, updated_at=now)
    else:
        ReminderSettings.update(enabled=enabled, steps=_steps_to_json(steps), updated_at=now).where(
            ReminderSettings.id == row.id).execute()
    return Schedule(enabled, steps, now)


def step_kinds(steps: tuple[Step, ...], is_consumer: bool) -> list[str]:
    """What each step is: reminders until the first step announcing collection costs, which
    is the 14-dagenbrief for a consumer; every step after it states the costs."""
    kinds, announced = [], False
    for step in steps:
        if announced:
            kinds.append(KIND_COLLECTION_COSTS)
        elif step.announces_collection_costs:
            kinds.append(KIND_FOURTEEN_DAY_LETTER if is_consumer else KIND_COLLECTION_COSTS)
            announced = True
        else:
            kinds.append(KIND_REMINDER)
    return kinds


@dataclass(frozen=True)
class SentStep:
    """What the schedule needs to know of a step already queued for an invoice."""

    step: int
    queued_on: date
    pay_by: date | None          # set on the step that announced collection costs
    sent: bool


def step_due_on(steps: tuple[Step, ...], index: int, due_date: date,
                earlier: dict[int, SentStep]) -> date | None:
    """The day step `index` (0-based) is due for an invoice due on `due_date`, given the
    steps queued before; None while it cannot be due yet (an earlier step not queued, or
    the announcing step not yet sent)."""
    day = due_date + timedelta(days=steps[index].days_after_due)
    if index > 0:
        previous = earlier.get(index)  # steps are numbered from 1
        if previous is None:
            return None
        day = max(day, previous.queued_on + timedelta(days=1))
    announcing = sorted((s.step, s.pay_by, s.sent) for s in earlier.values()
                        if s.pay_by is not None and s.step <= index)
    if announcing:
        _, pay_by, sent = announcing[0]
        if not sent or pay_by is None:
            return None
        day = max(day, pay_by + timedelta(days=1))
    return day


# ------------------------------------------------------------------ the reminder run

class InvoiceAmounts(Protocol):
    """What an invoice's reminder state depends on: an Invoice, or the read path's values."""

    @property
    def status(self) -> str: ...
    @property
    def is_credit_note(self) -> bool: ...
    @property
    def total_incl(self) -> Decimal: ...
    @property
    def amount_paid(self) -> Decimal: ...


def _open(invoice: InvoiceAmounts) -> bool:
    return (invoice.status in OPEN_STATUSES and not invoice.is_credit_note
            and invoice.total_incl - invoice.amount_paid > 0)


def subject_for(kind: str, number: str | None, seller_name: str) -> str:
    label = {KIND_REMINDER: "Herinnering", KIND_FOURTEEN_DAY_LETTER: "Aanmaning, 14-dagenbrief",
             KIND_COLLECTION_COSTS: "Aanmaning"}[kind]
    return f"{label}: factuur {number} van {seller_name}"


def _sent_steps(administration_id, invoice_ids: list) -> dict:
    from models.deliveries import InvoiceDelivery

    found: dict = defaultdict(dict)
    if not invoice_ids:
        return found
    for row in (InvoiceDelivery.select(InvoiceDelivery.invoice, InvoiceDelivery.reminder_step,
                                       InvoiceDelivery.created_at, InvoiceDelivery.reminder_pay_by,
                                       InvoiceDelivery.status)
                .where(InvoiceDelivery.administration == administration_id,
                       InvoiceDelivery.invoice.in_(invoice_ids),
                       InvoiceDelivery.reminder_step.is_null(False))):
        step = row.reminder_step
        assert step is not None  # the query asks for reminder rows only
        found[row.invoice_id][step] = SentStep(step, business_day(row.created_at), row.reminder_pay_by,
                                               row.status == "sent")
    return found


def run_reminders(now: datetime | None = None) -> int:
    """Queue every reminder step that is due today, once; returns how many were queued."""
    now = now or utcnow()
    today = business_day(now)
    queued = 0
    for settings in ReminderSettings.select().where(ReminderSettings.enabled):
        queued += _remind_administration(settings.administration_id, _steps_from_json(settings.steps),
                                         today, now)
    return queued


def _remind_administration(administration_id, steps: tuple[Step, ...], today: date, now: datetime) -> int:
    first_day = today - timedelta(days=steps[0].days_after_due)
    announcing_index = next((i for i, step in enumerate(steps) if step.announces_collection_costs), None)
    queued, after = 0, None
    while True:
        query = (Invoice.select(Invoice.id, Invoice.due_date, Contact.is_consumer)
                 .join(Contact)
                 .where(Invoice.administration == administration_id,
                        Invoice.status.in_(OPEN_STATUSES), Invoice.is_credit_note == False,  # noqa: E712
                        Invoice.total_incl > Invoice.amount_paid, Invoice.due_date <= first_day)
                 .order_by(Invoice.id).limit(RUN_CHUNK))
        if after is not None:
            query = query.where(Invoice.id > after)
        candidates = list(query)
        if not candidates:
            return queued
        after = candidates[-1].id
        earlier = _sent_steps(administration_id, [c.id for c in candidates])
        for candidate in candidates:
            sent = earlier.get(candidate.id, {})
            index = len(sent)
            if index >= len(steps):
                continue
            day = step_due_on(steps, index, candidate.due_date, sent)
            if day is None or day > today:
                continue
            kinds = step_kinds(steps, candidate.contact.is_consumer)
            queued += _queue_step(administration_id, candidate.id, index + 1, steps[index], kinds[index],
                                  announcing=index == announcing_index, today=today, now=now)


@database.atomic()
def _queue_step(administration_id, invoice_id, step: int, settings: Step, kind: str, *, announcing: bool,
                today: date, now: datetime) -> int:
    from models.deliveries import queue_reminder

    invoice = locked_invoice(administration_id, invoice_id)
    if not _open(invoice) or not (invoice.contact_email or invoice.contact.email):
        return 0
    seller = Administration.get_by_id(administration_id)
    open_amount = invoice.total_incl - invoice.amount_paid
    costs = statutory_collection_costs(open_amount) if kind != KIND_REMINDER else None
    return int(queue_reminder(
        invoice, seller, step=step, kind=kind, subject=subject_for(kind, invoice.number, seller.name),
        text=settings.text, open_amount=open_amount, collection_costs=costs,
        pay_by=pay_by_for(today) if announcing else None, now=now,
    ))


# ------------------------------------------------------------------ reading

@dataclass
class ReminderState:
    state: str
    reminders_sent: int
    last_sent_at: datetime | None
    collection_costs: Decimal | None
    chargeable_from: date | None


def reminder_state(invoice: InvoiceAmounts, deliveries: list, today: date) -> ReminderState:
    """Where an invoice stands, from its reminder deliveries (models.deliveries rows)."""
    sent = sorted((d for d in deliveries if d.status == "sent"), key=lambda d: d.reminder_step)
    if not sent:
        return ReminderState("none", 0, None, None, None)
    last = max(d.sent_at for d in sent)
    if not _open(invoice):
        return ReminderState("stopped", len(sent), last, None, None)
    announcing = next((d for d in sent if d.reminder_pay_by is not None), None)
    if announcing is None:
        return ReminderState("reminded", len(sent), last, None, None)
    chargeable_from = announcing.reminder_pay_by + timedelta(days=1)
    state = "collection_costs_chargeable" if today >= chargeable_from else "collection_costs_announced"
    costs = statutory_collection_costs(invoice.total_incl - invoice.amount_paid)
    return ReminderState(state, len(sent), last, costs, chargeable_from)


def reminder_deliveries(administration_id, invoice_ids: list) -> dict:
    """invoice id -> its reminder deliveries, for many invoices in one query."""
    from models.deliveries import InvoiceDelivery

    found: dict = defaultdict(list)
    if invoice_ids:
        for row in (InvoiceDelivery.of(administration_id)
                    .where(InvoiceDelivery.invoice.in_(invoice_ids),
                           InvoiceDelivery.reminder_step.is_null(False))
                    .order_by(InvoiceDelivery.reminder_step)):
            found[row.invoice_id].append(row)
    return found


@dataclass
class InvoiceReminders:
    invoice: Invoice
    is_consumer: bool
    state: ReminderState
    steps: list[dict]


def invoice_reminders(administration_id, invoice_id, today: date | None = None) -> InvoiceReminders:
    """GET /invoices/{id}/reminders: each step of the schedule, sent or when it is due
    (three queries: the invoice with its contact, the schedule, the reminders sent)."""
    from models.invoices import business_today

    today = today or business_today()
    invoice = (Invoice.select(Invoice, Contact).join(Contact)
               .where(Invoice.administration == administration_id,
                      Invoice.id == parse_uuid(invoice_id, "invoice")).first())
    if invoice is None:
        raise NotFound(f"invoice {invoice_id} not found")
    schedule = get_schedule(administration_id)
    sent = reminder_deliveries(administration_id, [invoice.id])[invoice.id]
    deliveries = {d.reminder_step: d for d in sent}
    is_consumer = invoice.contact.is_consumer
    kinds = step_kinds(schedule.steps, is_consumer)
    earlier: dict[int, SentStep] = {}
    steps = []
    open_now = _open(invoice)
    for index in range(max(len(schedule.steps), max(deliveries, default=0))):
        number = index + 1
        delivery = deliveries.get(number)
        if delivery is not None:
            earlier[number] = SentStep(number, business_day(delivery.created_at), delivery.reminder_pay_by,
                                       delivery.status == "sent")
            steps.append({
                "step": number,
                "days_after_due": (schedule.steps[index].days_after_due if index < len(schedule.steps)
                                   else max(1, (delivery.created_at.date() - invoice.due_date).days)),
                "kind": delivery.reminder_kind, "status": delivery.status,
                "scheduled_on": business_day(delivery.created_at), "delivery_id": delivery.id,
                "sent_at": delivery.sent_at, "open_amount": delivery.reminder_open_amount,
                "collection_costs": delivery.reminder_collection_costs, "pay_by": delivery.reminder_pay_by,
            })
            continue
        if index >= len(schedule.steps):
            continue
        # Not determined yet (an earlier step is still to come): the earliest it can be.
        due = (step_due_on(schedule.steps, index, invoice.due_date, earlier)
               or invoice.due_date + timedelta(days=schedule.steps[index].days_after_due))
        steps.append({
            "step": number, "days_after_due": schedule.steps[index].days_after_due, "kind": kinds[index],
            "status": "scheduled" if open_now and schedule.enabled else "cancelled",
            "scheduled_on": due, "delivery_id": None, "sent_at": None, "open_amount": None,
            "collection_costs": None, "pay_by": None,
        })
    state = reminder_state(invoice, list(deliveries.values()), today)
    return InvoiceReminders(invoice, is_consumer, state, steps[:MAX_STEPS])
