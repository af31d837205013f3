"""Fixed-window rate limits kept in the database (shared by every web worker).

`hit()` counts an attempt and raises RateLimited once the window's budget is spent.
Counters are written in their own short transaction so a rolled-back request still counts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.errors import RateLimited
from portal.security.models import RateLimitBucket


@dataclass(frozen=True)
class Limit:
    name: str
    max_hits: int
    window_s: int


# Per (address, account) pair, per address, per account: an attacker at one address is
# stopped long before the account-wide limit would lock out its owner elsewhere.
LOGIN_PAIR = Limit("login-pair", 5, 15 * 60)
LOGIN_IP = Limit("login-ip", 30, 15 * 60)
LOGIN_ACCOUNT = Limit("login-account", 50, 60 * 60)
MFA_USER = Limit("mfa-user", 6, 5 * 60)
EMAIL_ACTION_IP = Limit("email-ip", 10, 60 * 60)  # register, reset, resend, apply
EMAIL_ACTION_TARGET = Limit("email-target", 3, 60 * 60)
LOOKUP_IP = Limit("lookup-ip", 20, 60)  # public lookups: warranty, repair status


def _window(limit: Limit, now: float) -> int:
    return int(now // limit.window_s) * limit.window_s


def remaining_wait(session: Session, limit: Limit, key: str, *, now: float | None = None) -> int:
    """Seconds until the next attempt is allowed (0 when allowed now)."""
    now = time.time() if now is None else now
    start = _window(limit, now)
    count = session.scalar(
        select(RateLimitBucket.count).where(RateLimitBucket.key == f"{limit.name}:{key}", RateLimitBucket.window_start == start)
    )
    if count is not None and count >= limit.max_hits:
        return int(start + limit.window_s - now) + 1
    return 0


def check(session: Session, limit: Limit, key: str, *, now: float | None = None) -> None:
    wait = remaining_wait(session, limit, key, now=now)
    if wait:
        raise RateLimited(wait)


def hit(session: Session, limit: Limit, key: str, *, now: float | None = None) -> int:
    """Count one attempt; raise RateLimited when over budget. Returns the window's count."""
    now = time.time() if now is None else now
    start = _window(limit, now)
    full_key = f"{limit.name}:{key}"
    updated = session.execute(
        update(RateLimitBucket)
        .where(RateLimitBucket.key == full_key, RateLimitBucket.window_start == start)
        .values(count=RateLimitBucket.count + 1)
    )
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        try:
            with session.begin_nested():
                session.add(RateLimitBucket(key=full_key, window_start=start, count=1))
        except IntegrityError:  # another worker created it first
            session.execute(
                update(RateLimitBucket)
                .where(RateLimitBucket.key == full_key, RateLimitBucket.window_start == start)
                .values(count=RateLimitBucket.count + 1)
            )
    count = session.scalar(select(RateLimitBucket.count).where(RateLimitBucket.key == full_key, RateLimitBucket.window_start == start)) or 0
    if count > limit.max_hits:
        raise RateLimited(int(start + limit.window_s - now) + 1)
    return count


def purge_old(session: Session, *, older_than_s: int = 24 * 3600, now: float | None = None) -> int:
    now = time.time() if now is None else now
    result = session.execute(delete(RateLimitBucket).where(RateLimitBucket.window_start < now - older_than_s))
    return int(result.rowcount)  # type: ignore[attr-defined]
