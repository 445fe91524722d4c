"""The payment reminder PDF (betalingsherinnering, aanmaning, 14-dagenbrief), in Dutch:
the letter a customer of a Dutch business receives, with the invoice number, the open
amount, the due date and, on a step about collection costs, the statutory costs and
the 14-day term the law requires."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from fpdf.enums import Align, XPos, YPos

from models.documents.pdf import FONT, _day, _InvoicePDF, iban_groups

TITLES = {
    "reminder": "Betalingsherinnering",
    "fourteen_day_letter": "Aanmaning (14-dagenbrief)",
    "collection_costs": "Aanmaning",
}


def reminder_pdf(invoice: dict, seller: dict, reminder: dict, text: str, letter_date: date) -> bytes:
    """The reminder letter as PDF bytes.

    `invoice` has the shape of GET /invoices/{id}, `seller` that of GET /administration,
    `reminder` that of a delivery's `reminder` (kind, open_amount, collection_costs,
    pay_by); `text` is the step's own text."""
    pdf = _ReminderPDF(invoice, seller)
    pdf.render_reminder(reminder, text, letter_date)
    return bytes(pdf.output())


def euro(value) -> str:
    """`€ 1.234,56`, as Dutch letters write amounts."""
    formatted = f"{Decimal(value):,.2f}".replace(",", "_").replace(".", ",").replace("_", ".")
    return f"€ {formatted}"


def dutch_date(value: date) -> str:
    months = ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september",
              "oktober", "november", "december")
    return f"{value.day} {months[value.month - 1]} {value.year}"


def collection_costs_notice(reminder: dict, letter_date: date) -> str:
    """The sentences about collection costs a step states (empty for a plain reminder)."""
    kind, costs, open_amount = reminder["kind"], reminder.get("collection_costs"), reminder["open_amount"]
    if kind == "reminder" or costs is None:
        return ""
    if reminder.get("pay_by"):
        pay_by = date.fromisoformat(str(reminder["pay_by"]))
        return (
            f"Betaal het openstaande bedrag van {euro(open_amount)} binnen 14 dagen na de dag van "
            f"ontvangst van deze brief, dus uiterlijk op {dutch_date(pay_by)}. Betaalt u niet binnen "
            f"deze termijn, dan zijn wij genoodzaakt incassokosten van {euro(costs)} in rekening te "
            "brengen, berekend volgens het Besluit vergoeding voor buitengerechtelijke incassokosten "
            "(15% over de eerste € 2.500, minimaal € 40, aflopend tot ten hoogste € 6.775)."
        )
    total = Decimal(open_amount) + Decimal(costs)
    return (
        f"Omdat het openstaande bedrag niet binnen de gestelde termijn is betaald, brengen wij "
        f"incassokosten van {euro(costs)} in rekening volgens het Besluit vergoeding voor "
        f"buitengerechtelijke incassokosten. Het totaal te betalen bedrag is {euro(total)}."
    )


class _ReminderPDF(_InvoicePDF):
    def render_reminder(self, reminder: dict, text: str, letter_date: date) -> None:
        inv = self.invoice
        title = TITLES.get(reminder["kind"], "Betalingsherinnering")
        self.set_title(f"{title} factuur {inv.get('number') or ''}".strip())
        self.alias_nb_pages()
        self.add_page()
        self._seller_block()
        self._buyer_and_facts(title, letter_date)
        self.set_font(FONT, "", 10)
        self.multi_cell(0, 5.2, text, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(4)
        self._amounts(reminder)
        notice = collection_costs_notice(reminder, letter_date)
        if notice:
            self.set_font(FONT, "B", 10)
            self.cell(0, 6, "Incassokosten", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.set_font(FONT, "", 10)
            self.multi_cell(0, 5.2, notice, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.ln(4)
        self._how_to_pay(reminder)

    def _buyer_and_facts(self, title: str, letter_date: date) -> None:
        inv, c = self.invoice, self.invoice["contact"]
        self.set_font(FONT, "B", 18)
        self.cell(0, 9, title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)
        top = self.get_y()
        self.set_font(FONT, "B", 10)
        self.cell(90, 5, c.get("company_name") or c.get("name") or "", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 9)
        for line in (c.get("address"), " ".join(p for p in (c.get("postal_code"), c.get("city")) if p)):
            if line:
                self.cell(90, 4.5, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        bottom_left = self.get_y()
        self.set_y(top)
        self._facts((("Datum", dutch_date(letter_date)), ("Factuurnummer", inv.get("number") or ""),
                     ("Factuurdatum", _day(inv.get("invoice_date"))),
                     ("Vervaldatum", _day(inv.get("due_date")))), bottom_left)

    def _amounts(self, reminder: dict) -> None:
        inv = self.invoice
        rows = [("Factuurbedrag", euro(inv["total_incl"]), False)]
        paid = Decimal(inv.get("amount_paid") or 0)
        if paid:
            rows.append(("Betaald", euro(paid), False))
        rows.append(("Openstaand bedrag", euro(reminder["open_amount"]), True))
        if reminder.get("collection_costs") is not None and not reminder.get("pay_by"):
            rows.append(("Incassokosten", euro(reminder["collection_costs"]), False))
            total = Decimal(reminder["open_amount"]) + Decimal(reminder["collection_costs"])
            rows.append(("Totaal te betalen", euro(total), True))
        for label, value, strong in rows:
            self.set_x(98)
            self.set_font(FONT, "B" if strong else "", 10)
            self.cell(60, 6, label, border="T" if strong else 0)
            self.cell(0, 6, value, align=Align.R, border="T" if strong else 0,
                      new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(6)

    def _how_to_pay(self, reminder: dict) -> None:
        s, inv = self.seller, self.invoice
        account = f" op IBAN {iban_groups(s['iban'])}" if s.get("iban") else ""
        holder = f" ten name van {s['name']}" if s.get("name") else ""
        self.set_font(FONT, "", 10)
        self.multi_cell(
            0, 5.2,
            f"U kunt betalen door het bedrag over te maken{account}{holder}, onder vermelding van "
            f"factuurnummer {inv.get('number') or ''}. Heeft u inmiddels betaald, dan kunt u deze brief "
            "als niet verzonden beschouwen.",
            align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
