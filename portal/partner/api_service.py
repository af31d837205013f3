"""The partner API's rules: API clients, client-credentials tokens, JSON report submissions.

- Partner admins create, rotate and revoke the API clients of their own account. A client has a
  random `client_id` and a 256-bit random secret shown once; only its sha256 is stored (a
  high-entropy random secret needs no slow hash). Rotating replaces the secret (the old one stops
  working, as do the tokens issued under it); revoking ends the client and its tokens at once.
- `issue_token` (OAuth 2.0 client credentials): a random bearer token, only its sha256 stored,
  valid TOKEN_LIFETIME, with the requested scopes (a subset of the client's; none asked: all).
- `authenticate`: a bearer token -> the `ApiCaller` (client + partner account + scopes); an
  unknown, expired or revoked one is `ApiAuthError("invalid_token")`, a missing scope
  `ApiAuthError("insufficient_scope")`. Each caller acts for its one partner account only.
- `submit_report`: JSON lines validated by the same validator as uploads (one result per line),
  the accepted ones committed as the next version of the period (source API). Idempotency-Key:
  the same key and body get the stored answer again, a different body under the same key is a
  Conflict.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import events
from portal.accounts.models import Role, User
from portal.db import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.i18n import N_
from portal.partner.models import (
    ApiClient,
    ApiToken,
    IdempotencyRecord,
    ReportKind,
    ReportSource,
    ReportSubmission,
    SubmissionStatus,
)
from portal.partner.reports import service as reports
from portal.partner.reports.columns import COLUMNS, Kind, map_header
from portal.partner.reports.readers import RawRow
from portal.partner.reports.validation import MESSAGES, LineResult, Validator
from portal.security.tokens import random_token, sha256_hex

SCOPES = ("reports:write", "reports:read")
SCOPE_LABELS = {"reports:write": N_("Send reports"), "reports:read": N_("Read reports")}
TOKEN_LIFETIME = timedelta(minutes=15)
MAX_LINES = 5000
MAX_KEY_LENGTH = 100


# -- API clients (partner admins, extranet) --------------------------------------------------------
def _admin_account(actor: User) -> str:
    if actor.role is not Role.PARTNER_ADMIN or actor.account_id is None:
        raise NotFound()
    return actor.account_id


def clients(db: Session, actor: User) -> list[ApiClient]:
    account = _admin_account(actor)
    return list(db.scalars(select(ApiClient).where(ApiClient.partner_account_id == account).order_by(ApiClient.created_at, ApiClient.id)))


def get_client(db: Session, actor: User, client_pk: int) -> ApiClient:
    account = _admin_account(actor)
    client = db.get(ApiClient, client_pk)
    if client is None or client.partner_account_id != account:
        raise NotFound()
    return client


def _parse_scopes(values: list[str]) -> list[str]:
    chosen = [scope for scope in SCOPES if scope in values]
    if not chosen or len(set(values)) != len(chosen):
        raise Invalid("scopes", N_("Choose what the client may do."))
    return chosen


def create_client(db: Session, actor: User, *, name: str, scopes: list[str]) -> tuple[ApiClient, str]:
    """A new client of the actor's account and its secret (shown once)."""
    account = _admin_account(actor)
    errors: dict[str, str] = {}
    name = name.strip()
    if not name or len(name) > 100:
        errors["name"] = N_("Enter a name of up to 100 characters.")
    try:
        chosen = _parse_scopes(scopes)
    except Invalid as exc:
        errors.update(exc.errors)
        chosen = []
    if errors:
        raise Invalid(errors)
    secret = random_token()
    client = ApiClient(
        client_id=f"pc_{secrets.token_hex(16)}",
        secret_hash=sha256_hex(secret),
        partner_account_id=account,
        name=name,
        scopes=chosen,
        created_by_id=actor.id,
        created_at=utcnow(),
    )
    db.add(client)
    db.flush()
    return client, secret


def _end_tokens(db: Session, client: ApiClient) -> None:
    for token in db.scalars(select(ApiToken).where(ApiToken.client_id == client.id)):
        db.delete(token)


def rotate_client(db: Session, actor: User, client_pk: int) -> tuple[ApiClient, str]:
    client = get_client(db, actor, client_pk)
    if client.revoked_at is not None:
        raise Conflict(N_("This client has been revoked."))
    secret = random_token()
    client.secret_hash = sha256_hex(secret)
    client.rotated_at = utcnow()
    _end_tokens(db, client)
    db.flush()
    return client, secret


def revoke_client(db: Session, actor: User, client_pk: int) -> ApiClient:
    client = get_client(db, actor, client_pk)
    if client.revoked_at is None:
        client.revoked_at = utcnow()
    _end_tokens(db, client)
    db.flush()
    return client


# -- tokens ----------------------------------------------------------------------------------------
class ApiAuthError(Exception):
    """An OAuth / bearer error: `code` is the RFC 6749 / 6750 error code."""

    def __init__(self, code: str, description: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.description = description


@dataclass(frozen=True)
class ApiCaller:
    client_pk: int
    client_id: str
    partner_account_id: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    scope: str


def issue_token(db: Session, client_id: str, client_secret: str, scope: str | None) -> IssuedToken:
    client = db.scalars(select(ApiClient).where(ApiClient.client_id == client_id)).first() if client_id else None
    # Compare even for an unknown client: the same work whichever part was wrong.
    expected = client.secret_hash if client is not None else sha256_hex("")
    matches = hmac.compare_digest(expected, sha256_hex(client_secret))
    if client is None or not matches or not client_secret or client.revoked_at is not None:
        raise ApiAuthError("invalid_client", "Client authentication failed.")
    requested = scope.split() if scope else list(client.scopes)
    if not requested or any(s not in client.scopes for s in requested):
        raise ApiAuthError("invalid_scope", "The requested scope is unknown or not granted to this client.")
    token = random_token()
    now = utcnow()
    db.add(
        ApiToken(
            token_hash=sha256_hex(token),
            client_id=client.id,
            scopes=sorted(set(requested)),
            issued_at=now,
            expires_at=now + TOKEN_LIFETIME,
        )
    )
    client.last_used_at = now
    db.flush()
    return IssuedToken(token, int(TOKEN_LIFETIME.total_seconds()), " ".join(sorted(set(requested))))


def authenticate(db: Session, bearer: str, scope: str) -> ApiCaller:
    if not bearer:
        raise ApiAuthError("invalid_token", "A bearer token is required.")
    token = db.get(ApiToken, sha256_hex(bearer))
    client = db.get(ApiClient, token.client_id) if token is not None else None
    if token is None or client is None or client.revoked_at is not None or token.expires_at <= utcnow():
        raise ApiAuthError("invalid_token", "The access token is unknown, expired or revoked.")
    if scope not in token.scopes:
        raise ApiAuthError("insufficient_scope", f"This request needs the scope {scope}.")
    return ApiCaller(client.id, client.client_id, client.partner_account_id, frozenset(token.scopes))


# -- report submissions ----------------------------------------------------------------------------
@dataclass
class ApiAnswer:
    status_code: int
    body: dict[str, Any]


def _english(message: str, params: Mapping[str, object]) -> str:
    try:
        return message % dict(params) if params else message
    except (KeyError, TypeError, ValueError):
        return message


def _gettext(message: str, **params: object) -> str:
    return _english(message, params)


def _line_result(index: int, result: LineResult) -> dict[str, Any]:
    return {
        "line": index,
        "status": "accepted" if result.accepted else "rejected",
        "errors": [
            {"code": p.code, "field": p.field, "message": _english(MESSAGES.get(p.code, p.code), p.params)} for p in result.problems
        ],
    }


def _request_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _bad_request(message: str) -> ApiAnswer:
    return ApiAnswer(400, {"error": "invalid_request", "message": message})


def _cell(value: object) -> object:
    if value is None or (isinstance(value, str | int | float) and not isinstance(value, bool)):
        return value
    return str(value)


def _validate(db: Session, partner: str, body: Mapping[str, Any]) -> ApiAnswer | tuple[Any, ...]:
    try:
        kind = reports.parse_kind(str(body.get("kind", "")))
        period = reports.parse_period(str(body.get("period", "")))
        mode = reports.parse_mode(str(body.get("mode", "") or "add"))
    except Invalid as exc:
        field, message = next(iter(exc.errors.items()))
        return ApiAnswer(400, {"error": "invalid_request", "field": field, "message": message})
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines or len(lines) > MAX_LINES or not all(isinstance(line, dict) for line in lines):
        return _bad_request(f"lines must be a list of 1 to {MAX_LINES} objects.")
    columns = COLUMNS[Kind(kind.value)]
    header = map_header(Kind(kind.value), [column.en for column in columns])
    rows = [RawRow(number, tuple(_cell(line.get(column.name)) for column in columns)) for number, line in enumerate(lines, 1)]
    validator = Validator(Kind(kind.value), header, reports._context(db, partner, kind, period, mode))
    results = validator.validate(rows)
    return kind, period, mode, results, validator.data_fingerprint


def _commit(
    db: Session,
    partner: str,
    kind: ReportKind,
    period: str,
    mode: reports.Mode,
    accepted: list[LineResult],
    rejected: int,
    fingerprint: str,
) -> ReportSubmission:
    """The accepted lines as the next version of the period (as service.commit_upload does for a file)."""
    now = utcnow()
    current = reports.current_submission(db, partner, kind, period)
    last_version = db.scalar(
        select(func.max(ReportSubmission.version)).where(
            ReportSubmission.partner_account_id == partner, ReportSubmission.kind == kind, ReportSubmission.period == period
        )
    )
    total = len(accepted) + rejected
    submission = ReportSubmission(
        partner_account_id=partner,
        kind=kind,
        period=period,
        version=(last_version or 0) + 1,
        status=SubmissionStatus.SUBMITTED,
        source=ReportSource.API,
        filename="",
        file_sha256=None,
        data_fingerprint=fingerprint,
        accepted_count=len(accepted),
        rejected_count=rejected,
        quality_score=round(100 * len(accepted) / total) if total else None,
        submitted_by_id=None,
        created_at=now,
        submitted_at=now,
    )
    previous = reports.lines_of(db, current) if current is not None else []
    if current is not None:
        current.status = SubmissionStatus.SUPERSEDED
    db.add(submission)
    db.flush()
    new_lines = [reports._new_line(kind, submission, partner, result) for result in accepted]
    carried = [reports._copy_line(line, submission) for line in previous] if mode is reports.Mode.ADD else []
    db.add_all([*carried, *new_lines])
    if mode is reports.Mode.ADD:
        submission.accepted_count = len(carried) + len(new_lines)
    new_keys = {line.line_key for line in new_lines}
    withdrawn = [line for line in previous if line.line_key not in new_keys] if mode is reports.Mode.REPLACE else []
    aggregate_type = "inventory_line" if kind is ReportKind.INVENTORY else "sell_through_line"
    changes = [(line, False) for line in new_lines] + [(line, True) for line in withdrawn]
    seqs = reports._last_seqs(db, aggregate_type, {line.external_id for line, _ in changes})
    for line, is_withdrawn in changes:
        events.record(
            db,
            events.Event(
                aggregate_type=aggregate_type,
                aggregate_id=line.external_id,
                seq=max(submission.version, seqs.get(line.external_id, 0) + 1),
                type=f"{aggregate_type}.upserted",
                payload=reports._payload(line, submission.external_id, is_withdrawn),
            ),
        )
    db.flush()
    return submission


def submission_json(submission: ReportSubmission) -> dict[str, Any]:
    return {
        "id": submission.external_id,
        "kind": submission.kind.value,
        "period": submission.period,
        "version": submission.version,
        "status": "current" if submission.status is SubmissionStatus.SUBMITTED else submission.status.value,
        "source": submission.source.value,
        "accepted_lines": submission.accepted_count,
        "rejected_lines": submission.rejected_count,
        "submitted_at": submission.submitted_at.isoformat() if submission.submitted_at else None,
    }


def _submit(db: Session, caller: ApiCaller, body: Mapping[str, Any]) -> ApiAnswer:
    partner = caller.partner_account_id
    validated = _validate(db, partner, body)
    if isinstance(validated, ApiAnswer):
        return validated
    kind, period, mode, results, fingerprint = validated
    per_line = [_line_result(index, result) for index, result in enumerate(results, 1)]
    accepted = [result for result in results if result.accepted]
    if not accepted:
        return ApiAnswer(422, {"error": "no_line_accepted", "lines": per_line})
    already = reports._already(db, partner, kind, str(period), mode, fingerprint=fingerprint)
    if already is not None:
        return ApiAnswer(
            409,
            {
                "error": "already_submitted",
                "message": reports._already_message(already, False, lambda m, **p: _english(m, p)),
                "lines": per_line,
            },
        )
    submission = _commit(db, partner, kind, str(period), mode, accepted, len(results) - len(accepted), fingerprint)
    return ApiAnswer(200, {"submission": submission_json(submission), "lines": per_line})


def submit_report(db: Session, caller: ApiCaller, body: Mapping[str, Any], idempotency_key: str | None) -> ApiAnswer:
    """Validate and commit; with an Idempotency-Key a retry gets the first answer again."""
    if idempotency_key is None:
        return _submit(db, caller, body)
    if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH:
        return _bad_request(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters.")
    request_hash = _request_hash(body)
    record = db.scalars(
        select(IdempotencyRecord).where(IdempotencyRecord.client_id == caller.client_pk, IdempotencyRecord.key == idempotency_key)
    ).first()
    if record is not None:
        if record.request_hash != request_hash:
            return ApiAnswer(409, {"error": "idempotency_key_reused", "message": "This Idempotency-Key was used for a different request."})
        return ApiAnswer(record.status_code, dict(record.response))
    answer = _submit(db, caller, body)
    db.add(
        IdempotencyRecord(
            client_id=caller.client_pk,
            key=idempotency_key,
            request_hash=request_hash,
            status_code=answer.status_code,
            response=answer.body,
            created_at=utcnow(),
        )
    )
    db.flush()
    return answer


def list_submissions(db: Session, caller: ApiCaller, period: str | None) -> ApiAnswer:
    stmt = select(ReportSubmission).where(
        ReportSubmission.partner_account_id == caller.partner_account_id, ReportSubmission.status != SubmissionStatus.DRAFT
    )
    if period:
        try:
            stmt = stmt.where(ReportSubmission.period == str(reports.parse_period(period)))
        except Invalid:
            return ApiAnswer(400, {"error": "invalid_request", "field": "period", "message": "Give the period as YYYY-MM."})
    rows = db.scalars(stmt.order_by(ReportSubmission.period.desc(), ReportSubmission.kind, ReportSubmission.version.desc()))
    return ApiAnswer(200, {"submissions": [submission_json(row) for row in rows]})
