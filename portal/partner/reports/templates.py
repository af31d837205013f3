"""Downloadable report templates and the rejected-lines export.

Templates: CSV (UTF-8 with BOM, so Excel shows Chinese headers correctly; `,` delimiter) or
XLSX (dates as date cells, prices as numbers, SKU/postcode/serial/invoice columns as text so
Excel keeps leading zeros), with English or Chinese headers and one example row.

Rejected lines: the file's own header row and the rejected rows exactly as read, plus an error
column (`Error` / `错误原因`, after the columns, replacing the one of an earlier export), in the
format of the upload (XLSX for XLSX, CSV with the upload's delimiter for CSV, always UTF-8 with
BOM). The partner fixes the rows and uploads the file as it is: the error column is ignored on
the way back in. Written row by row (CSV through a text wrapper, XLSX with openpyxl's
write-only workbook), so a large export is not held in memory.

CSV cells a spreadsheet would run as a formula (starting with = + @, or - not followed by a
digit) are written with a leading apostrophe, which `validation.cell_text` removes on re-upload;
XLSX cells are typed as text, never formulas.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any

from portal.partner.reports.columns import COLUMNS, ERROR_HEADER, HeaderMap, Kind
from portal.partner.reports.readers import SourceInfo
from portal.partner.reports.validation import LineResult, describe

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEXT_COLUMNS = frozenset({"sku", "postcode", "serial", "invoice_ref", "location"})


def example_row(kind: Kind, language: str, example_date: date) -> dict[str, object]:
    zh = language == "zh"
    if kind is Kind.INVENTORY:
        return {"as_of": example_date, "location": "深圳仓" if zh else "Shenzhen warehouse", "sku": "NW-SW-24G", "quantity": 120}
    return {
        "sold_on": example_date,
        "sku": "NW-MB-B650",
        "quantity": 2,
        "unit_price": Decimal("1299.00"),
        "currency": "CNY",
        "customer_name": "示例科技有限公司" if zh else "Example Trading Co.",
        "country": "CN",
        "postcode": "518000",
        "serial": "",
        "invoice_ref": "INV-2026-0001",
    }


def template_filename(kind: Kind, language: str, fmt: str) -> str:
    return f"northwind-{kind.value.replace('_', '-')}-template-{language}.{fmt}"


def template_csv(kind: Kind, language: str, example_date: date) -> bytes:
    columns = COLUMNS[kind]
    example = example_row(kind, language, example_date)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([column.header(language) for column in columns])
    writer.writerow([_as_text(example[column.name]) for column in columns])
    return out.getvalue().encode("utf-8-sig")


def template_xlsx(kind: Kind, language: str, example_date: date) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    columns = COLUMNS[kind]
    example = example_row(kind, language, example_date)
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = "库存" if kind is Kind.INVENTORY and language == "zh" else "销售" if language == "zh" else kind.value.replace("_", "-")
    for index, column in enumerate(columns, start=1):
        letter = get_column_letter(index)
        head = sheet.cell(row=1, column=index, value=column.header(language))
        head.font = Font(bold=True)
        value = example[column.name]
        cell = sheet.cell(row=2, column=index, value=float(value) if isinstance(value, Decimal) else value)
        if isinstance(value, date):
            cell.number_format = "yyyy-mm-dd"
        elif isinstance(value, Decimal):
            cell.number_format = "0.00"
        elif column.name in TEXT_COLUMNS:
            cell.number_format = "@"
        sheet.column_dimensions[letter].width = max(14, len(column.header(language)) * (2 if language == "zh" else 1) + 4)
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _as_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def defuse(value: object) -> object:
    """A cell a spreadsheet would evaluate as a formula, made plain text."""
    if (
        isinstance(value, str)
        and value
        and (value[0] in "=+@\t\r" or (value[0] == "-" and len(value) > 1 and not value[1].isdigit() and value[1] != "."))
    ):
        return "'" + value
    return value


class RejectedWriter:
    """Writes the rejected lines of an upload for the partner to fix and re-upload.

    `gettext` renders the messages (pass the Translator of `header.language`, the language the
    partner's file uses, or of the partner's locale); None is English."""

    def __init__(self, out: IO[bytes], source: SourceInfo, header: HeaderMap, gettext: Callable[..., str] | None = None) -> None:
        self.format = "xlsx" if source.format == "xlsx" else "csv"
        self.header = header
        self.gettext = gettext
        self.count = 0
        self._out = out
        self._drop = header.error_position
        cells = [cell for i, cell in enumerate(header.cells) if i != self._drop]
        while cells and not cells[-1]:
            cells.pop()
        self._width = len(header.cells)
        title = ERROR_HEADER.get(header.language, ERROR_HEADER["en"])
        self._text: io.TextIOWrapper | None = None
        self._csv: Any = None
        self._workbook: Any = None
        self._sheet: Any = None
        if self.format == "csv":
            self._text = io.TextIOWrapper(out, encoding="utf-8-sig", newline="", write_through=False)
            self._csv = csv.writer(self._text, delimiter=source.delimiter or ",", lineterminator="\r\n")
            self._csv.writerow([*(defuse(c) for c in cells), title])
        else:
            from openpyxl import Workbook

            self._workbook = Workbook(write_only=True)
            self._sheet = self._workbook.create_sheet(source.sheet or "rejected")
            self._sheet.append([*(self._xlsx_cell(c) for c in cells), self._xlsx_cell(title)])
        self._columns = len(cells)

    def _row(self, result: LineResult) -> list[object]:
        cells = list(result.cells[: self._width])
        cells += [None] * (self._width - len(cells))
        if self._drop is not None:
            del cells[self._drop]
        cells = cells[: self._columns]
        cells += [None] * (self._columns - len(cells))
        return cells

    def _xlsx_cell(self, value: object) -> object:
        from openpyxl.cell import WriteOnlyCell

        if isinstance(value, str):
            cell = WriteOnlyCell(self._sheet, value=value)
            cell.data_type = "s"  # a text cell, never a formula (no apostrophe needed in XLSX)
            return cell
        return value

    def add(self, result: LineResult) -> None:
        if result.accepted:
            return
        message = describe(result, self.header, self.gettext)
        cells = self._row(result)
        if self._csv is not None:
            self._csv.writerow([*(defuse(_as_text(c)) for c in cells), message])
        else:
            self._sheet.append([*(self._xlsx_cell(c) for c in cells), self._xlsx_cell(message)])
        self.count += 1

    def close(self) -> None:
        if self._text is not None:
            self._text.flush()
            self._text.detach()  # leave `out` open for the caller
            self._text = None
        elif self._workbook is not None:
            self._workbook.save(self._out)
            self._workbook = None

    def __enter__(self) -> RejectedWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def content_type(self) -> str:
        return XLSX_TYPE if self.format == "xlsx" else CSV_TYPE
