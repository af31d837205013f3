"""The one place a unit's status changes, its timeline grows and the CRM and customer hear of it.

Used by the customer service (request, cancel, quote answer), the staff desk and the puller's
handlers (changes made in the CRM). Nothing here commits; outbox rows and e-mail are added to
the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from portal import events
from portal.accounts.models import User
from portal.db import utcnow
from portal.errors import Conflict
from portal.mail.service import Mailing, queue_email
from portal.repairs.lifecycle import EXPLAIN, LABELS, NOTIFY, RmaStatus, can_move, later
from portal.repairs.models import EventSource, Rma, RmaEvent, RmaUnit

TRACK_PURPOSE = "rma-track"
TRACK_MAX_AGE_S = 90 * 24 * 3600  # e-mailed links to an RMA work for 90 days


# -- what the CRM store receives ---------------------------------------------------------
def unit_payload(unit: RmaUnit) -> dict[str, Any]:
    rma = unit.rma
    return {
        "external_id": unit.external_id,
        "rma_number": unit.unit_number,
        "account_id": rma.account_id,
        "contact_email": rma.contact_email,
        "serial": unit.serial,
        "sku": unit.sku,
        "order_number": unit.order_number,
        "reason": f"{rma.fault_category}: {rma.description}",
        "warranty_status": unit.warranty_status.value,
        "status": unit.status.value,
        "created_at": unit.created_at.isoformat(),
    }


def event_payload(unit: RmaUnit, event: RmaEvent) -> dict[str, Any]:
    return {
        "external_id": event.external_id,
        "rma_number": unit.unit_number,
        "status": event.status.value,
        "note": event.note,
        "source": event.source.value,
        "customer_visible": event.customer_visible,
        "occurred_at": event.occurred_at.isoformat(),
    }


def record_unit(db: Session, unit: RmaUnit) -> None:
    """Queue the unit's current state for the CRM (`crm_rma`, version = unit.version)."""
    db.flush()
    events.record(
        db,
        events.Event(
            aggregate_type="rma_unit",
            aggregate_id=unit.external_id,
            seq=unit.version,
            type="rma_unit.upserted",
            payload=unit_payload(unit),
        ),
    )


def append_event(
    db: Session,
    unit: RmaUnit,
    status: RmaStatus,
    *,
    note: str = "",
    customer_visible: bool = True,
    source: EventSource = EventSource.PORTAL,
    author: User | None = None,
    occurred_at: datetime | None = None,
    external_id: str | None = None,
) -> RmaEvent:
    """Add one timeline entry. Portal entries are queued for `crm_rma_event`; CRM ones came
    from there."""
    event = RmaEvent(
        unit_id=unit.id,
        status=status,
        note=note,
        customer_visible=customer_visible,
        source=source,
        author_id=author.id if author else None,
        occurred_at=occurred_at or utcnow(),
    )
    if external_id:
        event.external_id = external_id
    db.add(event)
    db.flush()
    if source is EventSource.PORTAL:
        events.record(
            db,
            events.Event(
                aggregate_type="rma_event",
                aggregate_id=event.external_id,
                seq=1,
                type="rma_event.recorded",
                payload=event_payload(unit, event),
            ),
        )
    return event


def move(
    db: Session,
    mailing: Mailing | None,
    units: Sequence[RmaUnit],
    to: RmaStatus,
    *,
    note: str = "",
    customer_visible: bool = True,
    actor: User | None = None,
    check: bool = True,
) -> list[RmaEvent]:
    """Move units (of one RMA) to `to`, each with a timeline entry; one e-mail for the RMA.

    `check`: only the moves `lifecycle.TRANSITIONS` allows (raises Conflict naming the unit);
    the caller has already checked who may make them."""
    if not units:
        return []
    if check:
        for unit in units:
            if not can_move(unit.status, to):
                raise Conflict(f"{unit.unit_number}: {unit.status.value} → {to.value}")
    now = utcnow()
    moved = []
    for unit in units:
        unit.status = to
        unit.status_changed_at = now
        unit.version += 1
        unit.rma.updated_at = now
        moved.append(append_event(db, unit, to, note=note, customer_visible=customer_visible, author=actor, occurred_at=now))
        record_unit(db, unit)
    if mailing is not None and to in NOTIFY:
        notify(db, mailing, units[0].rma, units, note=note if customer_visible else "")
    return moved


def add_note(db: Session, unit: RmaUnit, note: str, *, customer_visible: bool, actor: User | None) -> RmaEvent:
    """A note on the timeline at the unit's current status (no move, no e-mail)."""
    unit.rma.updated_at = utcnow()
    return append_event(db, unit, unit.status, note=note, customer_visible=customer_visible, author=actor)


def merge_crm_status(db: Session, mailing: Mailing | None, unit: RmaUnit, reported: RmaStatus, crm_version: int) -> bool:
    """A status the CRM reports: taken only when later than the unit's (never backwards).
    The unit's version then passes the CRM's, so the portal's next push is not refused."""
    if not later(unit.status, reported):
        return False
    now = utcnow()
    unit.status = reported
    unit.status_changed_at = now
    unit.version = max(unit.version, crm_version) + 1
    unit.rma.updated_at = now
    record_unit(db, unit)
    if mailing is not None and reported in NOTIFY:
        notify(db, mailing, unit.rma, [unit])
    return True


# -- telling the customer --------------------------------------------------------------------
def track_token(mailing: Mailing, rma: Rma) -> str:
    return mailing.signer.sign(TRACK_PURPOSE, {"n": rma.number, "e": rma.contact_email})


def track_link(mailing: Mailing, rma: Rma) -> str:
    """A signed, expiring link to the RMA's timeline that works without signing in."""
    return mailing.link(f"/repair-status/{track_token(mailing, rma)}")


def notify(db: Session, mailing: Mailing, rma: Rma, units: Iterable[RmaUnit], *, note: str = "") -> None:
    units = list(units)
    status = units[0].status
    now_text, next_text = EXPLAIN[status]
    queue_email(
        db,
        mailing.composer,
        to=rma.contact_email,
        template="rma_status",
        locale=rma.locale,
        context={
            "name": rma.contact_name,
            "number": rma.number,
            "status_label": LABELS[status],
            "explain_now": now_text,
            "explain_next": next_text,
            "units": [{"number": u.unit_number, "serial": u.serial} for u in units],
            "note": note,
            "link": track_link(mailing, rma),
        },
    )
