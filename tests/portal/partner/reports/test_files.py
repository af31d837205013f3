"""Real-world-shaped files, end to end: each accepted and rejected line and its reason."""

from __future__ import annotations

import io
import random
import tracemalloc
import zipfile
from datetime import date, datetime
from pathlib import Path

import pytest

from portal.partner.reports.columns import Kind
from portal.partner.reports.fingerprints import file_fingerprint
from portal.partner.reports.pipeline import validate_stream
from portal.partner.reports.readers import Limits, ReportFileError
from portal.partner.reports.validation import SellThroughLine

from .conftest import INV_EN, INV_ZH, ST_EN, ST_ZH, make_context, outcome, validate, write_csv, write_xlsx


def test_utf8_bom_comma_csv_with_blank_trailing_rows(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "march.csv",
        [
            ST_EN,
            ["2026-03-02", "NW-MB-B650", "2", "1,299.00", "CNY", "Harbor Robotics Ltd", "CN", "518000", "", "INV-1001"],
            ["2026-03-03", "NW-SW-24G", "1", "89.90", "SGD", "Lion City Networks", "SG", "018956", "NWSW000201", "INV-1002"],
            ["2026-03-04", "NW-MB-Z390", "1", "450", "CNY", "Harbor Robotics Ltd", "CN", "518000", "", "INV-1003"],
            ["2026-04-01", "NW-RT-5G", "1", "99", "CNY", "Harbor Robotics Ltd", "CN", "518000", "", "INV-1004"],
            ["2026-03-02", "NW-MB-B650", "2", "1,299.00", "CNY", "Harbor Robotics Ltd", "CN", "518000", "", "INV-1001"],
            ["", "", "", "", "", "", "", "", "", ""],
            [],
            [],
        ],
        bom=True,
    )
    run, results = validate(path)
    assert run.source.encoding == "utf-8-sig"
    assert run.source.delimiter == ","
    assert outcome(results) == [(2, ()), (3, ()), (4, ("sku_inactive",)), (5, ("date_outside_period",)), (6, ("duplicate_in_file",))]
    assert results[0].line == SellThroughLine(
        date(2026, 3, 2), "NW-MB-B650", 2, 129900, "CNY", "Harbor Robotics Ltd", "CN", "518000", None, "INV-1001"
    )
    assert results[1].line is not None
    assert results[1].line.serial == "NWSW000201"
    summary = run.summary
    assert (summary.accepted, summary.rejected, summary.blank_rows, summary.complete) == (2, 3, 3, True)
    assert summary.errors == {"sku_inactive": 1, "date_outside_period": 1, "duplicate_in_file": 1}


def test_gb18030_with_chinese_headers_and_names(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "三月.csv",
        [
            ST_ZH,
            [
                "2026/3/5",
                "NW-AP-AX6",
                "3",
                "￥499.00",
                "人民币".replace("人民币", "RMB"),
                "深圳市海港机器人有限公司",
                "中国",
                "518000",
                "",
                "发票-001",
            ],
            ["2026年3月6日", "NW-NAS-4B", "1", "2,899", "CNY", "上海云存储科技", "CN", "200000", "", "发票-002"],
            ["2026-03-07", "NW-PR-L300", "一", "1299", "CNY", "北京打印服务", "CN", "100000", "", "发票-003"],
        ],
        encoding="gb18030",
    )
    run, results = validate(path)
    assert run.source.encoding == "gb18030"
    assert run.header.language == "zh"
    assert outcome(results) == [(2, ()), (3, ()), (4, ("quantity_invalid",))]
    first = results[0].line
    assert first is not None
    assert (first.customer_name, first.currency, first.unit_price_cents, first.country, first.invoice_ref) == (
        "深圳市海港机器人有限公司",
        "CNY",
        49900,
        "CN",
        "发票-001",
    )


def test_semicolon_csv_with_decimal_commas_and_day_first_dates(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "maerz.csv",
        [
            ["Sale Date", "sku", "QTY", "Unit Price", "Currency", "End Customer Name", "Country", "Postcode", "Serial No", "Invoice No"],
            ["15.03.2026", "NW-MB-X570", "1", "1.299,50", "EUR", "Müller GmbH", "DE", "80331", "", "RE-2026-17"],
            ["16.03.2026", "NW-SW-8P", "1.000", "12,5", "EUR", "Müller GmbH", "DE", "80331", "", "RE-2026-18"],
            ["17.03.2026", "NW-SW-8P", "2,5", "12,50", "EUR", "Müller GmbH", "DE", "80331", "", "RE-2026-19"],
            ["03.04.2026", "NW-SW-8P", "2", "12,505", "EUR", "Müller GmbH", "DE", "80-331", "", "RE-2026-20"],
        ],
        delimiter=";",
        encoding="utf-8",
    )
    run, results = validate(path)
    assert (run.source.delimiter, run.source.decimal_comma, run.source.encoding) == (";", True, "utf-8")
    assert outcome(results) == [(2, ()), (3, ()), (4, ("quantity_not_integer",)), (5, ("price_precision", "postcode_invalid"))]
    assert results[0].line is not None
    assert results[0].line.unit_price_cents == 129950
    assert results[1].line is not None
    assert (results[1].line.quantity, results[1].line.unit_price_cents) == (1000, 1250)


def test_tab_delimited_utf16_unicode_text_from_excel(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "export.txt",
        [INV_EN, ["2026-03-31", "Singapore DC", "NW-SW-24G", "1,200"], ["2026-03-31", "Singapore DC", "NW-PR-INK9", "0"]],
        delimiter="\t",
        encoding="utf-16",
    )
    run, results = validate(path, Kind.INVENTORY)
    assert (run.source.encoding, run.source.delimiter) == ("utf-16", "\t")
    assert outcome(results) == [(2, ()), (3, ())]
    assert results[0].line is not None
    assert results[0].line.quantity == 1200


def test_header_variants_title_rows_and_repeated_headers(tmp_path: Path) -> None:
    header = ["  as_of DATE ", "WAREHOUSE", "Item Code", "Qty On Hand", "Remarks"]
    path = write_csv(
        tmp_path / "stock.csv",
        [
            ["Northwind stock report"],
            ["Generated 2026-04-01"],
            [],
            header,
            ["31/03/2026", "KL store", "nw-rt-5g", "7", "ok"],
            header,  # a second export pasted below the first
            ["31/03/2026", "KL store", "NW-AP-AX6", "5"],  # short row: the missing cell is blank
        ],
        newline="\n",
    )
    run, results = validate(path, Kind.INVENTORY)
    assert run.header.unknown == ("Remarks",)
    assert outcome(results) == [(5, ()), (7, ())]
    assert run.summary.repeated_headers == 1
    assert results[0].line is not None
    assert results[0].line.sku == "NW-RT-5G"


def test_xlsx_with_date_cells_serials_datetimes_and_an_extra_sheet(tmp_path: Path) -> None:
    rows: list[list[object]] = [
        ["Sell-through March 2026"],  # a title row
        ST_EN,
        [datetime(2026, 3, 10, 14, 5), "NW-MB-H610", 2, 899.9, "THB", "Bangkok IT", "TH", 10110, None, 50017],
        [46096, "NW-MB-H610", 1, "1,234.5", "thb", "Bangkok IT", "Thailand", "10110", None, "50018"],  # serial date, text number
        [date(2026, 3, 12), "NW-MB-H610", 1.5, 899.9, "THB", "Bangkok IT", "TH", 10110, None, 50019],
        ["2026-03-13", "NW-MB-B650", 1, 899.9, "THB", "Bangkok IT", "TH", 10110, "nwmb 000102", "50020"],
        ["2026-03-14", "NW-MB-B650", 1, 899.9, "THB", "Bangkok IT", "TH", 10110, "NWMB000900", "50021"],
        [" ", None, None, None, None, None, None, None, None, None],
        [],
    ]
    path = write_xlsx(
        tmp_path / "report.xlsx",
        {"Notes": [["Please find our report"], ["Contact: ops@partner.example"]], "Data": rows},
        formats={"date": "dd/mm/yyyy"},
    )
    run, results = validate(path)
    assert (run.source.format, run.source.sheet) == ("xlsx", "Data")
    assert outcome(results) == [(3, ()), (4, ()), (5, ("quantity_not_integer",)), (6, ()), (7, ("serial_wrong_sku",))]
    assert results[0].line == SellThroughLine(date(2026, 3, 10), "NW-MB-H610", 2, 89990, "THB", "Bangkok IT", "TH", "10110", None, "50017")
    assert results[1].line is not None
    assert (results[1].line.sold_on, results[1].line.unit_price_cents) == (date(2026, 3, 15), 123450)
    assert results[3].line is not None
    assert results[3].line.serial == "NWMB000102"


def test_same_file_twice_and_a_re_encoded_copy(tmp_path: Path) -> None:
    data = [
        ST_EN,
        ["2026-03-02", "NW-MB-B650", "2", "1299.00", "CNY", "Harbor Robotics Ltd", "CN", "518000", "", "INV-1001"],
        ["2026-03-03", "NW-SW-24G", "1", "89.90", "SGD", "Lion City Networks", "SG", "018956", "NWSW000201", "INV-1002"],
    ]
    csv_path = write_csv(tmp_path / "a.csv", data, bom=True)
    run, first = validate(csv_path)
    keys = [r.key for r in first if r.accepted and r.key]
    assert len(keys) == 2
    again_run, again = validate(csv_path, context=make_context(accepted=keys))
    assert outcome(again) == [(2, ("duplicate_accepted",)), (3, ("duplicate_accepted",))]
    assert again_run.summary.accepted == 0
    assert again_run.summary.data_fingerprint == run.summary.data_fingerprint
    with csv_path.open("rb") as fh:
        assert file_fingerprint(fh) == file_fingerprint(io.BytesIO(csv_path.read_bytes()))
        assert fh.tell() == 0

    zh = [ST_ZH, *reversed(data[1:])]
    gb_path = write_csv(tmp_path / "b.csv", zh, encoding="gb18030", delimiter="\t")
    xlsx_path = write_xlsx(
        tmp_path / "c.xlsx",
        {
            "S": [
                ST_EN,
                [date(2026, 3, 3), "NW-SW-24G", 1, 89.9, "SGD", "Lion City Networks", "SG", 18956, "NWSW000201", "INV-1002"],
                [date(2026, 3, 2), "NW-MB-B650", 2, 1299, "CNY", "Harbor Robotics Ltd", "CN", 518000, None, "INV-1001"],
            ]
        },
    )
    fingerprints = {validate(p)[0].summary.data_fingerprint for p in (csv_path, gb_path, xlsx_path)}
    assert len(fingerprints) == 1
    assert file_fingerprint(io.BytesIO(gb_path.read_bytes())) != file_fingerprint(io.BytesIO(csv_path.read_bytes()))


# -- broken files ----------------------------------------------------------------------------------
def file_error(data: bytes, kind: Kind = Kind.SELL_THROUGH, **kw: object) -> ReportFileError:
    with pytest.raises(ReportFileError) as exc:
        run = validate_stream(io.BytesIO(data), "upload.xlsx", kind, make_context(), **kw)  # type: ignore[arg-type]
        list(run)
    return exc.value


def test_wrong_columns_name_what_is_missing(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "inv.csv", [INV_ZH, ["2026-03-31", "深圳仓", "NW-SW-24G", "5"]])
    error = file_error(path.read_bytes())
    assert error.code == "missing_columns"
    assert error.params["missing"] == (
        "sold_on",
        "quantity",
        "unit_price",
        "currency",
        "customer_name",
        "country",
        "postcode",
        "invoice_ref",
    )
    assert "Sale date (销售日期)" in str(error)
    wrong = write_csv(tmp_path / "x.csv", [["foo", "bar"], ["1", "2"]])
    assert file_error(wrong.read_bytes(), Kind.INVENTORY).code == "missing_columns"


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n\r\n  \n", b"\xff\xfe"])
def test_empty_files(data: bytes) -> None:
    assert file_error(data).code == "empty_file"


def test_a_header_without_lines_is_a_valid_empty_report(tmp_path: Path) -> None:
    run, results = validate(write_csv(tmp_path / "h.csv", [INV_EN, [], []]), Kind.INVENTORY)
    assert results == []
    assert (run.summary.lines, run.summary.complete) == (0, True)


def test_empty_workbook(tmp_path: Path) -> None:
    assert file_error(write_xlsx(tmp_path / "e.xlsx", {"Sheet1": []}).read_bytes()).code == "empty_file"


@pytest.mark.parametrize(
    "data",
    [
        random.Random(7).randbytes(20_000),
        b"\x89PNG\r\n\x1a\n" + random.Random(8).randbytes(5_000),
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nstream\n\x00\x01\x02\x03",
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff",
        b"a,b,c\n\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10\x11\x12\x13\x14\x15\x16",
    ],
)
def test_binary_junk_is_refused(data: bytes) -> None:
    assert file_error(data).code == "not_a_table"


def test_old_xls_is_refused_with_advice() -> None:
    error = file_error(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 600)
    assert error.code == "xls_not_supported"


def _zip_bomb(path: Path, size: int) -> Path:
    """An .xlsx-looking zip whose sheet inflates to `size` bytes of zeros; written in 1 MiB
    chunks, so building it stays small in memory."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        chunk = bytes(1024 * 1024)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as member:
            for _ in range(size // len(chunk)):
                member.write(chunk)
    return path


def test_a_zip_bomb_renamed_xlsx_is_refused_before_inflating(tmp_path: Path) -> None:
    bomb = _zip_bomb(tmp_path / "report.xlsx", 300 * 1024 * 1024)
    assert bomb.stat().st_size < 1024 * 1024
    tracemalloc.start()
    try:
        error = file_error(bomb.read_bytes())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.code == "too_large"
    assert peak < 16 * 1024 * 1024


def test_an_absurd_compression_ratio_is_refused_under_the_size_limit(tmp_path: Path) -> None:
    bomb = _zip_bomb(tmp_path / "small-bomb.xlsx", 20 * 1024 * 1024)
    assert file_error(bomb.read_bytes()).code == "too_large"
    assert file_error(bomb.read_bytes(), limits=Limits(max_ratio=10_000)).code == "corrupt_xlsx"


def test_other_zips_and_damaged_workbooks(tmp_path: Path) -> None:
    plain = io.BytesIO()
    with zipfile.ZipFile(plain, "w") as archive:
        archive.writestr("photo.txt", "hello")
    assert file_error(plain.getvalue()).code == "not_xlsx"
    good = write_xlsx(tmp_path / "g.xlsx", {"S": [ST_EN]}).read_bytes()
    assert file_error(good[: len(good) // 2]).code == "corrupt_xlsx"


def test_encoding_that_breaks_after_the_sniffed_head_stops_the_file(tmp_path: Path) -> None:
    line = "2026-03-31,Shenzhen WH,NW-SW-24G,5\n"
    data = (",".join(INV_EN) + "\n" + line * 3000).encode() + "2026-03-31,深圳仓,NW-SW-8P,1\n".encode("gb18030")
    run = validate_stream(io.BytesIO(data), "x.csv", Kind.INVENTORY, make_context())
    with pytest.raises(ReportFileError) as exc:
        list(run)
    assert exc.value.code == "bad_encoding"


def test_large_files_stream_in_constant_memory(tmp_path: Path) -> None:
    """Reading does not grow with the file: 25 000 rejected lines (no duplicate index to keep)
    take no more memory than a few batches, far less than the file."""
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(ST_EN) + "\n")
        for n in range(25_000):
            fh.write(f"2026-03-{n % 28 + 1:02d},NW-OLD-{n},1,89.90,SGD,Harbor Robotics Trading Company Limited {n},SG,018956,,INV-{n}\n")
    tracemalloc.start()
    try:
        with path.open("rb") as fh:
            run = validate_stream(fh, "big.csv", Kind.SELL_THROUGH, make_context())
            summary = run.drain()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (summary.accepted, summary.rejected, summary.errors) == (0, 25_000, {"sku_unknown": 25_000})
    assert path.stat().st_size > 2_500_000
    assert peak < 2_000_000  # about one batch of rows and results
