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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import Any, NamedTuple, cast

import structlog
from sqlalchemy import (
    ColumnElement,
    Connection,
    Dialect,
    Integer,
    Table,
    and_,
    any_,
    bindparam,
    exists,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.pool import StaticPool

from backend_adapter import metrics
from backend_adapter.connectors.base import CrmConnector, CrmUnavailable, ItemResult, Outcome, UpsertItem
from backend_adapter.mapping import CrmWrite, MappingError, to_crm
from portal.db import Database, utcnow
from portal.events.models import OutboxEvent, OutboxStatus
from portal.prepared import Prepared, list_value, listed

log = structlog.get_logger(__name__)

OUTBOX = cast(Table, OutboxEvent.__table__)  # declared as a FromClause; it is the Table
# What a claim reads of an event (not last_error, which can be long) ...
_EVENT_COLUMNS = tuple(
    OUTBOX.c[name] for name in ("id", "aggregate_type", "aggregate_id", "seq", "type", "version", "payload", "created_at", "attempts")
)
# ... and of a possible follower, what decides whether it may come along.
_FOLLOWER_COLUMNS = (*_EVENT_COLUMNS, OUTBOX.c.status, OUTBOX.c.next_attempt_at, OUTBOX.c.locked_until)
_MIN_WINDOW = 1000  # candidate rows per step of the head search


class _Statements:
    """The statements every batch runs, compiled once per dialect (portal/prepared.py)."""

    def __init__(self, dialect: Dialect) -> None:
        name = dialect.name
        now = bindparam("now", type_=OUTBOX.c.next_attempt_at.type)
        earlier = OUTBOX.alias()
        blocked = exists().where(
            and_(
                earlier.c.aggregate_type == OUTBOX.c.aggregate_type,
                earlier.c.aggregate_id == OUTBOX.c.aggregate_id,
                # Not `IN (...)`: an expanding list cannot be compiled once (`Prepared`).
                or_(earlier.c.status == OutboxStatus.PENDING, earlier.c.status == OutboxStatus.DEAD),
                earlier.c.seq < OUTBOX.c.seq,
            )
        )
        candidate = OUTBOX.alias()
        # PostgreSQL: `status BETWEEN 'pending' AND 'pending'` ordered by (status, id), not
        # `status = 'pending'` ordered by id. Both mean the pending rows in id order, but then only
        # the (status, id) index can deliver that order. With the equality PostgreSQL may walk the
        # primary key from the first id and filter out every delivered row on the way, which its
        # statistics invite after a burst (taken while the burst was all pending): at the 20th
        # batch of a 20,000-event backlog, 8.4 ms for the window instead of 0.7 ms. SQLite already
        # seeks (status = ?, id > ?) in that index.
        pending: ColumnElement[bool]
        order: tuple[ColumnElement[Any], ...]
        if name == "postgresql":
            pending, order = candidate.c.status.between(OutboxStatus.PENDING, OutboxStatus.PENDING), (candidate.c.status, candidate.c.id)
        else:
            pending, order = candidate.c.status == OutboxStatus.PENDING, (candidate.c.id,)
        window = (
            select(candidate.c.id)
            .where(pending, candidate.c.next_attempt_at <= now, candidate.c.id > bindparam("after"))
            .order_by(*order)
            .limit(bindparam("window", type_=Integer))
        )
        lease_free = or_(OUTBOX.c.locked_until.is_(None), OUTBOX.c.locked_until < now)
        if name == "postgresql":
            # `= ANY(ARRAY(window))`: the window is read once, then each row fetched by its key
            # (with `IN (window)` the planner may walk the whole primary key a second time).
            # All of the conditions again: under READ COMMITTED, PostgreSQL re-checks them on the
            # newest version of a row it locks; the window was read from the statement's snapshot.
            due = [OUTBOX.c.status == OutboxStatus.PENDING, OUTBOX.c.next_attempt_at <= now, lease_free]
            conditions = [OUTBOX.c.id == any_(func.array(window.scalar_subquery())), *due, ~blocked]
        else:
            # SQLite: the claim holds the write lock (BEGIN IMMEDIATE), so the window's rows are
            # pending and due; repeating that would make SQLite scan the whole pending index again.
            conditions = [OUTBOX.c.id.in_(window), lease_free, ~blocked]
        heads = select(*_EVENT_COLUMNS).where(*conditions).order_by(OUTBOX.c.id).limit(bindparam("limit", type_=Integer))
        if name == "postgresql":
            heads = heads.with_for_update(skip_locked=True, of=OUTBOX)
        self.heads = Prepared(heads, dialect)
        seen = window.subquery()
        self.window_extent = Prepared(select(func.count(), func.max(seen.c.id)), dialect)
        self.lease = Prepared(
            update(OUTBOX)
            .where(listed(OUTBOX.c.id, "ids", name))
            .values(
                locked_until=bindparam("lease", type_=OUTBOX.c.locked_until.type),
                claimed_by=bindparam("relay"),
                attempts=OUTBOX.c.attempts + 1,
            ),
            dialect,
        )
        self.delivered = Prepared(
            update(OUTBOX)
            .where(listed(OUTBOX.c.id, "ids", name), OUTBOX.c.claimed_by == bindparam("relay"))
            .values(
                status=OutboxStatus.DELIVERED,
                delivered_at=bindparam("now", type_=OUTBOX.c.delivered_at.type),
                last_error=None,
                locked_until=None,
                claimed_by=None,
            ),
            dialect,
        )


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


_NOT_ATTEMPTED = ItemResult(Outcome.RETRY, "not attempted")


class _Claimed(NamedTuple):  # one per event: a tuple is cheaper to build than a frozen dataclass
    id: int
    aggregate_type: str
    aggregate_id: str
    seq: int
    type: str
    version: int
    payload: dict[str, object]
    created_at: datetime
    attempts: int


@dataclass
class _Outcomes:
    """What a batch's delivery attempts decided, to be written to the outbox rows still leased."""

    at: datetime
    delivered: list[int]
    dead: list[dict[str, object]]
    retry: list[dict[str, object]]


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
        # Outcomes of pushed batches while they wait to be written by the next claim's transaction
        # (`drain`, `run_forever`): one portal transaction per batch instead of two. Usually one
        # batch's; two when a claim failed while a push was in flight.
        self._unrecorded: list[_Outcomes] = []
        # A pipelined drain uses two connections to the portal database at once (the claim, and a
        # lease renewal during a long push); an in-memory SQLite database has only one, shared.
        self._pipelined = not isinstance(db.engine.pool, StaticPool)
        self._prepared: dict[str, _Statements] = {}

    def _statements(self, conn: Connection) -> _Statements:
        statements = self._prepared.get(conn.dialect.name)
        if statements is None:
            statements = self._prepared[conn.dialect.name] = _Statements(conn.dialect)
        return statements

    # -- claiming --------------------------------------------------------------------------
    def _claim(self) -> list[_Claimed]:
        """Record the previous batch's outcomes (if still unwritten) and lease the next batch, in one
        transaction."""
        now = utcnow()
        cfg = self.config
        with self.db.unit_of_work() as session:
            conn = session.connection()
            for outcomes in self._unrecorded:
                self._write_outcomes(conn, outcomes)
            heads = self._heads(conn, now, cfg.batch_size)
            claimed = self._lease(conn, heads, now) if heads else []
        self._unrecorded = []  # committed
        return claimed

    def _lease(self, conn: Connection, heads: list[_Claimed], now: datetime) -> list[_Claimed]:
        cfg = self.config
        rows = self._with_followers(conn, heads, now, cfg.batch_size)
        lease = now + timedelta(seconds=cfg.lease_s)
        ids = list_value([r.id for r in rows], conn.dialect.name)
        self._statements(conn).lease.execute(conn, {"ids": ids, "lease": lease, "relay": self.relay_id})
        # Heads come as `_Claimed` already; followers are rows whose first nine columns are
        # _EVENT_COLUMNS. This claim is attempt number stored + 1 (what the UPDATE above just wrote).
        return [r if type(r) is _Claimed else _Claimed(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8] + 1) for r in rows]

    def _heads(self, conn: Connection, now: datetime, limit: int) -> list[_Claimed]:
        """The first `limit` undelivered events, in id order, that head their aggregate and are due and
        free (as `_Claimed`, counting this claim as an attempt).

        Read window by window over the pending, due rows in id order (at least twice the batch
        each). One statement over the whole backlog made SQLite (and PostgreSQL, depending on its
        statistics) test every pending row against the NOT EXISTS and sort them all before the
        LIMIT, on every cycle: a backlog drained in quadratic time. The result is the same rows in
        the same order (a window with too few heads moves on to the next one).
        """
        statements = self._statements(conn)
        window_size = max(2 * limit, _MIN_WINDOW)
        heads: list[_Claimed] = []
        after = 0  # ids start at 1
        while True:
            window = {"now": now, "after": after, "window": window_size}
            found = statements.heads.rows(conn, {**window, "limit": limit - len(heads)})
            # As claimed: attempt number stored + 1 (what the lease UPDATE writes).
            heads.extend(_Claimed(r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8] + 1) for r in found)
            if len(heads) >= limit:
                return heads
            size, last = statements.window_extent.rows(conn, window)[0]
            if size < window_size or last is None:
                return heads
            after = last

    def _with_followers(self, conn: Connection, heads: list[_Claimed], now: datetime, limit: int) -> list[Any]:
        """Heads plus the events queued right behind them (same aggregate, consecutive, due)."""
        if len(heads) >= limit:
            return heads
        keys = {(h.aggregate_type, h.aggregate_id) for h in heads}
        head_ids = {h.id for h in heads}
        dialect = conn.dialect.name
        stmt = (
            select(*_FOLLOWER_COLUMNS)
            .where(
                OUTBOX.c.status.in_([OutboxStatus.PENDING, OutboxStatus.DEAD]),
                listed(OUTBOX.c.aggregate_id, "aggregates", dialect),
                ~listed(OUTBOX.c.id, "heads", dialect),
            )
            .order_by(OUTBOX.c.aggregate_type, OUTBOX.c.aggregate_id, OUTBOX.c.seq)
        )
        if dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True, of=OUTBOX)
        lists = {"aggregates": list_value([k[1] for k in keys], dialect), "heads": list_value(list(head_ids), dialect)}
        chosen: list[Any] = list(heads)
        last_seq = {(h.aggregate_type, h.aggregate_id): h.seq for h in heads}
        stopped: set[tuple[str, str]] = set()
        for row in conn.execute(stmt, lists).all():
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
        stats = self._cycle()
        self._flush()
        return stats

    def _flush(self) -> None:
        """Write outcomes still waiting for the next claim (in their own transaction)."""
        if self._unrecorded:
            with self.db.unit_of_work() as session:
                for outcomes in self._unrecorded:
                    self._write_outcomes(session.connection(), outcomes)
            self._unrecorded = []

    def _cycle(self) -> RelayStats:
        """Claim a batch (writing the previous batch's outcomes in the same transaction) and deliver
        it; its outcomes wait in `_unrecorded` for the next claim or `_flush`. Until then its rows
        stay leased to this relay: a crash in between re-delivers them after the lease, which the
        CRM's version check absorbs, as for a crash before any recording."""
        leased_at = time.monotonic()
        claimed = self._claim()
        stats = RelayStats(claimed=len(claimed))
        if claimed:
            self._unrecorded.append(self._outcomes(claimed, self._deliver(claimed, leased_at), stats))
        return stats

    def _deliver(self, claimed: list[_Claimed], leased_at: float) -> dict[int, ItemResult]:
        """Push a claimed batch to the CRM, each aggregate's events in order; the result of each.

        `leased_at` is when the lease was taken (monotonic clock, read before the claim): in a
        pipelined drain the batch may have waited for the previous push, so its lease is renewed
        from that moment, before the first push too, not from the start of this one."""
        started = time.monotonic()
        leased_at = self._renew_lease_if_needed(claimed, leased_at)
        results: dict[int, ItemResult] = {}
        by_aggregate: dict[tuple[str, str], list[_Claimed]] = defaultdict(list)
        for event in claimed:
            by_aggregate[(event.aggregate_type, event.aggregate_id)].append(event)
        for events_of in by_aggregate.values():
            if len(events_of) > 1:
                events_of.sort(key=attrgetter("seq"))
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
                leased_at = self._renew_lease_if_needed(claimed, leased_at)
        metrics.PUSH_LATENCY.observe(time.monotonic() - started)
        return results

    def _push(self, table: str, pairs: list[tuple[_Claimed, CrmWrite]]) -> list[tuple[_Claimed, ItemResult]]:
        chunk = max(1, self.connector.capabilities.max_batch)
        out: list[tuple[_Claimed, ItemResult]] = []
        for start in range(0, len(pairs), chunk):
            part = pairs[start : start + chunk]
            items = [UpsertItem(w.external_id, e.seq, w.row) for e, w in part]
            try:
                item_results = self.connector.upsert(table, items)
            except CrmUnavailable as exc:
                item_results = [ItemResult(Outcome.RETRY, str(exc), exc.retry_after_s) for _ in items]
            except Exception as exc:  # a connector bug must not kill the relay; retry later
                log.exception("relay.connector_error", table=table)
                item_results = [ItemResult(Outcome.RETRY, f"connector error: {exc}") for _ in items]
            out.extend(zip((e for e, _w in part), item_results, strict=True))
        return out

    def _renew_lease_if_needed(self, claimed: list[_Claimed], leased_at: float) -> float:
        """Renew the batch's lease once half of it has passed; when the lease now counts from."""
        renewing = time.monotonic()
        if renewing - leased_at < self.config.lease_s / 2:
            return leased_at
        with self.db.unit_of_work() as session:
            session.execute(
                update(OutboxEvent)
                .where(OutboxEvent.id.in_([e.id for e in claimed]), OutboxEvent.claimed_by == self.relay_id)
                .values(locked_until=utcnow() + timedelta(seconds=self.config.lease_s))
            )
        return renewing

    def _backoff(self, attempts: int, retry_after_s: float | None) -> timedelta:
        # Full jitter (uniform between 0 and the capped exponential), never sooner than asked.
        ceiling = min(self.config.max_backoff_s, self.config.base_backoff_s * 2 ** max(0, attempts - 1))
        delay = self.rng.uniform(0, ceiling)
        if retry_after_s is not None:
            delay = max(delay, retry_after_s)
        return timedelta(seconds=delay)

    def _outcomes(self, claimed: list[_Claimed], results: dict[int, ItemResult], stats: RelayStats) -> _Outcomes:
        """Every claimed event's outcome (counted in `stats` and the metrics), ready to be written."""
        now = utcnow()
        counts: dict[str, int] = defaultdict(int)
        delivered: list[int] = []
        dead: list[dict[str, object]] = []
        retry: list[dict[str, object]] = []
        for event in claimed:
            result = results.get(event.id, _NOT_ATTEMPTED)
            counts[result.outcome.value] += 1
            if result.delivered:
                delivered.append(event.id)
                stats.delivered += 1
            elif result.outcome is Outcome.PERMANENT:
                dead.append({"b_id": event.id, "b_error": result.error[:2000]})
                stats.dead += 1
                log.warning("relay.dead", event_id=event.id, type=event.type, error=result.error)
            else:
                retry.append(
                    {
                        "b_id": event.id,
                        "b_next": now + self._backoff(event.attempts, result.retry_after_s),
                        "b_error": result.error[:2000],
                    }
                )
                stats.retried += 1
        for outcome, count in counts.items():
            stats.outcomes[outcome] += count
            metrics.ATTEMPTS.labels(outcome).inc(count)
        return _Outcomes(now, delivered, dead, retry)

    def _write_outcomes(self, conn: Connection, outcomes: _Outcomes) -> None:
        """Record outcomes, only on rows this relay still holds: one statement per kind of outcome
        (an id list for the deliveries, executemany for the per-row errors and retry times)."""
        now, delivered, dead, retry = outcomes.at, outcomes.delivered, outcomes.dead, outcomes.retry
        mine = OUTBOX.c.claimed_by == self.relay_id
        release = {"locked_until": None, "claimed_by": None}
        one = OUTBOX.c.id == bindparam("b_id")
        if delivered:
            values = {"ids": list_value(delivered, conn.dialect.name), "relay": self.relay_id, "now": now}
            self._statements(conn).delivered.execute(conn, values)
        if dead:
            conn.execute(update(OUTBOX).where(one, mine).values(status=OutboxStatus.DEAD, last_error=bindparam("b_error"), **release), dead)
        if retry:
            conn.execute(
                update(OUTBOX)
                .where(one, mine)
                .values(
                    next_attempt_at=bindparam("b_next", type_=OUTBOX.c.next_attempt_at.type), last_error=bindparam("b_error"), **release
                ),
                retry,
            )

    def drain(
        self,
        *,
        max_batches: int | None = None,
        on_cycle: Callable[[RelayStats], None] | None = None,
        stop: threading.Event | None = None,
    ) -> RelayStats:
        """Run cycles until nothing is claimable now (or max_batches, or a batch with no progress);
        every outcome is written on return.

        Pipelined: while one batch is pushed to the CRM (on a second thread), the next is claimed
        from the portal database (the same transaction writes the outcomes of the batch before).
        The two overlap their waits on the databases. Order is kept as without the pipeline: the
        batch in flight is still pending and leased, so the claim skips its events and every event
        queued behind them, exactly as a claim by a second relay would.
        """
        total = RelayStats()
        batches = 0
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="relay-push") as pusher:
            try:
                leased_at = time.monotonic()
                claimed = self._claim() if max_batches is None or max_batches > 0 else []
                progressing = True
                while claimed:
                    if batches and stop is not None and stop.is_set():
                        self._release(claimed)  # claimed ahead of a stop: give it back, unpushed
                        break
                    batches += 1
                    pushing = pusher.submit(self._deliver, claimed, leased_at)
                    more = progressing and not (stop and stop.is_set()) and (max_batches is None or batches < max_batches)
                    following: list[_Claimed] = []
                    next_leased_at = leased_at
                    try:
                        if more and self._pipelined:
                            next_leased_at = time.monotonic()
                            following = self._claim()
                    finally:  # the push in flight always finishes, and its outcomes are kept
                        stats = RelayStats(claimed=len(claimed))
                        self._unrecorded.append(self._outcomes(claimed, pushing.result(), stats))
                        total.add(stats)
                    if on_cycle:
                        on_cycle(stats)
                    # Nothing delivered (the CRM is down, say): finish what is claimed, claim no more.
                    progressing = stats.delivered > 0 or stats.dead > 0
                    more = not (stop and stop.is_set()) and (max_batches is None or batches < max_batches)
                    if not following and progressing and more:
                        # Claimed ahead, the next batch came back empty: what is left may all be
                        # queued behind the batch that was in flight. Claim again now that its
                        # outcomes are known (this claim writes them first).
                        next_leased_at = time.monotonic()
                        following = self._claim()
                    claimed, leased_at = following, next_leased_at
            finally:
                self._flush()
        if on_cycle and batches == 0:
            on_cycle(total)
        return total

    def _release(self, claimed: list[_Claimed]) -> None:
        """Give back a claimed batch that was never pushed: free its lease, un-count the attempt."""
        with self.db.unit_of_work() as session:
            session.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_([e.id for e in claimed]), OUTBOX.c.claimed_by == self.relay_id)
                .values(locked_until=None, claimed_by=None, attempts=OUTBOX.c.attempts - 1)
            )

    def run_forever(self, stop: threading.Event, *, on_cycle: Callable[[RelayStats], None] | None = None) -> None:
        """Drain, sleep while nothing is claimable, drain again, until `stop` is set (SIGTERM)."""
        while not stop.is_set():
            try:
                stats = self.drain(on_cycle=on_cycle, stop=stop)
            except Exception:  # the portal database itself failed: wait and try again
                log.exception("relay.cycle_failed")
                stop.wait(self.config.idle_sleep_s * 4)
                continue
            if stats.claimed == 0:
                stop.wait(self.config.idle_sleep_s)
