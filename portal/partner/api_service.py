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
  Conflict. Keys are remembered for IDEMPOTENCY_TTL (`purge_expired` forgets older ones, and
  expired tokens).
- The token endpoint is rate limited per address and per client_id (`count_token_request`).
- Creating, rotating and revoking a client is written to the audit log.
- Messages (never codes) are in the caller's language: the API view runs the service inside
  `speaking(translator)`, and `_gettext` / `translate` translate through it (`_english` does not).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from portal.accounts.models import Role, User
from portal.db import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.i18n import N_, Translator
from portal.partner.models import (
    ApiClient,
    ApiToken,
    IdempotencyRecord,
    ReportSource,
    ReportSubmission,
    SubmissionStatus,
)
from portal.partner.reports import service as reports
from portal.partner.reports.columns import COLUMNS, Kind, map_header
from portal.partner.reports.readers import RawRow
from portal.partner.reports.validation import MESSAGES, LineResult, Validator, public_code
from portal.partner.reports.versions import NewVersion
from portal.security import ratelimit
from portal.security.audit import audit
from portal.security.tokens import random_token, sha256_hex

SCOPES = ("reports:write", "reports:read")
SCOPE_LABELS = {"reports:write": N_("Send reports"), "reports:read": N_("Read reports")}
TOKEN_LIFETIME = timedelta(minutes=15)
MAX_LINES = 5000
MAX_KEY_LENGTH = 100
IDEMPOTENCY_TTL = timedelta(hours=24)
# A client needs a token every TOKEN_LIFETIME; these only stop a runaway loop or a guesser.
TOKEN_IP = ratelimit.Limit("oauth-token-ip", 60, 60)
TOKEN_CLIENT = ratelimit.Limit("oauth-token-client", 20, 60)


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


def _audit(db: Session, action: str, actor: User, client: ApiClient, ip: str | None, **detail: Any) -> None:
    audit(
        db,
        action,
        actor_user_id=actor.id,
        actor_email=actor.email,
        target=client.client_id,
        ip=ip,
        partner=client.partner_account_id,
        **detail,
    )


def create_client(db: Session, actor: User, *, name: str, scopes: list[str], ip: str | None = None) -> tuple[ApiClient, str]:
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
    _audit(db, "api_client.created", actor, client, ip, name=client.name, scopes=chosen)
    return client, secret


def _end_tokens(db: Session, client: ApiClient) -> None:
    for token in db.scalars(select(ApiToken).where(ApiToken.client_id == client.id)):
        db.delete(token)


def rotate_client(db: Session, actor: User, client_pk: int, *, ip: str | None = None) -> tuple[ApiClient, str]:
    client = get_client(db, actor, client_pk)
    if client.revoked_at is not None:
        raise Conflict(N_("This client has been revoked."))
    secret = random_token()
    client.secret_hash = sha256_hex(secret)
    client.rotated_at = utcnow()
    _end_tokens(db, client)
    db.flush()
    _audit(db, "api_client.rotated", actor, client, ip)
    return client, secret


def revoke_client(db: Session, actor: User, client_pk: int, *, ip: str | None = None) -> ApiClient:
    client = get_client(db, actor, client_pk)
    if client.revoked_at is None:
        client.revoked_at = utcnow()
        _audit(db, "api_client.revoked", actor, client, ip)
    _end_tokens(db, client)
    db.flush()
    return client


# -- tokens ----------------------------------------------------------------------------------------
class ApiAuthError(Exception):
    """An OAuth / bearer error: `code` is the RFC 6749 / 6750 error code; `description` an
    English message (a catalogue msgid) with its `params`, translated where it is answered."""

    def __init__(self, code: str, description: str = "", **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.description = description
        self.params = params

    @property
    def english(self) -> str:
        return _format(self.description, self.params)


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
    plausible = 0 < len(client_id) <= 40 and client_id.isascii() and client_id.isprintable()  # never NUL into a query
    client = db.scalars(select(ApiClient).where(ApiClient.client_id == client_id)).first() if plausible else None
    # Compare even for an unknown client: the same work whichever part was wrong.
    expected = client.secret_hash if client is not None else sha256_hex("")
    matches = hmac.compare_digest(expected, sha256_hex(client_secret))
    if client is None or not matches or not client_secret or client.revoked_at is not None:
        raise ApiAuthError("invalid_client", N_("Client authentication failed."))
    requested = scope.split() if scope else list(client.scopes)
    if not requested or any(s not in client.scopes for s in requested):
        raise ApiAuthError("invalid_scope", N_("The requested scope is unknown or not granted to this client."))
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
        raise ApiAuthError("invalid_token", N_("A bearer token is required."))
    token = db.get(ApiToken, sha256_hex(bearer))
    client = db.get(ApiClient, token.client_id) if token is not None else None
    if token is None or client is None or client.revoked_at is not None or token.expires_at <= utcnow():
        raise ApiAuthError("invalid_token", N_("The access token is unknown, expired or revoked."))
    if scope not in token.scopes:
        raise ApiAuthError("insufficient_scope", N_("This request needs the scope %(scope)s."), scope=scope)
    return ApiCaller(client.id, client.client_id, client.partner_account_id, frozenset(token.scopes))


# -- report submissions ----------------------------------------------------------------------------
@dataclass
class ApiAnswer:
    status_code: int
    body: dict[str, Any]


_speaking: ContextVar[Translator | None] = ContextVar("partner_api_translator", default=None)


@contextmanager
def speaking(translator: Translator) -> Iterator[None]:
    """Answer in `translator`'s language for the duration (the API view wraps each call in it)."""
    token = _speaking.set(translator)
    try:
        yield
    finally:
        _speaking.reset(token)


def _format(message: str, params: Mapping[str, object]) -> str:
    try:
        return message % dict(params) if params else message
    except (KeyError, TypeError, ValueError):
        return message


def translate(message: str, params: Mapping[str, object] | None = None) -> str:
    """`message` (an English msgid) in the language of the current API call, with `params`."""
    translator = _speaking.get()
    return _format(translator.gettext(message) if translator is not None else message, params or {})


def _english(message: str, params: Mapping[str, object]) -> str:
    return _format(message, params)


def _gettext(message: str, **params: object) -> str:
    return translate(message, params)


def _line_result(index: int, result: LineResult) -> dict[str, Any]:
    return {
        "line": index,
        "status": "accepted" if result.accepted else "rejected",
        "errors": [
            {
                "code": public_code(p.code),
                "detail": p.code,
                "field": p.field,
                "message": translate(MESSAGES.get(p.code, p.code), p.params),
            }
            for p in result.problems
        ],
    }


def _request_hash(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _bad_request(message: str, **params: object) -> ApiAnswer:
    return ApiAnswer(400, {"error": "invalid_request", "message": _gettext(message, **params)})


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
        return ApiAnswer(400, {"error": "invalid_request", "field": field, "message": _gettext(message)})
    lines = body.get("lines")
    if not isinstance(lines, list) or not lines or len(lines) > MAX_LINES or not all(isinstance(line, dict) for line in lines):
        return _bad_request(N_("lines must be a list of 1 to %(max)s objects."), max=MAX_LINES)
    columns = COLUMNS[Kind(kind.value)]
    header = map_header(Kind(kind.value), [column.en for column in columns])
    rows = [RawRow(number, tuple(_cell(line.get(column.name)) for column in columns)) for number, line in enumerate(lines, 1)]
    validator = Validator(Kind(kind.value), header, reports.validation_context(db, partner, kind, period, mode))
    results = validator.validate(rows)
    return kind, period, mode, results, validator.data_fingerprint


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
    already = reports.already_submitted(db, partner, kind, str(period), mode, fingerprint=fingerprint)
    if already is not None:
        failure = reports.already_failure(already, same_file=False)
        return ApiAnswer(
            409,
            {"error": "already_submitted", "message": _gettext(failure["message"], **failure["params"]), "lines": per_line},
        )
    try:
        version = NewVersion(
            db,
            partner=partner,
            kind=kind,
            period=str(period),
            replace=mode is reports.Mode.REPLACE,
            source=ReportSource.API,
            submitted_by_id=None,
        )
        version.add_all(accepted)
        submission = version.finish(rejected=len(results) - len(accepted), fingerprint=fingerprint)
    except Conflict as exc:  # another submission of the period at the same moment
        return ApiAnswer(409, {"error": "conflict", "message": _gettext(exc.message, **exc.params)})
    return ApiAnswer(200, {"submission": submission_json(submission), "lines": per_line})


def submit_report(db: Session, caller: ApiCaller, body: Mapping[str, Any], idempotency_key: str | None) -> ApiAnswer:
    """Validate and commit; with an Idempotency-Key a retry gets the first answer again."""
    if idempotency_key is None:
        return _submit(db, caller, body)
    if not idempotency_key or len(idempotency_key) > MAX_KEY_LENGTH or not idempotency_key.isprintable():
        return _bad_request(N_("Idempotency-Key must be 1 to %(max)s printable characters."), max=MAX_KEY_LENGTH)
    request_hash = _request_hash(body)
    record = db.scalars(
        select(IdempotencyRecord).where(IdempotencyRecord.client_id == caller.client_pk, IdempotencyRecord.key == idempotency_key)
    ).first()
    if record is not None:
        if record.request_hash != request_hash:
            return ApiAnswer(
                409, {"error": "idempotency_key_reused", "message": _gettext(N_("This Idempotency-Key was used for a different request."))}
            )
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
            return ApiAnswer(400, {"error": "invalid_request", "field": "period", "message": _gettext(N_("Give the period as YYYY-MM."))})
    rows = db.scalars(stmt.order_by(ReportSubmission.period.desc(), ReportSubmission.kind, ReportSubmission.version.desc()))
    return ApiAnswer(200, {"submissions": [submission_json(row) for row in rows]})


# -- housekeeping ----------------------------------------------------------------------------------
def count_token_request(db: Session, ip: str, client_id: str) -> None:
    """Count one request to the token endpoint; RateLimited past TOKEN_IP or TOKEN_CLIENT."""
    ratelimit.hit(db, TOKEN_IP, ip)
    if client_id:
        ratelimit.hit(db, TOKEN_CLIENT, hashlib.sha256(client_id.encode()).hexdigest())


def purge_expired(db: Session, now: datetime) -> tuple[int, int]:
    """Delete the tokens expired by `now` and the idempotency records older than IDEMPOTENCY_TTL.

    Returns (tokens, idempotency records) deleted. A key older than that may be used again."""
    tokens = db.execute(delete(ApiToken).where(ApiToken.expires_at <= now))
    records = db.execute(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < now - IDEMPOTENCY_TTL))
    return int(tokens.rowcount), int(records.rowcount)  # type: ignore[attr-defined]
