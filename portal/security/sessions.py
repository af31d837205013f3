"""Server-side sessions: a random token in an HttpOnly cookie, its SHA-256 in the database.

Sessions end on logout, password change and deactivation (all rows of the user are
deleted), after `session_idle_s` without a request and `session_absolute_s` after login.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.accounts.models import Account, User
from portal.db import utcnow
from portal.prepared import EntityReader, PerDialect
from portal.security.models import WebSession
from portal.security.tokens import random_token, sha256_hex

COOKIE_NAME = "portal_session"

# This runs on every request: the session row, its user and the user's account in one query,
# compiled once and read as plain rows; the objects are then put in the request's session as
# the ORM would load them (≈ 60 µs instead of ≈ 190 µs on SQLite; docs/decisions/0012). Quick
# reads keep the rows while the database is unchanged (portal.db.UnchangedReads, decision 0014).
_SESSION_READER = EntityReader(WebSession)
_USER_READER = EntityReader(User)
_ACCOUNT_READER = EntityReader(Account)
_LOAD_SESSION = PerDialect(
    select(*_SESSION_READER.columns(), *_USER_READER.columns(), *_ACCOUNT_READER.columns())
    .select_from(WebSession)
    .outerjoin(User, User.id == WebSession.user_id)
    .outerjoin(Account, Account.account_id == User.account_id)
    .where(WebSession.token_hash == bindparam("token_hash"))
)
_USER_AT = _SESSION_READER.width
_ACCOUNT_AT = _USER_AT + _USER_READER.width


@dataclass
class LoadedSession:
    row: WebSession
    user: User | None
    pending_user: User | None


def start(
    db: Session,
    *,
    user: User | None,
    pending_user: User | None = None,
    absolute_s: int,
    data: dict[str, object] | None = None,
) -> tuple[str, WebSession]:
    """Create a session row and return (cookie token, row). Call `end()` on the old one first."""
    token = random_token()
    now = utcnow()
    row = WebSession(
        token_hash=sha256_hex(token),
        user_id=user.id if user else None,
        pending_user_id=pending_user.id if pending_user else None,
        created_at=now,
        last_seen_at=now,
        expires_at=now + timedelta(seconds=absolute_s),
        data=data or {},
    )
    db.add(row)
    return token, row


def load(db: Session, token: str | None, *, idle_s: int) -> LoadedSession | None:
    """The live session for a cookie token, or None (unknown, expired, idle, user inactive)."""
    if not token or len(token) > 100:
        return None
    # In a quick read, the row is read once for as long as the database stays unchanged (any
    # commit anywhere, a logout's included, makes the next request read it again).
    token_hash = sha256_hex(token)
    found = _LOAD_SESSION.fetch_kept(db, {"token_hash": token_hash})
    if not found:
        return None
    values = found[0]
    row = _SESSION_READER.attach(db, values[:_USER_AT], shared=True)
    user = _USER_READER.optional(db, values[_USER_AT:_ACCOUNT_AT], shared=True)
    if user is not None:
        set_committed_value(user, "account", _ACCOUNT_READER.optional(db, values[_ACCOUNT_AT:], shared=True))
    now = utcnow()
    if row.expires_at <= now or row.last_seen_at + timedelta(seconds=idle_s) <= now:
        db.delete(row) if db.info.get("writable") else None
        return None
    # Only while a second factor is owed (a few requests per sign-in).
    pending = db.get(User, row.pending_user_id) if row.pending_user_id else None
    if (row.user_id and (user is None or not user.is_active)) or (row.pending_user_id and (pending is None or not pending.is_active)):
        return None
    return LoadedSession(row=row, user=user, pending_user=pending)


def end(db: Session, row: WebSession | None) -> None:
    if row is not None:
        db.execute(delete(WebSession).where(WebSession.token_hash == row.token_hash))


def end_all_for_user(db: Session, user_id: int, *, except_token_hash: str | None = None) -> int:
    stmt = delete(WebSession).where((WebSession.user_id == user_id) | (WebSession.pending_user_id == user_id))
    if except_token_hash:
        stmt = stmt.where(WebSession.token_hash != except_token_hash)
    return int(db.execute(stmt).rowcount)  # type: ignore[attr-defined]


def count_for_user(db: Session, user_id: int) -> int:
    return len(db.scalars(select(WebSession.token_hash).where(WebSession.user_id == user_id)).all())
