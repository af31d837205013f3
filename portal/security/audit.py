"""Audit log of security events: who, what, when, from where."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.security.models import AuditEvent


def audit(
    session: Session,
    action: str,
    *,
    actor_user_id: int | None = None,
    actor_email: str | None = None,
    target: str | None = None,
    ip: str | None = None,
    **detail: Any,
) -> None:
    session.add(
        AuditEvent(
            at=utcnow(),
            action=action,
            actor_user_id=actor_user_id,
            actor_email=actor_email,
            target=target,
            ip=ip,
            detail=detail,
        )
    )
