"""The relay delivers outbox events to the CRM store exactly once in effect."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select

from backend_adapter import crm_schema as crm
from backend_adapter.connectors.base import CrmUnavailable, ItemResult, Outcome, UpsertItem
from backend_adapter.relay import Relay, RelayConfig
from portal import events
from portal.accounts import service as accounts_service
from portal.accounts.models import User
from portal.events.models import OutboxEvent, OutboxStatus
from portal.events.status import replay_dead, sync_status


def _contacts(state: Any) -> dict[str, tuple[int, str, str]]:
    with state.crm_engine.connect() as conn:
        return {r.external_id: (r.version, r.name, r.email) for r in conn.execute(select(crm.crm_contact))}


def _statuses(uow: Any) -> list[str]:
    with uow() as session:
        return [e.status.value for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]


def test_a_new_user_reaches_the_crm_as_a_contact(relay: Relay, make_user: Any, state: Any, uow: Any) -> None:
    user = make_user("crm@example.com", name="Crm Person")
    stats = relay.drain()
    assert (stats.delivered, stats.dead) == (1, 0)
    assert _contacts(state) == {user.external_id: (1, "Crm Person", "crm@example.com")}
    assert _statuses(uow) == ["delivered"]


def test_each_change_lands_and_the_latest_version_wins(relay: Relay, make_user: Any, state: Any, uow: Any) -> None:
    user = make_user("v@example.com")
    for name in ("Second", "Third"):
        with uow() as session:
            accounts_service.update_profile(session, actor=session.get(User, user.id), name=name, locale="en")
    relay.drain()
    assert _contacts(state)[user.external_id] == (3, "Third", "v@example.com")


def test_one_drain_delivers_a_queue_of_one_record_batch_by_batch(connector: Any, make_user: Any, state: Any, uow: Any) -> None:
    """Batches of one: every event after the first waits behind the batch in flight, so the
    batch claimed ahead comes back empty each time; the drain claims again once the batch in
    flight is recorded, and one drain delivers all of them, in order."""
    user = make_user("queue@example.com")
    for name in ("Second", "Third", "Fourth"):
        with uow() as session:
            accounts_service.update_profile(session, actor=session.get(User, user.id), name=name, locale="en")
    relay = Relay(state.db, connector, config=RelayConfig(batch_size=1, base_backoff_s=0.0, max_backoff_s=0.0))
    stats = relay.drain()
    assert (stats.claimed, stats.delivered) == (4, 4)
    assert _contacts(state)[user.external_id] == (4, "Fourth", "queue@example.com")
    assert _statuses(uow) == ["delivered"] * 4


def test_a_repeated_delivery_changes_nothing(relay: Relay, make_user: Any, state: Any, uow: Any) -> None:
    user = make_user("again@example.com")
    relay.drain()
    with uow() as session:  # as if the relay died after pushing, before recording
        session.execute(OutboxEvent.__table__.update().values(status=OutboxStatus.PENDING, delivered_at=None))
    stats = relay.drain()
    assert stats.outcomes == {"unchanged": 1}
    assert _contacts(state)[user.external_id][0] == 1


def test_an_older_version_never_overwrites_a_newer_one(connector: Any, state: Any) -> None:
    row = {"email": "x@example.com", "name": "New", "role": "customer", "created_at": None, "updated_at": None, "active": True}
    from datetime import datetime

    row["created_at"] = row["updated_at"] = datetime(2026, 1, 1)
    assert connector.upsert("crm_contact", [UpsertItem("e1", 5, row)]) == [ItemResult(Outcome.CREATED)]
    assert connector.upsert("crm_contact", [UpsertItem("e1", 3, {**row, "name": "Old"})]) == [ItemResult(Outcome.UNCHANGED)]
    assert connector.upsert("crm_contact", [UpsertItem("e1", 6, {**row, "name": "Newer"})]) == [ItemResult(Outcome.UPDATED)]
    assert connector.upsert("crm_contact", [UpsertItem("e1", 6, {**row, "name": "Same"})]) == [ItemResult(Outcome.UNCHANGED)]
    assert _contacts(state)["e1"] == (6, "Newer", "x@example.com")
    # Two versions of one record in a batch: each is judged against what was stored before it.
    batch = [UpsertItem("e2", 1, {**row, "name": "A"}), UpsertItem("e2", 2, {**row, "name": "B"}), UpsertItem("e1", 7, row)]
    assert [r.outcome for r in connector.upsert("crm_contact", batch)] == [Outcome.CREATED, Outcome.CREATED, Outcome.UPDATED]
    assert (_contacts(state)["e1"][:2], _contacts(state)["e2"][:2]) == ((7, "New"), (2, "B"))


def test_shuffled_and_duplicated_deliveries_end_in_the_in_order_state(connector: Any, state: Any) -> None:
    from datetime import datetime

    base = {
        "email": "s@example.com",
        "role": "customer",
        "active": True,
        "created_at": datetime(2026, 1, 1),
        "updated_at": datetime(2026, 1, 1),
    }
    items = [UpsertItem(f"agg{n % 7}", v, {**base, "name": f"agg{n % 7} v{v}"}) for n in range(7) for v in range(1, 6)]
    shuffled = items * 2
    random.Random(7).shuffle(shuffled)
    for start in range(0, len(shuffled), 9):
        connector.upsert("crm_contact", shuffled[start : start + 9])
    assert {k: v[:2] for k, v in _contacts(state).items()} == {f"agg{n}": (5, f"agg{n} v5") for n in range(7)}


def test_a_poison_event_is_parked_dead_and_only_its_aggregate_waits(relay: Relay, make_user: Any, state: Any, uow: Any) -> None:
    poisoned = make_user("poison@example.com")
    healthy = make_user("healthy@example.com")
    with uow() as session:
        events.record(session, events.Event("contact", poisoned.external_id, 2, "contact.upserted", payload={"email": "broken"}))
        session.get(User, poisoned.id).version = 2  # the broken event took version 2
        accounts_service.update_profile(session, actor=session.get(User, poisoned.id), name="Waits", locale="en")
    stats = relay.drain()
    assert stats.dead == 1
    contacts = _contacts(state)
    assert contacts[healthy.external_id][0] == 1
    assert contacts[poisoned.external_id][0] == 1  # v3 waits behind the dead v2
    with uow() as session:
        status = sync_status(session)
        assert (status.dead, status.pending) == (1, 1)
        dead = session.scalar(select(OutboxEvent).where(OutboxEvent.status == OutboxStatus.DEAD))
        assert "payload lacks" in (dead.last_error or "")
        # The fix: the event's payload is corrected, then replayed.
        dead.payload = {**dead.payload, "external_id": poisoned.external_id, "role": "customer", "created_at": "2026-01-01T00:00:00+00:00"}
        replay_dead(session)
    stats = relay.drain()
    assert (stats.delivered, stats.dead) == (2, 0)
    assert _contacts(state)[poisoned.external_id][:2] == (3, "Waits")


def test_an_unreachable_crm_keeps_events_pending_and_drains_later(state: Any, make_user: Any, uow: Any) -> None:
    class Down:
        capabilities = type("C", (), {"max_batch": 10})()

        def upsert(self, table: str, items: list[UpsertItem]) -> list[ItemResult]:
            raise CrmUnavailable("connection refused")

        def close(self) -> None:
            pass

    make_user("later@example.com")
    down = Relay(state.db, Down(), config=RelayConfig(base_backoff_s=0.0, max_backoff_s=0.0))  # type: ignore[arg-type]
    stats = down.drain()
    assert (stats.retried, stats.dead) == (1, 0)
    with uow() as session:
        event = session.scalar(select(OutboxEvent))
        assert (event.status, event.attempts, event.last_error) == (OutboxStatus.PENDING, 1, "connection refused")
    from backend_adapter.connectors.sql import SqlConnector

    up = Relay(state.db, SqlConnector(state.crm_engine), config=RelayConfig(base_backoff_s=0.0, max_backoff_s=0.0))
    assert up.drain().delivered == 1


def test_a_leased_event_is_not_claimed_twice(state: Any, connector: Any, make_user: Any) -> None:
    make_user("lease@example.com")
    first = Relay(state.db, connector, relay_id="first")
    second = Relay(state.db, connector, relay_id="second")
    claimed = first._claim()
    assert len(claimed) == 1
    assert second._claim() == []


def test_partner_applications_reach_the_crm(relay: Relay, state: Any, uow: Any) -> None:
    from portal.partner import service as partner_service

    with uow() as session:
        partner_service.submit_application(
            session, state.mailing, company="Acme", country="DE", contact_name="A", contact_email="a@acme.example",
            website="", message="", locale="en", ip="1.1.1.1",
        )  # fmt: skip
    relay.drain()
    with state.crm_engine.connect() as conn:
        rows = conn.execute(select(crm.crm_partner_application.c.company, crm.crm_partner_application.c.status)).all()
    assert [tuple(r) for r in rows] == [("Acme", "submitted")]


class _SlowFirstPush:
    """The real SQL connector, whose first push takes `delay` seconds (a slow CRM); calls `during`
    at the start of every push after the first."""

    def __init__(self, inner: Any, delay: float, during: Any = None) -> None:
        self.inner, self.delay, self.during, self.calls = inner, delay, during, 0
        self.capabilities = inner.capabilities

    def upsert(self, table: str, items: list[UpsertItem]) -> list[ItemResult]:
        import time

        self.calls += 1
        if self.calls == 1:
            time.sleep(self.delay)
        elif self.during is not None:
            self.during()
        return self.inner.upsert(table, items)  # type: ignore[no-any-return]

    def changes_since(self, table: str, cursor: Any, *, limit: int) -> Any:
        return self.inner.changes_since(table, cursor, limit=limit)

    def close(self) -> None:
        self.inner.close()


def test_a_batch_claimed_ahead_keeps_its_lease_while_the_one_before_is_pushed(connector: Any, make_user: Any, state: Any, uow: Any) -> None:
    """Pipelined drain: batch 2 is claimed while batch 1 is pushed. Its lease counts from that
    claim, so when batch 1's push outlasts half the lease, batch 2's lease is renewed before its
    own push starts; another relay can never find it free while it is being pushed."""
    from datetime import timedelta

    from portal.db import utcnow

    first, second = make_user("first@example.com"), make_user("second@example.com")
    lease_left: list[timedelta] = []

    def look_at_the_lease() -> None:
        with uow() as session:
            row = session.scalar(select(OutboxEvent).where(OutboxEvent.aggregate_id == second.external_id))
            lease_left.append(row.locked_until - utcnow())

    slow = _SlowFirstPush(connector, delay=0.8, during=look_at_the_lease)
    relay = Relay(state.db, slow, config=RelayConfig(batch_size=1, lease_s=1.0, base_backoff_s=0.0, max_backoff_s=0.0))
    assert relay.drain().delivered == 2
    assert len(lease_left) == 1
    assert lease_left[0] > timedelta(seconds=0.5)  # renewed at its push's start (without: about 0.2 s left)
    assert set(_contacts(state)) == {first.external_id, second.external_id}


def test_a_stop_during_a_push_gives_back_the_batch_claimed_ahead(connector: Any, make_user: Any, state: Any, uow: Any) -> None:
    """SIGTERM while batch 1 is pushed: batch 1 finishes and is recorded; batch 2, already
    claimed, is not pushed but released (no lease, the attempt not counted), for the next run."""
    import threading

    make_user("one@example.com")
    make_user("two@example.com")
    stop = threading.Event()
    slow = _SlowFirstPush(connector, delay=0.3)
    relay = Relay(state.db, slow, config=RelayConfig(batch_size=1, base_backoff_s=0.0, max_backoff_s=0.0))
    threading.Timer(0.1, stop.set).start()
    stats = relay.drain(stop=stop)
    assert (stats.claimed, stats.delivered, slow.calls) == (1, 1, 1)
    with uow() as session:
        rows = [(e.status, e.claimed_by, e.attempts) for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.id))]
    assert rows == [(OutboxStatus.DELIVERED, None, 1), (OutboxStatus.PENDING, None, 0)]
    assert relay.drain().delivered == 1
