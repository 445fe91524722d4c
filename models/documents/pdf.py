"""The invoice PDF a customer receives: seller and buyer, lines, VAT per rate, totals and
how to pay. Rendered with fpdf2 and an embedded DejaVu Sans (shipped in fonts/, so the
euro sign and accented names render the same on every machine)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

from fpdf import FPDF
from fpdf.enums import Align, MethodReturnValue, XPos, YPos
from fpdf.fonts import FontFace

FONT_DIR = Path(__file__).with_name("fonts")
FONT = "DejaVu"
GREY = (110, 110, 110)
RULE = (200, 200, 200)
#: A table row holds at most this many printed lines (fits one page with room to spare);
#: a longer description continues in the rows below it, across pages if need be.
MAX_LINES_PER_ROW = 24
LINE_HEIGHT = 5.5
CELL_PADDING = (1.2, 1.5, 1.2, 1.5)
DESCRIPTION_WIDTH, TABLE_WIDTH = 88, 176


def one_line(text) -> str:
    """Text for a single-line cell: line breaks and tabs become spaces."""
    return " ".join(str(text or "").split()) if text else ""


def multi_line(text) -> str:
    """Text for a wrapped cell: CR LF and CR become LF, tabs become spaces."""
    return str(text or "").replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    ")


def invoice_pdf(invoice: dict, seller: dict, preceding: dict | None = None) -> bytes:
    """The invoice (or credit note) as PDF bytes.

    `invoice` has the shape of GET /invoices/{id}, `seller` that of GET /administration;
    `preceding` is the credited invoice, named on a credit note."""
    pdf = _InvoicePDF(invoice, seller)
    pdf.render(preceding)
    return bytes(pdf.output())


def money(value, currency: str = "EUR") -> str:
    """`€ 1,234.56` (negative: `€ -50.00`); other currencies by their code."""
    symbol = "€" if currency == "EUR" else currency
    amount = Decimal(value)
    return f"{symbol} {abs(amount) if amount == 0 else amount:,.2f}"  # never "€ -0.00"


def quantity(value) -> str:
    return format(Decimal(value).normalize(), "f")


def rate(value) -> str:
    return f"{format(Decimal(value).normalize(), 'f')}%"


def iban_groups(iban: str) -> str:
    """NL91ABNA0417164300 -> NL91 ABNA 0417 1643 00 (as printed for people)."""
    return " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))


class _InvoicePDF(FPDF):
    def __init__(self, invoice: dict, seller: dict) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.invoice = invoice
        self.seller = seller
        self.currency = invoice.get("currency") or "EUR"
        self.credit = bool(invoice.get("is_credit_note"))
        self.add_font(FONT, "", str(FONT_DIR / "DejaVuSans.ttf"))
        self.add_font(FONT, "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(True, margin=22)
        title = f"{'Credit note' if self.credit else 'Invoice'} {invoice.get('number') or ''}".strip()
        self.set_title(title)
        self.set_author(seller.get("name") or "")
        self.set_creator("PayDock")
        # A fixed creation date makes the same invoice render to the same bytes.
        created = invoice.get("updated_at") or invoice.get("created_at")
        self.set_creation_date(_as_datetime(created))

    def money(self, value) -> str:
        return money(value, self.currency)

    # ------------------------------------------------------------ page furniture

    def footer(self) -> None:
        self.set_y(-15)
        self.set_font(FONT, "", 7.5)
        self.set_text_color(*GREY)
        s = self.seller
        parts = [s.get("name"), f"KvK {s['kvk_number']}" if s.get("kvk_number") else None,
                 f"VAT {s['vat_number']}" if s.get("vat_number") else None,
                 f"IBAN {iban_groups(s['iban'])}" if s.get("iban") else None]
        self.cell(0, 4, one_line("  ·  ".join(p for p in parts if p)), align=Align.C)
        self.cell(0, 4, f"{self.page_no()}/{{nb}}", align=Align.R)
        self.set_text_color(0, 0, 0)

    # ------------------------------------------------------------ body

    def render(self, preceding: dict | None) -> None:
        self.alias_nb_pages()
        self.add_page()
        self._seller_block()
        self._title_and_buyer(preceding)
        self._lines()
        self._totals()
        self._note_and_payment()

    def _seller_block(self) -> None:
        s = self.seller
        self.set_font(FONT, "B", 14)
        self.cell(0, 7, one_line(s.get("name")), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 9)
        self.set_text_color(*GREY)
        for text in (s.get("address"), " ".join(p for p in (s.get("postal_code"), s.get("city")) if p),
                     s.get("country") if s.get("country") not in (None, "NL") else None,
                     " · ".join(p for p in (s.get("email"), s.get("phone")) if p),
                     f"KvK {s['kvk_number']}" if s.get("kvk_number") else None,
                     f"VAT {s['vat_number']}" if s.get("vat_number") else None):
            if text:
                self.cell(0, 4.5, one_line(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)
        self.ln(6)

    def _title_and_buyer(self, preceding: dict | None) -> None:
        inv = self.invoice
        top = self.get_y()
        self.set_font(FONT, "B", 18)
        self.cell(0, 9, "Credit note" if self.credit else "Invoice", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(2)

        # Buyer on the left ...
        c = inv["contact"]
        self.set_font(FONT, "", 8)
        self.set_text_color(*GREY)
        self.cell(90, 4.5, "Bill to", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)
        self.set_font(FONT, "B", 10)
        name = c.get("company_name") or c.get("name") or ""
        self.cell(90, 5, one_line(name), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 9)
        if c.get("company_name") and c.get("name") and c["name"] != c["company_name"]:
            self.cell(90, 4.5, one_line(f"Attn. {c['name']}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for text in (c.get("address"), " ".join(p for p in (c.get("postal_code"), c.get("city")) if p),
                     c.get("country") if c.get("country") not in (None, "NL") else None,
                     f"VAT {c['vat_number']}" if c.get("vat_number") else None,
                     f"KvK {c['kvk_number']}" if c.get("kvk_number") else None):
            if text:
                self.cell(90, 4.5, one_line(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        bottom_left = self.get_y()

        # ... invoice facts on the right.
        number_label = "Credit note number" if self.credit else "Invoice number"
        facts = [(number_label, inv.get("number") or "(concept)"), ("Date", _day(inv.get("invoice_date")))]
        if inv.get("due_date") and not self.credit:
            facts.append(("Due date", _day(inv["due_date"])))
        if inv.get("reference"):
            facts.append(("Your reference", inv["reference"]))
        if self.credit:
            original = (preceding or {}).get("number") or inv.get("credit_of")
            if original:
                facts.append(("Credits invoice", str(original)))
        self.set_y(top + 11)
        self._facts(facts, bottom_left)

    def _facts(self, facts, bottom_left: float) -> None:
        """Label and value rows in the right-hand column from the current height on, then on
        below both columns (the left one ends at `bottom_left`)."""
        for label, value in facts:
            self.set_x(118)
            self.set_font(FONT, "", 8.5)
            self.set_text_color(*GREY)
            self.cell(34, 5, label)
            self.set_text_color(0, 0, 0)
            self.set_font(FONT, "B", 9)
            self.cell(0, 5, one_line(value), align=Align.R, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_y(max(bottom_left, self.get_y()) + 8)

    def _lines(self) -> None:
        self.set_font(FONT, "", 9)
        self.set_draw_color(*RULE)
        heading = FontFace(emphasis="BOLD", fill_color=(240, 240, 240))
        with self.table(
            col_widths=(88, 18, 28, 14, 28),
            text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
            headings_style=heading,
            borders_layout="HORIZONTAL_LINES",
            line_height=LINE_HEIGHT,
            padding=CELL_PADDING,
        ) as table:
            table.row(("Description", "Qty", "Unit price", "VAT", "Amount"))
            for line in sorted(self.invoice["lines"], key=lambda item: item["position"]):
                if line.get("is_text_line"):
                    for chunk in self._row_chunks(line.get("description"), TABLE_WIDTH):
                        row = table.row(style=FontFace(color=GREY))
                        row.cell(chunk, colspan=5, align="LEFT")
                    continue
                first, *rest = self._row_chunks(line.get("description"), DESCRIPTION_WIDTH)
                table.row((first, quantity(line["quantity"]), self.money(line["unit_price_incl"]),
                           rate(line["tax_percentage"]), self.money(line["total_incl"])))
                for chunk in rest:
                    table.row((chunk, "", "", "", ""))
        self.set_font(FONT, "", 7.5)
        self.set_text_color(*GREY)
        self.cell(0, 5, "Prices include VAT.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_text_color(0, 0, 0)
        self.ln(3)

    def _row_chunks(self, text, width: float) -> list[str]:
        """`text` wrapped as the table will print it in a column `width` mm wide (long words
        broken), in pieces of at most MAX_LINES_PER_ROW lines: one table row each, so no
        row is ever taller than a page."""
        inner = width - CELL_PADDING[1] - CELL_PADDING[3]
        lines: list[str] = self.multi_cell(  # type: ignore[assignment]  # LINES gives a list
            inner, LINE_HEIGHT, multi_line(text), dry_run=True, output=MethodReturnValue.LINES,
            padding=0)
        pieces = ["\n".join(lines[i:i + MAX_LINES_PER_ROW])
                  for i in range(0, len(lines), MAX_LINES_PER_ROW)]
        return pieces or [""]

    def _totals(self) -> None:
        inv = self.invoice
        rows = [("Total excl. VAT", self.money(inv["total_excl"]), False)]
        for entry in sorted(inv["vat_breakdown"], key=lambda e: Decimal(e["tax_percentage"])):
            rows.append((f"VAT {rate(entry['tax_percentage'])} over {self.money(entry['total_excl'])}",
                         self.money(entry["total_vat"]), False))
        rows.append(("Total incl. VAT", self.money(inv["total_incl"]), True))
        paid = Decimal(inv.get("amount_paid") or 0)
        if paid:
            rows.append(("Paid", self.money(paid), False))
            rows.append(("Amount due", self.money(inv["open_amount"]), True))
        if self.will_page_break(6 * len(rows) + 4):
            self.add_page()
        for label, value, strong in rows:
            self.set_x(98)
            self.set_font(FONT, "B" if strong else "", 9.5 if strong else 9)
            self.cell(60, 6, label, border="T" if strong else 0)
            self.cell(0, 6, value, align=Align.R, border="T" if strong else 0,
                      new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(6)

    def _note_and_payment(self) -> None:
        inv, s = self.invoice, self.seller
        if inv.get("note"):
            self.set_font(FONT, "", 9)
            self.multi_cell(0, 4.8, multi_line(inv["note"]), align=Align.L,
                            new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            self.ln(3)
        self.set_font(FONT, "B", 9.5)
        self.cell(0, 6, "Payment", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.set_font(FONT, "", 9)
        open_amount = Decimal(inv.get("open_amount", inv["total_incl"]))
        if self.credit or open_amount < 0:
            text = (f"We will refund {self.money(abs(open_amount))} to your account, or settle it "
                    "with your next invoice.")
        elif open_amount == 0:
            text = "This invoice has been paid. Thank you."
        else:
            due = f" by {_day(inv['due_date'])}" if inv.get("due_date") else ""
            account = f" to IBAN {iban_groups(s['iban'])}" if s.get("iban") else ""
            bic = f" (BIC {s['bic']})" if s.get("bic") else ""
            holder = f" in the name of {s['name']}" if s.get("name") else ""
            text = (f"Please pay {self.money(open_amount)}{due}{account}{bic}{holder}, "
                    f"quoting invoice number {inv.get('number') or ''}.")
        self.multi_cell(0, 4.8, text, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _day(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]


def _as_datetime(value) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str) and value:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    return datetime(2000, 1, 1, tzinfo=UTC)
