"""The totals policy against figures worked out by hand (see models/totals.py)."""

from decimal import Decimal as D

import pytest

from models.totals import LineAmounts, RateTotals, invoice_totals, line_amounts, line_total_incl, vat_in


def lines(*specs) -> list[LineAmounts]:
    return [LineAmounts(D(q), D(p), D(r)) for q, p, r in specs]


def test_seed_example():
    # 1 × 89.00 + 2 × 125.00 = 339.00; 339 × 21/121 = 58.8347… → 58.83
    totals = invoice_totals(lines(("1", "89.00", "21"), ("2", "125.00", "21")))
    assert (totals.total_incl, totals.total_vat, totals.total_excl) == (D("339.00"), D("58.83"),
                                                                         D("280.17"))
    assert totals.vat_breakdown == (RateTotals(D("339.00"), D("58.83"), D("280.17"), D("21")),)


def test_zero_nine_and_twenty_one_percent():
    totals = invoice_totals(lines(
        ("3", "10.00", "9"),    # 30.00; 30 × 9/109 = 2.4770… → 2.48
        ("1", "12.10", "21"),   # 12.10; 12.10 × 21/121 = 2.10 exactly
        ("2", "7.50", "0"),     # 15.00; no VAT
    ))
    assert [(r.tax_percentage, r.total_incl, r.total_vat, r.total_excl) for r in totals.vat_breakdown] == [
        (D("0"), D("15.00"), D("0.00"), D("15.00")),
        (D("9"), D("30.00"), D("2.48"), D("27.52")),
        (D("21"), D("12.10"), D("2.10"), D("10.00")),
    ]
    assert (totals.total_incl, totals.total_vat, totals.total_excl) == (D("57.10"), D("4.58"), D("52.52"))


def test_vat_is_rounded_per_rate_not_per_line():
    # Each line alone: 0.10 × 21/121 = 0.01735… → 0.02, so the lines' VAT sums to 0.06;
    # the rate as a whole: 0.30 × 21/121 = 0.05206… → 0.05.
    three = lines(("1", "0.10", "21"), ("1", "0.10", "21"), ("1", "0.10", "21"))
    assert line_amounts(D("1"), D("0.10"), D("21")).total_vat == D("0.02")
    totals = invoice_totals(three)
    assert (totals.total_incl, totals.total_vat, totals.total_excl) == (D("0.30"), D("0.05"), D("0.25"))


@pytest.mark.parametrize("quantity, price, expected", [
    ("1.5", "0.03", "0.05"),       # 0.045: half up (banker's rounding would give 0.04)
    ("0.3333", "30.00", "10.00"),  # 9.999
    ("2.5", "19.99", "49.98"),     # 49.975
    ("1.25", "3.33", "4.16"),      # 4.1625
    ("0.0001", "0.01", "0.00"),    # 0.000001
    ("-1.5", "0.03", "-0.05"),     # ties go away from zero, so a negated line negates exactly
    ("1.5", "-0.03", "-0.05"),
])
def test_line_total_with_fractional_quantities(quantity, price, expected):
    assert line_total_incl(D(quantity), D(price)) == D(expected)


def test_negative_discount_line():
    # 100.00 − 15.00 = 85.00 at 21 %: 85 × 21/121 = 14.7520… → 14.75
    totals = invoice_totals(lines(("1", "100.00", "21"), ("-1", "15.00", "21")))
    assert (totals.total_incl, totals.total_vat, totals.total_excl) == (D("85.00"), D("14.75"), D("70.25"))
    discount = line_amounts(D("-1"), D("15.00"), D("21"))  # −15 × 21/121 = −2.6033… → −2.60
    assert (discount.total_incl, discount.total_vat, discount.total_excl) == (D("-15.00"), D("-2.60"),
                                                                              D("-12.40"))


def test_negated_lines_give_exactly_negated_totals():
    original = lines(("1", "89.00", "21"), ("2", "125.00", "21"), ("1.5", "0.03", "9"), ("3", "0.99", "0"))
    credit = [LineAmounts(-line.quantity, line.unit_price_incl, line.tax_percentage) for line in original]
    a, b = invoice_totals(original), invoice_totals(credit)
    assert (b.total_incl, b.total_vat, b.total_excl) == (-a.total_incl, -a.total_vat, -a.total_excl)
    assert a.total_incl == D("342.02")  # 89 + 250 + 0.05 + 2.97


@pytest.mark.parametrize("gross, rate, expected", [
    ("0.03", "20", "0.01"),    # 0.03 × 20/120 = 0.005 exactly: half up
    ("-0.03", "20", "-0.01"),
    ("0.09", "20", "0.02"),    # 0.015
    ("0.01", "100", "0.01"),   # 0.005
    ("0.01", "21", "0.00"),    # 0.00173…; at 21 % and 9 % no amount in cents lands on a half cent
    ("1000000.00", "21", "173553.72"),  # 173553.7190…
    ("5.00", "0", "0.00"),
])
def test_vat_rounds_half_cents_up(gross, rate, expected):
    assert vat_in(D(gross), D(rate)) == D(expected)


def test_thousand_line_invoice():
    many = lines(*[("3", "0.99", "21")] * 1000)
    totals = invoice_totals(many)
    # 1000 × 2.97 = 2970.00; 2970 × 21/121 = 515.4545… → 515.45 (the lines' own VAT sums to 520.00)
    assert (totals.total_incl, totals.total_vat, totals.total_excl) == (D("2970.00"), D("515.45"),
                                                                         D("2454.55"))
    assert sum(line_amounts(x.quantity, x.unit_price_incl, x.tax_percentage).total_vat
               for x in many) == D("520.00")


def test_thousand_lines_at_two_rates():
    mixed = lines(*([("0.5", "0.01", "9")] * 500 + [("1.25", "3.33", "21")] * 500))
    totals = invoice_totals(mixed)
    # 500 × round2(0.005) = 500 × 0.01 = 5.00 at 9 %: 5 × 9/109 = 0.4128… → 0.41
    # 500 × round2(4.1625) = 500 × 4.16 = 2080.00 at 21 %: 2080 × 21/121 = 360.9917… → 360.99
    assert [(r.total_incl, r.total_vat) for r in totals.vat_breakdown] == [
        (D("5.00"), D("0.41")), (D("2080.00"), D("360.99"))]
    assert (totals.total_incl, totals.total_vat, totals.total_excl) == (D("2085.00"), D("361.40"),
                                                                         D("1723.60"))


def test_no_lines_is_zero():
    totals = invoice_totals([])
    assert (totals.total_incl, totals.total_vat, totals.total_excl, totals.vat_breakdown) == (
        D("0.00"), D("0.00"), D("0.00"), ())


def test_largest_amounts_stay_exact():
    # The API's largest line: 999999.9999 × 9999999.99 = 9999999989000.000001 → 9999999989000.00
    assert line_total_incl(D("999999.9999"), D("9999999.99")) == D("9999999989000.00")
