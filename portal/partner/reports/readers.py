"""Streaming row readers for uploaded CSV and XLSX reports.

The file's content decides how it is read, never its name (a CSV called .xlsx is read as CSV,
a zip bomb called .xlsx is refused): the first 64 KiB are sniffed.

- CSV: UTF-8 with or without BOM, UTF-16 with BOM (Excel's "Unicode text"), else GB18030
  (the superset of GBK/GB2312 that Chinese Excel writes). Decoded incrementally
  (`io.TextIOWrapper` over the binary stream): the file is never held whole in memory.
  Delimiter: the one of `,` `;` tab that splits the first lines into the most fields.
  A `;` file is taken to use the decimal comma (that is why Excel wrote `;`), a `,` file the
  decimal point; for tab files each value decides (see validation.parse_decimal).
- XLSX: checked as a zip first (member count, total uncompressed size, compression ratio,
  encryption) so a zip bomb is refused before anything is inflated, then read with
  openpyxl in read-only mode (rows streamed from the sheet XML; defusedxml guards the XML).
  Each worksheet is a candidate table, in workbook order.
- Old .xls (OLE compound files, also what an encrypted .xlsx is), PDFs, images and other
  binary content are refused with `ReportFileError`.

Rows are numbered as a spreadsheet shows them (the header is usually row 1), blank rows included.
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from portal.i18n import N_

SNIFF_BYTES = 64 * 1024


class ReportFileError(Exception):
    """The file as a whole cannot be read; nothing in it was validated (or, for an error found
    in the middle of a stream — an encoding or CSV syntax error — nothing may be kept)."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(f"{code}: {message % params if params else message}")
        self.code = code
        self.message = message  # N_() msgid with %(name)s placeholders
        self.params = params


@dataclass(frozen=True)
class Limits:
    max_uncompressed: int = 512 * 1024 * 1024  # all members of an .xlsx together
    max_shared_strings: int = 96 * 1024 * 1024  # openpyxl holds the shared strings in memory
    max_ratio: int = 100  # per member of more than 1 MiB; real sheets compress 5-30x
    max_members: int = 2000


@dataclass(frozen=True)
class RawRow:
    number: int  # 1-based, as a spreadsheet shows it
    cells: tuple[object, ...]  # str for CSV; str/int/float/datetime/date/time/bool/None for XLSX

    @property
    def blank(self) -> bool:
        return all(cell is None or (isinstance(cell, str) and not cell.strip()) for cell in self.cells)


@dataclass
class SourceInfo:
    format: str  # "csv" or "xlsx"
    encoding: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    decimal_comma: bool | None = None  # None: each value decides


@dataclass
class Table:
    info: SourceInfo
    _rows: Iterator[RawRow] = field(repr=False)

    def rows(self) -> Iterator[RawRow]:
        return self._rows


class _Prefixed(io.RawIOBase):
    """The bytes already sniffed, then the rest of the stream (works on unseekable streams)."""

    def __init__(self, prefix: bytes, rest: IO[bytes]) -> None:
        self._prefix = memoryview(prefix)
        self._rest = rest

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self._prefix:
            n = min(len(view), len(self._prefix))
            view[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
            return n
        data = self._rest.read(len(view))
        view[: len(data)] = data
        return len(data)


def open_tables(stream: IO[bytes], filename: str = "", limits: Limits | None = None) -> Generator[Table, None, None]:
    """The candidate tables of an uploaded file (one for CSV, one per worksheet for XLSX).

    Raises ReportFileError before yielding anything when the file is empty, binary junk, an old
    .xls, a broken or dangerous zip."""
    limits = limits or Limits()
    head = _read_up_to(stream, SNIFF_BYTES)
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise ReportFileError("empty_file", N_("The file is empty."))
    if head.startswith(b"PK\x03\x04"):
        yield from _xlsx_tables(head, stream, limits)
        return
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise ReportFileError(
            "xls_not_supported",
            N_("This is an old Excel (.xls) or password-protected workbook. Save it as .xlsx (without a password) or as CSV."),
        )
    yield _csv_table(head, stream, complete=len(head) < SNIFF_BYTES)


def _read_up_to(stream: IO[bytes], size: int) -> bytes:
    chunks: list[bytes] = []
    left = size
    while left > 0:
        chunk = stream.read(left)
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _junk() -> ReportFileError:
    return ReportFileError("not_a_table", N_("This file is neither a CSV nor an Excel (.xlsx) file."))


# -- CSV -------------------------------------------------------------------------------------------
def detect_encoding(head: bytes, complete: bool) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    if b"\x00" in head:
        raise _junk()
    for encoding in ("utf-8", "gb18030"):
        try:
            codecs.getincrementaldecoder(encoding)().decode(head, final=complete)
        except UnicodeDecodeError:
            continue
        return encoding
    raise _junk()


def _looks_binary(text: str) -> bool:
    controls = sum(1 for ch in text if (ch < " " and ch not in "\t\r\n\f\v") or ch == "\x7f" or "\x80" <= ch < "\xa0" or ch == "\ufffd")
    return controls > max(2, len(text) // 200)


def detect_delimiter(sample: str) -> str:
    lines = [line for line in sample.splitlines()[:20] if line.strip()]
    best, best_fields = ",", 0
    for delimiter in (",", ";", "\t"):
        try:
            fields = max((len(row) for row in csv.reader(lines[:10], delimiter=delimiter)), default=0)
        except csv.Error:
            continue
        if fields > best_fields:
            best, best_fields = delimiter, fields
    return best


def _csv_table(head: bytes, stream: IO[bytes], complete: bool) -> Table:
    encoding = detect_encoding(head, complete)
    sample = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=complete)
    if _looks_binary(sample):
        raise _junk()
    if not complete and "\n" in sample:
        sample = sample[: sample.rindex("\n")]  # the last line may be cut
    delimiter = detect_delimiter(sample)
    decimal_comma = {";": True, ",": False}.get(delimiter)
    info = SourceInfo("csv", encoding=encoding, delimiter=delimiter, decimal_comma=decimal_comma)
    raw = io.BufferedReader(_Prefixed(head, stream), buffer_size=SNIFF_BYTES)
    text = io.TextIOWrapper(raw, encoding=encoding, newline="")
    return Table(info, _csv_rows(text, delimiter))


def _csv_rows(text: io.TextIOWrapper, delimiter: str) -> Iterator[RawRow]:
    # NUL characters are dropped: no column means one, and PostgreSQL refuses them in text.
    reader = csv.reader((line.replace("\x00", "") if "\x00" in line else line for line in text), delimiter=delimiter)
    number = 0
    try:
        for cells in reader:
            number += 1
            yield RawRow(number, tuple(cells))
    except UnicodeDecodeError as exc:
        raise ReportFileError(
            "bad_encoding",
            N_("The file's text encoding changes after row %(row)s. Save it again as CSV UTF-8."),
            row=number,
        ) from exc
    except csv.Error as exc:
        raise ReportFileError(
            "bad_csv", N_("The CSV file is malformed after row %(row)s (%(detail)s)."), row=number, detail=str(exc)
        ) from exc


# -- XLSX ------------------------------------------------------------------------------------------
def check_zip(archive: zipfile.ZipFile, limits: Limits) -> None:
    members = archive.infolist()
    if len(members) > limits.max_members:
        raise _bomb()
    total = 0
    names = set()
    for info in members:
        names.add(info.filename)
        if info.flag_bits & 0x1:
            raise ReportFileError("encrypted", N_("The workbook is password-protected. Save it without a password."))
        total += info.file_size
        if total > limits.max_uncompressed:
            raise _bomb()
        if info.file_size > 1024 * 1024 and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            raise _bomb()
        if info.filename.lower().endswith("sharedstrings.xml") and info.file_size > limits.max_shared_strings:
            raise _bomb()
    if "xl/workbook.xml" not in names and not any(name.lower().endswith("workbook.xml") for name in names):
        raise ReportFileError("not_xlsx", N_("This zip file is not an Excel (.xlsx) workbook."))


def _bomb() -> ReportFileError:
    return ReportFileError(
        "too_large",
        N_("The workbook unpacks to more data than we accept. Split it into smaller files or upload it as CSV."),
    )


def _xlsx_tables(head: bytes, stream: IO[bytes], limits: Limits) -> Iterator[Table]:
    import openpyxl  # imported here: only uploads need it

    if stream.seekable():
        stream.seek(0)
        source: IO[bytes] = stream
    else:  # zip needs random access; an unseekable upload is spooled to disk first
        import tempfile

        source = tempfile.TemporaryFile()  # noqa: SIM115 - closed below with the workbook
        source.write(head)
        while chunk := stream.read(1024 * 1024):
            source.write(chunk)
        source.seek(0)
    try:
        archive = zipfile.ZipFile(source)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ReportFileError("corrupt_xlsx", N_("The Excel file is damaged and cannot be read.")) from exc
    with archive:
        check_zip(archive, limits)
    source.seek(0)
    try:
        workbook = openpyxl.load_workbook(source, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises anything from KeyError to XML parse errors
        raise ReportFileError("corrupt_xlsx", N_("The Excel file is damaged and cannot be read.")) from exc
    try:
        for sheet in workbook.worksheets:
            yield Table(SourceInfo("xlsx", sheet=str(sheet.title)), _xlsx_rows(sheet))
    finally:
        workbook.close()


def _xlsx_rows(sheet: Any) -> Iterator[RawRow]:
    number = 0
    try:
        for values in sheet.iter_rows(values_only=True):
            number += 1
            yield RawRow(number, tuple(values))
    except ReportFileError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, KeyError, EOFError) as exc:
        raise ReportFileError("corrupt_xlsx", N_("The Excel file is damaged after row %(row)s."), row=number) from exc
    except Exception as exc:  # XML errors from the sheet parser
        raise ReportFileError("corrupt_xlsx", N_("The Excel file is damaged after row %(row)s."), row=number) from exc
