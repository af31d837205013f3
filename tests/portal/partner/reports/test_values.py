"""The tolerant value readers, rule by rule (the rules are in validation's docstring)."""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

import pytest

from portal.partner.reports.validation import (
    Bad,
    Period,
    cell_text,
    normalise_serial,
    normalise_sku,
    parse_country,
    parse_currency,
    parse_date,
    parse_decimal,
    parse_postcode,
)

MARCH = Period.parse("2026-03")
APRIL = Period.parse("2026-04")


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("2026-03-15", date(2026, 3, 15)),
        ("2026/3/5", date(2026, 3, 5)),
        ("2026.03.15", date(2026, 3, 15)),
        ("2026-03-15 14:22:05", date(2026, 3, 15)),
        ("2026-03-15T14:22:05+08:00", date(2026, 3, 15)),
        ("2026年3月15日", date(2026, 3, 15)),
        ("２０２６－０３－１５", date(2026, 3, 15)),
        ("20260315", date(2026, 3, 15)),
        ("15/03/2026", date(2026, 3, 15)),  # first > 12: day first
        ("15.03.2026", date(2026, 3, 15)),
        ("15-03-26", date(2026, 3, 15)),  # two-digit year: 20xx
        ("03/15/2026", date(2026, 3, 15)),  # second > 12: a US export, month first
        ("3/15/2026 10:30 AM", date(2026, 3, 15)),
        ("15-Mar-2026", date(2026, 3, 15)),
        ("15 March 2026", date(2026, 3, 15)),
        ("Mar 15, 2026", date(2026, 3, 15)),
        ("46096", date(2026, 3, 15)),  # Excel serial as text
        ("46096.75", date(2026, 3, 15)),
        (46096, date(2026, 3, 15)),  # Excel serial from an unformatted cell
        (46096.5, date(2026, 3, 15)),
        (datetime(2026, 3, 15, 23, 59), date(2026, 3, 15)),
        (date(2026, 3, 15), date(2026, 3, 15)),
    ],
)
def test_dates(cell: object, expected: date) -> None:
    assert parse_date(cell, MARCH) == expected


@pytest.mark.parametrize(
    ("cell", "period", "expected"),
    [
        ("03/04/2026", MARCH, date(2026, 3, 4)),  # only month-first falls in March
        ("03/04/2026", APRIL, date(2026, 4, 3)),  # only day-first falls in April
        ("03/04/2026", Period.parse("2026-05"), date(2026, 4, 3)),  # neither: day first
        ("03/04/2026", None, date(2026, 4, 3)),
        ("04/04/2026", APRIL, date(2026, 4, 4)),
    ],
)
def test_ambiguous_day_month_takes_the_reading_inside_the_period(cell: str, period: Period | None, expected: date) -> None:
    assert parse_date(cell, period) == expected


@pytest.mark.parametrize(
    "cell",
    [
        "",
        "tomorrow",
        "2026-02-30",
        "31/02/2026",
        "13/13/2026",
        "2026-13-01",
        "1234",
        "99999",
        12,
        True,
        time(10, 0),
        "15-Foo-2026",
        "2026-03",
    ],
)
def test_unreadable_dates(cell: object) -> None:
    with pytest.raises(Bad) as exc:
        parse_date(cell, MARCH)
    assert exc.value.code == "date_invalid"


@pytest.mark.parametrize(
    ("cell", "decimal_comma", "expected"),
    [
        ("12", None, Decimal(12)),
        ("1,234", None, Decimal(1234)),
        ("1,234", False, Decimal(1234)),
        ("1,234", True, Decimal("1.234")),  # a ;-file: the comma is the decimal separator
        ("1.234", True, Decimal(1234)),
        ("1.234", False, Decimal("1.234")),
        ("1.234", None, Decimal("1.234")),
        ("1 234", None, Decimal(1234)),
        ("1\u00a0234,50", True, Decimal("1234.50")),
        ("1\u202f234.50", False, Decimal("1234.50")),
        ("1'234.50", None, Decimal("1234.50")),
        ("1,234.50", None, Decimal("1234.50")),
        ("1.234,50", None, Decimal("1234.50")),
        ("1,234,567", True, Decimal(1234567)),
        ("1.234.567,8", None, Decimal("1234567.8")),
        ("12,5", None, Decimal("12.5")),
        ("12,5", False, Decimal("12.5")),
        ("0.5", None, Decimal("0.5")),
        (".5", None, Decimal("0.5")),
        ("¥1,299.00", None, Decimal("1299.00")),
        ("$ 12.50", None, Decimal("12.50")),
        ("-3", None, Decimal(-3)),
        ("(3)", None, Decimal(-3)),
        ("3-", None, Decimal(-3)),
        ("+3", None, Decimal(3)),
        ("１２", None, Decimal(12)),
        (7, None, Decimal(7)),
        (12.0, None, Decimal(12)),
        (19.99, None, Decimal("19.99")),
        (0.1 + 0.2, None, Decimal("0.3")),  # Excel's 15 significant digits
    ],
)
def test_numbers(cell: object, decimal_comma: bool | None, expected: Decimal) -> None:
    assert parse_decimal(cell, decimal_comma) == expected


@pytest.mark.parametrize("cell", ["abc", "1,23,4", "1.2.3,4,5", "1,2345.6", "12a", "-", ",", "1e5", True, float("nan")])
def test_unreadable_numbers(cell: object) -> None:
    with pytest.raises(Bad) as exc:
        parse_decimal(cell, None)
    assert exc.value.code == "quantity_invalid"


def test_text_of_cells() -> None:
    assert cell_text(None) == ""
    assert cell_text("  x \u3000") == "x"
    assert cell_text(12.0) == "12"
    assert cell_text(518000) == "518000"
    assert cell_text(datetime(2026, 3, 1)) == "2026-03-01"
    assert cell_text("'=SUM(A1)") == "=SUM(A1)"  # our export's formula guard comes off
    assert cell_text("'quoted'") == "'quoted'"


def test_sku_serial_currency_country_normalisation() -> None:
    assert normalise_sku(" nw-mb-b650 ") == "NW-MB-B650"
    assert normalise_sku("ＮＷ－ＭＢ－Ｂ６５０") == "NW-MB-B650"
    assert normalise_sku("NW–MB–B650") == "NW-MB-B650"  # en dashes from a word processor
    assert normalise_serial(" nwmb 000101 ") == "NWMB000101"
    assert parse_currency(" cny ") == "CNY"
    assert parse_currency("RMB") == "CNY"
    assert parse_currency("NTD") == "TWD"
    for bad in ("XXX", "YUAN", "DEM"):
        with pytest.raises(Bad):
            parse_currency(bad)
    with pytest.raises(Bad):
        parse_currency("USD", frozenset({"CNY"}))
    assert parse_country("cn") == "CN"
    assert parse_country("Singapore") == "SG"
    assert parse_country("中国") == "CN"
    assert parse_country("香港") == "HK"
    assert parse_country("UK") == "GB"
    for bad in ("EU", "ZZ", "Narnia", "CHN"):
        with pytest.raises(Bad):
            parse_country(bad)


@pytest.mark.parametrize(
    ("cell", "country", "expected"),
    [
        ("518000", "CN", "518000"),
        (18956, "SG", "018956"),  # Excel dropped the leading zero
        ("2134", "US", "02134"),
        ("02134-1234", "US", "02134-1234"),
        ("sw1a 1aa", "GB", "SW1A 1AA"),
        ("100-0001", "JP", "100-0001"),
        ("10617", "TW", "10617"),
        ("", "HK", ""),  # no postcodes in Hong Kong
        ("75008", "FR", "75008"),
        ("1011 ab", "NL", "1011 AB"),
        ("H3Z 2Y7", "CA", "H3Z 2Y7"),
        ("00-950", "PL", "00-950"),
    ],
)
def test_postcodes(cell: object, country: str, expected: str) -> None:
    assert parse_postcode(cell, country) == expected


@pytest.mark.parametrize(
    ("cell", "country", "code"),
    [
        ("5180001", "CN", "postcode_invalid"),
        ("ABCDEF", "SG", "postcode_invalid"),
        ("", "CN", "required"),
        ("#?!", "PL", "postcode_invalid"),
    ],
)
def test_bad_postcodes(cell: str, country: str, code: str) -> None:
    with pytest.raises(Bad) as exc:
        parse_postcode(cell, country)
    assert exc.value.code == code


def test_periods() -> None:
    assert str(Period.parse("2026-3")) == "2026-03"
    assert Period.parse("202602").last == date(2026, 2, 28)
    assert Period.parse("2024-02").last == date(2024, 2, 29)
    assert Period.parse("2026-12").last == date(2026, 12, 31)
    for bad in ("2026-13", "March", "", "26-03"):
        with pytest.raises(ValueError, match="not a period"):
            Period.parse(bad)
