from __future__ import annotations

import pytest

from portal.partner.reports.columns import COLUMNS, Kind, map_header, normalise_header

from .conftest import INV_EN, INV_ZH, ST_EN, ST_ZH


@pytest.mark.parametrize(
    "variant",
    ["Unit price", "unit_price", "UNIT PRICE", " Unit  Price ", "ＵＮＩＴ　ＰＲＩＣＥ", "\ufeffUnit price", "Unit-Price*", "unit.price:"],
)
def test_header_variants_normalise_to_the_same_key(variant: str) -> None:
    assert normalise_header(variant) == "unitprice"


def test_chinese_full_width_brackets_and_spaces_are_folded() -> None:
    assert normalise_header("国家（地区）") == normalise_header("国家/地区") == "国家地区"


@pytest.mark.parametrize(
    ("kind", "headers", "language"),
    [(Kind.SELL_THROUGH, ST_EN, "en"), (Kind.SELL_THROUGH, ST_ZH, "zh"), (Kind.INVENTORY, INV_EN, "en"), (Kind.INVENTORY, INV_ZH, "zh")],
)
def test_official_headers_map_every_column(kind: Kind, headers: list[str], language: str) -> None:
    header = map_header(kind, headers)
    assert header.ok
    assert header.language == language
    assert set(header.positions) == {c.name for c in COLUMNS[kind]}
    assert header.unknown == ()


def test_aliases_in_any_order_with_unknown_columns_listed() -> None:
    header = map_header(
        Kind.SELL_THROUGH,
        [
            "Invoice No",
            "Qty",
            "S/N",
            "Zip Code",
            "Ctry notes",
            "Country Code",
            "Customer",
            "CCY",
            "Price",
            "Part Number",
            "Date",
            "Salesperson",
            "",
        ],
    )
    assert header.ok
    assert header.positions == {
        "invoice_ref": 0,
        "quantity": 1,
        "serial": 2,
        "postcode": 3,
        "country": 5,
        "customer_name": 6,
        "currency": 7,
        "unit_price": 8,
        "sku": 9,
        "sold_on": 10,
    }
    assert header.unknown == ("Ctry notes", "Salesperson")


def test_serial_is_optional_and_missing_required_columns_are_reported() -> None:
    header = map_header(
        Kind.SELL_THROUGH,
        ["Sale date", "SKU", "Quantity", "Unit price", "Currency", "End customer name", "Country", "Postcode", "Invoice reference"],
    )
    assert header.ok
    wrong_kind = map_header(Kind.SELL_THROUGH, INV_EN)
    assert not wrong_kind.ok
    assert wrong_kind.missing == ("sold_on", "quantity", "unit_price", "currency", "customer_name", "country", "postcode", "invoice_ref")
    assert wrong_kind.unknown == ("As-of date", "Location", "Quantity on hand")


def test_mixed_languages_and_the_error_column_of_an_export() -> None:
    header = map_header(Kind.INVENTORY, ["日期", "Location", "SKU", "库存数量", "错误原因"])
    assert header.ok
    assert header.error_position == 4
    assert header.unknown == ()


def test_a_column_named_twice_uses_the_first() -> None:
    header = map_header(Kind.INVENTORY, ["Date", "As-of date", "Location", "SKU", "Qty"])
    assert header.positions["as_of"] == 0
    assert header.duplicated == ("as_of",)
