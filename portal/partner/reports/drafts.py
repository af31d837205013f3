"""Web-form reports: a draft the partner fills in line by line, checked and submitted through
the same validation and the same commit path as an uploaded file.

A draft is a `ReportUpload` with status DRAFT, source FORM and filename "web-form.csv": its
kind and period are set when it is created, it has no file chunks, and its lines are kept in
`summary["form_rows"]` (a list of {canonical column name: the text the partner typed}).

Checking builds a CSV file in memory from the non-blank lines (the kind's English headers) and
runs `validate_stream` on it in ADD mode, so a form line is judged exactly like a file line
(and like a line already accepted: a duplicate). Each problem is mapped back to its form line
and column. Submitting stores nothing unless every non-blank line is accepted; it then hands
the CSV to `service.start_upload` + `service.commit_upload` (source FORM) — the very path of an
uploaded file — and marks the draft COMMITTED with the submission's id.
"""

from __future__ import annotations

import csv
import io
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.db import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.i18n import N_
from portal.partner.models import ReportKind, ReportSource, ReportSubmission, ReportUpload, UploadStatus
from portal.partner.reports import service
from portal.partner.reports.columns import COLUMNS, Column, Kind
from portal.partner.reports.pipeline import validate_stream
from portal.partner.reports.readers import ReportFileError, detect_delimiter
from portal.partner.reports.validation import MESSAGES, Period

FILENAME = "web-form.csv"
MAX_LINES = 200  # lines of one web-form report; more is a file upload
MAX_CELL = 200  # characters kept of one typed value (the longest column takes 200)
NEW_DRAFT_LINES = 3  # blank lines a new draft starts with
TOO_MANY_LINES = N_("A report filled in online has at most %(max)s lines: for more, upload a file.")
NOTHING_TO_SUBMIT = N_("Fill in at least one line before submitting.")
NOT_SUBMITTED = N_("Some lines need correcting: nothing has been submitted.")

# The form names lines, not rows of a file: a duplicate points at the other line of the form.
FORM_MESSAGES = {**MESSAGES, "duplicate_in_file": N_("The same line as line %(row)s of this report.")}

Gettext = service.Gettext


def columns(kind: ReportKind) -> tuple[Column, ...]:
    return COLUMNS[Kind(kind.value)]


# -- problems --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class LineProblem:
    """One reason a form line is not accepted: `line` is its 0-based index in the draft,
    `field` the canonical column (None for the whole line, e.g. a duplicate)."""

    line: int
    field: str | None
    code: str
    params: Mapping[str, object]

    def text(self, gettext: Gettext) -> str:
        message = FORM_MESSAGES.get(self.code)
        if message is None:
            return self.code
        return gettext(message, **self.params)


@dataclass
class Check:
    """The outcome of checking a draft's lines."""

    lines: int  # non-blank lines checked
    accepted: int
    problems: list[LineProblem] = field(default_factory=list)
    failure: str = ""  # an untranslated message about the whole report (none when lines are judged)
    failure_params: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems and not self.failure and self.lines > 0

    def by_line(self) -> dict[int, list[LineProblem]]:
        found: dict[int, list[LineProblem]] = {}
        for problem in self.problems:
            found.setdefault(problem.line, []).append(problem)
        return found

    def failure_text(self, gettext: Gettext) -> str:
        return gettext(self.failure, **self.failure_params) if self.failure else ""


class LinesRejected(Invalid):
    """Submitting found problems: nothing was stored; `check` says which lines and why."""

    def __init__(self, check: Check) -> None:
        super().__init__("lines", check.failure or (NOTHING_TO_SUBMIT if check.lines == 0 else NOT_SUBMITTED))
        self.check = check


# -- drafts ----------------------------------------------------------------------------------------
def create_draft(db: Session, actor: User, *, kind: str, period: str) -> ReportUpload:
    partner = service.partner_of(actor)
    errors: dict[str, str] = {}
    parsed_kind: ReportKind | None = None
    parsed_period: Period | None = None
    try:
        parsed_kind = service.parse_kind(kind)
    except Invalid as exc:
        errors.update(exc.errors)
    try:
        parsed_period = service.parse_period(period)
    except Invalid as exc:
        errors.update(exc.errors)
    if errors or parsed_kind is None or parsed_period is None:
        raise Invalid(errors)
    draft = ReportUpload(
        partner_account_id=partner,
        kind=parsed_kind,
        period=str(parsed_period),
        filename=FILENAME,
        sha256="",
        size_bytes=0,
        source=ReportSource.FORM,
        status=UploadStatus.DRAFT,
        summary={"mode": service.Mode.ADD.value, "form_rows": [blank_line(parsed_kind) for _ in range(NEW_DRAFT_LINES)]},
        created_by_id=actor.id,
        created_at=utcnow(),
    )
    db.add(draft)
    db.flush()
    return draft


def get_draft(db: Session, actor: User, draft_id: int) -> ReportUpload:
    """The actor's partner's open draft; anything else (another partner's, a file upload, a
    submitted or discarded draft) is NotFound."""
    draft = service.get_upload(db, actor, draft_id, draft=True)
    if draft.status is not UploadStatus.DRAFT or draft.source is not ReportSource.FORM:
        raise NotFound()
    return draft


def open_drafts(db: Session, actor: User, limit: int = 20) -> list[ReportUpload]:
    partner = service.partner_of(actor)
    return list(
        db.scalars(
            select(ReportUpload)
            .where(
                ReportUpload.partner_account_id == partner,
                ReportUpload.status == UploadStatus.DRAFT,
                ReportUpload.source == ReportSource.FORM,
            )
            .order_by(ReportUpload.created_at.desc(), ReportUpload.id.desc())
            .limit(limit)
        )
    )


def blank_line(kind: ReportKind) -> dict[str, str]:
    return {column.name: "" for column in columns(kind)}


def is_blank(line: Mapping[str, str]) -> bool:
    return not any(str(value).strip() for value in line.values())


def lines_of(draft: ReportUpload) -> list[dict[str, str]]:
    """The draft's lines, each with every column of its kind (text)."""
    raw = (draft.summary or {}).get("form_rows", [])
    names = [column.name for column in columns(draft.kind)]
    lines = []
    for row in raw if isinstance(raw, list) else []:
        row = row if isinstance(row, dict) else {}
        lines.append({name: str(row.get(name, "") or "") for name in names})
    return lines


def clean_value(value: object) -> str:
    """What is kept of a typed value: control characters (tabs, line breaks) become spaces,
    runs of spaces one, at most MAX_CELL characters."""
    text = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in str(value or ""))
    return " ".join(text.split())[:MAX_CELL]


def _store(draft: ReportUpload, lines: Sequence[Mapping[str, str]]) -> None:
    if len(lines) > MAX_LINES:
        raise Invalid("lines", TOO_MANY_LINES)
    names = [column.name for column in columns(draft.kind)]
    rows = [{name: clean_value(line.get(name, "")) for name in names} for line in lines]
    # A new dict: the JSON column sees the change.
    draft.summary = {**(draft.summary or {}), "form_rows": rows, "saved_at": utcnow().isoformat(timespec="seconds")}


def save_lines(db: Session, actor: User, draft_id: int, first: int, lines: Sequence[Mapping[str, str]]) -> ReportUpload:
    """Replace the draft's lines first .. first+len(lines)-1 (the ones a page of the form
    showed) with `lines`; lines past the end are added. Raises Invalid over MAX_LINES."""
    draft = get_draft(db, actor, draft_id)
    current = lines_of(draft)
    first = max(0, min(first, len(current)))
    current[first : first + len(lines)] = [dict(line) for line in lines]
    _store(draft, current)
    db.flush()
    return draft


def add_line(db: Session, actor: User, draft_id: int) -> int:
    """Add a blank line at the end; returns its index. Raises Invalid at MAX_LINES."""
    draft = get_draft(db, actor, draft_id)
    current = lines_of(draft)
    if len(current) >= MAX_LINES:
        raise Invalid("lines", TOO_MANY_LINES)
    current.append(blank_line(draft.kind))
    _store(draft, current)
    db.flush()
    return len(current) - 1


def remove_line(db: Session, actor: User, draft_id: int, index: int) -> None:
    draft = get_draft(db, actor, draft_id)
    current = lines_of(draft)
    if not 0 <= index < len(current):
        raise NotFound()
    del current[index]
    _store(draft, current)
    db.flush()


def discard(db: Session, actor: User, draft_id: int) -> None:
    draft = get_draft(db, actor, draft_id)
    draft.status = UploadStatus.DISCARDED
    db.flush()


# -- checking --------------------------------------------------------------------------------------
def _csv(kind: ReportKind, lines: Sequence[Mapping[str, str]]) -> bytes:
    """The lines as a tab-separated CSV file with the kind's English headers. Values hold no
    tab (clean_value); when one is so full of commas or semicolons that the reader would take
    those for the delimiter, the header row is padded with empty cells (ignored) until tabs win."""
    header = [column.en for column in columns(kind)]
    names = [column.name for column in columns(kind)]
    rows = [[clean_value(line.get(name, "")) for name in names] for line in lines]

    def render(head: list[str]) -> str:
        out = io.StringIO()
        writer = csv.writer(out, delimiter="\t", lineterminator="\r\n")
        writer.writerow(head)
        writer.writerows(rows)
        return out.getvalue()

    text = render(header)
    if detect_delimiter(text) != "\t":
        sample = text.splitlines()[:20]
        widest = max(text.count(",") for text in sample) + max(text.count(";") for text in sample) + 1
        text = render(header + [""] * max(0, widest + 1 - len(header)))
    return ("\ufeff" + text).encode("utf-8")


def _filled(draft: ReportUpload) -> tuple[list[int], bytes]:
    """The indexes of the non-blank lines and the CSV of those lines."""
    lines = lines_of(draft)
    indexes = [i for i, line in enumerate(lines) if not is_blank(line)]
    return indexes, _csv(draft.kind, [lines[i] for i in indexes])


def check_draft(db: Session, draft: ReportUpload) -> Check:
    """Validate the draft's non-blank lines as a file of them would be (reads only)."""
    indexes, data = _filled(draft)
    if not indexes:
        return Check(lines=0, accepted=0, failure=NOTHING_TO_SUBMIT)
    context = service.validation_context(db, draft.partner_account_id, draft.kind, Period.parse(draft.period), service.Mode.ADD)
    check = Check(lines=len(indexes), accepted=0)
    seen: set[int] = set()
    try:
        with validate_stream(io.BytesIO(data), FILENAME, Kind(draft.kind.value), context) as run:
            for result in run:
                position = result.row - 2  # row 1 is the header
                if not 0 <= position < len(indexes):
                    continue
                seen.add(position)
                if result.accepted:
                    check.accepted += 1
                    continue
                for problem in result.problems:
                    params = dict(problem.params)
                    row = params.get("row")
                    if problem.code == "duplicate_in_file" and isinstance(row, int):
                        other = row - 2
                        params["row"] = indexes[other] + 1 if 0 <= other < len(indexes) else params["row"]
                    check.problems.append(LineProblem(indexes[position], problem.field, problem.code, params))
    except ReportFileError as exc:  # cannot happen with our own CSV; never store then
        return Check(lines=len(indexes), accepted=0, failure=exc.message, failure_params=dict(exc.params))
    for position in range(len(indexes)):
        if position not in seen:  # a line the reader skipped (e.g. a copy of the header row)
            check.problems.append(LineProblem(indexes[position], None, "required", {}))
    return check


def check(db: Session, actor: User, draft_id: int) -> Check:
    return check_draft(db, get_draft(db, actor, draft_id))


def submit(db: Session, actor: User, draft_id: int, *, gettext: Gettext = service._english) -> ReportSubmission:
    """Submit the draft's non-blank lines as the next version of its period (added to the
    period's report). Raises LinesRejected (nothing stored) unless every line is accepted."""
    draft = get_draft(db, actor, draft_id)
    checked = check_draft(db, draft)
    if not checked.ok:
        raise LinesRejected(checked)
    _, data = _filled(draft)
    savepoint = db.begin_nested()  # a refusal below leaves no upload behind
    try:
        upload = service.start_upload(
            db,
            actor,
            kind=draft.kind.value,
            period=draft.period,
            mode=service.Mode.ADD.value,
            filename=FILENAME,
            stream=io.BytesIO(data),
            source=ReportSource.FORM,
            gettext=gettext,
        )
        submission = service.commit_upload(db, actor, upload.id, gettext=gettext)
        if submission is None:  # never for MAX_LINES lines (far below INLINE_BYTES)
            raise Conflict(N_("This report is too large for the form: upload it as a file."))
    except (Invalid, Conflict) as exc:
        savepoint.rollback()
        message = "; ".join(exc.errors.values()) if isinstance(exc, Invalid) else exc.message
        raise LinesRejected(Check(lines=checked.lines, accepted=0, failure=message)) from None
    savepoint.commit()
    draft.status = UploadStatus.COMMITTED
    draft.submission_id = submission.id
    draft.accepted_count = submission.accepted_count
    db.flush()
    return submission


def default_period() -> str:
    """The month before this one (the usual report to fill in)."""
    day = utcnow().date().replace(day=1) - timedelta(days=1)
    return f"{day.year:04d}-{day.month:02d}"


def saved_label(draft: ReportUpload) -> str:
    saved = str((draft.summary or {}).get("saved_at", ""))
    return saved.replace("T", " ")[:16] if saved else service.created_label(draft.created_at)
