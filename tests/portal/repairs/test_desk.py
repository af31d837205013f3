"""The staff repair desk's rules: queues and ages, receiving, moves, notes and quotes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from portal.accounts.models import Role, User
from portal.db import utcnow
from portal.errors import Forbidden, Invalid, NotFound
from portal.events.models import OutboxEvent
from portal.mail.models import MailMessage
from portal.repairs import desk, workflow
from portal.repairs.lifecycle import RmaStatus
from portal.repairs.models import Outcome, Rma, RmaEvent, RmaUnit, WarrantyStatus
from portal.security.models import AuditEvent

S = RmaStatus


def make_rma(
    db: Any,
    number: str,
    statuses: Sequence[RmaStatus] = (S.REQUESTED,),
    *,
    ago: timedelta = timedelta(0),
    account_id: str | None = "C-A",
    email: str = "ann@alpha.example",
) -> Rma:
    """An RMA with one unit per status, each in its state since `ago`."""
    now = utcnow()
    rma = Rma(
        number=number,
        account_id=account_id,
        contact_email=email,
        contact_name="Ann",
        locale="en",
        fault_category="no_power",
        description="Dead on arrival.",
        return_address="1 Alpha Road",
        preferred_outcome=Outcome.REPAIR,
        created_at=now - ago,
        updated_at=now - ago,
    )
    db.add(rma)
    db.flush()
    for n, status in enumerate(statuses, start=1):
        unit = RmaUnit(
            rma_id=rma.id,
            line_no=n,
            unit_number=f"{number}-{n}",
            serial=f"SN-{number[4:]}-{n}",
            sku="NW-CTRL-1",
            warranty_status=WarrantyStatus.IN_WARRANTY,
            status=status,
            status_changed_at=now - ago,
            created_at=now - ago,
        )
        db.add(unit)
        db.flush()
        workflow.append_event(db, unit, status, occurred_at=now - ago)
        workflow.record_unit(db, unit)
    db.refresh(rma)
    return rma


@pytest.fixture
def staff(make_user: Any) -> int:
    return int(make_user("sam@northwind.example", Role.STAFF).id)


def actor(db: Any, user_id: int) -> User:
    user = db.get(User, user_id)
    assert user is not None
    return user


def unit(db: Any, unit_number: str) -> RmaUnit:
    found = db.scalar(select(RmaUnit).where(RmaUnit.unit_number == unit_number))
    assert found is not None
    return found


def count(db: Any, model: Any, *where: Any) -> int:
    return int(db.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def crm_rows(db: Any, unit_number: str) -> list[str]:
    """Outbox rows about a unit (its upserts and its timeline events), oldest first."""
    external_id = unit(db, unit_number).external_id
    rows = db.scalars(select(OutboxEvent).order_by(OutboxEvent.id)).all()
    return [
        f"{r.type}:{r.payload['status']}"
        for r in rows
        if r.aggregate_id == external_id or (r.aggregate_type == "rma_event" and r.payload["rma_number"] == unit_number)
    ]


# -- queues ---------------------------------------------------------------------------------------
def test_the_queue_lists_open_units_oldest_first_with_counts_per_state(uow: Any, staff: int) -> None:
    with uow() as db:
        make_rma(db, "RMA-NEW001", ago=timedelta(hours=2))
        make_rma(db, "RMA-OLD001", [S.REQUESTED, S.DIAGNOSING], ago=timedelta(hours=20))
        make_rma(db, "RMA-END001", [S.CLOSED], ago=timedelta(days=40))
    with uow() as db:
        q = desk.work_queue(db, actor=actor(db, staff))
        assert [r.unit.unit_number for r in q.rows] == ["RMA-OLD001-1", "RMA-OLD001-2", "RMA-NEW001-1"]
        assert q.rows[0].account_name is None
        assert q.rows[0].unit.rma.contact_email == "ann@alpha.example"
        assert (q.counts[S.REQUESTED], q.counts[S.DIAGNOSING], q.counts[S.REPAIRING], q.open_total) == (2, 1, 0, 3)
        assert S.CLOSED not in q.counts
        requested = desk.work_queue(db, actor=actor(db, staff), queue="requested")
        assert [r.unit.unit_number for r in requested.rows] == ["RMA-OLD001-1", "RMA-NEW001-1"]
        closed = desk.work_queue(db, actor=actor(db, staff), queue="closed")
        assert [r.unit.unit_number for r in closed.rows] == ["RMA-END001-1"]


def test_overdue_after_the_states_limit_and_escalated_after_twice_it(uow: Any, staff: int) -> None:
    with uow() as db:
        make_rma(db, "RMA-FRESH1", ago=timedelta(hours=23))  # requested: limit 1 day
        make_rma(db, "RMA-LATE01", ago=timedelta(hours=30))
        make_rma(db, "RMA-ESCAL1", ago=timedelta(days=3))
        make_rma(db, "RMA-WAIT01", [S.AWAITING_UNIT], ago=timedelta(days=10))  # limit 14 days
        make_rma(db, "RMA-GONE01", [S.CANCELLED], ago=timedelta(days=300))  # ended: never overdue
    with uow() as db:
        me = actor(db, staff)
        q = desk.work_queue(db, actor=me)
        flags = {r.unit.rma.number: (r.age.overdue, r.age.escalated) for r in q.rows}
        assert flags == {
            "RMA-ESCAL1": (True, True),
            "RMA-WAIT01": (False, False),
            "RMA-LATE01": (True, False),
            "RMA-FRESH1": (False, False),
        }
        assert (q.overdue_total, q.escalated_total) == (2, 1)
        overdue = desk.work_queue(db, actor=me, queue="overdue")
        assert [r.unit.rma.number for r in overdue.rows] == ["RMA-ESCAL1", "RMA-LATE01"]
        escalated = desk.work_queue(db, actor=me, queue="escalated")
        assert [r.unit.rma.number for r in escalated.rows] == ["RMA-ESCAL1"]


def test_search_by_rma_number_unit_number_or_serial_in_every_state(uow: Any, staff: int) -> None:
    with uow() as db:
        make_rma(db, "RMA-FIND01", [S.REQUESTED, S.CLOSED])
        make_rma(db, "RMA-OTHER1")
    with uow() as db:
        me = actor(db, staff)

        def found(text: str) -> list[str]:
            return [r.unit.unit_number for r in desk.work_queue(db, actor=me, search=text).rows]

        assert found("rma-find01") == ["RMA-FIND01-1", "RMA-FIND01-2"]
        assert found(" RMA-FIND01-2 ") == ["RMA-FIND01-2"]
        assert found("sn-other1-1") == ["RMA-OTHER1-1"]
        assert found("RMA-NOPE") == []


def test_the_queue_pages_by_25(uow: Any, staff: int) -> None:
    with uow() as db:
        for n in range(27):
            make_rma(db, f"RMA-PAGE{n:02d}", ago=timedelta(minutes=100 - n))
    with uow() as db:
        second = desk.work_queue(db, actor=actor(db, staff), page=2)
        assert (second.total, second.pages, [r.unit.rma.number for r in second.rows]) == (27, 2, ["RMA-PAGE25", "RMA-PAGE26"])


def test_only_staff_use_the_desk(uow: Any, make_user: Any) -> None:
    customer = make_user("ann@alpha.example", Role.CUSTOMER).id
    with uow() as db:
        make_rma(db, "RMA-SECRET")
    with uow() as db:
        me = actor(db, customer)
        with pytest.raises(Forbidden):
            desk.work_queue(db, actor=me)
        with pytest.raises(Forbidden):
            desk.get_rma(db, actor=me, number="RMA-SECRET")
        with pytest.raises(Forbidden):
            desk.receive(db, None, actor=me, codes=["RMA-SECRET"])
    with uow() as db:
        assert unit(db, "RMA-SECRET-1").status is S.REQUESTED


# -- receiving ------------------------------------------------------------------------------------
def test_receiving_by_rma_number_moves_every_receivable_unit_and_tells_the_customer_once(state: Any, uow: Any, staff: int) -> None:
    with uow() as db:
        make_rma(db, "RMA-RECV01", [S.APPROVED, S.AWAITING_UNIT, S.CANCELLED])
    with uow() as db:
        [result] = desk.receive(db, state.mailing, actor=actor(db, staff), codes=["rma-recv01"])
        assert (result.outcome, result.count, result.rma_number) == (desk.RECEIVED, 2, "RMA-RECV01")
    with uow() as db:
        assert [unit(db, f"RMA-RECV01-{n}").status for n in (1, 2, 3)] == [S.RECEIVED, S.RECEIVED, S.CANCELLED]
        event = db.scalars(select(RmaEvent).where(RmaEvent.unit_id == unit(db, "RMA-RECV01-1").id).order_by(RmaEvent.id)).all()[-1]
        assert (event.status, event.note, event.customer_visible, event.author_id) == (
            S.RECEIVED,
            "Received at the repair centre",
            True,
            staff,
        )
        assert crm_rows(db, "RMA-RECV01-1")[-2:] == ["rma_event.recorded:received", "rma_unit.upserted:received"]
        assert count(db, MailMessage) == 1
        assert count(db, AuditEvent, AuditEvent.action == "rma.received") == 1


def test_receiving_by_unit_number_moves_only_that_unit(state: Any, uow: Any, staff: int) -> None:
    with uow() as db:
        make_rma(db, "RMA-RECV02", [S.REQUESTED, S.REQUESTED])
    with uow() as db:
        [result] = desk.receive(db, state.mailing, actor=actor(db, staff), codes=["RMA-RECV02-2"])
        assert (result.outcome, result.count) == (desk.RECEIVED, 1)
    with uow() as db:
        assert (unit(db, "RMA-RECV02-1").status, unit(db, "RMA-RECV02-2").status) == (S.REQUESTED, S.RECEIVED)


def test_bulk_receiving_reports_each_code_and_never_fails_on_unknown_ones(state: Any, uow: Any, staff: int) -> None:
    with uow() as db:
        make_rma(db, "RMA-BULK01", [S.AWAITING_UNIT])
        make_rma(db, "RMA-BULK02", [S.DIAGNOSING])
        make_rma(db, "RMA-BULK03", [S.CANCELLED])
        make_rma(db, "RMA-BULK04", [S.REPLACEMENT_SHIPPED])
    codes = desk.parse_codes("", "RMA-BULK01\n\n  rma-bulk02 \nRMA-NOPE99\nRMA-BULK03\nRMA-BULK04-1\nRMA-BULK01\n" + "X" * 80)
    assert codes[:2] == ["RMA-BULK01", "RMA-BULK02"]
    with uow() as db:
        results = desk.receive(db, state.mailing, actor=actor(db, staff), codes=codes)
        assert [(r.code[:12], r.outcome, r.count, r.state) for r in results] == [
            ("RMA-BULK01", desk.RECEIVED, 1, None),
            ("RMA-BULK02", desk.ALREADY, 0, None),
            ("RMA-NOPE99", desk.UNKNOWN, 0, None),
            ("RMA-BULK03", desk.NOT_RECEIVABLE, 0, S.CANCELLED),
            ("RMA-BULK04-1", desk.RECEIVED, 1, None),
            ("RMA-BULK01", desk.ALREADY, 0, None),
            ("X" * 12, desk.UNKNOWN, 0, None),
        ]
    with uow() as db:
        assert unit(db, "RMA-BULK04-1").status is S.RECEIVED
        assert count(db, MailMessage) == 2


def test_receiving_nothing_is_refused(uow: Any, staff: int) -> None:
    with uow() as db, pytest.raises(Invalid) as refused:
        desk.receive(db, None, actor=actor(db, staff), codes=desk.parse_codes("  ", "\n \n"))
    assert "code" in refused.value.errors


# -- moves and notes -----------------------------------------------------------------------------
def test_an_allowed_move_changes_the_units_records_them_for_the_crm_and_emails_the_customer(
    state: Any, uow: Any, staff: int, outbox_mail: Any
) -> None:
    with uow() as db:
        make_rma(db, "RMA-MOVE01", [S.REQUESTED, S.REQUESTED])
    with uow() as db:
        moved = desk.move_units(
            db, state.mailing, actor=actor(db, staff), number="RMA-MOVE01", unit_numbers=["RMA-MOVE01-1", "RMA-MOVE01-2"], to="approved",
            note="Send both boards in one box.",
        )  # fmt: skip
        assert len(moved) == 2
    with uow() as db:
        assert {unit(db, f"RMA-MOVE01-{n}").status for n in (1, 2)} == {S.APPROVED}
        assert crm_rows(db, "RMA-MOVE01-2") == [
            "rma_event.recorded:requested",
            "rma_unit.upserted:requested",
            "rma_event.recorded:approved",
            "rma_unit.upserted:approved",
        ]
        audit_row = db.scalar(select(AuditEvent).where(AuditEvent.action == "rma.moved"))
        assert audit_row is not None
        assert (audit_row.target, audit_row.detail["to"]) == ("RMA-MOVE01", "approved")
    [mail] = outbox_mail()
    assert mail["To"] == "ann@alpha.example"
    assert "Send both boards in one box." in mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def test_a_move_the_lifecycle_does_not_allow_is_refused_and_changes_nothing(state: Any, uow: Any, staff: int) -> None:
    with uow() as db:
        make_rma(db, "RMA-MOVE02", [S.REQUESTED, S.DIAGNOSING])
    with uow() as db:
        me = actor(db, staff)
        with pytest.raises(desk.MoveRefused) as refused:
            desk.move_units(db, state.mailing, actor=me, number="RMA-MOVE02", unit_numbers=["RMA-MOVE02-1", "RMA-MOVE02-2"], to="approved")
        assert refused.value.params == {"unit": "RMA-MOVE02-2", "current": "Diagnosing", "target": "Approved"}
        with pytest.raises(Invalid) as unknown_state:
            desk.move_units(db, state.mailing, actor=me, number="RMA-MOVE02", unit_numbers=["RMA-MOVE02-1"], to="teleported")
        assert "move" in unknown_state.value.errors
        with pytest.raises(Invalid) as no_units:
            desk.move_units(db, state.mailing, actor=me, number="RMA-MOVE02", unit_numbers=[], to="approved")
        assert no_units.value.errors == {"move": "Select at least one unit."}
        with pytest.raises(Invalid):
            desk.move_units(db, state.mailing, actor=me, number="RMA-MOVE02", unit_numbers=["RMA-OTHER-1"], to="approved")
        with pytest.raises(NotFound):
            desk.move_units(db, state.mailing, actor=me, number="RMA-NOPE00", unit_numbers=["RMA-NOPE00-1"], to="approved")
    with uow() as db:
        assert (unit(db, "RMA-MOVE02-1").status, unit(db, "RMA-MOVE02-2").status) == (S.REQUESTED, S.DIAGNOSING)
        assert count(db, MailMessage) == 0


def test_the_detail_offers_per_state_only_the_moves_the_lifecycle_allows(uow: Any, staff: int) -> None:
    with uow() as db:
        make_rma(db, "RMA-DETL01", [S.DIAGNOSING, S.REQUESTED, S.DIAGNOSING, S.CLOSED], ago=timedelta(days=4))
    with uow() as db:
        d = desk.get_rma(db, actor=actor(db, staff), number="rma-detl01")
        groups = [(g.status, [u.unit_number for u in g.units], g.targets) for g in d.move_groups]
        assert groups == [
            (S.REQUESTED, ["RMA-DETL01-2"], (S.APPROVED, S.REJECTED, S.RECEIVED, S.CANCELLED)),
            (S.DIAGNOSING, ["RMA-DETL01-1", "RMA-DETL01-3"], (S.REPAIRING, S.QUOTE_SENT, S.REPLACED)),
        ]
        assert [u.unit_number for u in d.quotable] == ["RMA-DETL01-1", "RMA-DETL01-3"]
        assert [(s.age.overdue, s.age.escalated) for s in d.units] == [(True, False), (True, True), (True, False), (False, False)]
        assert len(d.timeline) == 4
        assert d.photo_count == 0
        with pytest.raises(NotFound):
            desk.get_rma(db, actor=actor(db, staff), number="RMA-NOPE00")


def test_notes_are_internal_by_default_and_never_email_the_customer(state: Any, uow: Any, staff: int) -> None:
    with uow() as db:
        make_rma(db, "RMA-NOTE01", [S.RECEIVED, S.RECEIVED])
    with uow() as db:
        me = actor(db, staff)
        desk.add_note(db, actor=me, number="RMA-NOTE01", unit_numbers=None, note="Scratched casing.")
        desk.add_note(db, actor=me, number="RMA-NOTE01", unit_numbers=["RMA-NOTE01-2"], note="We found the fault.", customer_visible=True)
        with pytest.raises(Invalid) as empty:
            desk.add_note(db, actor=me, number="RMA-NOTE01", unit_numbers=None, note="  ")
        assert empty.value.errors == {"note": "Write the note."}
    with uow() as db:
        d = desk.get_rma(db, actor=actor(db, staff), number="RMA-NOTE01")
        notes = [(e.unit_number, e.event.note, e.event.customer_visible, e.author_name) for e in d.timeline if e.event.note]
        assert notes == [
            ("RMA-NOTE01-1", "Scratched casing.", False, "Test User"),
            ("RMA-NOTE01-2", "Scratched casing.", False, "Test User"),
            ("RMA-NOTE01-2", "We found the fault.", True, "Test User"),
        ]
        assert {u.status for u in d.rma.units} == {S.RECEIVED}
        assert count(db, MailMessage) == 0
        assert crm_rows(db, "RMA-NOTE01-1")[-1] == "rma_event.recorded:received"
        pushed = db.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_type == "rma_event").order_by(OutboxEvent.id)).all()
        assert [p.payload["customer_visible"] for p in pushed if p.payload["note"]] == [False, False, True]


# -- quotes ----------------------------------------------------------------------------------------
def test_a_quote_needs_a_positive_amount_a_listed_currency_and_a_future_date(state: Any, uow: Any, staff: int) -> None:
    today = date(2026, 3, 1)
    with uow() as db:
        make_rma(db, "RMA-QUOT01", [S.DIAGNOSING, S.REPAIRING])
    with uow() as db:
        me = actor(db, staff)

        def errors(**kwargs: str) -> dict[str, str]:
            values = {"unit_number": "RMA-QUOT01-1", "amount": "120.00", "currency": "USD", "valid_until": "2026-03-31", **kwargs}
            with pytest.raises(Invalid) as refused:
                desk.send_quote(db, state.mailing, actor=me, number="RMA-QUOT01", today=today, **values)
            return refused.value.errors

        assert set(errors(amount="0", currency="XYZ", valid_until="2026-03-01")) == {"amount", "currency", "valid_until"}
        assert errors(amount="-5") == {"amount": "Enter an amount greater than zero."}
        assert errors(amount="12.345") == {"amount": "Use at most two decimal places."}
        assert errors(amount="lots") == {"amount": "Enter the amount as a number, for example 120.00."}
        assert errors(amount="NaN") == {"amount": "Enter an amount greater than zero."}
        assert errors(valid_until="31/03/2026") == {"valid_until": "Enter the date as YYYY-MM-DD."}
        assert errors(valid_until="2028-01-01") == {"valid_until": "Choose a date within a year."}
        assert errors(unit_number="RMA-QUOT01-2") == {"quote_unit": "Only a unit being diagnosed can get a quote."}
    with uow() as db:
        assert unit(db, "RMA-QUOT01-1").quote_amount_cents is None
        assert count(db, MailMessage) == 0


def test_a_quote_sets_the_unit_moves_it_to_quote_sent_and_tells_the_customer(state: Any, uow: Any, staff: int, outbox_mail: Any) -> None:
    with uow() as db:
        make_rma(db, "RMA-QUOT02", [S.DIAGNOSING])
    with uow() as db:
        desk.send_quote(
            db, state.mailing, actor=actor(db, staff), number="RMA-QUOT02", unit_number="rma-quot02-1", amount="1,250.5", currency="eur",
            valid_until="2026-04-30", today=date(2026, 3, 1),
        )  # fmt: skip
    with uow() as db:
        quoted = unit(db, "RMA-QUOT02-1")
        assert (quoted.status, quoted.quote_amount_cents, quoted.quote_currency, quoted.quote_valid_until) == (
            S.QUOTE_SENT, 125050, "EUR", date(2026, 4, 30),
        )  # fmt: skip
        last = db.scalars(select(RmaEvent).where(RmaEvent.unit_id == quoted.id).order_by(RmaEvent.id)).all()[-1]
        assert (last.note, last.customer_visible) == ("Repair quote: 1250.50 EUR, valid until 2026-04-30.", True)
        assert crm_rows(db, "RMA-QUOT02-1")[-1] == "rma_unit.upserted:quote_sent"
        assert count(db, AuditEvent, AuditEvent.action == "rma.quoted") == 1
    [mail] = outbox_mail()
    assert "1250.50 EUR" in mail.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
