"""UBL 2.1 output: valid against the official OASIS schemas, Peppol totals that add up."""

from decimal import Decimal

import pytest
from lxml import etree
from peppol import check_rules, validate_xsd

from models.documents import invoice_ubl
from models.documents.ubl import CAC, CBC, fit_net_amounts, net_unit_price
from models.errors import Conflict
from tests.documents.invoices import SELLER, credit_note, multi_rate_invoice, seed_invoice

NS = {"cac": CAC, "cbc": CBC}
D = Decimal


def parse(xml: bytes):
    return etree.fromstring(xml)


def text(root, path: str) -> str:
    found = root.xpath(path, namespaces=NS)
    assert found, f"{path} not found"
    return found[0].text


def assert_valid(xml: bytes) -> None:
    ok, errors = validate_xsd(xml)
    assert ok, "\n".join(errors)
    fatal = [str(f) for f in check_rules(xml) if f.severity == "fatal"]
    assert fatal == [], "\n".join(fatal)


def test_seed_invoice_validates_and_has_the_published_totals():
    invoice = seed_invoice()
    assert (invoice["total_incl"], invoice["total_vat"], invoice["total_excl"]) == (
        D("339.00"), D("58.83"), D("280.17"))
    xml = invoice_ubl(invoice, SELLER)
    assert_valid(xml)
    root = parse(xml)
    assert etree.QName(root).localname == "Invoice"
    assert text(root, "cbc:CustomizationID").endswith("urn:fdc:peppol.eu:2017:poacc:billing:3.0")
    assert text(root, "cbc:ID") == "2026-0001"
    assert text(root, "cbc:InvoiceTypeCode") == "380"
    assert text(root, "cbc:DueDate") == "2026-05-11"
    totals = "cac:LegalMonetaryTotal/cbc:"
    assert text(root, totals + "LineExtensionAmount") == "280.17"
    assert text(root, totals + "TaxExclusiveAmount") == "280.17"
    assert text(root, totals + "TaxInclusiveAmount") == "339.00"
    assert text(root, totals + "PayableAmount") == "339.00"
    assert text(root, "cac:TaxTotal/cbc:TaxAmount") == "58.83"
    assert root.xpath("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:ID/text()", namespaces=NS) == ["S"]
    # Two priced lines; the text line is the document note, not a UBL line.
    lines = root.xpath("cac:InvoiceLine", namespaces=NS)
    assert [text(x, "cbc:LineExtensionAmount") for x in lines] == ["73.55", "206.62"]
    assert [text(x, "cac:Price/cbc:PriceAmount") for x in lines] == ["73.55", "103.31"]
    assert text(root, "cbc:Note") == "Notitie: Levering binnen 5 werkdagen"
    # Parties: KvK as legal id and endpoint (NL rules), VAT numbers, IBAN for payment.
    seller = "cac:AccountingSupplierParty/cac:Party/"
    assert text(root, seller + "cbc:EndpointID") == "87654321"
    assert root.xpath(seller + "cbc:EndpointID/@schemeID", namespaces=NS) == ["0106"]
    assert text(root, seller + "cac:PartyTaxScheme/cbc:CompanyID") == "NL987654321B01"
    assert text(root, seller + "cac:PartyLegalEntity/cbc:CompanyID") == "87654321"
    assert text(root, "cac:AccountingCustomerParty/cac:Party/cac:PartyTaxScheme/cbc:CompanyID") == (
        "NL123456789B01")
    assert text(root, "cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID") == "NL91ABNA0417164300"
    assert text(root, "cac:PaymentMeans/cbc:PaymentID") == "2026-0001"


def test_multiple_rates_each_get_a_breakdown_that_adds_up():
    invoice = multi_rate_invoice()
    xml = invoice_ubl(invoice, SELLER)
    assert_valid(xml)
    root = parse(xml)
    subtotals = {
        text(s, "cac:TaxCategory/cbc:Percent"): (text(s, "cac:TaxCategory/cbc:ID"),
                                                  text(s, "cbc:TaxableAmount"), text(s, "cbc:TaxAmount"))
        for s in root.xpath("cac:TaxTotal/cac:TaxSubtotal", namespaces=NS)
    }
    expected = {str(e["tax_percentage"]): e for e in invoice["vat_breakdown"]}
    assert set(subtotals) == {"0", "9", "21"}
    assert subtotals["0"][0] == "Z" and subtotals["9"][0] == "S" and subtotals["21"][0] == "S"
    for percent, (_, taxable, tax) in subtotals.items():
        assert D(taxable) == expected[percent]["total_excl"]
        assert D(tax) == expected[percent]["total_vat"]
    # Per rate, the line net amounts add up to the taxable amount (BR-S-08 / BR-Z-08).
    for percent, (_, taxable, _) in subtotals.items():
        nets = [D(text(x, "cbc:LineExtensionAmount")) for x in root.xpath("cac:InvoiceLine", namespaces=NS)
                if text(x, "cac:Item/cac:ClassifiedTaxCategory/cbc:Percent") == percent]
        assert sum(nets) == D(taxable)
    assert D(text(root, "cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount")) == invoice["total_incl"]
    assert text(root, "cbc:BuyerReference") == "PO-4711"
    assert text(root, "cbc:Note") == "Bedankt voor uw bestelling.\nAlle prijzen inclusief btw"
    # The discount line: negative quantity, positive price (BR-27).
    discount = root.xpath("cac:InvoiceLine[cac:Item/cbc:Name='Korting trouwe klant']", namespaces=NS)[0]
    assert text(discount, "cbc:InvoicedQuantity") == "-1"
    assert D(text(discount, "cac:Price/cbc:PriceAmount")) == D("8.26")
    assert text(discount, "cbc:LineExtensionAmount") == "-8.26"


def test_partly_paid_invoice_states_the_prepaid_amount():
    xml = invoice_ubl(seed_invoice(paid="100.00"), SELLER)
    assert_valid(xml)
    root = parse(xml)
    assert text(root, "cac:LegalMonetaryTotal/cbc:PrepaidAmount") == "100.00"
    assert text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount") == "239.00"


@pytest.mark.parametrize("original", [seed_invoice(), multi_rate_invoice()], ids=["seed", "multi-rate"])
def test_credit_note_is_a_positive_ubl_credit_note_referencing_the_original(original):
    credit = credit_note(original)
    assert credit["total_incl"] == -original["total_incl"]
    xml = invoice_ubl(credit, SELLER, preceding=original)
    assert_valid(xml)
    root = parse(xml)
    assert etree.QName(root).localname == "CreditNote"
    assert text(root, "cbc:CreditNoteTypeCode") == "381"
    assert text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == original["number"]
    assert D(text(root, "cac:LegalMonetaryTotal/cbc:PayableAmount")) == original["total_incl"]
    assert D(text(root, "cac:TaxTotal/cbc:TaxAmount")) == original["total_vat"]
    quantities = [D(q) for q in root.xpath("cac:CreditNoteLine/cbc:CreditedQuantity/text()", namespaces=NS)]
    # Every credited line is positive except the credited discount.
    names = root.xpath("cac:CreditNoteLine/cac:Item/cbc:Name/text()", namespaces=NS)
    assert all(q > 0 for q, n in zip(quantities, names, strict=True) if n != "Korting trouwe klant")
    assert not root.xpath("cbc:DueDate", namespaces=NS)  # a CreditNote has no DueDate in UBL 2.1


def test_credit_note_without_the_original_references_its_id():
    original = seed_invoice()
    root = parse(invoice_ubl(credit_note(original), SELLER))
    assert text(root, "cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == original["id"]


def test_missing_seller_details_are_a_conflict_naming_them():
    with pytest.raises(Conflict) as raised:
        invoice_ubl(seed_invoice(), {**SELLER, "kvk_number": None, "iban": None})
    assert [e["field"] for e in raised.value.errors] == ["kvk_number", "iban"]


def test_net_amounts_fit_the_rate_total_exactly():
    lines = [{"total_incl": D("0.05")}, {"total_incl": D("0.05")}, {"total_incl": D("0.05")},
             {"total_incl": D("10.00")}]
    gross = D("10.15")
    vat = (gross * 21 / 121).quantize(D("0.01"))
    fitted = fit_net_amounts(lines, D(21), gross - vat)
    assert sum(f["net"] for f in fitted) == gross - vat == D("8.39")
    assert [f["net"] for f in fitted] == [D("0.04"), D("0.04"), D("0.04"), D("8.27")]


@pytest.mark.parametrize("net, quantity, price", [
    (D("206.62"), D(2), D("103.31")),
    (D("10.00"), D(3), D("3.333")),
    (D("1.00"), D("7.5"), D("0.133")),
    (D("0.00"), D(0), D("0.00")),
])
def test_net_unit_price_multiplies_back_to_the_line_amount(net, quantity, price):
    assert net_unit_price(net, quantity) == price
    assert abs(price * quantity - net) <= D("0.005")
