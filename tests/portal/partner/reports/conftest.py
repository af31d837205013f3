"""Shared context and file writers for the report tests (files are written in tmp_path, in each
real-world variant, by Python; nothing is checked in)."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from portal.partner.reports.columns import Kind
from portal.partner.reports.pipeline import ValidationRun, validate_stream
from portal.partner.reports.validation import LineResult, Period, ValidationContext, accepted_from, serials_from

ACTIVE = (
    "NW-MB-X570",
    "NW-MB-B650",
    "NW-MB-H610",
    "NW-SW-24G",
    "NW-SW-8P",
    "NW-AP-AX6",
    "NW-RT-5G",
    "NW-PR-L300",
    "NW-PR-L500",
    "NW-PR-INK9",
    "NW-NAS-4B",
)
SKUS = {**dict.fromkeys(ACTIVE, True), "NW-MB-Z390": False}
SERIALS = {"NWMB000101": "NW-MB-B650", "NWMB000102": "NW-MB-B650", "NWSW000201": "NW-SW-24G", "NWMB000900": "NW-MB-Z390"}
TODAY = date(2026, 4, 2)

ST_EN = [
    "Sale date",
    "SKU",
    "Quantity",
    "Unit price",
    "Currency",
    "End customer name",
    "Country",
    "Postcode",
    "Serial number",
    "Invoice reference",
]
ST_ZH = ["销售日期", "产品编码", "数量", "单价", "币种", "最终客户名称", "国家", "邮政编码", "序列号", "发票号"]
INV_EN = ["As-of date", "Location", "SKU", "Quantity on hand"]
INV_ZH = ["截至日期", "库存地点", "产品编码", "库存数量"]


def make_context(period: str = "2026-03", accepted: Sequence[str] = (), **kw: Any) -> ValidationContext:
    return ValidationContext(Period.parse(period), TODAY, SKUS, serials_from(SERIALS), accepted_from(set(accepted)), **kw)


@pytest.fixture
def context() -> ValidationContext:
    return make_context()


def write_csv(
    path: Path, rows: Sequence[Sequence[object]], *, encoding: str = "utf-8", delimiter: str = ",", bom: bool = False, newline: str = "\r\n"
) -> Path:
    text = io.StringIO()
    csv.writer(text, delimiter=delimiter, lineterminator=newline).writerows(rows)
    data = text.getvalue().encode(encoding)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + data)
    return path


def write_xlsx(path: Path, sheets: dict[str, Sequence[Sequence[object]]], formats: dict[str, str] | None = None) -> Path:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for r, row in enumerate(rows, start=1):
            for c, value in enumerate(row, start=1):
                if value is None:
                    continue
                cell = sheet.cell(row=r, column=c, value=value)
                if isinstance(value, str) and value.startswith("="):
                    cell.data_type = "s"  # text that looks like a formula, as a partner's export may hold
                if formats and isinstance(value, date):
                    cell.number_format = formats.get("date", "yyyy-mm-dd")
    workbook.save(path)
    return path


def validate(
    path: Path | bytes, kind: Kind = Kind.SELL_THROUGH, context: ValidationContext | None = None, **kw: Any
) -> tuple[ValidationRun, list[LineResult]]:
    data = path if isinstance(path, bytes) else path.read_bytes()
    run = validate_stream(io.BytesIO(data), "upload", kind, context or make_context(), **kw)
    return run, list(run)


def outcome(results: Sequence[LineResult]) -> list[tuple[int, tuple[str, ...]]]:
    """(row, error codes) of every line: () for an accepted line."""
    return [(r.row, r.codes) for r in results]


Writer = Callable[..., Path]
