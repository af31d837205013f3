"""Partner report uploads: preview, commit as a new version of the period, rejected-lines export.

Flow: `start_upload` stores the file (in chunks, `storage.py`) and validates it — at once when it
is small, in the background (`worker.py`, with progress) when it is larger than INLINE_BYTES —
keeping a preview summary (counts, the first PREVIEW_ACCEPTED accepted lines, the rejected lines
up to MAX_REJECTED_SHOWN; the export has them all). `commit_upload` re-validates the stored bytes
inside the committing transaction and stores the accepted lines as the next version of the
partner's kind + period through `versions.NewVersion` (the commit path the form, the API and
the command line share) — again in the background for large files.

Two modes, chosen on the upload form (stored with the upload, so preview and commit agree):
- ADD (default) "add these lines to the period's report": the new version holds the current
  version's lines plus the new accepted ones (how fixed rejected lines are sent back). A line
  already in the period's report is a duplicate.
- REPLACE "replace the period's report": the new version holds only the file's lines; lines of
  the replaced version whose key is absent reach the CRM as withdrawn (quantity 0).

Nothing counts twice: the very same file (sha256) or the same data (data fingerprint) as a
submission of the period is answered "already submitted" (in REPLACE mode only against the
current version, so going back to an earlier file stays possible), and every line key is checked
against the partner's current submissions of every period (minus the version being replaced).
"""

from __future__ import annotations

import enum
import io
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO, Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.customer.models import Product, Serial
from portal.db import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.i18n import N_
from portal.partner.models import (
    ReportKind,
    ReportSource,
    ReportSubmission,
    ReportUpload,
    SubmissionStatus,
    UploadStatus,
)
from portal.partner.reports import storage
from portal.partner.reports import templates as report_templates
from portal.partner.reports.columns import COLUMNS, Kind
from portal.partner.reports.pipeline import validate_stream
from portal.partner.reports.readers import ReportFileError
from portal.partner.reports.validation import (
    MESSAGES,
    InventoryLine,
    LineResult,
    Period,
    SellThroughLine,
    ValidationContext,
    cell_text,
)
from portal.partner.reports.versions import LINE_MODELS, NewVersion, chunks, current_submission, line_external_id
from portal.uploads import safe_filename

PREVIEW_ACCEPTED = 200  # accepted lines shown in the preview
MAX_REJECTED_SHOWN = 1000  # rejected lines kept in the preview summary (the export has them all)
# Files up to this size are validated and committed within the request (≈ 10,000 sell-through
# lines, well under a second); larger ones by the background worker, with progress.
INLINE_BYTES = 1024 * 1024
PROGRESS_EVERY = 1000  # lines between progress reports of the background validation
FORMATS = ("csv", "xlsx")
LANGUAGES = ("en", "zh")

BUSY = frozenset({UploadStatus.QUEUED, UploadStatus.VALIDATING, UploadStatus.COMMIT_QUEUED, UploadStatus.COMMITTING})

Gettext = Callable[..., str]
Progress = Callable[[int, int], None]  # (lines read, bytes read)

__all__ = ["LINE_MODELS", "current_submission", "line_external_id"]


class Mode(enum.StrEnum):
    ADD = "add"
    REPLACE = "replace"


MODE_LABELS = {
    Mode.ADD: N_("Add these lines to the period's report"),
    Mode.REPLACE: N_("Replace the period's report with this file"),
}
KIND_LABELS = {ReportKind.INVENTORY: N_("Inventory"), ReportKind.SELL_THROUGH: N_("Sell-through")}
STATUS_LABELS = {
    SubmissionStatus.DRAFT: N_("Draft"),
    SubmissionStatus.SUBMITTED: N_("Current"),
    SubmissionStatus.SUPERSEDED: N_("Superseded"),
}


def _english(message: str, **params: Any) -> str:
    return message % params if params else message


# -- ownership -------------------------------------------------------------------------------------
def partner_of(actor: User) -> str:
    """The actor's partner account; anyone else finds nothing here (NotFound)."""
    if not actor.role.is_partner or actor.account_id is None:
        raise NotFound()
    return actor.account_id


def get_upload(db: Session, actor: User, upload_id: int, *, draft: bool = False) -> ReportUpload:
    """One of the actor's partner's uploads — or, with `draft`, one of its web-form drafts
    (a draft is no file: the upload pages do not know it)."""
    partner = partner_of(actor)
    upload = db.get(ReportUpload, upload_id)
    if upload is None or upload.partner_account_id != partner or (upload.status is UploadStatus.DRAFT) is not draft:
        raise NotFound()
    return upload


# -- parsing the form ------------------------------------------------------------------------------
def parse_kind(value: str) -> ReportKind:
    try:
        return ReportKind(value)
    except ValueError:
        raise Invalid("kind", N_("Choose the kind of report.")) from None


def parse_period(value: str) -> Period:
    try:
        return Period.parse(value)
    except ValueError:
        raise Invalid("period", N_("Enter the period as YYYY-MM, e.g. 2026-03.")) from None


def parse_mode(value: str) -> Mode:
    try:
        return Mode(value or Mode.ADD)
    except ValueError:
        raise Invalid("mode", N_("Choose whether to add to or replace the period's report.")) from None


# -- validation context ----------------------------------------------------------------------------
def validation_context(
    db: Session, partner: str, kind: ReportKind, period: Period, mode: Mode, *, as_of: ReportSubmission | None = None
) -> ValidationContext:
    """The lookups validation needs. `as_of`: judge duplicates as they stood just before that
    version was stored (the rejected-lines export of an upload that is already committed)."""
    line_model = LINE_MODELS[kind]
    excluded: set[int] = set()
    included: set[int] = set()
    if as_of is not None:
        excluded.add(as_of.id)
        predecessor = db.scalar(
            select(ReportSubmission.id).where(
                ReportSubmission.partner_account_id == partner,
                ReportSubmission.kind == kind,
                ReportSubmission.period == as_of.period,
                ReportSubmission.version == as_of.version - 1,
            )
        )
        if predecessor is not None:
            (excluded if mode is Mode.REPLACE else included).add(predecessor)
    elif mode is Mode.REPLACE and (replaced := current_submission(db, partner, kind, str(period))) is not None:
        excluded.add(replaced.id)
    skus = {sku: bool(active) for sku, active in db.execute(select(Product.sku, Product.active))}

    def serial_skus(serials: frozenset[str]) -> Mapping[str, str]:
        found: dict[str, str] = {}
        for chunk in chunks(serials):
            found.update({str(s): str(k) for s, k in db.execute(select(Serial.serial, Serial.sku).where(Serial.serial.in_(chunk)))})
        return found

    def accepted_keys(keys: frozenset[str]) -> Collection[str]:
        found: set[str] = set()
        for chunk in chunks(keys):
            stmt = (
                select(line_model.line_key)
                .join(ReportSubmission, ReportSubmission.id == line_model.submission_id)
                .where(
                    line_model.partner_account_id == partner,
                    or_(ReportSubmission.status == SubmissionStatus.SUBMITTED, ReportSubmission.id.in_(included))
                    if included
                    else ReportSubmission.status == SubmissionStatus.SUBMITTED,
                    line_model.line_key.in_(chunk),
                )
            )
            if excluded:
                stmt = stmt.where(ReportSubmission.id.not_in(excluded))
            found.update(db.scalars(stmt))
        return found

    return ValidationContext(period=period, today=utcnow().date(), skus=skus, serial_skus=serial_skus, accepted_keys=accepted_keys)


# -- "already submitted" ---------------------------------------------------------------------------
def already_submitted(
    db: Session, partner: str, kind: ReportKind, period: str, mode: Mode, *, sha256: str | None = None, fingerprint: str | None = None
) -> ReportSubmission | None:
    stmt = select(ReportSubmission).where(
        ReportSubmission.partner_account_id == partner,
        ReportSubmission.kind == kind,
        ReportSubmission.period == period,
    )
    if mode is Mode.REPLACE:
        stmt = stmt.where(ReportSubmission.status == SubmissionStatus.SUBMITTED)
    else:
        stmt = stmt.where(ReportSubmission.status.in_((SubmissionStatus.SUBMITTED, SubmissionStatus.SUPERSEDED)))
    if sha256 is not None:
        stmt = stmt.where(ReportSubmission.file_sha256 == sha256)
    elif fingerprint is not None:
        stmt = stmt.where(ReportSubmission.data_fingerprint == fingerprint)
    else:
        return None
    return db.scalars(stmt.order_by(ReportSubmission.version.desc()).limit(1)).first()


def already_failure(submission: ReportSubmission, *, same_file: bool) -> dict[str, Any]:
    """Why a file is refused as already submitted: an untranslated message with its params."""
    when = (submission.submitted_at or submission.created_at).strftime("%Y-%m-%d")
    if same_file:
        message = N_("Already submitted: you sent this file for %(period)s on %(date)s (version %(version)s). Nothing was added.")
    else:
        message = N_("Already submitted: this is the same data as version %(version)s for %(period)s, sent on %(date)s. Nothing was added.")
    return {
        "message": message,
        "params": {"period": submission.period, "date": when, "version": submission.version},
        "code": "already_submitted",
    }


# -- summaries -------------------------------------------------------------------------------------
def _json_value(value: object) -> object:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return cell_text(value)


def _line_values(line: InventoryLine | SellThroughLine) -> dict[str, str]:
    if isinstance(line, InventoryLine):
        return {"as_of": line.as_of.isoformat(), "location": line.location, "sku": line.sku, "quantity": str(line.quantity)}
    return {
        "sold_on": line.sold_on.isoformat(),
        "sku": line.sku,
        "quantity": str(line.quantity),
        "unit_price_cents": str(line.unit_price_cents),
        "currency": line.currency,
        "customer_name": line.customer_name,
        "country": line.country,
        "postcode": line.postcode,
        "serial": line.serial or "",
        "invoice_ref": line.invoice_ref,
    }


def _rejected_entry(result: LineResult, width: int) -> dict[str, object]:
    return {
        "row": result.row,
        "cells": [_json_value(c) for c in result.cells[:width]],
        "problems": [
            {"field": p.field, "code": p.code, "params": {k: _json_value(v) for k, v in p.params.items()}} for p in result.problems
        ],
    }


@dataclass
class Preview:
    """What the preview page shows, read back from an upload's summary."""

    upload: ReportUpload
    columns: list[str]
    accepted: list[dict[str, Any]]
    rejected: list[dict[str, Any]]
    rejected_hidden: int
    errors: dict[str, int]
    mode: Mode
    failure: dict[str, Any] | None  # why the file was refused (background validation)
    commit_failure: dict[str, Any] | None  # why the background commit did not happen

    @property
    def working(self) -> bool:
        """The background worker has not finished with this upload yet."""
        return self.upload.status in BUSY

    @property
    def committing(self) -> bool:
        return self.upload.status in (UploadStatus.COMMIT_QUEUED, UploadStatus.COMMITTING)

    def failure_text(self, gettext: Gettext) -> str:
        return _failure_text(self.failure, gettext) if self.failure else ""

    def commit_failure_text(self, gettext: Gettext) -> str:
        return _failure_text(self.commit_failure, gettext) if self.commit_failure else ""

    def reasons(self, entry: Mapping[str, Any], gettext: Gettext) -> list[str]:
        """Each problem of a stored rejected line, prefixed with the column as the file names it."""
        headers: Mapping[str, str] = self.upload.summary.get("field_headers", {})  # type: ignore[assignment]
        texts = []
        for problem in entry["problems"]:
            code = problem["code"]
            text = gettext(MESSAGES[code], **problem["params"]) if code in MESSAGES else code
            if problem["field"]:
                label = headers.get(problem["field"]) or _column_label(self.upload.kind, problem["field"], gettext)
                text = gettext(N_("%(column)s: %(reason)s"), column=label, reason=text)
            texts.append(text)
        return texts


def _column_label(kind: ReportKind, name: str, gettext: Gettext) -> str:
    for column in COLUMNS[Kind(kind.value)]:
        if column.name == name:
            return gettext(column.label)
    return name


def preview(db: Session, actor: User, upload_id: int) -> Preview:
    upload = get_upload(db, actor, upload_id)
    summary = upload.summary or {}
    rejected: list[dict[str, Any]] = list(summary.get("rejected", []))  # type: ignore[call-overload]
    return Preview(
        upload=upload,
        columns=list(summary.get("columns", [])),  # type: ignore[call-overload]
        accepted=list(summary.get("accepted", [])),  # type: ignore[call-overload]
        rejected=rejected,
        rejected_hidden=max(0, upload.rejected_count - len(rejected)),
        errors=dict(summary.get("errors", {})),  # type: ignore[call-overload]
        mode=Mode(str(summary.get("mode", Mode.ADD))),
        failure=_mapping(summary.get("failure")),
        commit_failure=_mapping(summary.get("commit_failure")),
    )


def _mapping(value: object) -> dict[str, Any] | None:
    return dict(value) if isinstance(value, dict) and "message" in value else None


def progress(db: Session, actor: User, upload_id: int) -> dict[str, Any]:
    """What the preview page polls while the background worker has the upload."""
    upload = get_upload(db, actor, upload_id)
    return {
        "status": upload.status.value,
        "done": upload.status not in BUSY,
        "lines": upload.progress_lines,
        "bytes": upload.progress_bytes,
        "size": upload.size_bytes,
        "percent": min(100, round(100 * upload.progress_bytes / upload.size_bytes)) if upload.size_bytes else 0,
    }


# -- upload → preview ------------------------------------------------------------------------------
@dataclass
class Checked:
    """The outcome of validating a stored file (what the preview shows)."""

    accepted: int
    rejected: int
    summary: dict[str, Any]


INTERNAL_FAILURE = N_("This file could not be processed because of an error on our side. Please upload it again.")


def file_failure(exc: ReportFileError) -> dict[str, Any]:
    return {"message": exc.message, "params": {k: v for k, v in exc.params.items() if isinstance(v, str | int)}, "code": exc.code}


def _failure_text(failure: Mapping[str, Any], gettext: Gettext) -> str:
    return gettext(str(failure["message"]), **dict(failure.get("params", {})))


def check_file(db: Session, upload: ReportUpload, *, progress: Progress | None = None) -> Checked:
    """Validate the upload's stored file; raises ReportFileError when it is no report at all.
    Reads only (the worker runs it outside any write transaction)."""
    mode = Mode(str((upload.summary or {}).get("mode", Mode.ADD)))
    context = validation_context(db, upload.partner_account_id, upload.kind, Period.parse(upload.period), mode)
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, object]] = []
    with storage.open_file(db, upload.id) as stream, validate_stream(stream, upload.filename, Kind(upload.kind.value), context) as run:
        width = len(run.header.cells)
        for result in run:
            if result.accepted:
                if len(accepted) < PREVIEW_ACCEPTED and result.line is not None:
                    accepted.append({"row": result.row, "values": _line_values(result.line)})
            elif len(rejected) < MAX_REJECTED_SHOWN:
                rejected.append(_rejected_entry(result, width))
            if progress is not None and result.row % PROGRESS_EVERY == 0:
                progress(result.row, stream.tell())
        summary = run.summary
        header = run.header
    field_headers = {c.name: header.header_of(c.name) or "" for c in COLUMNS[Kind(upload.kind.value)]}
    details: dict[str, Any] = {
        **(upload.summary or {}),
        "columns": [cell_text(c) for c in header.cells if c != ""],
        "field_headers": field_headers,
        "language": header.language,
        "errors": dict(summary.errors),
        "blank_rows": summary.blank_rows,
        "data_fingerprint": summary.data_fingerprint,
        "accepted": accepted,
        "rejected": rejected,
        "rejected_truncated": summary.rejected > len(rejected),
    }
    already = already_submitted(db, upload.partner_account_id, upload.kind, upload.period, mode, fingerprint=summary.data_fingerprint)
    if already is not None:
        details["failure"] = already_failure(already, same_file=False)
    return Checked(summary.accepted, summary.rejected, details)


def record_check(upload: ReportUpload, checked: Checked) -> None:
    upload.accepted_count = checked.accepted
    upload.rejected_count = checked.rejected
    upload.progress_lines = checked.accepted + checked.rejected
    upload.progress_bytes = upload.size_bytes
    upload.summary = checked.summary
    upload.status = UploadStatus.FAILED if "failure" in checked.summary else UploadStatus.PREVIEWED


def record_failure(upload: ReportUpload, failure: dict[str, Any]) -> None:
    upload.summary = {**(upload.summary or {}), "failure": failure}
    upload.error_code = str(failure.get("code", ""))[:40] or None
    upload.status = UploadStatus.FAILED


def start_upload(
    db: Session,
    actor: User,
    *,
    kind: str,
    period: str,
    mode: str,
    filename: str,
    stream: IO[bytes] | None,
    source: ReportSource = ReportSource.UPLOAD,
    gettext: Gettext = _english,
) -> ReportUpload:
    """Keep an uploaded report file for preview: files up to INLINE_BYTES are validated at once
    (form errors, an unreadable file or an already-submitted one raise Invalid and nothing is
    kept); larger ones are QUEUED for the background worker (`worker.py`) and the preview page
    shows its progress."""
    partner = partner_of(actor)
    errors: dict[str, str] = {}

    def attempt(parse: Callable[[str], Any], value: str) -> Any:
        try:
            return parse(value)
        except Invalid as exc:
            errors.update(exc.errors)
            return None

    parsed_kind: ReportKind | None = attempt(parse_kind, kind)
    parsed_period: Period | None = attempt(parse_period, period)
    parsed_mode: Mode | None = attempt(parse_mode, mode)
    if stream is None or not filename:
        errors["file"] = N_("Choose a CSV or XLSX file to upload.")
    if errors or parsed_kind is None or parsed_period is None or parsed_mode is None or stream is None:
        raise Invalid(errors)
    row = ReportUpload(
        partner_account_id=partner,
        kind=parsed_kind,
        period=str(parsed_period),
        filename=safe_filename(filename)[:200],
        sha256="",
        source=source,
        status=UploadStatus.QUEUED,
        summary={"mode": parsed_mode.value},
        created_by_id=actor.id,
        created_at=utcnow(),
    )
    db.add(row)
    db.flush()
    row.size_bytes, row.sha256 = storage.store(db, row.id, stream)
    if row.size_bytes == 0:
        raise Invalid("file", N_("Choose a CSV or XLSX file to upload."))
    same_file = already_submitted(db, partner, parsed_kind, row.period, parsed_mode, sha256=row.sha256)
    if same_file is not None:
        raise Invalid("file", _failure_text(already_failure(same_file, same_file=True), gettext))
    if row.size_bytes > INLINE_BYTES:
        return row  # the background worker validates it
    try:
        checked = check_file(db, row)
    except ReportFileError as exc:
        raise Invalid("file", _failure_text(file_failure(exc), gettext)) from None
    if "failure" in checked.summary:
        raise Invalid("file", _failure_text(checked.summary["failure"], gettext))
    record_check(row, checked)
    db.flush()
    return row


# -- commit ----------------------------------------------------------------------------------------
def commit_upload(db: Session, actor: User, upload_id: int, *, gettext: Gettext = _english) -> ReportSubmission | None:
    """Store the upload's accepted lines as the next version of its period, or queue a large
    file's commit for the background worker (None). Raises NotFound, Conflict (already committed
    / already submitted / nothing to add / a concurrent commit) or Invalid (the file no longer reads)."""
    upload = get_upload(db, actor, upload_id)
    if upload.status in (UploadStatus.COMMIT_QUEUED, UploadStatus.COMMITTING):
        raise Conflict(gettext(N_("This upload is being committed.")))
    if upload.status is not UploadStatus.PREVIEWED:
        raise Conflict(gettext(N_("This upload has already been committed.")))
    if upload.size_bytes > INLINE_BYTES:
        upload.status = UploadStatus.COMMIT_QUEUED
        upload.summary = {**(upload.summary or {}), "committer_id": actor.id}
        upload.summary.pop("commit_failure", None)
        return None
    try:
        return store_upload(db, upload, actor.id)
    except Conflict as exc:
        raise Conflict(gettext(exc.message, **exc.params)) from None
    except ReportFileError as exc:
        raise Invalid("file", _failure_text(file_failure(exc), gettext)) from None


def store_upload(db: Session, upload: ReportUpload, actor_id: int | None) -> ReportSubmission:
    """Re-validate the stored file inside the committing transaction (what is stored is exactly
    what the rules accept at that moment) and store its accepted lines as a new version. Raises
    Conflict (with an untranslated message and params) or ReportFileError; the caller's
    transaction must then be rolled back."""
    mode = Mode(str((upload.summary or {}).get("mode", Mode.ADD)))
    partner = upload.partner_account_id
    same_file = already_submitted(db, partner, upload.kind, upload.period, mode, sha256=upload.sha256)
    if same_file is not None:
        failure = already_failure(same_file, same_file=True)
        raise Conflict(failure["message"], **failure["params"])
    context = validation_context(db, partner, upload.kind, Period.parse(upload.period), mode)
    version = NewVersion(
        db,
        partner=partner,
        kind=upload.kind,
        period=upload.period,
        replace=mode is Mode.REPLACE,
        source=upload.source,
        submitted_by_id=actor_id,
        filename=upload.filename,
        file_sha256=upload.sha256,
    )
    with storage.open_file(db, upload.id) as stream, validate_stream(stream, upload.filename, Kind(upload.kind.value), context) as run:
        version.add_all(run)
        summary = run.summary
    already = already_submitted(db, partner, upload.kind, upload.period, mode, fingerprint=summary.data_fingerprint)
    if already is not None:
        failure = already_failure(already, same_file=False)
        raise Conflict(failure["message"], **failure["params"])
    submission = version.finish(rejected=summary.rejected, fingerprint=summary.data_fingerprint)
    upload.status = UploadStatus.COMMITTED
    upload.submission_id = submission.id
    db.flush()
    return submission


# -- rejected lines, templates, listings -----------------------------------------------------------
def rejected_export(db: Session, actor: User, upload_id: int, *, gettext: Gettext | None = None) -> tuple[str, str, bytes]:
    """(filename, content type, bytes) of the upload's rejected lines, in the upload's format."""
    upload = get_upload(db, actor, upload_id)
    mode = Mode(str((upload.summary or {}).get("mode", Mode.ADD)))
    if upload.status not in (UploadStatus.PREVIEWED, UploadStatus.COMMITTED):
        raise NotFound()
    committed = db.get(ReportSubmission, upload.submission_id) if upload.submission_id is not None else None
    context = validation_context(db, upload.partner_account_id, upload.kind, Period.parse(upload.period), mode, as_of=committed)
    out = io.BytesIO()
    try:
        with storage.open_file(db, upload.id) as stream, validate_stream(stream, upload.filename, Kind(upload.kind.value), context) as run:
            writer = report_templates.RejectedWriter(out, run.source, run.header, gettext)
            with writer:
                for result in run:
                    writer.add(result)
    except ReportFileError:
        raise NotFound() from None
    stem = upload.filename.rsplit(".", 1)[0] or "report"
    return f"{stem}-rejected.{writer.format}", writer.content_type, out.getvalue()


def template_file(kind: str, fmt: str, language: str, today: date | None = None) -> tuple[str, str, bytes]:
    try:
        report_kind = Kind(kind)
    except ValueError:
        raise NotFound() from None
    if fmt not in FORMATS:
        raise NotFound()
    language = language if language in LANGUAGES else "en"
    example = today or utcnow().date()
    filename = report_templates.template_filename(report_kind, language, fmt)
    if fmt == "csv":
        return filename, report_templates.CSV_TYPE, report_templates.template_csv(report_kind, language, example)
    return filename, report_templates.XLSX_TYPE, report_templates.template_xlsx(report_kind, language, example)


@dataclass
class PeriodReports:
    period: str
    kind: ReportKind
    versions: list[ReportSubmission]


def submissions(db: Session, actor: User) -> list[PeriodReports]:
    """The partner's submissions grouped by period and kind (newest period first, versions newest first)."""
    partner = partner_of(actor)
    rows = db.scalars(
        select(ReportSubmission)
        .where(ReportSubmission.partner_account_id == partner, ReportSubmission.status != SubmissionStatus.DRAFT)
        .order_by(ReportSubmission.period.desc(), ReportSubmission.kind, ReportSubmission.version.desc())
    )
    groups: dict[tuple[str, ReportKind], PeriodReports] = {}
    for row in rows:
        groups.setdefault((row.period, row.kind), PeriodReports(row.period, row.kind, [])).versions.append(row)
    return list(groups.values())


def pending_uploads(db: Session, actor: User, limit: int = 20) -> list[ReportUpload]:
    partner = partner_of(actor)
    return list(
        db.scalars(
            select(ReportUpload)
            .where(ReportUpload.partner_account_id == partner, ReportUpload.status.in_((UploadStatus.PREVIEWED, *BUSY)))
            .order_by(ReportUpload.created_at.desc(), ReportUpload.id.desc())
            .limit(limit)
        )
    )


def created_label(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""
