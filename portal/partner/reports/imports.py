"""Staff loading a partner's e-mailed report file: `portal partner-report import` (CONTRACTS.md).

The same validation as the extranet (`validate_stream` with the same context) and the same commit
path (`versions.NewVersion`), with the file streamed from disk: a 1,000,000-line file is checked
in constant memory. Without `commit` nothing is stored.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy.orm import Session

from portal.accounts.models import Account, AccountKind
from portal.errors import Conflict, Invalid
from portal.i18n import N_
from portal.partner.models import ReportKind, ReportSource, ReportSubmission
from portal.partner.reports.columns import Kind
from portal.partner.reports.pipeline import validate_stream
from portal.partner.reports.readers import ReportFileError
from portal.partner.reports.service import Mode, already_failure, already_submitted, validation_context
from portal.partner.reports.validation import LineResult, Period, public_code, public_file_code
from portal.partner.reports.versions import NewVersion

# The command line names kinds as CONTRACTS.md does.
KINDS = {"sell-through": ReportKind.SELL_THROUGH, "inventory": ReportKind.INVENTORY}
PROGRESS_EVERY = 10_000


def _english(message: str, params: dict[str, Any]) -> str:
    return message % params if params else message


@dataclass
class ImportResult:
    accepted: int = 0
    rejected: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # one per problem of a rejected line
    file_error: dict[str, Any] | None = None
    submission: ReportSubmission | None = None
    refusal: str | None = None  # why nothing was stored although `commit` was asked (English)

    @property
    def stored_nothing(self) -> bool:
        """The caller must roll back: lines may have been written before the refusal."""
        return self.submission is None

    def as_json(self) -> dict[str, Any]:
        """CONTRACTS.md: {"accepted", "rejected", "errors": [{"row", "field", "code", "message"}]}."""
        errors = [self.file_error] if self.file_error is not None else self.errors
        out: dict[str, Any] = {"accepted": self.accepted, "rejected": self.rejected, "errors": errors}
        if self.submission is not None:
            out["submission"] = {"id": self.submission.external_id, "version": self.submission.version}
        return out


def _problems(result: LineResult, data_row: int) -> list[dict[str, Any]]:
    return [
        {
            "row": data_row,
            "field": problem.field,
            "code": public_code(problem.code),
            "detail": problem.code,
            "message": _english(problem.message, dict(problem.params)),
        }
        for problem in result.problems
    ]


def _sha256(stream: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for block in iter(lambda: stream.read(1024 * 1024), b""):
        digest.update(block)
    stream.seek(0)
    return digest.hexdigest()


def import_file(
    db: Session,
    *,
    partner: str,
    kind: str,
    period: str,
    stream: IO[bytes],
    filename: str,
    commit: bool,
    replace: bool = False,
    submitted_by_id: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Validate (and with `commit`, store as the period's next version) a seekable report file.
    Raises Invalid (unknown partner, kind or period). A file that is no report comes back as
    `file_error`; a commit refused (already submitted, nothing accepted) as `refusal` — in both
    cases the caller must roll back its transaction."""
    account = db.get(Account, partner)
    errors: dict[str, str] = {}
    if account is None or account.kind is not AccountKind.PARTNER:
        errors["partner"] = N_("Unknown partner account.")
    if kind not in KINDS:
        errors["kind"] = N_("Choose the kind of report.")
    try:
        parsed_period = Period.parse(period)
    except ValueError:
        errors["period"] = N_("Enter the period as YYYY-MM, e.g. 2026-03.")
    if errors:
        raise Invalid(errors)
    report_kind = KINDS[kind]
    mode = Mode.REPLACE if replace else Mode.ADD
    sha = _sha256(stream)
    result = ImportResult()
    if commit and (same := already_submitted(db, partner, report_kind, str(parsed_period), mode, sha256=sha)) is not None:
        failure = already_failure(same, same_file=True)
        result.refusal = _english(failure["message"], failure["params"])
        return result
    context = validation_context(db, partner, report_kind, parsed_period, mode)
    version = (
        NewVersion(
            db,
            partner=partner,
            kind=report_kind,
            period=str(parsed_period),
            replace=replace,
            source=ReportSource.CLI,
            submitted_by_id=submitted_by_id,
            filename=filename,
            file_sha256=sha,
        )
        if commit
        else None
    )
    try:
        with validate_stream(stream, filename, Kind(report_kind.value), context) as run:
            for data_row, line in enumerate(run, 1):
                if line.accepted:
                    result.accepted += 1
                    if version is not None:
                        version.add(line)
                else:
                    result.rejected += 1
                    result.errors.extend(_problems(line, data_row))
                if progress is not None and data_row % PROGRESS_EVERY == 0:
                    progress(data_row)
            summary = run.summary
    except ReportFileError as exc:
        params = {k: v for k, v in exc.params.items() if isinstance(v, str | int)}
        result.accepted = result.rejected = 0
        result.errors = []
        result.file_error = {
            "row": None,
            "field": None,
            "code": public_file_code(exc.code),
            "detail": exc.code,
            "message": _english(exc.message, params),
        }
        return result
    if version is not None:
        already = already_submitted(db, partner, report_kind, str(parsed_period), mode, fingerprint=summary.data_fingerprint)
        if already is not None:
            failure = already_failure(already, same_file=False)
            result.refusal = _english(failure["message"], failure["params"])
            return result
        try:
            result.submission = version.finish(rejected=summary.rejected, fingerprint=summary.data_fingerprint)
        except Conflict as exc:
            result.refusal = _english(exc.message, dict(exc.params))
    return result
