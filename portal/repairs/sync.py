"""Repair status and events written in the CRM store (the repair centre's own tools).

`crm_rma`: a later status moves the unit on (never backwards, `workflow.merge_crm_status`);
rows for RMAs the portal did not create are skipped. A row the CRM wrote with an earlier
status (or a version the portal has not reached) does not move the unit; the portal pushes
its own state again above the CRM's version, so the CRM ends at the later state and the
portal's next push is not refused as stale. The portal's own pushes coming back (same
version, same status) change nothing. `crm_rma_event`: entries from the CRM
(`source = 'crm'`) join the unit's timeline once each (keyed by their external id); the
portal's own entries come back here too and are already on the timeline.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.events.pull import PullContext, pull_handler
from portal.repairs import workflow
from portal.repairs.lifecycle import RmaStatus, rank
from portal.repairs.models import EventSource, RmaEvent, RmaUnit

log = structlog.get_logger(__name__)


def _status(value: Any) -> RmaStatus | None:
    try:
        return RmaStatus(value)
    except ValueError:
        return None


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@pull_handler("crm_rma")
def apply_rma_status(session: Session, rows: list[dict[str, Any]], context: PullContext) -> int:
    by_id = {row["external_id"]: row for row in rows}
    units = session.scalars(select(RmaUnit).where(RmaUnit.external_id.in_(by_id))).all()
    applied = 0
    for unit in units:
        row = by_id[unit.external_id]
        status = _status(row["status"])
        if status is None:
            log.warning("repairs.pull_unknown_status", rma=row.get("rma_number"), status=row["status"])
            continue
        crm_version = int(row["version"])
        if workflow.merge_crm_status(session, context.mailing, unit, status, crm_version):
            applied += 1
        elif crm_version > unit.version or (crm_version == unit.version and rank(status) < rank(unit.status)):
            # The CRM is behind (an earlier status) or ahead in version only: push ours above it.
            # (An equal-rank status, e.g. repaired vs replaced, stays each side's own: the CRM's
            # guard keeps its one, and pushing again would repeat forever.)
            unit.version = max(unit.version, crm_version) + 1
            workflow.record_unit(session, unit)
            log.info("repairs.pull_reasserted", rma=unit.unit_number, crm_status=status.value, status=unit.status.value)
    return applied


@pull_handler("crm_rma_event")
def apply_rma_events(session: Session, rows: list[dict[str, Any]], _context: PullContext) -> int:
    crm_rows = [row for row in rows if row.get("source") == EventSource.CRM.value]
    if not crm_rows:
        return 0
    known = set(session.scalars(select(RmaEvent.external_id).where(RmaEvent.external_id.in_([r["external_id"] for r in crm_rows]))))
    numbers = {row["rma_number"] for row in crm_rows}
    units = {u.unit_number: u for u in session.scalars(select(RmaUnit).where(RmaUnit.unit_number.in_(numbers)))}
    applied = 0
    for row in crm_rows:
        unit = units.get(row["rma_number"])
        status = _status(row["status"])
        if row["external_id"] in known or unit is None or status is None:
            continue
        visible = row.get("customer_visible")
        workflow.append_event(
            session,
            unit,
            status,
            note=row.get("note") or "",
            customer_visible=True if visible is None else bool(visible),
            source=EventSource.CRM,
            occurred_at=_aware(row["occurred_at"]),
            external_id=row["external_id"],
        )
        unit.rma.updated_at = utcnow()
        known.add(row["external_id"])
        applied += 1
    return applied
