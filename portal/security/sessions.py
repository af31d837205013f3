"""Server-side sessions: a random token in an HttpOnly cookie, its SHA-256 in the database.

Sessions end on logout, password change and deactivation (all rows of the user are
deleted), after `session_idle_s` without a request and `session_absolute_s` after login.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import bindparam, delete, select
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.db import utcnow
from portal.security.models import WebSession
from portal.security.tokens import random_token, sha256_hex

COOKIE_NAME = "portal_session"

# Built once: the statement's cache key is memoised, so each request skips building and keying it.
_LOAD_SESSION = (
    select(WebSession, User).outerjoin(User, User.id == WebSession.user_id).where(WebSession.token_hash == bindparam("token_hash"))
)


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
    # One round trip for the session row and its user (with the user's account, joined eagerly
    # as the model declares) instead of one `db.get` each: this runs on every request.
    found = db.execute(_LOAD_SESSION, {"token_hash": sha256_hex(token)}).first()
    if found is None:
        return None
    row, user = found
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
