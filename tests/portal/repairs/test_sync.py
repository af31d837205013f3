"""The pull handlers for the repair centre's changes, fed the rows the CRM store returns."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from portal.db import new_uuid
from portal.events.models import OutboxEvent
from portal.events.pull import PullContext
from portal.mail.models import MailMessage
from portal.repairs import sync
from portal.repairs.lifecycle import RmaStatus
from portal.repairs.models import EventSource, RmaEvent
from tests.backend_adapter.rma_data import make_rma, timeline, unit_of

AT = datetime(2026, 11, 5, 8, 0)


def _rma_row(external_id: str, status: str, version: int) -> dict[str, Any]:
    return {"external_id": external_id, "rma_number": "RMA-7K3Q9P-1", "status": status, "version": version, "updated_at": AT}


def _event_row(status: str, *, source: str = "crm", visible: bool | None = None, number: str = "RMA-7K3Q9P-1") -> dict[str, Any]:
    return {
        "external_id": new_uuid(),
        "version": 1,
        "rma_number": number,
        "status": status,
        "note": "From the bench.",
        "source": source,
        "customer_visible": visible,
        "occurred_at": AT,
        "updated_at": AT,
    }


def _count(db: Any, model: Any) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_a_later_status_moves_the_unit_and_tells_the_customer(state: Any, uow: Any) -> None:
    first, second = make_rma(uow)
    context = PullContext(mailing=state.mailing)
    with uow() as db:
        rows = [_rma_row(first, "received", 4), _rma_row(second, "requested", 1), _rma_row(new_uuid(), "received", 1)]
        assert sync.apply_rma_status(db, rows, context) == 1
    with uow() as db:
        unit = unit_of(db, first)
        assert (unit.status, unit.version) == (RmaStatus.RECEIVED, 5)
        assert unit_of(db, second).status is RmaStatus.REQUESTED
        assert _count(db, MailMessage) == 1
        assert db.scalars(select(OutboxEvent.seq).where(OutboxEvent.aggregate_id == first).order_by(OutboxEvent.seq)).all() == [1, 5]
    # The same rows again: nothing.
    with uow() as db:
        assert sync.apply_rma_status(db, [_rma_row(first, "received", 4)], context) == 0
        assert sync.apply_rma_status(db, [_rma_row(first, "received", 5)], context) == 0
    with uow() as db:
        assert (_count(db, MailMessage), _count(db, OutboxEvent)) == (1, 5)  # 2 units + 2 entries + 1 move


def test_an_earlier_crm_status_is_pushed_over_not_taken(state: Any, uow: Any) -> None:
    first, _second = make_rma(uow)
    with uow() as db:
        assert sync.apply_rma_status(db, [_rma_row(first, "diagnosing", 1)], PullContext()) == 1
    with uow() as db:
        assert sync.apply_rma_status(db, [_rma_row(first, "received", 2)], PullContext()) == 0
    with uow() as db:
        unit = unit_of(db, first)
        assert (unit.status, unit.version) == (RmaStatus.DIAGNOSING, 3)
        latest = db.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_id == first).order_by(OutboxEvent.seq.desc())).first()
        assert (latest.seq, latest.payload["status"]) == (3, "diagnosing")
    # Its own push coming back, or an older CRM row, changes nothing.
    with uow() as db:
        outbox = _count(db, OutboxEvent)
        assert sync.apply_rma_status(db, [_rma_row(first, "diagnosing", 3)], PullContext()) == 0
        assert sync.apply_rma_status(db, [_rma_row(first, "received", 2)], PullContext()) == 0
    with uow() as db:
        assert _count(db, OutboxEvent) == outbox
        assert unit_of(db, first).version == 3


def test_an_equal_rank_status_stays_the_portals_without_pushing_forever(state: Any, uow: Any) -> None:
    first, _second = make_rma(uow)
    with uow() as db:
        sync.apply_rma_status(db, [_rma_row(first, "repaired", 1)], PullContext())
    with uow() as db:
        outbox = _count(db, OutboxEvent)
        # The CRM's guard kept its "replaced" when the portal pushed "repaired" v2.
        assert sync.apply_rma_status(db, [_rma_row(first, "replaced", 2)], PullContext()) == 0
    with uow() as db:
        assert unit_of(db, first).status is RmaStatus.REPAIRED
        assert _count(db, OutboxEvent) == outbox


def test_crm_timeline_entries_join_once_and_the_portals_own_are_skipped(state: Any, uow: Any) -> None:
    first, _second = make_rma(uow)
    rows = [
        _event_row("received"),
        _event_row("received", visible=False),
        _event_row("received", visible=True),
        _event_row("received", source="portal"),
        _event_row("received", number="RMA-ELSEWH-1"),
        _event_row("no_such_status"),
    ]
    with uow() as db:
        outbox = _count(db, OutboxEvent)
        assert sync.apply_rma_events(db, rows, PullContext(mailing=state.mailing)) == 3
    with uow() as db:
        assert sync.apply_rma_events(db, rows, PullContext(mailing=state.mailing)) == 0
    with uow() as db:
        crm_entries = [e for e in timeline(db, first) if e.source is EventSource.CRM]
        assert [(e.status, e.customer_visible, e.note) for e in crm_entries] == [
            (RmaStatus.RECEIVED, True, "From the bench."),
            (RmaStatus.RECEIVED, False, "From the bench."),
            (RmaStatus.RECEIVED, True, "From the bench."),
        ]
        assert {e.external_id for e in crm_entries} == {r["external_id"] for r in rows[:3]}
        # Entries from the CRM are not sent back to it, and nobody is e-mailed for them.
        assert _count(db, OutboxEvent) == outbox
        assert _count(db, MailMessage) == 0
        assert _count(db, RmaEvent) == 2 + 3
