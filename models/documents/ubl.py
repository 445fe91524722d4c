"""UBL 2.1 invoices and credit notes following Peppol BIS Billing 3.0 (with its Dutch rules).

How VAT-inclusive prices become the VAT-exclusive amounts UBL needs
--------------------------------------------------------------------
PayDock prices include VAT and its totals are computed per rate (DESIGN.md §3):
`vat = round2(gross × r / (100 + r))`, `excl = gross − vat`. UBL states line amounts
without VAT, and Peppol checks that they add up: Σ line net amounts = the document's
line total (BR-CO-10) = its tax-exclusive amount (BR-CO-13); per rate, the taxable
amount = Σ net amounts of that rate's lines (BR-S-08, BR-Z-08); tax-exclusive + VAT =
tax-inclusive (BR-CO-15).

So the invoice's own per-rate breakdown is authoritative and the lines are fitted to it:
each line's net amount is `round2(line_total_incl × 100 / (100 + r))`, and whatever cents
those roundings leave against the rate's `total_excl` go to the line with the largest
amount in that rate (at most a cent or two). The net unit price is then the line's net
amount divided by its quantity, with as many decimals as needed (BT-146 has no decimal
limit) for `quantity × price` to give the line amount within half a cent (PEPPOL-R120).
The document totals are then exactly the invoice's `total_excl`, `total_vat` and
`total_incl`. The VAT per rate is not recomputed from the net amount: BR-CO-17 allows
the one-cent difference this can give (280.17 × 21 % = 58.8357, the invoice says 58.83).

Choices
-------
- VAT category: `S` for every positive rate (21 % and the reduced 9 %; Peppol's code
  list does not admit UNCL5305 `AA`), `Z` for 0 % (zero rated; `E` exempt would need an
  exemption reason that the invoice does not carry).
- Text lines are not UBL lines: with the invoice's note they form the single document
  note (PEPPOL-R002 allows one).
- A credit note (`is_credit_note`, negative amounts) becomes a UBL `CreditNote` with
  positive quantities and amounts and a `BillingReference` to the credited invoice
  (NL-R-001). A line that lowered the credited invoice keeps a negative quantity, since
  prices may not be negative (BR-27).
- Buyer reference (BT-10, required by PEPPOL-R003): the invoice's `reference`, else its
  number.
- Electronic addresses: the seller's KvK number (scheme 0106); the buyer's KvK number,
  else a Dutch VAT number (9944), else its email address (EM).
- Payment means: SEPA credit transfer (58) to the seller's IBAN with the invoice number as
  payment reference (NL-R-007, NL-R-008).
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from lxml import etree

from models.errors import Conflict

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
KVK_SCHEME = "0106"
NL_VAT_SCHEME = "9944"
EMAIL_SCHEME = "EM"
UNIT_CODE = "C62"  # UN/ECE Rec. 20: "one" (a unit)
SEPA_CREDIT_TRANSFER = "58"
CENT = Decimal("0.01")
HUNDRED = Decimal(100)


#: Characters XML 1.0 cannot hold: C0 controls other than TAB, LF, CR; lone surrogates;
#: U+FFFE and U+FFFF. The API refuses them in stored text, so only rows stored before that
#: rule can hold one; they are written as U+FFFD rather than making the document unwritable.
NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(value) -> str:
    """`value` as text XML 1.0 can hold (see NOT_XML)."""
    return NOT_XML.sub("\ufffd", str(value))


def invoice_ubl(invoice: dict, seller: dict, preceding: dict | None = None) -> bytes:
    """The invoice (or credit note) as UBL 2.1 XML bytes (UTF-8, with XML declaration).

    `invoice` has the shape of GET /invoices/{id}, `seller` that of GET /administration;
    `preceding` is the credited invoice, for a credit note's reference to its number.
    Raises Conflict when seller or buyer details that Peppol requires are missing."""
    require_parties(invoice, seller)
    credit = bool(invoice["is_credit_note"])
    sign = -1 if credit else 1
    currency = invoice.get("currency") or "EUR"
    doc = _Document(NS_CREDIT_NOTE if credit else NS_INVOICE, "CreditNote" if credit else "Invoice",
                    currency)
    root = doc.root

    doc.cbc(root, "CustomizationID", CUSTOMIZATION_ID)
    doc.cbc(root, "ProfileID", PROFILE_ID)
    doc.cbc(root, "ID", invoice["number"] or str(invoice["id"]))
    doc.cbc(root, "IssueDate", _day(invoice["invoice_date"]))
    if not credit and invoice.get("due_date"):
        doc.cbc(root, "DueDate", _day(invoice["due_date"]))
    doc.cbc(root, "CreditNoteTypeCode" if credit else "InvoiceTypeCode", "381" if credit else "380")
    note = document_note(invoice)
    if note:
        doc.cbc(root, "Note", note)
    doc.cbc(root, "DocumentCurrencyCode", currency)
    doc.cbc(root, "BuyerReference", invoice.get("reference") or invoice["number"] or str(invoice["id"]))
    if credit:
        reference = doc.cac(doc.cac(root, "BillingReference"), "InvoiceDocumentReference")
        doc.cbc(reference, "ID", (preceding or {}).get("number") or str(invoice.get("credit_of") or ""))
        if preceding and preceding.get("invoice_date"):
            doc.cbc(reference, "IssueDate", _day(preceding["invoice_date"]))

    _seller_party(doc, doc.cac(root, "AccountingSupplierParty"), seller)
    _buyer_party(doc, doc.cac(root, "AccountingCustomerParty"), invoice["contact"])

    if not credit:
        means = doc.cac(root, "PaymentMeans")
        doc.cbc(means, "PaymentMeansCode", SEPA_CREDIT_TRANSFER, name="Credit transfer")
        doc.cbc(means, "PaymentID", invoice["number"] or str(invoice["id"]))
        account = doc.cac(means, "PayeeFinancialAccount")
        doc.cbc(account, "ID", seller["iban"])
        doc.cbc(account, "Name", seller["name"])
        if seller.get("bic"):
            doc.cbc(doc.cac(account, "FinancialInstitutionBranch"), "ID", seller["bic"])
        if not invoice.get("due_date"):
            terms = doc.cac(root, "PaymentTerms")
            doc.cbc(terms, "Note", f"Payment within {seller.get('payment_term_days', 30)} days")

    groups = vat_groups(invoice)
    tax_total = doc.cac(root, "TaxTotal")
    doc.amount(tax_total, "TaxAmount", sign * invoice["total_vat"])
    for group in groups:
        subtotal = doc.cac(tax_total, "TaxSubtotal")
        doc.amount(subtotal, "TaxableAmount", sign * group["total_excl"])
        doc.amount(subtotal, "TaxAmount", sign * group["total_vat"])
        _tax_category(doc, doc.cac(subtotal, "TaxCategory"), group["tax_percentage"])

    line_total = sum((line["net"] for group in groups for line in group["lines"]), Decimal(0))
    totals = doc.cac(root, "LegalMonetaryTotal")
    doc.amount(totals, "LineExtensionAmount", sign * line_total)
    doc.amount(totals, "TaxExclusiveAmount", sign * invoice["total_excl"])
    doc.amount(totals, "TaxInclusiveAmount", sign * invoice["total_incl"])
    paid = invoice.get("amount_paid") or Decimal(0)
    if paid:
        doc.amount(totals, "PrepaidAmount", sign * paid)
    doc.amount(totals, "PayableAmount", sign * (invoice["total_incl"] - paid))

    by_id = {id(line["source"]): line for group in groups for line in group["lines"]}
    number = 0
    for source in sorted(invoice["lines"], key=lambda item: item["position"]):
        if source.get("is_text_line"):
            continue
        number += 1
        _invoice_line(doc, root, number, by_id[id(source)], sign, credit)

    return etree.tostring(doc.root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


# ------------------------------------------------------------------ amounts

def vat_groups(invoice: dict) -> list[dict]:
    """Per VAT rate: the invoice's breakdown entry and its lines with fitted net amounts."""
    lines_by_rate: dict[Decimal, list[dict]] = {}
    for line in invoice["lines"]:
        if not line.get("is_text_line"):
            lines_by_rate.setdefault(Decimal(line["tax_percentage"]), []).append(line)
    groups = []
    for entry in invoice["vat_breakdown"]:
        rate = Decimal(entry["tax_percentage"])
        lines = lines_by_rate.pop(rate, [])
        gross = sum((Decimal(line["total_incl"]) for line in lines), Decimal(0))
        if gross != Decimal(entry["total_incl"]):
            raise ValueError(f"lines at {rate}% add up to {gross}, the breakdown says {entry['total_incl']}")
        groups.append({**entry, "tax_percentage": rate,
                       "lines": fit_net_amounts(lines, rate, Decimal(entry["total_excl"]))})
    if lines_by_rate:
        raise ValueError(f"no VAT breakdown for rate(s) {sorted(lines_by_rate)}")
    return groups


def fit_net_amounts(lines: list[dict], rate: Decimal, total_excl: Decimal) -> list[dict]:
    """Each line's VAT-exclusive amount, adjusted so that together they make `total_excl`."""
    fitted: list[dict[str, Any]] = [
        {"source": line, "net": _round2(Decimal(line["total_incl"]) * HUNDRED / (HUNDRED + rate))}
        for line in lines
    ]
    if fitted:
        residue = total_excl - sum((item["net"] for item in fitted), Decimal(0))
        largest = max(fitted, key=lambda item: abs(Decimal(item["source"]["total_incl"])))
        largest["net"] += residue
    return fitted


def net_unit_price(net: Decimal, quantity: Decimal) -> Decimal:
    """The shortest price (2 to 10 decimals) for which quantity × price is `net` within half a cent."""
    if quantity == 0:
        return Decimal("0.00")
    exact = net / quantity
    for decimals in range(2, 11):
        price = exact.quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
        if abs(price * quantity - net) <= Decimal("0.005"):
            return price
    return exact.quantize(Decimal("1e-10"), rounding=ROUND_HALF_UP)


def document_note(invoice: dict) -> str:
    """The invoice note and its text lines (in line order), as one note."""
    parts = [invoice["note"]] if invoice.get("note") else []
    parts += [line["description"] for line in sorted(invoice["lines"], key=lambda item: item["position"])
              if line.get("is_text_line") and line.get("description")]
    return "\n".join(parts)


def tax_category_code(rate: Decimal) -> str:
    return "S" if rate > 0 else "Z"


# ------------------------------------------------------------------ parts

class _Document:
    def __init__(self, namespace: str, tag: str, currency: str) -> None:
        self.root = etree.Element(f"{{{namespace}}}{tag}", nsmap={None: namespace, "cac": CAC, "cbc": CBC})
        self.currency = currency

    def cac(self, parent, tag: str):
        return etree.SubElement(parent, f"{{{CAC}}}{tag}")

    def cbc(self, parent, tag: str, text, **attributes):
        element = etree.SubElement(parent, f"{{{CBC}}}{tag}", {k: str(v) for k, v in attributes.items()})
        element.text = xml_text(text)
        return element

    def amount(self, parent, tag: str, value: Decimal):
        return self.cbc(parent, tag, _money(value), currencyID=self.currency)


def _invoice_line(doc: _Document, root, number: int, fitted: dict, sign: int, credit: bool) -> None:
    source = fitted["source"]
    net = sign * fitted["net"]
    quantity = sign * Decimal(source["quantity"])
    price = net_unit_price(net, quantity)
    if price < 0:  # BR-27: prices are never negative; the quantity carries the sign
        quantity, price = -quantity, -price
    line = doc.cac(root, "CreditNoteLine" if credit else "InvoiceLine")
    doc.cbc(line, "ID", number)
    doc.cbc(line, "CreditedQuantity" if credit else "InvoicedQuantity", _quantity(quantity),
            unitCode=UNIT_CODE)
    doc.amount(line, "LineExtensionAmount", net)
    item = doc.cac(line, "Item")
    doc.cbc(item, "Name", source["description"] or "-")
    if source.get("product_id"):
        doc.cbc(doc.cac(item, "SellersItemIdentification"), "ID", source["product_id"])
    category = doc.cac(item, "ClassifiedTaxCategory")
    rate = Decimal(source["tax_percentage"])
    doc.cbc(category, "ID", tax_category_code(rate))
    doc.cbc(category, "Percent", _rate(rate))
    doc.cbc(doc.cac(category, "TaxScheme"), "ID", "VAT")
    doc.cbc(doc.cac(line, "Price"), "PriceAmount", _plain(price), currencyID=doc.currency)


def _tax_category(doc: _Document, category, rate: Decimal) -> None:
    doc.cbc(category, "ID", tax_category_code(rate))
    doc.cbc(category, "Percent", _rate(rate))
    doc.cbc(doc.cac(category, "TaxScheme"), "ID", "VAT")


def _address(doc: _Document, party, who: dict) -> None:
    address = doc.cac(party, "PostalAddress")
    if who.get("address"):
        doc.cbc(address, "StreetName", who["address"])
    if who.get("city"):
        doc.cbc(address, "CityName", who["city"])
    if who.get("postal_code"):
        doc.cbc(address, "PostalZone", who["postal_code"])
    doc.cbc(doc.cac(address, "Country"), "IdentificationCode", who.get("country") or "NL")


def _named_party(doc: _Document, party, who: dict, name: str):
    """A party's name, address and VAT scheme (with a VAT number), in UBL's order; returns its
    PartyLegalEntity, which has the registration name so far."""
    doc.cbc(doc.cac(party, "PartyName"), "Name", name)
    _address(doc, party, who)
    if who.get("vat_number"):
        tax_scheme = doc.cac(party, "PartyTaxScheme")
        doc.cbc(tax_scheme, "CompanyID", who["vat_number"])
        doc.cbc(doc.cac(tax_scheme, "TaxScheme"), "ID", "VAT")
    legal = doc.cac(party, "PartyLegalEntity")
    doc.cbc(legal, "RegistrationName", name)
    return legal


def _seller_party(doc: _Document, parent, seller: dict) -> None:
    party = doc.cac(parent, "Party")
    doc.cbc(party, "EndpointID", seller["kvk_number"], schemeID=KVK_SCHEME)
    legal = _named_party(doc, party, seller, seller["name"])
    doc.cbc(legal, "CompanyID", seller["kvk_number"], schemeID=KVK_SCHEME)
    if seller.get("email") or seller.get("phone"):
        contact = doc.cac(party, "Contact")
        if seller.get("phone"):
            doc.cbc(contact, "Telephone", seller["phone"])
        if seller.get("email"):
            doc.cbc(contact, "ElectronicMail", seller["email"])


def _buyer_party(doc: _Document, parent, buyer: dict) -> None:
    party = doc.cac(parent, "Party")
    country = buyer.get("country") or "NL"
    if buyer.get("kvk_number") and country == "NL":
        doc.cbc(party, "EndpointID", buyer["kvk_number"], schemeID=KVK_SCHEME)
    elif buyer.get("vat_number") and country == "NL":
        doc.cbc(party, "EndpointID", buyer["vat_number"], schemeID=NL_VAT_SCHEME)
    elif buyer.get("email"):
        doc.cbc(party, "EndpointID", buyer["email"], schemeID=EMAIL_SCHEME)
    name = buyer.get("company_name") or buyer["name"]
    legal = _named_party(doc, party, buyer, name)
    if buyer.get("kvk_number") and country == "NL":
        doc.cbc(legal, "CompanyID", buyer["kvk_number"], schemeID=KVK_SCHEME)
    if buyer.get("email"):
        doc.cbc(doc.cac(party, "Contact"), "ElectronicMail", buyer["email"])


SELLER_REQUIRED = ("name", "address", "postal_code", "city", "kvk_number", "vat_number", "iban")
BUYER_REQUIRED_NL = ("address", "postal_code", "city")


def require_parties(invoice: dict, seller: dict) -> None:
    missing = [f for f in SELLER_REQUIRED if not seller.get(f)]
    if missing:
        raise Conflict(
            f"a UBL invoice needs the seller's {', '.join(missing)}: set them with PATCH /administration",
            errors=[{"field": f, "message": "is required for UBL/Peppol"} for f in missing],
        )
    buyer = invoice["contact"]
    if (buyer.get("country") or "NL") == "NL":
        missing = [f for f in BUYER_REQUIRED_NL if not buyer.get(f)]
        if missing:
            raise Conflict(
                f"a UBL invoice to a Dutch customer needs the contact's {', '.join(missing)}",
                errors=[{"field": f"contact.{f}", "message": "is required for UBL/Peppol"} for f in missing],
            )


# ------------------------------------------------------------------ formats

def _round2(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _money(value) -> str:
    amount = Decimal(value).quantize(CENT)
    return str(abs(amount) if amount == 0 else amount)  # "0.00", never "-0.00"


def _plain(value: Decimal) -> str:
    return format(value, "f")


def _quantity(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def _rate(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def _day(value) -> str:
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)[:10]
