"""The relay: outbox rows → CRM store, exactly once in effect.

Each cycle claims a batch under a lease (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so several
relays share the work; SQLite: the single writer lock), delivers each aggregate's events in
`seq` order, and records every outcome. A crash anywhere loses nothing: unrecorded rows stay
`pending`, their lease runs out, and re-delivery is absorbed by the CRM upsert's version check.
An event that can never be delivered is parked `dead`; only its own aggregate waits behind it.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import structlog
from sqlalchemy import ColumnElement, and_, exists, or_, select, update
from sqlalchemy.orm import Session, aliased

from backend_adapter import metrics
from backend_adapter.connectors.base import CrmConnector, CrmUnavailable, ItemResult, Outcome, UpsertItem
from backend_adapter.mapping import CrmWrite, MappingError, to_crm
from portal.db import Database, utcnow
from portal.events.models import OutboxEvent, OutboxStatus

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RelayConfig:
    batch_size: int = 500
    lease_s: float = 30.0
    base_backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    idle_sleep_s: float = 0.5


@dataclass
class RelayStats:
    claimed: int = 0
    delivered: int = 0
    retried: int = 0
    dead: int = 0
    outcomes: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def add(self, other: RelayStats) -> None:
        self.claimed += other.claimed
        self.delivered += other.delivered
        self.retried += other.retried
        self.dead += other.dead
        for key, value in other.outcomes.items():
            self.outcomes[key] += value


@dataclass(frozen=True)
class _Claimed:
    id: int
    aggregate_type: str
    aggregate_id: str
    seq: int
    type: str
    version: int
    payload: dict[str, object]
    created_at: datetime
    attempts: int


class Relay:
    def __init__(
        self,
        db: Database,
        connector: CrmConnector,
        *,
        config: RelayConfig | None = None,
        rng: random.Random | None = None,
        relay_id: str | None = None,
    ) -> None:
        self.db = db
        self.connector = connector
        self.config = config or RelayConfig()
        self.rng = rng or random.Random()  # noqa: S311 - jitter, not secrecy
        self.relay_id = relay_id or uuid.uuid4().hex[:12]

    # -- claiming --------------------------------------------------------------------------
    def _claim(self) -> list[_Claimed]:
        now = utcnow()
        cfg = self.config
        with self.db.unit_of_work() as session:
            heads = self._heads(session, now, cfg.batch_size)
            if not heads:
                return []
            rows = self._with_followers(session, heads, now, cfg.batch_size)
            lease = now + timedelta(seconds=cfg.lease_s)
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_([r.id for r in rows]))
                .values(locked_until=lease, claimed_by=self.relay_id, attempts=OutboxEvent.attempts + 1)
            )
            return [
                _Claimed(r.id, r.aggregate_type, r.aggregate_id, r.seq, r.type, r.version, dict(r.payload), r.created_at, r.attempts + 1)
                for r in rows
            ]

    def _due(self, now: datetime) -> list[ColumnElement[bool]]:
        return [
            OutboxEvent.status == OutboxStatus.PENDING,
            OutboxEvent.next_attempt_at <= now,
            or_(OutboxEvent.locked_until.is_(None), OutboxEvent.locked_until < now),
        ]

    def _heads(self, session: Session, now: datetime, limit: int) -> list[OutboxEvent]:
        """The first undelivered event of each aggregate, when it is due and free."""
        earlier = aliased(OutboxEvent)
        blocked = exists().where(
            and_(
                earlier.aggregate_type == OutboxEvent.aggregate_type,
                earlier.aggregate_id == OutboxEvent.aggregate_id,
                earlier.status.in_([OutboxStatus.PENDING, OutboxStatus.DEAD]),
                earlier.seq < OutboxEvent.seq,
            )
        )
        stmt = select(OutboxEvent).where(*self._due(now), ~blocked).order_by(OutboxEvent.id).limit(limit)
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=OutboxEvent)
        return list(session.scalars(stmt))

    def _with_followers(self, session: Session, heads: list[OutboxEvent], now: datetime, limit: int) -> list[OutboxEvent]:
        """Heads plus the events queued right behind them (same aggregate, consecutive, due)."""
        if len(heads) >= limit:
            return heads
        keys = {(h.aggregate_type, h.aggregate_id) for h in heads}
        head_ids = {h.id for h in heads}
        stmt = (
            select(OutboxEvent)
            .where(
                OutboxEvent.status.in_([OutboxStatus.PENDING, OutboxStatus.DEAD]),
                OutboxEvent.aggregate_id.in_([k[1] for k in keys]),
                OutboxEvent.id.not_in(head_ids),
            )
            .order_by(OutboxEvent.aggregate_type, OutboxEvent.aggregate_id, OutboxEvent.seq)
        )
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=OutboxEvent)
        chosen = list(heads)
        last_seq = {(h.aggregate_type, h.aggregate_id): h.seq for h in heads}
        stopped: set[tuple[str, str]] = set()
        for row in session.scalars(stmt):
            key = (row.aggregate_type, row.aggregate_id)
            if key not in keys or key in stopped or row.seq < last_seq[key]:
                continue
            lease_free = row.locked_until is None or row.locked_until < now
            # Consecutive only: a row skipped by SKIP LOCKED leaves a gap, and nothing may pass it.
            consecutive = row.seq == last_seq[key] + 1
            if (
                not consecutive
                or row.status is not OutboxStatus.PENDING
                or row.next_attempt_at > now
                or not lease_free
                or len(chosen) >= limit
            ):
                stopped.add(key)
                continue
            chosen.append(row)
            last_seq[key] = row.seq
        return chosen

    # -- delivering -------------------------------------------------------------------------
    def run_once(self) -> RelayStats:
        """Claim one batch, deliver it, record the outcomes."""
        claimed = self._claim()
        stats = RelayStats(claimed=len(claimed))
        if not claimed:
            return stats
        started = time.monotonic()
        results: dict[int, ItemResult] = {}
        by_aggregate: dict[tuple[str, str], list[_Claimed]] = defaultdict(list)
        for event in sorted(claimed, key=lambda e: (e.aggregate_type, e.aggregate_id, e.seq)):
            by_aggregate[(event.aggregate_type, event.aggregate_id)].append(event)
        # Round k delivers the k-th claimed event of every aggregate still in good standing, so an
        # aggregate whose event failed never has a later event land before it.
        failed: set[tuple[str, str]] = set()
        rounds = max(len(events) for events in by_aggregate.values())
        for k in range(rounds):
            writes: dict[str, list[tuple[_Claimed, CrmWrite]]] = defaultdict(list)
            for key, events_of in by_aggregate.items():
                if k >= len(events_of):
                    continue
                event = events_of[k]
                if key in failed:
                    results[event.id] = ItemResult(Outcome.RETRY, "waiting behind an earlier event of the same record")
                    continue
                try:
                    write = to_crm(event.type, event.version, event.payload, event.created_at)
                except MappingError as exc:
                    results[event.id] = ItemResult(Outcome.PERMANENT, str(exc))
                    failed.add(key)
                    continue
                writes[write.table].append((event, write))
            for table, pairs in writes.items():
                for result_event, result in self._push(table, pairs):
                    results[result_event.id] = result
                    if not result.delivered:
                        failed.add((result_event.aggregate_type, result_event.aggregate_id))
                self._renew_lease_if_needed(claimed, started)
        metrics.PUSH_LATENCY.observe(time.monotonic() - started)
        self._record(claimed, results, stats)
        return stats

    def _push(self, table: str, pairs: list[tuple[_Claimed, CrmWrite]]) -> list[tuple[_Claimed, ItemResult]]:
        chunk = max(1, self.connector.capabilities.max_batch)
        out: list[tuple[_Claimed, ItemResult]] = []
        for start in range(0, len(pairs), chunk):
            part = pairs[start : start + chunk]
            items = [UpsertItem(external_id=w.external_id, version=e.seq, row=w.row) for e, w in part]
            try:
                item_results = self.connector.upsert(table, items)
            except CrmUnavailable as exc:
                item_results = [ItemResult(Outcome.RETRY, str(exc), exc.retry_after_s) for _ in items]
            except Exception as exc:  # a connector bug must not kill the relay; retry later
                log.exception("relay.connector_error", table=table)
                item_results = [ItemResult(Outcome.RETRY, f"connector error: {exc}") for _ in items]
            out.extend(zip((e for e, _w in part), item_results, strict=True))
        return out

    def _renew_lease_if_needed(self, claimed: list[_Claimed], started: float) -> None:
        if time.monotonic() - started < self.config.lease_s / 2:
            return
        with self.db.unit_of_work() as session:
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_([e.id for e in claimed]), OutboxEvent.claimed_by == self.relay_id)
                .values(locked_until=utcnow() + timedelta(seconds=self.config.lease_s))
            )

    def _backoff(self, attempts: int, retry_after_s: float | None) -> timedelta:
        # Full jitter (uniform between 0 and the capped exponential), never sooner than asked.
        ceiling = min(self.config.max_backoff_s, self.config.base_backoff_s * 2 ** max(0, attempts - 1))
        delay = self.rng.uniform(0, ceiling)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return timedelta(seconds=delay)

    def _record(self, claimed: list[_Claimed], results: dict[int, ItemResult], stats: RelayStats) -> None:
        now = utcnow()
        with self.db.unit_of_work() as session:
            for event in claimed:
                result = results.get(event.id, ItemResult(Outcome.RETRY, "not attempted"))
                stats.outcomes[result.outcome.value] += 1
                metrics.ATTEMPTS.labels(result.outcome.value).inc()
                mine = and_(OutboxEvent.id == event.id, OutboxEvent.claimed_by == self.relay_id)
                if result.delivered:
                    values: dict[str, object] = {"status": OutboxStatus.DELIVERED, "delivered_at": now, "last_error": None}
                    stats.delivered += 1
                elif result.outcome is Outcome.PERMANENT:
                    values = {"status": OutboxStatus.DEAD, "last_error": result.error[:2000]}
                    stats.dead += 1
                    log.warning("relay.dead", event_id=event.id, type=event.type, error=result.error)
                else:
                    values = {
                        "next_attempt_at": now + self._backoff(event.attempts, result.retry_after_s),
                        "last_error": result.error[:2000],
                    }
                    stats.retried += 1
                session.execute(update(OutboxEvent).where(mine).values(locked_until=None, claimed_by=None, **values))

    def drain(self, *, max_batches: int | None = None) -> RelayStats:
        """Run cycles until nothing is claimable now (or max_batches)."""
        total = RelayStats()
        batches = 0
        while max_batches is None or batches < max_batches:
            stats = self.run_once()
            total.add(stats)
            batches += 1
            if stats.claimed == 0 or (stats.delivered == 0 and stats.dead == 0):
                break
        return total

    def run_forever(self, stop: threading.Event, *, on_cycle: Callable[[RelayStats], None] | None = None) -> None:
        while not stop.is_set():
            try:
                stats = self.run_once()
            except Exception:  # the portal database itself failed: wait and try again
                log.exception("relay.cycle_failed")
                stop.wait(self.config.idle_sleep_s * 4)
                continue
            if on_cycle:
                on_cycle(stats)
            if stats.claimed == 0:
                stop.wait(self.config.idle_sleep_s)
