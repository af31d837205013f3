"""Benchmark of the backend adapter: relay throughput into the SQL CRM store, and end-to-end lag.

    .venv/bin/python -m bench.adapter [--db sqlite|postgresql|both] [--events 20000] [--second-share 0.2]
                                      [--batch-size 500] [--rounds 3] [--rate 200] [--lag-seconds 15]
                                      [--fast-idle 0.05] [--json out.json] [--profile DIR]

For each database (SQLite files in a temporary directory; PostgreSQL 15 in a throwaway
cluster) every measurement gets fresh, migrated portal and CRM databases:

1. Throughput. The outbox is pre-filled in bulk with N `contact.upserted` events for
   distinct aggregates, 20 % of them (--second-share) second versions of aggregates whose
   first version is earlier in the outbox (N = 20,000: 16,000 aggregates, 4,000 of them
   twice), then (PostgreSQL) ANALYZE. `Relay(...).drain()` is timed until the outbox is
   empty → events/s; median of --rounds rounds, each on fresh databases.
   The check afterwards: one CRM row per aggregate, each at its latest version and content,
   every outbox row delivered.
   Baseline: the same end state (one row per aggregate, as `mapping.to_crm` makes it, at its
   latest version), inserted into an empty CRM table with one batched INSERT (executemany)
   per transaction of the same batch size → rows/s.
2. Lag. A writer thread commits one `contact.upserted` event per unit of work
   (`unit_of_work()` + `events.record`) at a steady rate (default 200/s, paced by the
   monotonic clock) while a relay runs `run_forever` in another thread, once with the
   default `RelayConfig()` (idle sleep 0.5 s) and once with idle_sleep_s=0.05. A poller
   thread reads the CRM table every 10 ms; lag = the moment a row is first seen there minus
   the moment its unit of work returned from commit. The outbox's own figure
   (delivered_at - created_at) is reported beside it.

It prints progress on stderr, the figures and a PASS/FAIL line per target (as information:
the exit status is 0 unless something broke). Everything it starts (threads, engines, the
PostgreSQL cluster, temporary files) is stopped and removed on exit, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import math
import os
import platform
import pstats
import random
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import Engine, func, insert, select

from backend_adapter import crm_schema
from backend_adapter.connectors.sql import SqlConnector
from backend_adapter.mapping import to_crm
from backend_adapter.relay import Relay, RelayConfig, RelayStats
from portal import events
from portal.db import Database, make_engine, utcnow
from portal.events.models import OutboxEvent, OutboxStatus
from portal.migrate import migrate_all

ROOT = Path(__file__).resolve().parent.parent
TARGET_EVENTS_PER_S = 2000.0  # SQLite
TARGET_RATIO = 0.25
TARGET_LAG_P99_S = 2.0
POLL_INTERVAL_S = 0.01
EVENT_TYPE = "contact.upserted"


class BenchError(RuntimeError):
    """Something the benchmark needs did not work (the run stops, exit status 1)."""


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# -- databases ---------------------------------------------------------------------------------------
class Place:
    """Where fresh databases come from: a directory of SQLite files or a throwaway PostgreSQL."""

    def __init__(self, kind: str, work: Path) -> None:
        self.kind = kind
        self.work = work
        self.pg: Any = None

    def start(self) -> None:
        if self.kind != "postgresql":
            return
        sys.path.insert(0, str(ROOT))
        from tests.support.pg import ThrowawayPostgres

        self.pg = ThrowawayPostgres()
        say(f"  starting a throwaway PostgreSQL 15 cluster in {self.pg.root} (port {self.pg.port}) …")
        self.pg.start()

    def url(self, name: str) -> str:
        if self.pg is not None:
            return str(self.pg.create_database(name))
        return f"sqlite:///{self.work / self.kind / f'{name}.db'}"

    def drop(self, name: str) -> None:
        """Remove a SQLite database's files once measured (PostgreSQL's go with the cluster)."""
        if self.pg is None:
            for suffix in ("", "-wal", "-shm"):
                (self.work / self.kind / f"{name}.db{suffix}").unlink(missing_ok=True)

    def server_version(self) -> str:
        if self.pg is None:
            return f"SQLite {sqlite3.sqlite_version} (WAL, synchronous=NORMAL)"
        engine = make_engine(self.url("version_probe"))
        try:
            with engine.connect() as conn:
                return str(conn.execute(select(func.version())).scalar_one()).split(" on ")[0]
        finally:
            engine.dispose()

    def stop(self) -> None:
        pg, self.pg = self.pg, None
        if pg is not None:
            pg.stop()


@dataclass
class Stores:
    """A migrated portal database, a CRM store and the relay's connector to it."""

    db: Database
    crm_engine: Engine
    connector: SqlConnector

    def close(self) -> None:
        self.connector.close()  # disposes crm_engine
        self.db.dispose()


@contextlib.contextmanager
def fresh_stores(place: Place, name: str) -> Iterator[Stores]:
    portal_url, crm_url = place.url(f"{name}_portal"), place.url(f"{name}_crm")
    db = Database(portal_url)
    crm_engine = make_engine(crm_url)
    stores = Stores(db, crm_engine, SqlConnector(crm_engine))
    try:
        migrate_all(db.engine, crm_engine)
        yield stores
    finally:
        stores.close()
        place.drop(f"{name}_portal")
        place.drop(f"{name}_crm")


# -- the events --------------------------------------------------------------------------------------
def contact_payload(n: int, external_id: str, created_at: datetime, revision: int) -> dict[str, object]:
    """Shaped like portal.accounts.service.contact_payload."""
    return {
        "external_id": external_id,
        "account_id": f"ACC-{n % 997:05d}" if n % 3 else None,
        "email": f"user{n}@example.com",
        "name": f"Bench User {n}" + (f" (rev {revision})" if revision > 1 else ""),
        "locale": ("en", "de", "fr", "zh")[n % 4],
        "role": "customer" if n % 10 else "partner",
        "active": True,
        "created_at": created_at.isoformat(),
    }


@dataclass
class Workload:
    rows: list[dict[str, Any]]  # outbox rows, in insertion order
    latest: dict[str, tuple[int, str]]  # external_id -> (latest seq, latest name)

    @property
    def aggregates(self) -> int:
        return len(self.latest)


def make_workload(total: int, second_share: float, seed: int = 20260) -> Workload:
    rng = random.Random(seed)
    seconds = int(total * second_share)
    firsts = total - seconds
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(firsts)]
    base = utcnow() - timedelta(hours=1)
    keyed: list[tuple[float, int, int]] = [(float(n), n, 1) for n in range(firsts)]
    # A second version lands somewhere after its first one (the gap is what a real outbox has).
    keyed += [(n + rng.uniform(1, firsts), n, 2) for n in rng.sample(range(firsts), seconds)]
    keyed.sort()
    rows: list[dict[str, Any]] = []
    latest: dict[str, tuple[int, str]] = {}
    created_of = {n: base - timedelta(days=30, seconds=n) for n in range(firsts)}
    for position, (_key, n, seq) in enumerate(keyed):
        at = base + timedelta(milliseconds=position)
        payload = contact_payload(n, ids[n], created_of[n], seq)
        rows.append(
            {
                "aggregate_type": "contact",
                "aggregate_id": ids[n],
                "seq": seq,
                "type": EVENT_TYPE,
                "version": 1,
                "payload": payload,
                "created_at": at,
                "next_attempt_at": at,
                "attempts": 0,
                "status": OutboxStatus.PENDING,
            }
        )
        if seq >= latest.get(ids[n], (0, ""))[0]:
            latest[ids[n]] = (seq, str(payload["name"]))
    return Workload(rows, latest)


def fill_outbox(db: Database, rows: list[dict[str, Any]], chunk: int = 5000) -> None:
    with db.engine.begin() as conn:
        for start in range(0, len(rows), chunk):
            conn.execute(insert(OutboxEvent), rows[start : start + chunk])


def crm_rows(workload: Workload) -> list[dict[str, Any]]:
    """The CRM end state, as the mapping makes it: one row per aggregate at its latest version."""
    last: dict[str, dict[str, Any]] = {}
    for row in workload.rows:
        if row["seq"] == workload.latest[row["aggregate_id"]][0]:
            last[row["aggregate_id"]] = row
    out = []
    for row in last.values():
        write = to_crm(row["type"], row["version"], row["payload"], row["created_at"])
        out.append({**write.row, "external_id": write.external_id, "version": row["seq"]})
    return out


# -- 1. throughput -----------------------------------------------------------------------------------
@dataclass
class Throughput:
    events: int
    aggregates: int
    batch_size: int
    rounds: int
    events_per_s: float  # median over the rounds
    baseline_rows: int
    baseline_rows_per_s: float  # median over the rounds
    ratio: float  # relay events/s ÷ baseline rows/s
    ratio_end_rows: float  # (aggregates per second of relay time) ÷ baseline rows/s: the stricter reading
    batches: int
    outcomes: dict[str, int]
    check_ok: bool
    check_problems: list[str] = field(default_factory=list)
    relay_events_per_s_rounds: list[float] = field(default_factory=list)
    baseline_rows_per_s_rounds: list[float] = field(default_factory=list)


@dataclass
class RelayRun:
    seconds: float
    batches: int
    outcomes: dict[str, int]
    problems: list[str]


def drain_timed(relay: Relay, total: int, profiler: cProfile.Profile | None) -> tuple[RelayStats, float, int]:
    """One `drain()`, timed, with a progress line every 2 s."""
    batches = 0
    delivered = 0
    started = time.perf_counter()
    last_report = started

    def progress(part: RelayStats) -> None:
        nonlocal batches, delivered, last_report
        batches += 1 if part.claimed else 0
        delivered += part.delivered
        now = time.perf_counter()
        if now - last_report >= 2:
            last_report = now
            say(f"      {delivered:>7}/{total} delivered, {delivered / (now - started):8.0f} events/s")

    if profiler is not None:
        profiler.enable()
    try:
        stats = relay.drain(on_cycle=progress)
    finally:
        if profiler is not None:
            profiler.disable()
    return stats, time.perf_counter() - started, batches


def check_crm(stores: Stores, workload: Workload) -> list[str]:
    problems: list[str] = []
    table = crm_schema.crm_contact
    with stores.crm_engine.connect() as conn:
        got = {r.external_id: (r.version, r.name) for r in conn.execute(select(table.c.external_id, table.c.version, table.c.name))}
    if len(got) != workload.aggregates:
        problems.append(f"{len(got)} CRM rows for {workload.aggregates} aggregates")
    wrong = [ext for ext, want in workload.latest.items() if got.get(ext) != want]
    if wrong:
        problems.append(f"{len(wrong)} rows not at their latest version/content (e.g. {wrong[0]}: {got.get(wrong[0])})")
    with stores.db.engine.connect() as conn:
        left = conn.execute(select(func.count()).select_from(OutboxEvent).where(OutboxEvent.status != OutboxStatus.DELIVERED)).scalar_one()
    if left:
        problems.append(f"{left} outbox rows not delivered")
    return problems


def relay_round(place: Place, workload: Workload, batch_size: int, name: str, profiler: cProfile.Profile | None = None) -> RelayRun:
    total = len(workload.rows)
    with fresh_stores(place, name) as stores:
        fill_outbox(stores.db, workload.rows)
        if stores.db.engine.dialect.name == "postgresql":
            # Autovacuum analyses a table after a bulk insert like this one within a minute; without
            # statistics the planner takes the claim for a 20-row table.
            with stores.db.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE outbox_event")
        relay = Relay(stores.db, stores.connector, config=RelayConfig(batch_size=batch_size))
        stats, seconds, batches = drain_timed(relay, total, profiler)
        problems = check_crm(stores, workload)
    if stats.delivered != total:
        problems.append(f"relay delivered {stats.delivered} of {total} events")
    return RelayRun(seconds, batches, dict(stats.outcomes), problems)


def baseline_round(place: Place, rows: list[dict[str, Any]], batch_size: int, name: str) -> float:
    """Seconds to insert `rows` into an empty crm_contact: one executemany INSERT per transaction."""
    engine = make_engine(place.url(name))
    try:
        crm_schema.create_crm_schema(engine)
        write = engine.execution_options(sqlite_begin="IMMEDIATE") if engine.dialect.name == "sqlite" else engine
        table = crm_schema.crm_contact
        started = time.perf_counter()
        for start in range(0, len(rows), batch_size):
            with write.begin() as conn:
                conn.execute(table.insert(), rows[start : start + batch_size])
        seconds = time.perf_counter() - started
        with engine.connect() as conn:
            count = conn.execute(select(func.count()).select_from(table)).scalar_one()
        if count != len(rows):
            raise BenchError(f"baseline inserted {count} rows, expected {len(rows)}")
        return seconds
    finally:
        engine.dispose()
        place.drop(name)


def bench_throughput(place: Place, args: argparse.Namespace) -> Throughput:
    workload = make_workload(args.events, args.second_share)
    total = len(workload.rows)
    rows = crm_rows(workload)
    say(
        f"  throughput: {total} events ({workload.aggregates} aggregates, {total - workload.aggregates} second versions), "
        f"batch_size={args.batch_size}; baseline: {len(rows)} rows; {args.rounds} rounds, each on fresh databases"
    )
    runs: list[RelayRun] = []
    base_rates: list[float] = []
    for number in range(1, args.rounds + 1):
        run = relay_round(place, workload, args.batch_size, f"relay{number}")
        runs.append(run)
        base_seconds = baseline_round(place, rows, args.batch_size, f"baseline{number}")
        base_rates.append(len(rows) / base_seconds)
        rate = total / run.seconds
        say(
            f"    round {number}: relay {rate:8,.0f} events/s ({run.seconds:.2f} s, {run.batches} batches, check "
            f"{'OK' if not run.problems else 'FAIL: ' + '; '.join(run.problems)}); "
            f"baseline {base_rates[-1]:9,.0f} rows/s ({base_seconds:.2f} s); ratio {rate / base_rates[-1]:.1%}"
        )
    if args.profile:
        profiler = cProfile.Profile()
        say("    profiled round (not counted) …")
        relay_round(place, workload, args.batch_size, "profiled", profiler)
        path = args.profile / f"relay-drain-{place.kind}.prof"
        profiler.dump_stats(str(path))
        say(profile_summary(profiler))
        say(f"    profile written to {path}")
    rates = [total / run.seconds for run in runs]
    median_rate, median_base = statistics.median(rates), statistics.median(base_rates)
    median_run = runs[rates.index(sorted(rates)[(len(rates) - 1) // 2])]
    problems = [p for run in runs for p in run.problems]
    return Throughput(
        events=total,
        aggregates=workload.aggregates,
        batch_size=args.batch_size,
        rounds=args.rounds,
        events_per_s=median_rate,
        baseline_rows=len(rows),
        baseline_rows_per_s=median_base,
        ratio=median_rate / median_base,
        ratio_end_rows=median_rate * workload.aggregates / total / median_base,
        batches=median_run.batches,
        outcomes=median_run.outcomes,
        check_ok=not problems,
        check_problems=problems,
        relay_events_per_s_rounds=rates,
        baseline_rows_per_s_rounds=base_rates,
    )


def profile_summary(profiler: cProfile.Profile, top: int = 25) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    return out.getvalue()


# -- 2. lag ------------------------------------------------------------------------------------------
@dataclass
class Lag:
    idle_sleep_s: float
    rate: float
    seconds: float
    written: int
    seen: int
    achieved_rate: float
    writer_max_behind_ms: float
    cycles: int
    mean_claimed_per_busy_cycle: float
    visible_ms: dict[str, float]  # commit returned → row first seen in the CRM table
    outbox_ms: dict[str, float]  # outbox created_at → delivered_at


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    ordered = sorted(values)

    def at(q: float) -> float:  # nearest rank
        return ordered[max(0, math.ceil(q * len(ordered)) - 1)]

    return {
        "n": len(ordered),
        "mean": sum(ordered) / len(ordered),
        "p50": at(0.50),
        "p95": at(0.95),
        "p99": at(0.99),
        "max": ordered[-1],
    }


class Threads:
    """Named threads with their own stop events, all stopped and joined on exit."""

    def __init__(self) -> None:
        self._threads: list[tuple[threading.Thread, threading.Event]] = []

    def start(self, name: str, target: Callable[[threading.Event], None]) -> tuple[threading.Thread, threading.Event]:
        stop = threading.Event()
        thread = threading.Thread(target=target, args=(stop,), name=name, daemon=True)
        self._threads.append((thread, stop))
        thread.start()
        return thread, stop

    def stop_all(self) -> None:
        for _thread, stop in self._threads:
            stop.set()
        for thread, _stop in self._threads:
            thread.join(timeout=30)
            if thread.is_alive():
                say(f"warning: thread {thread.name} did not stop within 30 s")
        self._threads.clear()


def wait_for(thread: threading.Thread) -> None:
    """Join in short steps so that Ctrl-C reaches the main thread."""
    while thread.is_alive():
        thread.join(0.2)


def bench_lag(place: Place, args: argparse.Namespace, idle_sleep_s: float | None) -> Lag:
    config = RelayConfig() if idle_sleep_s is None else RelayConfig(idle_sleep_s=idle_sleep_s)
    label = "default" if idle_sleep_s is None else f"idle{int(config.idle_sleep_s * 1000)}ms"
    count = int(args.rate * args.lag_seconds)
    committed: dict[str, float] = {}
    seen: dict[str, float] = {}
    errors: list[BaseException] = []
    behind = [0.0]
    cycles = [0, 0, 0]  # cycles, busy cycles, claimed
    threads = Threads()
    with fresh_stores(place, f"lag_{label}") as stores:
        relay = Relay(stores.db, stores.connector, config=config)
        table = crm_schema.crm_contact

        def on_cycle(stats: RelayStats) -> None:
            cycles[0] += 1
            if stats.claimed:
                cycles[1] += 1
                cycles[2] += stats.claimed

        def relay_loop(stop: threading.Event) -> None:
            relay.run_forever(stop, on_cycle=on_cycle)

        def poll_loop(stop: threading.Event) -> None:
            # Only rows updated (= recorded in the outbox) up to 2 s before the newest seen can be new.
            watermark: datetime | None = None
            try:
                while not stop.is_set():
                    query = select(table.c.external_id, table.c.updated_at)
                    if watermark is not None:
                        query = query.where(table.c.updated_at >= watermark)
                    with stores.crm_engine.connect() as conn:
                        rows = conn.execute(query).all()
                    now = time.monotonic()
                    for ext, updated_at in rows:
                        if ext not in seen:
                            seen[ext] = now
                        floor = updated_at - timedelta(seconds=2)
                        if watermark is None or floor > watermark:
                            watermark = floor
                    stop.wait(POLL_INTERVAL_S)
            except BaseException as exc:  # reported by the main thread
                errors.append(exc)

        def write_loop(stop: threading.Event) -> None:
            try:
                started = time.monotonic()
                for n in range(count):
                    due = started + n / args.rate
                    delay = due - time.monotonic()
                    if delay > 0:
                        if stop.wait(delay):
                            return
                    else:
                        behind[0] = max(behind[0], -delay)
                    ext = str(uuid.uuid4())
                    with stores.db.unit_of_work() as session:
                        now = utcnow()
                        events.record(
                            session,
                            events.Event(
                                aggregate_type="contact", aggregate_id=ext, seq=1, type=EVENT_TYPE, payload=contact_payload(n, ext, now, 1)
                            ),
                        )
                    committed[ext] = time.monotonic()
                    if stop.is_set():
                        return
            except BaseException as exc:
                errors.append(exc)

        try:
            threads.start("bench-relay", relay_loop)
            threads.start("bench-poll", poll_loop)
            say(
                f"  lag ({label}: idle_sleep_s={config.idle_sleep_s:g}, batch_size={config.batch_size}): "
                f"{args.rate:g} events/s for {args.lag_seconds:g} s …"
            )
            time.sleep(0.2)
            started = time.monotonic()
            writer, _ = threads.start("bench-writer", write_loop)
            next_report = started + 5
            while writer.is_alive():
                writer.join(0.2)
                if time.monotonic() >= next_report:
                    next_report += 5
                    say(f"    {len(committed):>6} committed, {len(seen):>6} seen in the CRM store")
            elapsed = time.monotonic() - started
            deadline = time.monotonic() + 30
            while len(seen) < len(committed) and time.monotonic() < deadline and not errors:
                time.sleep(0.05)
        finally:
            threads.stop_all()
        if errors:
            raise BenchError(f"lag run failed: {errors[0]!r}")
        with stores.db.engine.connect() as conn:
            delivered = conn.execute(
                select(OutboxEvent.created_at, OutboxEvent.delivered_at).where(OutboxEvent.status == OutboxStatus.DELIVERED)
            ).all()
    visible = [(seen[ext] - at) * 1000 for ext, at in committed.items() if ext in seen]
    outbox = [(d - c).total_seconds() * 1000 for c, d in delivered if d is not None]
    result = Lag(
        idle_sleep_s=config.idle_sleep_s,
        rate=args.rate,
        seconds=args.lag_seconds,
        written=len(committed),
        seen=len(visible),
        achieved_rate=len(committed) / elapsed if elapsed else 0.0,
        writer_max_behind_ms=behind[0] * 1000,
        cycles=cycles[0],
        mean_claimed_per_busy_cycle=cycles[2] / cycles[1] if cycles[1] else 0.0,
        visible_ms=percentiles(visible),
        outbox_ms=percentiles(outbox),
    )
    v = result.visible_ms
    say(
        f"    {result.written} written ({result.achieved_rate:.1f}/s), {result.seen} seen; commit → CRM row: "
        f"p50 {v.get('p50', 0):.0f} ms, p95 {v.get('p95', 0):.0f} ms, p99 {v.get('p99', 0):.0f} ms, max {v.get('max', 0):.0f} ms"
    )
    if result.seen < result.written:
        say(f"    warning: {result.written - result.seen} rows never showed up in the CRM store within 30 s")
    return result


# -- one database ------------------------------------------------------------------------------------
def bench_database(kind: str, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    (work / kind).mkdir()
    place = Place(kind, work)
    try:
        place.start()
        server = place.server_version()
        throughput = bench_throughput(place, args)
        lags = [bench_lag(place, args, None), bench_lag(place, args, args.fast_idle)]
    finally:
        place.stop()
    return {
        "db": kind,
        "server": server,
        "throughput": throughput.__dict__,
        "lag": [lag.__dict__ for lag in lags],
    }


def verdicts(summary: dict[str, Any]) -> list[tuple[bool, str]]:
    t = summary["throughput"]
    out = []
    if summary["db"] == "sqlite":
        out.append(
            (t["events_per_s"] >= TARGET_EVENTS_PER_S, f"relay {t['events_per_s']:,.0f} events/s (target ≥ {TARGET_EVENTS_PER_S:,.0f})")
        )
    out.append((t["ratio"] >= TARGET_RATIO, f"relay at {t['ratio']:.1%} of the raw-insert baseline (target ≥ {TARGET_RATIO:.0%})"))
    out.append((t["check_ok"], "CRM end state after the relay run" + ("" if t["check_ok"] else ": " + "; ".join(t["check_problems"]))))
    for lag in summary["lag"]:
        p99 = lag["visible_ms"].get("p99", float("inf"))
        complete = lag["seen"] == lag["written"]
        out.append(
            (
                p99 < TARGET_LAG_P99_S * 1000 and complete,
                f"lag p99 {p99:.0f} ms at {lag['rate']:g}/s, idle_sleep_s={lag['idle_sleep_s']:g} (target < {TARGET_LAG_P99_S:g} s)"
                + ("" if complete else f"; only {lag['seen']} of {lag['written']} rows seen"),
            )
        )
    return out


# -- report ------------------------------------------------------------------------------------------
def print_report(summaries: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(
        f"throughput: {args.events} events ({args.second_share:.0%} second versions), batch_size={args.batch_size}, "
        f"median of {args.rounds} rounds; lag: {args.rate:g} events/s for {args.lag_seconds:g} s"
    )
    header = f"{'db':<11} {'relay ev/s':>11} {'baseline rows/s':>16} {'ratio':>7} {'check':>6}   rounds (relay ev/s | baseline rows/s)"
    print(header)
    print("-" * len(header))
    for s in summaries:
        t = s["throughput"]
        rounds = " ".join(f"{r:,.0f}" for r in t["relay_events_per_s_rounds"])
        base = " ".join(f"{r:,.0f}" for r in t["baseline_rows_per_s_rounds"])
        check = "OK" if t["check_ok"] else "FAIL"
        figures = f"{t['events_per_s']:>11,.0f} {t['baseline_rows_per_s']:>16,.0f} {t['ratio']:>6.1%} {check:>6}"
        print(f"{s['db']:<11} {figures}   {rounds} | {base}")
    print()
    print("lag, ms: commit returned → row visible in the CRM store (polled every 10 ms); outbox: created_at → delivered_at")
    header = (
        f"{'db':<11} {'idle s':>6} {'written':>7} {'seen':>6} {'p50':>6} {'p95':>6} {'p99':>6} {'max':>6}"
        f"   {'outbox p50':>10} {'p95':>6} {'p99':>6}"
    )
    print(header)
    print("-" * len(header))
    for s in summaries:
        for lag in s["lag"]:
            v, o = lag["visible_ms"], lag["outbox_ms"]
            print(
                f"{s['db']:<11} {lag['idle_sleep_s']:>6g} {lag['written']:>7} {lag['seen']:>6} "
                + " ".join(f"{v.get(k, 0):>6.0f}" for k in ("p50", "p95", "p99", "max"))
                + f"   {o.get('p50', 0):>10.0f} {o.get('p95', 0):>6.0f} {o.get('p99', 0):>6.0f}"
            )
    print()
    for s in summaries:
        for ok, text in verdicts(s):
            print(f"{'PASS' if ok else 'FAIL'}  {s['db']}: {text}")


def machine_facts() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "python": f"{platform.python_implementation()} {platform.python_version()} ({os.path.realpath(sys.executable)})",
        "platform": platform.platform(),
        "sqlalchemy": sqlalchemy.__version__,
        "sqlite": sqlite3.sqlite_version,
        "loadavg_start": os.getloadavg(),
    }


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.adapter", description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both", help="default: both")
    parser.add_argument("--events", type=int, default=20_000, help="outbox events for the throughput run (default 20000)")
    parser.add_argument(
        "--second-share", type=float, default=0.2, help="share of the throughput run's events that are second versions (default 0.2)"
    )
    parser.add_argument("--batch-size", type=int, default=500, help="relay batch size and baseline transaction size (default 500)")
    parser.add_argument("--rounds", type=int, default=3, help="throughput rounds (relay, then baseline); medians are reported (default 3)")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s committed during the lag run (default 200)")
    parser.add_argument("--lag-seconds", type=float, default=15.0, help="length of each lag run (default 15)")
    parser.add_argument("--fast-idle", type=float, default=0.05, help="the second lag run's idle_sleep_s (default 0.05)")
    parser.add_argument(
        "--profile", type=Path, metavar="DIR", help="add a cProfiled throughput round (not counted); write DIR/relay-drain-<db>.prof"
    )
    parser.add_argument("--json", type=Path, metavar="OUT.json", help="also write the figures as JSON")
    args = parser.parse_args(argv)
    if args.events < 1 or args.batch_size < 1 or args.rounds < 1 or args.rate <= 0 or args.lag_seconds <= 0:
        parser.error("--events, --batch-size, --rounds, --rate and --lag-seconds must be positive")
    if not 0 <= args.second_share <= 0.5:
        parser.error("--second-share must be between 0 and 0.5 (a second version needs a first one)")
    return args


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    facts = machine_facts()
    say(f"bench: {facts['nproc']} CPUs, {facts['python']}, SQLAlchemy {facts['sqlalchemy']}, load average {facts['loadavg_start']}")
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="portal-bench-adapter-"))
    summaries = []
    try:
        for kind in kinds:
            say(f"[{kind}]")
            summaries.append(bench_database(kind, args, work))
    except KeyboardInterrupt:
        say("interrupted: threads and databases stopped, temporary files removed")
        return 130
    except BenchError as exc:
        say(f"bench failed: {exc}")
        return 1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    facts["loadavg_end"] = os.getloadavg()
    print_report(summaries, args)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "machine": facts,
                    "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
                    "targets": {"sqlite_events_per_s": TARGET_EVENTS_PER_S, "ratio": TARGET_RATIO, "lag_p99_s": TARGET_LAG_P99_S},
                    "databases": summaries,
                    "verdicts": {s["db"]: [{"ok": ok, "what": text} for ok, text in verdicts(s)] for s in summaries},
                },
                indent=2,
                default=str,
            )
        )
        say(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
