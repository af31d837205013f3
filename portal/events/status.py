"""Sync health figures, read from the outbox and the pull cursors (CLI, staff page, metrics)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.events.models import OutboxEvent, OutboxStatus, PullCursor


@dataclass(frozen=True)
class SyncStatus:
    pending: int
    delivered: int
    dead: int
    oldest_pending_age_s: float
    last_pull_at: str | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sync_status(session: Session) -> SyncStatus:
    counts = dict(session.execute(select(OutboxEvent.status, func.count()).group_by(OutboxEvent.status)).all())
    oldest = session.scalar(select(func.min(OutboxEvent.created_at)).where(OutboxEvent.status == OutboxStatus.PENDING))
    last_pull = session.scalar(select(func.max(PullCursor.last_pull_at)))
    # min()/max() keep the column's type, so these come back as aware UTC datetimes.
    now = utcnow()
    return SyncStatus(
        pending=int(counts.get(OutboxStatus.PENDING, 0)),
        delivered=int(counts.get(OutboxStatus.DELIVERED, 0)),
        dead=int(counts.get(OutboxStatus.DEAD, 0)),
        oldest_pending_age_s=round(max(0.0, (now - oldest).total_seconds()), 3) if oldest is not None else 0.0,
        last_pull_at=None if last_pull is None else last_pull.isoformat(),
    )


def dead_events(session: Session, *, limit: int = 50) -> list[OutboxEvent]:
    return list(session.scalars(select(OutboxEvent).where(OutboxEvent.status == OutboxStatus.DEAD).order_by(OutboxEvent.id).limit(limit)))


def replay_dead(session: Session, *, event_ids: list[int] | None = None) -> int:
    """Put dead events back in the queue (all, or the given ids). Returns how many."""
    stmt = update(OutboxEvent).where(OutboxEvent.status == OutboxStatus.DEAD)
    if event_ids is not None:
        stmt = stmt.where(OutboxEvent.id.in_(event_ids))
    result = session.execute(
        stmt.values(status=OutboxStatus.PENDING, attempts=0, next_attempt_at=utcnow(), locked_until=None, claimed_by=None)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def aggregate_sync_state(session: Session, *, aggregate_type: str, aggregate_id: str) -> str:
    """'synced', 'pending' or 'failed' for one record, for staff views."""
    statuses = set(
        session.scalars(
            select(OutboxEvent.status).where(OutboxEvent.aggregate_type == aggregate_type, OutboxEvent.aggregate_id == aggregate_id)
        )
    )
    if OutboxStatus.DEAD in statuses:
        return "failed"
    if OutboxStatus.PENDING in statuses:
        return "pending"
    return "synced"
