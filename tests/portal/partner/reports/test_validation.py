"""Line rules: each rejection reason, the typed accepted values, line identity and duplicates."""

from __future__ import annotations

from datetime import date, datetime

from portal.partner.reports.columns import Kind, map_header
from portal.partner.reports.readers import RawRow
from portal.partner.reports.validation import (
    MESSAGES,
    InventoryLine,
    LineResult,
    SellThroughLine,
    ValidationContext,
    Validator,
    describe,
    line_key,
)

from .conftest import INV_EN, ST_EN, ST_ZH, make_context

GOOD = ["2026-03-15", "NW-MB-B650", "2", "1299.00", "CNY", "Harbor Robotics Ltd", "CN", "518000", "", "INV-1001"]


def sell(
    rows: list[list[object]], context: ValidationContext | None = None, decimal_comma: bool | None = None, headers: list[str] = ST_EN
) -> list[LineResult]:
    validator = Validator(Kind.SELL_THROUGH, map_header(Kind.SELL_THROUGH, headers), context or make_context(), decimal_comma)
    return validator.validate([RawRow(n, tuple(cells)) for n, cells in enumerate(rows, start=2)])


def with_(**changes: object) -> list[object]:
    row: list[object] = list(GOOD)
    for name, value in changes.items():
        row[
            ["sold_on", "sku", "quantity", "unit_price", "currency", "customer_name", "country", "postcode", "serial", "invoice_ref"].index(
                name
            )
        ] = value
    return row


def problems(result: LineResult) -> list[tuple[str | None, str]]:
    return [(p.field, p.code) for p in result.problems]


def test_a_good_line_is_accepted_with_typed_values() -> None:
    [result] = sell([GOOD])
    assert result.accepted
    assert result.line == SellThroughLine(
        date(2026, 3, 15), "NW-MB-B650", 2, 129900, "CNY", "Harbor Robotics Ltd", "CN", "518000", None, "INV-1001"
    )
    assert result.key is not None
    assert len(result.key) == 32


def test_every_rejection_reason_on_its_own_line() -> None:
    rows = {
        "unknown sku": with_(sku="NW-XX-1"),
        "inactive sku": with_(sku="NW-MB-Z390"),
        "bad date": with_(sold_on="31/02/2026"),
        "future date": with_(sold_on="2026-04-03"),
        "outside period": with_(sold_on="2026-02-28"),
        "negative": with_(quantity="-1"),
        "fraction": with_(quantity="1.5"),
        "zero": with_(quantity="0"),
        "huge": with_(quantity="2000000"),
        "not a number": with_(quantity="two"),
        "bad price": with_(unit_price="n/a"),
        "negative price": with_(unit_price="-5"),
        "price precision": with_(unit_price="12.345"),
        "currency": with_(currency="ABC"),
        "country": with_(country="Atlantis"),
        "postcode": with_(postcode="ABC"),
        "unknown serial": with_(serial="NWMB999999", quantity="1"),
        "serial of another sku": with_(serial="NWSW000201", quantity="1"),
        "serial with quantity 2": with_(serial="NWMB000101"),
        "missing customer": with_(customer_name="  "),
        "missing invoice": with_(invoice_ref=""),
        "long customer": with_(customer_name="x" * 201),
    }
    results = sell(list(rows.values()))
    got = {name: problems(r) for name, r in zip(rows, results, strict=True)}
    assert got == {
        "unknown sku": [("sku", "sku_unknown")],
        "inactive sku": [("sku", "sku_inactive")],
        "bad date": [("sold_on", "date_invalid")],
        "future date": [("sold_on", "date_future")],
        "outside period": [("sold_on", "date_outside_period")],
        "negative": [("quantity", "quantity_negative")],
        "fraction": [("quantity", "quantity_not_integer")],
        "zero": [("quantity", "quantity_zero")],
        "huge": [("quantity", "quantity_too_large")],
        "not a number": [("quantity", "quantity_invalid")],
        "bad price": [("unit_price", "price_invalid")],
        "negative price": [("unit_price", "price_negative")],
        "price precision": [("unit_price", "price_precision")],
        "currency": [("currency", "currency_unknown")],
        "country": [("country", "country_unknown")],
        "postcode": [("postcode", "postcode_invalid")],
        "unknown serial": [("serial", "serial_unknown")],
        "serial of another sku": [("serial", "serial_wrong_sku")],
        "serial with quantity 2": [("quantity", "serial_quantity")],
        "missing customer": [("customer_name", "required")],
        "missing invoice": [("invoice_ref", "required")],
        "long customer": [("customer_name", "too_long")],
    }
    assert all(r.line is None for r in results)
    messages = {name: describe(r, map_header(Kind.SELL_THROUGH, ST_EN)) for name, r in zip(rows, results, strict=True)}
    assert messages["unknown sku"] == "SKU: Unknown SKU “NW-XX-1”."
    assert messages["outside period"] == "Sale date: 2026-02-28 is outside the reporting period 2026-03."
    assert messages["serial of another sku"] == "Serial number: The serial number NWSW000201 belongs to NW-SW-24G, not to NW-MB-B650."


def test_every_problem_of_a_line_is_reported_and_uses_the_files_own_headers() -> None:
    [result] = sell([["2026-05-01", "nope", "-2", "1,5,5", "XYZ", "", "CN", "1", "", ""]], headers=ST_ZH)
    assert problems(result) == [
        ("sold_on", "date_future"),
        ("sku", "sku_unknown"),
        ("quantity", "quantity_negative"),
        ("unit_price", "price_invalid"),
        ("currency", "currency_unknown"),
        ("customer_name", "required"),
        ("postcode", "postcode_invalid"),
        ("invoice_ref", "required"),
    ]
    text = describe(result, map_header(Kind.SELL_THROUGH, ST_ZH))
    assert text.startswith("销售日期: 2026-05-01 is in the future.; 产品编码: Unknown SKU “nope”.")
    translated = describe(result, None, lambda message, **params: "ZH:" + message % params, kind=Kind.SELL_THROUGH)
    assert translated.startswith("ZH:Sale date: ZH:2026-05-01 is in the future.; ZH:SKU: ZH:Unknown SKU “nope”.; ZH:Quantity: ")


def test_every_code_has_a_message() -> None:
    assert all("%(" not in m or ")s" in m for m in MESSAGES.values())


def test_duplicates_within_the_file_point_at_the_first_line() -> None:
    same_sale_other_price = with_(quantity="3", unit_price="1,199.00")
    same_serial_other_invoice = with_(serial="NWMB000101", quantity="1", invoice_ref="INV-2")
    results = sell(
        [
            GOOD,  # 2
            with_(customer_name="harbor  robotics LTD", invoice_ref="inv-1001"),  # 3: same identity, folded
            same_sale_other_price,  # 4: quantity and price are not part of the identity
            with_(postcode="518001"),  # 5: another customer site: a different sale
            with_(serial="NWMB000101", quantity="1"),  # 6
            same_serial_other_invoice,  # 7: a unit is sold through once
            with_(sku="NW-XX"),  # 8: rejected lines do not make later ones duplicates
            with_(sku="NW-XX"),  # 9
        ]
    )
    assert [(r.row, r.codes) for r in results] == [
        (2, ()),
        (3, ("duplicate_in_file",)),
        (4, ("duplicate_in_file",)),
        (5, ()),
        (6, ()),
        (7, ("duplicate_in_file",)),
        (8, ("sku_unknown",)),
        (9, ("sku_unknown",)),
    ]
    assert results[1].problems[0].params == {"row": 2}
    assert results[5].problems[0].params == {"row": 6}


def test_duplicates_of_already_accepted_lines_are_rejected() -> None:
    first = sell([GOOD, with_(invoice_ref="INV-1002")])
    context = make_context(accepted=[r.key for r in first if r.key])
    again = sell([with_(invoice_ref="INV-1002"), with_(invoice_ref="INV-1003"), with_(invoice_ref="INV-1002", quantity="-1")], context)
    assert [r.codes for r in again] == [("duplicate_accepted",), (), ("quantity_negative", "duplicate_accepted")]


def test_lookups_are_made_once_per_batch() -> None:
    calls: list[tuple[str, frozenset[str]]] = []

    def serials(wanted: frozenset[str]) -> dict[str, str]:
        calls.append(("serials", wanted))
        return {"NWMB000101": "NW-MB-B650"} if "NWMB000101" in wanted else {}

    def accepted(wanted: frozenset[str]) -> set[str]:
        calls.append(("keys", wanted))
        return set()

    context = make_context()
    context = ValidationContext(context.period, context.today, context.skus, serials, accepted)
    results = sell([with_(serial="NWMB000101", quantity="1"), with_(serial="NWMB000102", quantity="1", invoice_ref="X"), GOOD], context)
    assert [r.codes for r in results] == [(), ("serial_unknown",), ()]
    assert [c[0] for c in calls] == ["serials", "keys"]
    assert calls[0][1] == {"NWMB000101", "NWMB000102"}
    assert len(calls[1]) == 2
    assert len(calls[1][1]) == 3


def test_unknown_serials_may_be_allowed_by_the_caller() -> None:
    [result] = sell([with_(serial="NWMB999999", quantity="1")], make_context(reject_unknown_serials=False))
    assert result.accepted
    assert result.line is not None
    assert result.line.serial == "NWMB999999"


def test_accepted_currencies_come_from_the_context() -> None:
    results = sell([GOOD, with_(currency="USD", invoice_ref="X")], make_context(currencies=frozenset({"CNY"})))
    assert [r.codes for r in results] == [(), ("currency_unknown",)]


def test_xlsx_typed_cells() -> None:
    [result] = sell([[datetime(2026, 3, 15, 9, 30), "NW-MB-B650", 2.0, 1299.9, "CNY", "Harbor", "SG", 18956, None, 100234]])
    assert result.accepted
    assert result.line == SellThroughLine(date(2026, 3, 15), "NW-MB-B650", 2, 129990, "CNY", "Harbor", "SG", "018956", None, "100234")


def test_inventory_lines_and_their_identity() -> None:
    validator = Validator(Kind.INVENTORY, map_header(Kind.INVENTORY, INV_EN), make_context())
    rows = [
        ["2026-03-31", "Shenzhen WH", "NW-SW-24G", "120"],
        ["2026-03-31", "shenzhen  wh", "NW-SW-24G", "80"],  # same place, SKU and day: a duplicate
        ["2026-03-31", "Shenzhen WH", "NW-SW-8P", "0"],  # nothing on hand is a valid figure
        ["2026-03-15", "Shenzhen WH", "NW-SW-24G", "1 200"],  # another day
        ["2026-03-31", "", "NW-SW-24G", "-4"],
        ["", "Shenzhen WH", "NW-MB-Z390", "3.5"],
    ]
    results = validator.validate([RawRow(n, tuple(r)) for n, r in enumerate(rows, start=2)])
    assert [(r.row, r.codes) for r in results] == [
        (2, ()),
        (3, ("duplicate_in_file",)),
        (4, ()),
        (5, ()),
        (6, ("required", "quantity_negative")),
        (7, ("required", "sku_inactive", "quantity_not_integer")),
    ]
    assert results[0].line == InventoryLine(date(2026, 3, 31), "Shenzhen WH", "NW-SW-24G", 120)
    assert results[3].line == InventoryLine(date(2026, 3, 15), "Shenzhen WH", "NW-SW-24G", 1200)
    assert results[1].key == results[0].key == line_key(InventoryLine(date(2026, 3, 31), "SHENZHEN WH", "NW-SW-24G", 5))


def test_data_fingerprint_ignores_order_and_duplicates_of_accepted_lines() -> None:
    def fingerprint(rows: list[list[object]], accepted: list[str] = ()) -> str:  # type: ignore[assignment]
        validator = Validator(Kind.SELL_THROUGH, map_header(Kind.SELL_THROUGH, ST_EN), make_context(accepted=accepted))
        results = validator.validate([RawRow(n, tuple(r)) for n, r in enumerate(rows, start=2)])
        fingerprint.keys = [r.key for r in results]  # type: ignore[attr-defined]
        return validator.data_fingerprint

    rows = [GOOD, with_(invoice_ref="INV-2", unit_price="10")]
    first = fingerprint(rows)
    keys = fingerprint.keys  # type: ignore[attr-defined]
    assert fingerprint(list(reversed(rows))) == first
    assert fingerprint([with_(unit_price="1,299.00"), with_(invoice_ref="INV-2", unit_price=10.0)]) == first
    assert fingerprint(rows, accepted=keys) == first  # re-submitted: same data, all duplicates
    assert fingerprint([GOOD, with_(invoice_ref="INV-2", unit_price="11")]) != first
    assert fingerprint([GOOD]) != first


def test_the_table_of_seen_lines_finds_every_first_row_through_growth_and_collisions() -> None:
    from portal.partner.reports.validation import SeenLines

    seen = SeenLines(capacity=8)
    keys = [n * 4096 for n in range(1, 3000)]  # same low bits: every key collides at first
    for row, key in enumerate(keys, 2):
        assert seen.get(key) is None
        seen.add(key, row)
    seen.add(0, 9)  # the free-slot marker is still a key
    assert len(seen) == len(keys) + 1
    assert [seen.get(key) for key in keys[:3]] == [2, 3, 4]
    assert seen.get(keys[-1]) == len(keys) + 1
    assert seen.get(0) == 9
    assert seen.get(7) is None
