"""Invoices for the bench: `size` invoices with their lines and payments, COPYed in.

Every level also holds one large customer, external_id `BENCH-PORTAL`, with
PORTAL_INVOICES invoices of its own (on top of `size`), ten lines each: the client portal,
the filtered invoice list (100 invoices × 10 lines) and GET /invoices/{id} read that
customer's invoices, so the documents they return are the same at every level and only the
amount of other data differs. The other invoices have one to three lines.

Rows are consistent with what the API would have written: totals follow the totals
policy (models.totals), `amount_paid` is the sum of the invoice's payments, issued
invoices are numbered per year without gaps (and the number series continue after
them), concepts have no number.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from bench.seed import IDS_FOR_WRK, SeedContext, analyze, spread_timestamps
from models import db
from models.contacts import Contact
from models.invoices import Invoice, InvoiceLine
from models.numbering import NumberSeries
from models.payments import Payment
from models.serialize import vat_breakdown_json
from models.totals import LineAmounts, invoice_totals, line_amounts

PORTAL_EXTERNAL_ID = "BENCH-PORTAL"
PORTAL_INVOICES = 2_000

# (description, quantity, unit price incl. VAT, VAT %)
LINE_TEMPLATES = (
    ("Consultancy (uur)", Decimal("8"), Decimal("121.00"), Decimal("21")),
    ("Hosting pakket", Decimal("1"), Decimal("29.95"), Decimal("21")),
    ("Boeken", Decimal("3"), Decimal("24.50"), Decimal("9")),
    ("Reiskosten", Decimal("1"), Decimal("45.00"), Decimal("0")),
    ("Licentie (maand)", Decimal("2.5"), Decimal("80.00"), Decimal("21")),
    ("Verzendkosten", Decimal("1"), Decimal("6.95"), Decimal("21")),
)
# An invoice's lines: 1 to 3 templates, the pattern repeating.
LINE_SETS = [LINE_TEMPLATES[i:i + n] for n in (1, 2, 3) for i in range(0, len(LINE_TEMPLATES) - n + 1, 2)]
#: The portal customer's invoices: ten lines each (the templates, the first four twice).
TEN_LINES = len(LINE_SETS)
LINE_SETS.append((LINE_TEMPLATES + LINE_TEMPLATES)[:10])
ROTATING = TEN_LINES  # the other invoices rotate through the sets before it
# Status per invoice, repeating: 40 % open (verzonden), 10 % partly paid, 30 % paid,
# 10 % concept, 10 % written off.
STATUS_CYCLE = ("verzonden", "betaald", "verzonden", "concept", "deels_betaald",
                "verzonden", "betaald", "oninbaar", "verzonden", "betaald")


def _totals(lines) -> tuple[Decimal, Decimal, Decimal]:
    totals = invoice_totals(LineAmounts(q, p, r) for _, q, p, r in lines)
    return totals.total_incl, totals.total_vat, totals.total_excl


TOTALS = [_totals(lines) for lines in LINE_SETS]
BREAKDOWNS = [vat_breakdown_json(invoice_totals(LineAmounts(q, p, r) for _, q, p, r in lines))
              for lines in LINE_SETS]
#: The deep page the paging scenarios read (page 9,000 of 100 at 1,000,000 invoices; the
#: last full page but one of smaller levels).
DEEP_PAGE = 9_000
PAGE_SIZE = 100
LINE_AMOUNTS = {t: line_amounts(t[1], t[2], t[3]) for t in LINE_TEMPLATES}


def _portal_contact(ctx: SeedContext) -> Contact:
    return Contact.create(administration=ctx.administration_id, name="Grootklant Portaal BV",
                          email="administratie@grootklant.nl", city="Utrecht",
                          external_id=PORTAL_EXTERNAL_ID)


def seed_invoices(ctx: SeedContext) -> dict[str, list[str]]:
    """`size` invoices over the seeded contacts plus the portal customer's PORTAL_INVOICES.

    Returns samples: "invoice" (any), "open_invoice" (verzonden, for payments),
    "portal_invoice" (the large customer's, ten lines each) and "portal_contact" (that
    customer's id, for the filtered list), and for the paging
    scenarios "deep_cursor" / "deep_offset" (the id after which / the offset at which the
    deep page starts) and "deep_page" (its number). Each table is streamed in its own pass
    over the same deterministic rows, so memory stays flat."""
    contacts = [uuid.UUID(c) for c in ctx.ids["contact"]]
    portal = _portal_contact(ctx)
    total = ctx.size + PORTAL_INVOICES
    # The portal customer's invoices are spread through the history, not appended.
    portal_every = max(1, total // PORTAL_INVOICES)
    when = spread_timestamps(total)
    id_base = uuid.uuid4().int & ~(2**40 - 1)

    def invoice(i: int) -> tuple:
        """(id, contact, status, created, line set index) of invoice i."""
        if i % portal_every == 0 and i // portal_every < PORTAL_INVOICES:
            contact, set_index = portal.id, TEN_LINES
        else:
            contact, set_index = contacts[i % len(contacts)], i % ROTATING
        return (uuid.UUID(int=id_base + i), contact, STATUS_CYCLE[i % len(STATUS_CYCLE)], when(i),
                set_index)

    def paid(status: str, set_index: int) -> Decimal:
        return {"betaald": TOTALS[set_index][0], "deels_betaald": Decimal("10.00")}.get(status, Decimal(0))

    sample_every = max(1, total // IDS_FOR_WRK)
    samples: dict[str, list[str]] = {"invoice": [], "open_invoice": [], "portal_invoice": []}
    last_number: dict[int, int] = {}

    def invoices():
        for i in range(total):
            invoice_id, contact, status, created, set_index = invoice(i)
            invoice_date = created.date()
            number = None
            if status != "concept":
                last_number[invoice_date.year] = last_number.get(invoice_date.year, 0) + 1
                number = f"{invoice_date.year}-{last_number[invoice_date.year]:04d}"
            if contact == portal.id:
                samples["portal_invoice"].append(str(invoice_id))
            if i % sample_every == 0:
                samples["invoice"].append(str(invoice_id))
                if status == "verzonden":
                    samples["open_invoice"].append(str(invoice_id))
            yield (invoice_id, ctx.administration_id, number, status, contact,
                   f"Klant {contact.hex[:8]} BV" if number else None, invoice_date,
                   invoice_date + dt.timedelta(days=30), *TOTALS[set_index], paid(status, set_index),
                   BREAKDOWNS[set_index], created, created)

    def lines():
        for i in range(total):
            invoice_id, _, _, created, set_index = invoice(i)
            for position, template in enumerate(LINE_SETS[set_index], start=1):
                amounts = LINE_AMOUNTS[template]
                yield (uuid.uuid4(), ctx.administration_id, invoice_id, position, template[0],
                       template[1], template[2], template[3], amounts.total_incl, amounts.total_vat,
                       amounts.total_excl, created, created)

    def payments():
        for i in range(total):
            invoice_id, contact, status, created, set_index = invoice(i)
            if amount := paid(status, set_index):
                yield (uuid.uuid4(), ctx.administration_id, invoice_id, contact, amount,
                       created.date() + dt.timedelta(days=7), created, created)

    line_count = sum(len(LINE_SETS[invoice(i)[4]]) for i in range(total))
    ctx.copy(Invoice, ("id", "administration", "number", "status", "contact", "contact_name",
                       "invoice_date", "due_date", "total_incl", "total_vat", "total_excl",
                       "amount_paid", "vat_breakdown", "created_at", "updated_at"),
             invoices(), total=total, desc=f"invoices ({total:,})")
    ctx.copy(InvoiceLine, ("id", "administration", "invoice", "position", "description", "quantity",
                           "unit_price_incl", "tax_percentage", "total_incl", "total_vat",
                           "total_excl", "created_at", "updated_at"),
             lines(), total=line_count, desc=f"invoice lines ({line_count:,})")
    paying = sum(1 for s in STATUS_CYCLE if s in ("betaald", "deels_betaald"))
    ctx.copy(Payment, ("id", "administration", "invoice", "contact", "amount", "payment_date",
                       "created_at", "updated_at"),
             payments(), total=total * paying // len(STATUS_CYCLE), desc="payments")
    now = db.utcnow()
    NumberSeries.insert_many([
        {"administration": ctx.administration_id, "kind": "invoice", "year": year, "last_number": last,
         "created_at": now, "updated_at": now}
        for year, last in last_number.items()
    ]).execute()
    analyze(Invoice, InvoiceLine, Payment, Contact)
    for sample in samples.values():
        ctx.rng.shuffle(sample)
    # The invoice list in (created_at, id) order is invoice 0, 1, 2, ...: page p (1-based,
    # PAGE_SIZE rows) starts at offset (p - 1) * PAGE_SIZE, right after invoice (p - 1) * PAGE_SIZE - 1.
    deep = max(2, min(DEEP_PAGE, total // PAGE_SIZE - 1))
    return {**samples, "portal_contact": [str(portal.id)],
            "deep_cursor": [str(invoice((deep - 1) * PAGE_SIZE - 1)[0])],
            "deep_offset": [str((deep - 1) * PAGE_SIZE)], "deep_page": [str(deep)]}
