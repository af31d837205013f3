"""Repairs have two writers: the portal and the CRM's repair centre. One adapter cycle carries
the portal's units and timeline to the CRM store; one pull brings the repair centre's later
status and its timeline entries back (the customer is e-mailed); nothing ever moves back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from backend_adapter import crm_schema as crm
from backend_adapter.connectors.sql import SqlConnector
from backend_adapter.reconcile import reconcile
from backend_adapter.relay import RelayConfig
from backend_adapter.runner import Adapter
from portal.events.models import OutboxEvent, OutboxStatus
from portal.mail.models import MailMessage
from portal.repairs import workflow
from portal.repairs.lifecycle import RmaStatus
from portal.repairs.models import EventSource, RmaEvent
from tests.backend_adapter.rma_data import (
    CAROL,
    crm_rows,
    make_rma,
    repair_centre_adds_event,
    repair_centre_sets_status,
    timeline,
    unit_of,
)
from tests.conftest import mail_text


@pytest.fixture
def mailing_adapter(state: Any, connector: SqlConnector) -> Adapter:
    """The adapter as `portal serve` runs it: customers hear of changes made in the CRM."""
    return Adapter.build(state.db, connector, config=RelayConfig(base_backoff_s=0.0, max_backoff_s=0.0), mailing=state.mailing)


def _counts(uow: Callable[..., Any]) -> tuple[int, int, int]:
    """(timeline entries, outbox rows, e-mails) in the portal."""
    with uow() as db:
        return (
            db.scalar(select(func.count()).select_from(RmaEvent)) or 0,
            db.scalar(select(func.count()).select_from(OutboxEvent)) or 0,
            db.scalar(select(func.count()).select_from(MailMessage)) or 0,
        )


def _pending(uow: Callable[..., Any]) -> list[str]:
    with uow() as db:
        return list(db.scalars(select(OutboxEvent.type).where(OutboxEvent.status == OutboxStatus.PENDING)))


def test_one_cycle_puts_every_unit_and_timeline_entry_in_the_crm(state: Any, adapter: Adapter, uow: Any) -> None:
    first, second = make_rma(uow)
    adapter.run_once()

    units = crm_rows(state.crm_engine, crm.crm_rma)
    assert sorted((u["rma_number"], u["serial"], u["status"], u["version"]) for u in units) == [
        ("RMA-7K3Q9P-1", "HR-BRD-000231", "requested", 1),
        ("RMA-7K3Q9P-2", "HR-BRD-000232", "requested", 1),
    ]
    assert {u["external_id"] for u in units} == {first, second}
    assert all((u["account_id"], u["contact_email"], u["warranty_status"]) == ("C-1001", CAROL, "in_warranty") for u in units)
    assert units[0]["reason"] == "no_power: The board does not start after the firmware update."

    events = crm_rows(state.crm_engine, crm.crm_rma_event)
    with uow() as db:
        portal_events = {e.external_id: e for ext in (first, second) for e in timeline(db, ext)}
        assert {e["external_id"] for e in events} == set(portal_events)
        for row in events:
            mine = portal_events[row["external_id"]]
            assert (row["status"], row["note"], row["source"], row["customer_visible"]) == ("requested", mine.note, "portal", True)
    assert sorted(e["rma_number"] for e in events) == ["RMA-7K3Q9P-1", "RMA-7K3Q9P-2"]

    report = reconcile(state.db, state.crm_engine)
    assert report.in_sync
    assert (report.entities["crm_rma"].crm, report.entities["crm_rma_event"].crm) == (2, 2)
    # The portal's own rows coming back through the pull change nothing.
    assert _pending(uow) == []


@pytest.mark.parametrize("crm_version", ["higher", "same"])
def test_the_repair_centre_moves_a_unit_on_and_nothing_moves_back(
    state: Any, mailing_adapter: Adapter, uow: Any, outbox_mail: Any, crm_version: str
) -> None:
    first, second = make_rma(uow)
    mailing_adapter.run_once()
    assert outbox_mail() == []

    # -- the repair centre, in the CRM's own tools: diagnosing, with a public and an internal note
    repair_centre_sets_status(state.crm_engine, first, "diagnosing", version=5 if crm_version == "higher" else None)
    public = repair_centre_adds_event(state.crm_engine, "RMA-7K3Q9P-1", "diagnosing", "On the bench now.")
    internal = repair_centre_adds_event(state.crm_engine, "RMA-7K3Q9P-1", "diagnosing", "Regulator U4 hot.", customer_visible=False)
    mailing_adapter.puller.pull_once()

    with uow() as db:
        unit = unit_of(db, first)
        assert unit.status is RmaStatus.DIAGNOSING
        assert unit.version == (6 if crm_version == "higher" else 2)  # above the CRM's: the next push is not refused
        assert unit_of(db, second).status is RmaStatus.REQUESTED
        entries = {e.external_id: e for e in timeline(db, first)}
        assert (entries[public].source, entries[public].note, entries[public].customer_visible) == (
            EventSource.CRM,
            "On the bench now.",
            True,
        )
        assert (entries[internal].status, entries[internal].customer_visible) == (RmaStatus.DIAGNOSING, False)
    sent = outbox_mail()
    assert [m["To"] for m in sent] == [CAROL]
    assert "RMA-7K3Q9P" in str(sent[0]["Subject"])
    assert "Diagnosing" in str(sent[0]["Subject"])
    assert "A technician is finding out what is wrong." in mail_text(sent[0])
    assert "RMA-7K3Q9P-1" in mail_text(sent[0])
    assert "RMA-7K3Q9P-2" not in mail_text(sent[0])
    assert "Regulator" not in mail_text(sent[0])

    # The portal's new version reaches the CRM; the CRM's own timeline entries are not drift.
    mailing_adapter.run_once()
    [row] = crm_rows(state.crm_engine, crm.crm_rma, external_id=first)
    assert (row["status"], row["version"]) == ("diagnosing", 6 if crm_version == "higher" else 2)
    assert reconcile(state.db, state.crm_engine).in_sync
    assert _pending(uow) == []

    # -- the CRM then reports an EARLIER status: the unit stays, nobody is told
    before = _counts(uow)
    repair_centre_sets_status(state.crm_engine, first, "received", version=9 if crm_version == "higher" else None)
    mailing_adapter.puller.pull_once()
    with uow() as db:
        unit = unit_of(db, first)
        assert unit.status is RmaStatus.DIAGNOSING
        assert unit.version == (10 if crm_version == "higher" else 3)
    events, outbox, mails = _counts(uow)
    # No timeline entry, no e-mail; one push puts the CRM back at the portal's later state.
    assert (events, mails) == before[::2]
    assert outbox == before[1] + 1
    assert _pending(uow) == ["rma_unit.upserted"]
    mailing_adapter.run_once()
    [row] = crm_rows(state.crm_engine, crm.crm_rma, external_id=first)
    assert row["status"] == "diagnosing"
    assert reconcile(state.db, state.crm_engine).in_sync

    # Re-pulling changes nothing.
    settled = _counts(uow)
    for _ in range(2):
        mailing_adapter.puller.pull_once()
        mailing_adapter.run_once()
    assert _counts(uow) == settled
    assert len(outbox_mail()) == 1

    # -- the staff desk moves the unit on in the portal: the CRM follows
    with uow() as db:
        workflow.move(db, state.mailing, [unit_of(db, first)], RmaStatus.REPAIRING, note="Replacing the regulator.")
    mailing_adapter.run_once()
    [row] = crm_rows(state.crm_engine, crm.crm_rma, external_id=first)
    assert row["status"] == "repairing"
    notes = {e["note"]: e for e in crm_rows(state.crm_engine, crm.crm_rma_event, rma_number="RMA-7K3Q9P-1")}
    assert notes["Replacing the regulator."]["source"] == "portal"
    assert {"On the bench now.", "Regulator U4 hot."} <= set(notes)
    assert reconcile(state.db, state.crm_engine).in_sync
    assert [m["To"] for m in outbox_mail()] == [CAROL, CAROL]


def test_without_a_mailing_the_status_still_moves(state: Any, adapter: Adapter, uow: Any, outbox_mail: Any) -> None:
    first, _second = make_rma(uow)
    adapter.run_once()
    repair_centre_sets_status(state.crm_engine, first, "received")
    adapter.puller.pull_once()
    with uow() as db:
        assert unit_of(db, first).status is RmaStatus.RECEIVED
    assert outbox_mail() == []


def test_a_later_crm_status_wins_over_a_portal_push_in_flight(state: Any, adapter: Adapter, uow: Any) -> None:
    """The portal receives the unit while the repair centre already marked it diagnosing."""
    first, _second = make_rma(uow)
    adapter.run_once()
    with uow() as db:
        workflow.move(db, None, [unit_of(db, first)], RmaStatus.APPROVED)  # v2 in the outbox
    repair_centre_sets_status(state.crm_engine, first, "diagnosing")  # still v1 in the CRM
    adapter.relay.drain()
    [row] = crm_rows(state.crm_engine, crm.crm_rma, external_id=first)
    assert (row["status"], row["version"]) == ("diagnosing", 2)  # the version moved, the status did not go back
    adapter.puller.pull_once()
    adapter.run_once()
    with uow() as db:
        assert unit_of(db, first).status is RmaStatus.DIAGNOSING
    assert reconcile(state.db, state.crm_engine).in_sync


def test_crm_events_for_unknown_rmas_and_statuses_are_skipped(state: Any, adapter: Adapter, uow: Any) -> None:
    first, _second = make_rma(uow)
    adapter.run_once()
    repair_centre_adds_event(state.crm_engine, "RMA-NOTOURS-1", "received", "Walk-in repair.")
    repair_centre_adds_event(state.crm_engine, "RMA-7K3Q9P-1", "teleported", "?")
    repair_centre_sets_status(state.crm_engine, first, "teleported")
    before = _counts(uow)
    adapter.puller.pull_once()
    assert _counts(uow) == before
    with uow() as db:
        assert unit_of(db, first).status is RmaStatus.REQUESTED
