"""One validation for every way in: bytes -> rows -> header -> validated lines, streamed.

    run = validate_stream(upload, "march.xlsx", Kind.SELL_THROUGH, context)   # may raise ReportFileError
    for result in run:            # LineResult, in file order, constant memory
        ...                       # result.accepted / result.line / result.problems / result.key
    run.summary                   # counts by error code, accepted/rejected, data fingerprint

`validate_stream` reads the file's head at once: the file-level failures (empty file, binary
junk, .xls, zip bomb, damaged workbook, required columns missing) are raised from the call as
`ReportFileError`, before any line. Iterating may still raise `ReportFileError` when the file
turns out broken in the middle (an encoding change or a CSV syntax error after row N, a
truncated workbook): the caller must then keep nothing of the file (validate inside the
transaction that stores the lines, or validate fully before storing).

Serial and already-accepted lookups are made once per batch (`batch_size` rows) through the
context's callables, so the caller can answer each batch with one query.

Header row: the first non-blank row that names every required column, among the first 10
non-blank rows of the first worksheet that has one (title rows above the header are
skipped; sheets without the columns — notes, pivot tables — are passed over). Blank rows are
skipped anywhere (counted in `Summary.blank_rows`), as are repetitions of the header row
(concatenated exports).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import IO

from portal.i18n import N_
from portal.partner.reports.columns import COLUMNS, HeaderMap, Kind, map_header
from portal.partner.reports.readers import Limits, RawRow, ReportFileError, SourceInfo, Table, open_tables
from portal.partner.reports.validation import LineResult, ValidationContext, Validator

HEADER_SEARCH_ROWS = 10
BATCH_SIZE = 1000


@dataclass
class Summary:
    kind: Kind
    source: SourceInfo
    header: HeaderMap
    accepted: int = 0
    rejected: int = 0
    blank_rows: int = 0
    repeated_headers: int = 0
    errors: Counter[str] = field(default_factory=Counter)  # code -> lines rejected with it
    data_fingerprint: str | None = None  # set when the whole file has been read
    complete: bool = False

    @property
    def lines(self) -> int:
        return self.accepted + self.rejected


class ValidationRun(Iterator[LineResult]):
    def __init__(
        self,
        tables: Generator[Table, None, None],
        table: Table,
        header: HeaderMap,
        rows: Iterator[RawRow],
        kind: Kind,
        context: ValidationContext,
        batch_size: int,
    ) -> None:
        self._tables = tables
        self.source = table.info
        self.header = header
        self.validator = Validator(kind, header, context, table.info.decimal_comma)
        self.summary = Summary(kind, table.info, header)
        self._rows = rows
        self._batch_size = batch_size
        self._results = self._generate()

    def __iter__(self) -> ValidationRun:
        return self

    def __next__(self) -> LineResult:
        return next(self._results)

    def close(self) -> None:
        self._results.close()
        self._tables.close()  # closes the workbook of an XLSX file

    def __enter__(self) -> ValidationRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _generate(self) -> Generator[LineResult, None, None]:
        summary = self.summary
        header_cells = self.header.cells
        width = len(header_cells)
        batch: list[RawRow] = []
        try:
            for row in self._rows:
                if row.blank:
                    summary.blank_rows += 1
                    continue
                first = row.cells[0] if row.cells else None
                if isinstance(first, str) and first.strip() == header_cells[0] and _texts(row.cells[:width]) == header_cells:
                    summary.repeated_headers += 1
                    continue
                batch.append(row)
                if len(batch) >= self._batch_size:
                    yield from self._flush(batch)
                    batch = []
            if batch:
                yield from self._flush(batch)
            summary.data_fingerprint = self.validator.data_fingerprint
            summary.complete = True
        finally:
            self._tables.close()

    def _flush(self, batch: list[RawRow]) -> Iterator[LineResult]:
        summary = self.summary
        for result in self.validator.validate(batch):
            if result.problems:
                summary.rejected += 1
                summary.errors.update({problem.code for problem in result.problems})
            else:
                summary.accepted += 1
            yield result

    def drain(self) -> Summary:
        """Validate to the end, dropping the lines (a dry run); returns the summary."""
        for _ in self:
            pass
        return self.summary


def _texts(cells: tuple[object, ...]) -> tuple[str, ...]:
    return tuple("" if cell is None else str(cell).strip() for cell in cells)


def _find_header(kind: Kind, rows: Iterator[RawRow]) -> tuple[HeaderMap | None, HeaderMap | None]:
    """(the header, None) or (None, the best candidate seen)."""
    best: HeaderMap | None = None
    seen = 0
    for row in rows:
        if row.blank:
            continue
        header = map_header(kind, row.cells)
        if header.ok:
            return header, None
        if best is None or len(header.missing) < len(best.missing):
            best = header
        seen += 1
        if seen >= HEADER_SEARCH_ROWS:
            break
    return None, best


def validate_stream(
    stream: IO[bytes],
    filename: str,
    kind: Kind,
    context: ValidationContext,
    *,
    batch_size: int = BATCH_SIZE,
    limits: Limits | None = None,
) -> ValidationRun:
    tables = open_tables(stream, filename, limits)
    best: HeaderMap | None = None
    try:
        for table in tables:
            rows = table.rows()
            header, candidate = _find_header(kind, rows)
            if header is not None:
                return ValidationRun(tables, table, header, rows, kind, context, batch_size)
            if candidate is not None and (best is None or len(candidate.missing) < len(best.missing)):
                best = candidate
    except BaseException:
        tables.close()
        raise
    tables.close()
    if best is None:
        raise ReportFileError("empty_file", N_("The file is empty."))
    by_name = {column.name: column for column in COLUMNS[kind]}
    raise ReportFileError(
        "missing_columns",
        N_("Required columns not found: %(columns)s. Start from our template, or name the columns as it does."),
        columns=", ".join(f"{by_name[name].en} ({by_name[name].zh})" for name in best.missing),
        missing=best.missing,
        unknown=best.unknown,
    )
