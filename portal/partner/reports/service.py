"""Partner report uploads: preview, commit as a new version of the period, rejected-lines export.

Flow: `start_upload` reads and validates the file and keeps it as a `ReportUpload` with a preview
summary (counts, the first PREVIEW_ACCEPTED accepted lines, the rejected lines up to
MAX_REJECTED_SHOWN — beyond that the preview says how many more there are and the export has them
all). `commit_upload` re-validates the stored bytes inside the committing transaction (what is
stored is exactly what the rules accept at that moment) and creates the next `ReportSubmission`
of the partner's kind + period.

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

CRM: one `<kind>_line.upserted` event per new or withdrawn line, aggregate id = the line's
external id (uuid5 of partner, kind, key), seq = the submission version (or the aggregate's last
seq + 1 when that is higher: a serial's line can move between periods). In ADD mode the carried
lines are unchanged and send nothing (their CRM row keeps the report version that last changed it).
"""

from __future__ import annotations

import enum
import io
import uuid
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import events
from portal.accounts.models import User
from portal.customer.models import Product, Serial
from portal.db import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.events.models import OutboxEvent
from portal.i18n import N_
from portal.partner.models import (
    InventoryReportLine,
    ReportKind,
    ReportSource,
    ReportSubmission,
    ReportUpload,
    SellThroughReportLine,
    SubmissionStatus,
    UploadStatus,
)
from portal.partner.reports import templates as report_templates
from portal.partner.reports.columns import COLUMNS, Kind
from portal.partner.reports.fingerprints import file_fingerprint
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
from portal.uploads import Upload, safe_filename

PREVIEW_ACCEPTED = 200  # accepted lines shown in the preview
MAX_REJECTED_SHOWN = 1000  # rejected lines kept in the preview summary (the export has them all)
LOOKUP_CHUNK = 500
LINE_NAMESPACE = uuid.UUID("6f1d3c2a-5b7e-4c1f-9a1e-2d6b8f0c4e71")  # fixed: line external ids depend on it
FORMATS = ("csv", "xlsx")
LANGUAGES = ("en", "zh")

Gettext = Callable[..., str]


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
LINE_MODELS: dict[ReportKind, type[InventoryReportLine] | type[SellThroughReportLine]] = {
    ReportKind.INVENTORY: InventoryReportLine,
    ReportKind.SELL_THROUGH: SellThroughReportLine,
}


def _english(message: str, **params: Any) -> str:
    return message % params if params else message


# -- ownership -------------------------------------------------------------------------------------
def partner_of(actor: User) -> str:
    """The actor's partner account; anyone else finds nothing here (NotFound)."""
    if not actor.role.is_partner or actor.account_id is None:
        raise NotFound()
    return actor.account_id


def get_upload(db: Session, actor: User, upload_id: int) -> ReportUpload:
    partner = partner_of(actor)
    upload = db.get(ReportUpload, upload_id)
    if upload is None or upload.partner_account_id != partner:
        raise NotFound()
    return upload


def line_external_id(partner: str, kind: ReportKind | str, key: str) -> str:
    return str(uuid.uuid5(LINE_NAMESPACE, f"{partner}:{ReportKind(kind).value}:{key}"))


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
def _chunks(values: Collection[str]) -> Iterable[list[str]]:
    items = sorted(values)
    for start in range(0, len(items), LOOKUP_CHUNK):
        yield items[start : start + LOOKUP_CHUNK]


def current_submission(db: Session, partner: str, kind: ReportKind, period: str) -> ReportSubmission | None:
    return db.scalars(
        select(ReportSubmission)
        .where(
            ReportSubmission.partner_account_id == partner,
            ReportSubmission.kind == kind,
            ReportSubmission.period == period,
            ReportSubmission.status == SubmissionStatus.SUBMITTED,
        )
        .order_by(ReportSubmission.version.desc())
        .limit(1)
    ).first()


def _context(db: Session, partner: str, kind: ReportKind, period: Period, mode: Mode) -> ValidationContext:
    line_model = LINE_MODELS[kind]
    replaced = current_submission(db, partner, kind, str(period)) if mode is Mode.REPLACE else None
    skus = {sku: bool(active) for sku, active in db.execute(select(Product.sku, Product.active))}

    def serial_skus(serials: frozenset[str]) -> Mapping[str, str]:
        found: dict[str, str] = {}
        for chunk in _chunks(serials):
            found.update({str(s): str(k) for s, k in db.execute(select(Serial.serial, Serial.sku).where(Serial.serial.in_(chunk)))})
        return found

    def accepted_keys(keys: frozenset[str]) -> Collection[str]:
        found: set[str] = set()
        for chunk in _chunks(keys):
            stmt = (
                select(line_model.line_key)
                .join(ReportSubmission, ReportSubmission.id == line_model.submission_id)
                .where(
                    line_model.partner_account_id == partner,
                    ReportSubmission.status == SubmissionStatus.SUBMITTED,
                    line_model.line_key.in_(chunk),
                )
            )
            if replaced is not None:
                stmt = stmt.where(ReportSubmission.id != replaced.id)
            found.update(db.scalars(stmt))
        return found

    return ValidationContext(period=period, today=utcnow().date(), skus=skus, serial_skus=serial_skus, accepted_keys=accepted_keys)


# -- "already submitted" ---------------------------------------------------------------------------
def _already(
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


def _already_message(submission: ReportSubmission, same_file: bool, gettext: Gettext) -> str:
    when = (submission.submitted_at or submission.created_at).strftime("%Y-%m-%d")
    if same_file:
        message = N_("Already submitted: you sent this file for %(period)s on %(date)s (version %(version)s). Nothing was added.")
    else:
        message = N_("Already submitted: this is the same data as version %(version)s for %(period)s, sent on %(date)s. Nothing was added.")
    return gettext(message, period=submission.period, date=when, version=submission.version)


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
    already: str | None
    mode: Mode

    def reasons(self, entry: Mapping[str, Any], gettext: Gettext) -> list[str]:
        """Each problem of a stored rejected line, prefixed with the column as the file names it."""
        headers: Mapping[str, str] = self.upload.summary.get("field_headers", {})  # type: ignore[assignment]
        texts = []
        for problem in entry["problems"]:
            code = problem["code"]
            text = gettext(MESSAGES[code], **problem["params"]) if code in MESSAGES else code
            if problem["field"]:
                label = headers.get(problem["field"]) or _column_label(self.upload.kind, problem["field"], gettext)
                text = f"{label}: {text}"
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
        already=summary.get("already") if isinstance(summary.get("already"), str) else None,  # type: ignore[arg-type]
        mode=Mode(str(summary.get("mode", Mode.ADD))),
    )


# -- upload → preview ------------------------------------------------------------------------------
def start_upload(
    db: Session,
    actor: User,
    *,
    kind: str,
    period: str,
    mode: str,
    upload: Upload | None,
    gettext: Gettext = _english,
) -> ReportUpload:
    """Validate an uploaded report file and keep it for preview. Raises Invalid (form errors,
    unreadable file, already submitted)."""
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
    if upload is None or not upload.data:
        errors["file"] = N_("Choose a CSV or XLSX file to upload.")
    if errors or parsed_kind is None or parsed_period is None or parsed_mode is None or upload is None:
        raise Invalid(errors)
    period_text = str(parsed_period)
    sha = file_fingerprint(io.BytesIO(upload.data))
    same_file = _already(db, partner, parsed_kind, period_text, parsed_mode, sha256=sha)
    if same_file is not None:
        raise Invalid("file", _already_message(same_file, True, gettext))
    filename = safe_filename(upload.filename)
    context = _context(db, partner, parsed_kind, parsed_period, parsed_mode)
    accepted: list[dict[str, Any]] = []
    rejected: list[dict[str, object]] = []
    try:
        with validate_stream(io.BytesIO(upload.data), filename, Kind(parsed_kind.value), context) as run:
            width = len(run.header.cells)
            for result in run:
                if result.accepted:
                    if len(accepted) < PREVIEW_ACCEPTED and result.line is not None:
                        accepted.append({"row": result.row, "values": _line_values(result.line)})
                elif len(rejected) < MAX_REJECTED_SHOWN:
                    rejected.append(_rejected_entry(result, width))
            summary = run.summary
            header = run.header
    except ReportFileError as exc:
        raise Invalid("file", gettext(exc.message, **{k: v for k, v in exc.params.items() if isinstance(v, str | int)})) from None
    already = _already(db, partner, parsed_kind, period_text, parsed_mode, fingerprint=summary.data_fingerprint)
    if already is not None:
        raise Invalid("file", _already_message(already, False, gettext))
    field_headers = {c.name: header.header_of(c.name) or "" for c in COLUMNS[Kind(parsed_kind.value)]}
    row = ReportUpload(
        partner_account_id=partner,
        kind=parsed_kind,
        period=period_text,
        filename=filename[:200],
        sha256=sha,
        data=upload.data,
        status=UploadStatus.PREVIEWED,
        accepted_count=summary.accepted,
        rejected_count=summary.rejected,
        summary={
            "mode": parsed_mode.value,
            "columns": [cell_text(c) for c in header.cells if c != ""],
            "field_headers": field_headers,
            "language": header.language,
            "errors": dict(summary.errors),
            "blank_rows": summary.blank_rows,
            "data_fingerprint": summary.data_fingerprint,
            "accepted": accepted,
            "rejected": rejected,
            "rejected_truncated": summary.rejected > len(rejected),
        },
        created_by_id=actor.id,
        created_at=utcnow(),
    )
    db.add(row)
    db.flush()
    return row


# -- commit ----------------------------------------------------------------------------------------
def _last_seqs(db: Session, aggregate_type: str, ids: Collection[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for chunk in _chunks(ids):
        stmt = (
            select(OutboxEvent.aggregate_id, func.max(OutboxEvent.seq))
            .where(OutboxEvent.aggregate_type == aggregate_type, OutboxEvent.aggregate_id.in_(chunk))
            .group_by(OutboxEvent.aggregate_id)
        )
        found.update({aggregate_id: int(seq) for aggregate_id, seq in db.execute(stmt)})
    return found


def _payload(line: InventoryReportLine | SellThroughReportLine, report_external_id: str, withdrawn: bool) -> dict[str, Any]:
    base: dict[str, Any] = {
        "external_id": line.external_id,
        "partner_account_id": line.partner_account_id,
        "report_external_id": report_external_id,
        "line_key": line.line_key,
        "sku": line.sku,
        "withdrawn": withdrawn,
    }
    if isinstance(line, InventoryReportLine):
        return {
            **base,
            "as_of": line.as_of.isoformat(),
            "location": line.location,
            "quantity_on_hand": 0 if withdrawn else line.quantity_on_hand,
        }
    return {
        **base,
        "sold_on": line.sold_on.isoformat(),
        "quantity": 0 if withdrawn else line.quantity,
        "unit_price_cents": line.unit_price_cents,
        "currency": line.currency,
        "end_customer_name": line.end_customer_name,
        "end_customer_country": line.end_customer_country,
        "end_customer_postcode": line.end_customer_postcode,
        "serial": line.serial,
        "invoice_ref": line.invoice_ref,
    }


def _new_line(
    kind: ReportKind, submission: ReportSubmission, partner: str, result: LineResult
) -> InventoryReportLine | SellThroughReportLine:
    assert result.key is not None
    assert result.line is not None
    common = {
        "submission_id": submission.id,
        "partner_account_id": partner,
        "external_id": line_external_id(partner, kind, result.key),
        "line_key": result.key,
        "row_number": result.row,
    }
    line = result.line
    if isinstance(line, InventoryLine):
        return InventoryReportLine(**common, as_of=line.as_of, location=line.location, sku=line.sku, quantity_on_hand=line.quantity)
    return SellThroughReportLine(
        **common,
        sold_on=line.sold_on,
        sku=line.sku,
        quantity=line.quantity,
        unit_price_cents=line.unit_price_cents,
        currency=line.currency,
        end_customer_name=line.customer_name,
        end_customer_country=line.country,
        end_customer_postcode=line.postcode,
        serial=line.serial,
        invoice_ref=line.invoice_ref,
    )


def _copy_line(
    line: InventoryReportLine | SellThroughReportLine, submission: ReportSubmission
) -> InventoryReportLine | SellThroughReportLine:
    columns = [c.key for c in line.__table__.columns if c.key not in ("id", "submission_id")]
    copy = type(line)(**{name: getattr(line, name) for name in columns})
    copy.submission_id = submission.id
    return copy


def lines_of(db: Session, submission: ReportSubmission) -> list[InventoryReportLine | SellThroughReportLine]:
    model = LINE_MODELS[submission.kind]
    return list(db.scalars(select(model).where(model.submission_id == submission.id).order_by(model.row_number, model.id)))


def commit_upload(db: Session, actor: User, upload_id: int, *, gettext: Gettext = _english) -> ReportSubmission:
    """Store the upload's accepted lines as the next version of its period. Raises NotFound,
    Conflict (already committed / already submitted / nothing to add) or Invalid (the file no
    longer reads)."""
    upload = get_upload(db, actor, upload_id)
    partner = upload.partner_account_id
    if upload.status is not UploadStatus.PREVIEWED:
        raise Conflict(gettext(N_("This upload has already been committed.")))
    mode = Mode(str((upload.summary or {}).get("mode", Mode.ADD)))
    kind = upload.kind
    period = Period.parse(upload.period)
    same_file = _already(db, partner, kind, upload.period, mode, sha256=upload.sha256)
    if same_file is not None:
        raise Conflict(_already_message(same_file, True, gettext))
    context = _context(db, partner, kind, period, mode)
    accepted: list[LineResult] = []
    try:
        with validate_stream(io.BytesIO(upload.data), upload.filename, Kind(kind.value), context) as run:
            for result in run:
                if result.accepted:
                    accepted.append(result)
            summary = run.summary
    except ReportFileError as exc:
        raise Invalid("file", gettext(exc.message, **{k: v for k, v in exc.params.items() if isinstance(v, str | int)})) from None
    already = _already(db, partner, kind, upload.period, mode, fingerprint=summary.data_fingerprint)
    if already is not None:
        raise Conflict(_already_message(already, False, gettext))
    if not accepted:
        raise Conflict(gettext(N_("No line of this file was accepted: there is nothing to submit.")))

    now = utcnow()
    current = current_submission(db, partner, kind, upload.period)
    last_version = db.scalar(
        select(func.max(ReportSubmission.version)).where(
            ReportSubmission.partner_account_id == partner, ReportSubmission.kind == kind, ReportSubmission.period == upload.period
        )
    )
    lines_total = summary.accepted + summary.rejected
    submission = ReportSubmission(
        partner_account_id=partner,
        kind=kind,
        period=upload.period,
        version=(last_version or 0) + 1,
        status=SubmissionStatus.SUBMITTED,
        source=ReportSource.UPLOAD,
        filename=upload.filename,
        file_sha256=upload.sha256,
        data_fingerprint=summary.data_fingerprint,
        accepted_count=summary.accepted,
        rejected_count=summary.rejected,
        quality_score=round(100 * summary.accepted / lines_total) if lines_total else None,
        submitted_by_id=actor.id,
        created_at=now,
        submitted_at=now,
    )
    previous = lines_of(db, current) if current is not None else []
    if current is not None:
        current.status = SubmissionStatus.SUPERSEDED
    db.add(submission)
    db.flush()

    new_lines = [_new_line(kind, submission, partner, result) for result in accepted]
    carried = [_copy_line(line, submission) for line in previous] if mode is Mode.ADD else []
    db.add_all([*carried, *new_lines])
    if mode is Mode.ADD:
        submission.accepted_count = len(carried) + len(new_lines)
    new_keys = {line.line_key for line in new_lines}
    withdrawn = [line for line in previous if line.line_key not in new_keys] if mode is Mode.REPLACE else []

    aggregate_type = "inventory_line" if kind is ReportKind.INVENTORY else "sell_through_line"
    event_type = f"{aggregate_type}.upserted"
    changes = [(line, False) for line in new_lines] + [(line, True) for line in withdrawn]
    seqs = _last_seqs(db, aggregate_type, {line.external_id for line, _ in changes})
    for line, is_withdrawn in changes:
        events.record(
            db,
            events.Event(
                aggregate_type=aggregate_type,
                aggregate_id=line.external_id,
                seq=max(submission.version, seqs.get(line.external_id, 0) + 1),
                type=event_type,
                payload=_payload(line, submission.external_id, is_withdrawn),
            ),
        )
    upload.status = UploadStatus.COMMITTED
    upload.submission_id = submission.id
    db.flush()
    return submission


# -- rejected lines, templates, listings -----------------------------------------------------------
def rejected_export(db: Session, actor: User, upload_id: int, *, gettext: Gettext | None = None) -> tuple[str, str, bytes]:
    """(filename, content type, bytes) of the upload's rejected lines, in the upload's format."""
    upload = get_upload(db, actor, upload_id)
    mode = Mode(str((upload.summary or {}).get("mode", Mode.ADD)))
    context = _context(db, upload.partner_account_id, upload.kind, Period.parse(upload.period), mode)
    out = io.BytesIO()
    try:
        with validate_stream(io.BytesIO(upload.data), upload.filename, Kind(upload.kind.value), context) as run:
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
            .where(ReportUpload.partner_account_id == partner, ReportUpload.status == UploadStatus.PREVIEWED)
            .order_by(ReportUpload.created_at.desc(), ReportUpload.id.desc())
            .limit(limit)
        )
    )


def created_label(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else ""
