"""Templates read back through the same validation; rejected lines exported, fixed, re-uploaded."""

from __future__ import annotations

import csv
import io
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook

from portal.partner.reports.columns import Kind
from portal.partner.reports.pipeline import validate_stream
from portal.partner.reports.templates import RejectedWriter, template_csv, template_filename, template_xlsx

from .conftest import ST_EN, ST_ZH, make_context, outcome, validate, write_csv, write_xlsx

EXAMPLE = date(2026, 3, 15)


@pytest.mark.parametrize("kind", list(Kind))
@pytest.mark.parametrize("language", ["en", "zh"])
def test_templates_validate_as_they_are(kind: Kind, language: str) -> None:
    for data in (template_csv(kind, language, EXAMPLE), template_xlsx(kind, language, EXAMPLE)):
        run, results = validate(data, kind)
        assert run.header.language == language
        assert run.header.unknown == ()
        assert outcome(results) == [(2, ())]


def test_csv_template_has_a_bom_and_chinese_headers() -> None:
    data = template_csv(Kind.SELL_THROUGH, "zh", EXAMPLE)
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").splitlines()[0].split(",") == ST_ZH
    assert template_filename(Kind.SELL_THROUGH, "zh", "csv") == "northwind-sell-through-template-zh.csv"


def test_xlsx_template_types_its_cells() -> None:
    sheet = load_workbook(io.BytesIO(template_xlsx(Kind.SELL_THROUGH, "en", EXAMPLE))).active
    assert [c.value for c in sheet[1]] == ST_EN
    row = sheet[2]
    assert row[0].value.date() == EXAMPLE
    assert row[0].number_format == "yyyy-mm-dd"
    assert row[3].value == 1299.0
    assert row[7].value == "518000"
    assert row[7].number_format == "@"  # postcodes are text: leading zeros survive


def _export(path: Path | bytes, kind: Kind = Kind.SELL_THROUGH) -> tuple[bytes, int]:
    data = path if isinstance(path, bytes) else path.read_bytes()
    run = validate_stream(io.BytesIO(data), "up", kind, make_context())
    out = io.BytesIO()
    with RejectedWriter(out, run.source, run.header) as writer:
        for result in run:
            writer.add(result)
    return out.getvalue(), writer.count


def test_rejected_csv_lines_come_back_in_the_partners_format_fixed_and_re_uploaded(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "m.csv",
        [
            [
                "Sale date",
                "Notes",
                "SKU",
                "Quantity",
                "Unit price",
                "Currency",
                "End customer name",
                "Country",
                "Postcode",
                "Invoice reference",
            ],
            ["15.03.2026", "ok", "NW-MB-B650", "1", "1.299,00", "EUR", "Müller GmbH", "DE", "80331", "RE-1"],
            ["16.03.2026", "typo", "NW-MB-B65O", "1", "1.299,00", "EUR", "Müller GmbH", "DE", "80331", "RE-2"],
            ["17.03.2026", '=HYPERLINK("x")', "NW-SW-8P", "-1", "12,50", "EUR", "Müller GmbH", "DE", "80331", "RE-3"],
        ],
        delimiter=";",
    )
    exported, count = _export(path)
    assert count == 2
    assert exported.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(exported.decode("utf-8-sig")), delimiter=";"))
    assert rows[0][-1] == "Error"
    assert rows[0][:-1] == [
        "Sale date",
        "Notes",
        "SKU",
        "Quantity",
        "Unit price",
        "Currency",
        "End customer name",
        "Country",
        "Postcode",
        "Invoice reference",
    ]
    assert rows[1][:-1] == ["16.03.2026", "typo", "NW-MB-B65O", "1", "1.299,00", "EUR", "Müller GmbH", "DE", "80331", "RE-2"]
    assert rows[1][-1] == "SKU: Unknown SKU “NW-MB-B65O”."
    assert rows[2][1] == '\'=HYPERLINK("x")'  # never run as a formula
    assert rows[2][-1] == "Quantity: The quantity cannot be negative."

    rows[1][2] = "NW-MB-B650"
    rows[2][3] = "1"
    fixed = io.StringIO()
    csv.writer(fixed, delimiter=";").writerows(rows)
    run, results = validate(b"\xef\xbb\xbf" + fixed.getvalue().encode())
    assert run.header.error_position == 10
    assert run.header.unknown == ("Notes",)
    assert outcome(results) == [(2, ()), (3, ())]

    again, count = _export(b"\xef\xbb\xbf" + fixed.getvalue().encode())
    assert count == 0
    assert list(csv.reader(io.StringIO(again.decode("utf-8-sig")), delimiter=";")) == [rows[0]]


def test_rejected_xlsx_lines_keep_cell_types_and_replace_the_old_error_column(tmp_path: Path) -> None:
    path = write_xlsx(
        tmp_path / "m.xlsx",
        {
            "三月": [
                [*ST_ZH, "错误原因"],
                [date(2026, 3, 2), "NW-MB-B650", 2, 1299, "CNY", "海港机器人", "CN", 518000, None, "F-1", "old message"],
                [date(2026, 2, 2), "NW-MB-B650", 2, 1299, "CNY", "海港机器人", "CN", 518000, None, "F-2", "old message"],
                [date(2026, 3, 3), "=1+1", 2, 1299, "CNY", "海港机器人", "CN", 518000, None, "F-3"],
            ]
        },
    )
    exported, count = _export(path)
    assert count == 2
    sheet = load_workbook(io.BytesIO(exported)).active
    assert sheet.title == "三月"
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[0] == [*ST_ZH, "错误原因"]
    assert values[1][:10] == [values[1][0], "NW-MB-B650", 2, 1299, "CNY", "海港机器人", "CN", 518000, None, "F-2"]
    assert values[1][0].date() == date(2026, 2, 2)
    assert values[1][10] == "销售日期: 2026-02-02 is outside the reporting period 2026-03."
    assert values[2][1] == "=1+1"
    assert sheet.cell(row=3, column=2).data_type == "s"
    assert values[2][10] == "产品编码: Unknown SKU “=1+1”."
