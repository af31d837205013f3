"""The outbox: events are written with the change, or not at all."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal import events
from portal.accounts import service as accounts_service
from portal.accounts.models import Role, User
from portal.events import OutboxEvent, OutboxStatus


def test_an_event_rolls_back_with_its_change(uow: Any) -> None:
    with pytest.raises(RuntimeError), uow() as session:
        accounts_service.create_user(session, email="ghost@example.com", password="long enough pw", role=Role.CUSTOMER)
        raise RuntimeError("the request failed after the change")
    with uow() as session:
        assert session.scalars(select(OutboxEvent)).all() == []
        assert session.scalars(select(User)).all() == []


def test_recorded_events_wait_as_pending_in_aggregate_order(uow: Any, make_user: Any) -> None:
    user = make_user("order@example.com")
    with uow() as session:
        accounts_service.update_profile(session, actor=session.get(User, user.id), name="Second", locale="en")
    with uow() as session:
        accounts_service.update_profile(session, actor=session.get(User, user.id), name="Third", locale="zh")
    with uow() as session:
        rows = session.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_id == user.external_id).order_by(OutboxEvent.id)).all()
        assert [(r.seq, r.status, r.payload["name"]) for r in rows] == [
            (1, OutboxStatus.PENDING, "Test User"),
            (2, OutboxStatus.PENDING, "Second"),
            (3, OutboxStatus.PENDING, "Third"),
        ]
        assert all(r.aggregate_type == "contact" and r.attempts == 0 for r in rows)


def test_two_events_for_the_same_aggregate_version_cannot_both_commit(uow: Any) -> None:
    event = events.Event(aggregate_type="contact", aggregate_id="abc", seq=1, type="contact.upserted", payload={})
    with uow() as session:
        events.record(session, event)
    with pytest.raises(IntegrityError), uow() as session:
        events.record(session, event)
