"""Reliability under faults (SECURITY.md, "Reliability: nothing lost").

Every test ends the same way: the relay has drained, every outbox event is `delivered`, and
the CRM store equals the portal: `reconcile` finds equal counts and content hashes and no
missing, extra or mismatched record (a lost event shows as missing or mismatched, one applied
twice or out of order as a version/content mismatch or an extra row), and each user's and
application's CRM row carries the version and fields of the portal's domain row itself.

The relay runs as a real `portal adapter run` process where the fault is about the process
(SIGKILL, competing relays, lock contention), and in-process where the test needs to reach
into it (the poison fix, shuffled re-deliveries, SQLite's unreachable-store simulation).
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, delete, event, func, select, text, update
from sqlalchemy.engine import make_url

from backend_adapter import crm_schema as crm
from backend_adapter.connectors.base import ItemResult, Outcome, UpsertItem
from backend_adapter.connectors.sql import SqlConnector
from backend_adapter.crm_schema import create_crm_schema
from backend_adapter.reconcile import reconcile
from backend_adapter.relay import Relay, RelayConfig, RelayStats
from portal import events
from portal.accounts import service as accounts_service
from portal.accounts.models import Role, User
from portal.db import make_engine
from portal.events.models import OutboxEvent, OutboxStatus
from portal.events.status import replay_dead, sync_status
from portal.partner import service as partner_service
from portal.partner.models import PartnerApplication
from portal.settings import PROJECT_ROOT, Settings
from tests.support.pg import free_port

LEASE_S = 1.0
FAST = {
    "ADAPTER_LEASE_S": str(LEASE_S),
    "ADAPTER_BATCH_SIZE": "10",
    "ADAPTER_IDLE_SLEEP_S": "0.05",
    "ADAPTER_BACKOFF_S": "0.05",
    "ADAPTER_MAX_BACKOFF_S": "1",
}
FAST_RELAY = RelayConfig(batch_size=25, lease_s=5.0, base_backoff_s=0.05, max_backoff_s=0.5, idle_sleep_s=0.05)


# -- helpers -----------------------------------------------------------------------------------
def wait_until(predicate: Callable[[], bool], *, timeout: float, what: str, every: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(every)


def status_counts(state: Any) -> dict[str, int]:
    with state.db.unit_of_work(write=False) as session:
        figures = sync_status(session)
    return {"pending": figures.pending, "delivered": figures.delivered, "dead": figures.dead}


def crm_contacts(state: Any) -> dict[str, dict[str, Any]]:
    with state.crm_engine.connect() as conn:
        return {r.external_id: dict(r._mapping) for r in conn.execute(select(crm.crm_contact))}


def assert_crm_equals_portal(state: Any) -> None:
    """Every event delivered, reconcile in sync, and the domain rows agree with the CRM rows."""
    with state.db.unit_of_work(write=False) as session:
        statuses = dict(session.execute(select(OutboxEvent.status, func.count()).group_by(OutboxEvent.status)).all())
        users = {u.external_id: (u.version, u.email, u.name, u.locale) for u in session.scalars(select(User))}
        applications = {a.external_id: (a.version, a.status.value, a.account_id) for a in session.scalars(select(PartnerApplication))}
    if set(statuses) != {OutboxStatus.DELIVERED}:
        with state.db.unit_of_work(write=False) as session:
            stuck = [
                (e.id, e.status.value, e.attempts, e.last_error, e.next_attempt_at.isoformat(), e.locked_until)
                for e in session.scalars(select(OutboxEvent).where(OutboxEvent.status != OutboxStatus.DELIVERED).limit(10))
            ]
        raise AssertionError(f"not all delivered: {statuses}; e.g. {stuck}")
    report = reconcile(state.db, state.crm_engine)
    assert report.in_sync, report.as_dict()
    for entity in report.entities.values():
        assert (entity.portal, entity.portal_hash) == (entity.crm, entity.crm_hash)
    with state.crm_engine.connect() as conn:
        contacts = {r.external_id: (r.version, r.email, r.name, r.locale) for r in conn.execute(select(crm.crm_contact))}
        crm_apps = {
            r.external_id: (r.version, r.status, r.account_id)
            for r in conn.execute(select(crm.crm_partner_application))
        }  # fmt: skip
    assert contacts == users
    assert crm_apps == applications


def relay_env(settings: Settings, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ADAPTER_", "PORTAL_", "CRM_"))}
    env.update(
        DATABASE_URL=settings.database_url,
        CRM_DATABASE_URL=settings.crm_database_url,
        DATA_DIR=str(settings.data_dir),
        SECRET_KEY=settings.secret_key,
        PYTHONDONTWRITEBYTECODE="1",
        **FAST,
    )
    env.update(overrides)
    return env


class RelayProcess:
    """One `portal adapter run` process; its output goes to a log file."""

    READY = b"Adapter running"

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> RelayProcess:
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "portal", "adapter", "run"], env=self.env, cwd=PROJECT_ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def wait_ready(self, timeout: float = 30.0) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while self.READY not in self.log_path.read_bytes():
            if self.proc.poll() is not None:
                raise AssertionError(f"relay exited with {self.proc.returncode}: {self.log_path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise AssertionError(f"relay not ready after {timeout} s")
            time.sleep(0.02)

    def kill(self) -> None:
        """SIGKILL: no handler runs, no transaction is finished, no lease is released."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.wait()

    def stop(self) -> None:
        """SIGTERM: the relay finishes its batch and exits cleanly."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.wait()
        assert self.proc is not None
        assert self.proc.returncode in (0, -signal.SIGKILL), self.log_path.read_text()[-2000:]

    def wait(self) -> None:
        if self.proc is not None:
            self.proc.wait(timeout=20)


def run_once(env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "portal", "adapter", "run", "--once"], env=env, cwd=PROJECT_ROOT, capture_output=True, timeout=120
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return result.stdout.decode()


class PortalWriter(threading.Thread):
    """Steady portal traffic through the real services, one unit of work per change: new
    users, profile edits, partner applications and staff decisions. Any exception that
    reaches it is what a user would have seen; it is kept for the test to assert on."""

    def __init__(self, state: Any, *, staff_id: int, seed: int, interval_s: float = 0.01, prefix: str = "w") -> None:
        super().__init__(name=f"portal-writer-{prefix}", daemon=True)
        self.db = state.db
        self.mailing = state.mailing
        self.staff_id = staff_id
        self.rng = random.Random(seed)
        self.interval_s = interval_s
        self.prefix = prefix
        self.halt = threading.Event()
        self.errors: list[BaseException] = []
        self.ops = 0
        self.user_ids: list[int] = []
        self.submitted: list[int] = []

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                self.step()
                self.ops += 1
            except BaseException as exc:  # recorded: the assertion reports it
                self.errors.append(exc)
            self.halt.wait(self.interval_s)

    def step(self) -> None:
        n = self.ops
        roll = self.rng.random()
        with self.db.unit_of_work() as session:
            if roll < 0.35 or not self.user_ids:
                user = accounts_service.create_user(
                    session, email=f"{self.prefix}{n}@example.com", password=None, role=Role.CUSTOMER, name=f"User {n}", verified=True
                )
                session.flush()
                self.user_ids.append(user.id)
            elif roll < 0.85:
                actor = session.get(User, self.rng.choice(self.user_ids))
                assert actor is not None
                accounts_service.update_profile(session, actor=actor, name=f"Name {n}", locale=self.rng.choice(("en", "zh")))
            elif roll < 0.95 or not self.submitted:
                application = partner_service.submit_application(
                    session, self.mailing, company=f"Company {self.prefix}{n}", country=self.rng.choice(("DE", "GB", "SG")),
                    contact_name="Contact", contact_email=f"apply-{self.prefix}{n}@example.com", website="", message="",
                    locale="en", ip=f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
                )  # fmt: skip
                session.flush()
                self.submitted.append(application.id)
            else:
                staff = session.get(User, self.staff_id)
                assert staff is not None
                application_id = self.submitted.pop(self.rng.randrange(len(self.submitted)))
                partner_service.decide_application(
                    session, self.mailing, actor=staff, application_id=application_id, approve=self.rng.random() < 0.5, note="decided"
                )

    def finish(self) -> None:
        self.halt.set()
        self.join(timeout=30)
        assert not self.is_alive()


@contextlib.contextmanager
def writing(state: Any, **kwargs: Any) -> Iterator[PortalWriter]:
    writer = PortalWriter(state, **kwargs)
    writer.start()
    try:
        yield writer
    finally:
        writer.finish()


@contextlib.contextmanager
def relay_thread(relay: Relay) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=relay.run_forever, args=(stop,), name="relay", daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(timeout=30)
        assert not thread.is_alive()


@contextlib.contextmanager
def busy_crm(engine: Engine, *, hold_s: float = 0.03, gap_s: float = 0.03) -> Iterator[None]:
    """The CRM store's own writers (ERP, shop) keep it busy: the pushed tables are locked for
    `hold_s` out of every `hold_s + gap_s`, so a relay often sits between its claim and its
    record with the upsert waiting, and kills land before, during and after the CRM write."""
    halt = threading.Event()
    is_sqlite = engine.dialect.name == "sqlite"
    locking = engine.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite else engine

    def hog() -> None:
        while not halt.is_set():
            with locking.begin() as conn:
                if not is_sqlite:
                    conn.execute(text("LOCK TABLE crm_contact, crm_partner_application IN SHARE MODE"))
                time.sleep(hold_s)
            halt.wait(gap_s)

    thread = threading.Thread(target=hog, name="busy-crm", daemon=True)
    thread.start()
    try:
        yield
    finally:
        halt.set()
        thread.join(timeout=10)


@pytest.fixture
def staff(make_user: Any) -> User:
    return make_user("staff@northwind.example", Role.STAFF, name="Staff")


# -- 1. kill -9 ------------------------------------------------------------------------------------
KILLS = 20  # per database; on PostgreSQL shared by the two relays (10 each), to keep the test near 30 s


@pytest.mark.timeout(180)
def test_relay_killed_twenty_times_under_steady_writes_loses_nothing(
    state: Any, settings: Settings, backend: str, staff: User, tmp_path: Path
) -> None:
    """SIGKILL at random points (0.1-0.6 s after each relay reports it is running), 20 times;
    on PostgreSQL two relays compete for the same outbox and each is killed and restarted 10
    times. The CRM store is kept busy by its own writers, so kills land before, during and
    after the CRM write. Rows a killed relay had claimed stay pending under its (1 s) lease,
    then are re-claimed and re-delivered; the CRM's version guard absorbs what had landed."""
    slots = 2 if backend == "postgresql" else 1
    env = relay_env(settings)
    failures: list[BaseException] = []
    orphaned_leases: list[int] = []

    def chaos(slot: int) -> None:
        rng = random.Random(1000 + slot)
        try:
            for n in range(KILLS // slots):
                relay = RelayProcess(env, tmp_path / f"relay-{slot}-{n}.log").start()
                try:
                    relay.wait_ready()
                    time.sleep(rng.uniform(0.1, 0.6))
                finally:
                    relay.kill()
                if slots == 1:  # the only relay: any live lease now is one the kill left behind
                    with state.db.unit_of_work(write=False) as session:
                        orphaned_leases.append(
                            int(session.scalar(select(func.count()).where(OutboxEvent.claimed_by.is_not(None))) or 0)
                        )  # fmt: skip
        except BaseException as exc:
            failures.append(exc)

    started = time.monotonic()
    with writing(state, staff_id=staff.id, seed=1) as writer, busy_crm(state.crm_engine):
        killers = [threading.Thread(target=chaos, args=(slot,), name=f"chaos-{slot}") for slot in range(slots)]
        for killer in killers:
            killer.start()
        for killer in killers:
            killer.join(timeout=150)
        assert not any(k.is_alive() for k in killers)
    assert failures == []
    assert writer.errors == []
    chaos_s = time.monotonic() - started

    # Writes stopped. Leases of the last kill run out, then one drain delivers the rest.
    time.sleep(LEASE_S + 0.2)
    run_once(env)
    assert_crm_equals_portal(state)
    checked = subprocess.run(
        [sys.executable, "-m", "portal", "adapter", "reconcile", "--json"], env=env, cwd=PROJECT_ROOT, capture_output=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout.decode()[-2000:]
    assert json.loads(checked.stdout)["in_sync"] is True

    with state.db.unit_of_work(write=False) as session:
        total = int(session.scalar(select(func.count()).select_from(OutboxEvent)) or 0)
        reclaimed = int(session.scalar(select(func.count()).where(OutboxEvent.attempts > 1)) or 0)
    print(  # the -s output tells how hard the run hit the relay
        f"\n{slots} relay(s), {KILLS} kills in {chaos_s:.1f} s: {writer.ops} portal writes, {total} events, "
        f"{reclaimed} re-claimed after a kill, leases left behind by kills: {orphaned_leases}"
    )
    assert writer.ops > 100
    assert total > 100
    # Some kills did land mid-batch (claimed, not yet recorded); their events were claimed again.
    assert reclaimed > 0


def test_a_busy_sqlite_crm_store_makes_an_upsert_wait_not_fail(tmp_path: Path) -> None:
    """Another CRM writer holds the write lock and commits meanwhile: the upsert waits for the
    lock (BEGIN IMMEDIATE) instead of failing with "database is locked" (found by the test above:
    a deferred read-then-write transaction could not wait)."""
    # Its own SQLite CRM store, whichever database this suite runs on: the lock is SQLite's.
    engine = make_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    create_crm_schema(engine)
    connector = SqlConnector(engine)
    locked, release = threading.Event(), threading.Event()

    def other_writer() -> None:
        with engine.execution_options(sqlite_begin="IMMEDIATE").begin() as conn:
            conn.execute(crm.crm_account.insert().values(account_id="ERP-1", kind="customer", name="ERP", updated_at=datetime(2026, 1, 1)))
            locked.set()
            release.wait(5)

    thread = threading.Thread(target=other_writer)
    thread.start()
    locked.wait(5)
    timer = threading.Timer(0.3, release.set)
    timer.start()
    row = {"email": "busy@example.com", "name": "Busy", "role": "customer", "active": True}
    row |= {"created_at": datetime(2026, 1, 1), "updated_at": datetime(2026, 1, 1)}
    try:
        assert connector.upsert("crm_contact", [UpsertItem("busy-1", 1, row)]) == [ItemResult(Outcome.CREATED)]
    finally:
        release.set()
        timer.join(timeout=5)
        thread.join(timeout=10)
        engine.dispose()


# -- 2. CRM store unreachable --------------------------------------------------------------------
class TcpProxy:
    """A loopback forwarder in front of the CRM's PostgreSQL. `cut()` drops every open
    connection and refuses new ones (the store is unreachable); `restore()` listens again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: set[socket.socket] = set()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def restore(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        listener.settimeout(0.05)
        self._listener = listener
        self._spawn(self._accept, listener)

    def cut(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()
        self._threads = []

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self, listener: socket.socket) -> None:
        while self._listener is listener:
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            with self._lock:
                self._sockets.update((client, upstream))
            self._spawn(self._pump, client, upstream)
            self._spawn(self._pump, upstream, client)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_RDWR)


class SqliteOutage:
    """The CRM file cannot be opened while cut: every new connection fails the way SQLite
    fails for a vanished or unreadable file (sqlite3.OperationalError), pooled ones are dropped.
    The connector and relay above it are the real ones."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.down = threading.Event()
        event.listen(engine, "do_connect", self._connect)

    def _connect(self, *_args: Any) -> None:
        if self.down.is_set():
            raise sqlite3.OperationalError("unable to open database file")

    def cut(self) -> None:
        self.down.set()
        self.engine.dispose()

    def restore(self) -> None:
        self.down.clear()


@contextlib.contextmanager
def relay_behind_an_outage(state: Any, settings: Settings, backend: str, log_dir: Path) -> Iterator[TcpProxy | SqliteOutage]:
    """A running relay whose CRM store can be cut off and restored."""
    if backend == "postgresql":  # the real thing: a relay process whose TCP path to the store is cut
        crm_url = make_url(settings.crm_database_url)
        proxy = TcpProxy(int(crm_url.port or 5432))
        proxy.restore()
        through_proxy = crm_url.set(port=proxy.port).render_as_string(hide_password=False)
        relay = RelayProcess(relay_env(settings, CRM_DATABASE_URL=through_proxy, ADAPTER_MAX_BACKOFF_S="0.5"), log_dir / "relay.log")
        try:
            relay.start().wait_ready()
            yield proxy
        finally:
            relay.stop()
            proxy.cut()
    else:
        engine = make_engine(settings.crm_database_url)
        outage = SqliteOutage(engine)
        try:
            with relay_thread(Relay(state.db, SqlConnector(engine), config=FAST_RELAY)):
                yield outage
        finally:
            engine.dispose()


@pytest.mark.timeout(120)
def test_an_unreachable_crm_store_delays_but_loses_nothing(
    state: Any, settings: Settings, backend: str, staff: User, tmp_path: Path
) -> None:
    """Writes go on while the CRM store is unreachable; the relay only retries (nothing dead),
    and the same running relay drains the backlog after the store is back."""
    with relay_behind_an_outage(state, settings, backend, tmp_path) as outage:
        with writing(state, staff_id=staff.id, seed=2) as writer:
            wait_until(lambda: len(crm_contacts(state)) >= 10, timeout=20, what="the relay to deliver")
            outage.cut()
            ops_at_cut = writer.ops
            delivered_at_cut = status_counts(state)["delivered"]
            deadline = time.monotonic() + 3.0  # "a while", compressed: retries back off to at most 0.5 s
            while time.monotonic() < deadline:
                assert status_counts(state)["dead"] == 0
                time.sleep(0.2)
            during = status_counts(state)
            ops_during_outage = writer.ops - ops_at_cut
            with state.db.unit_of_work(write=False) as session:
                errors = list(session.scalars(select(OutboxEvent.last_error).where(OutboxEvent.last_error.is_not(None))))
            outage.restore()
            time.sleep(0.5)  # writes go on after the recovery too
        assert writer.errors == []  # the portal accepted every write
        assert ops_during_outage > 20
        assert during["dead"] == 0
        assert during["pending"] > 20
        assert during["delivered"] - delivered_at_cut <= FAST_RELAY.batch_size  # at most the batch in flight at the cut
        assert errors
        wait_until(lambda: status_counts(state)["pending"] == 0, timeout=30, what="the backlog to drain after recovery")
    assert_crm_equals_portal(state)
    with state.db.unit_of_work(write=False) as session:
        assert int(session.scalar(select(func.max(OutboxEvent.attempts))) or 0) > 1  # retried, then delivered
    print(f"\n{ops_during_outage} writes during the outage; relay errors seen: {sorted(set(errors))[:3]}")


# -- 3. poison event ---------------------------------------------------------------------------
def test_a_poison_event_stops_only_its_record_and_replays_once(state: Any, staff: User, make_user: Any) -> None:
    """A contact the CRM refuses (NOT NULL role) under a stream of other writes: it is parked
    dead, only its own later changes wait, the rest of the stream flows; after the fix a
    replay delivers it once and its waiting changes after it."""
    victim = make_user("victim@example.com", name="Victim")
    relay = Relay(state.db, SqlConnector(state.crm_engine, max_batch=20), config=FAST_RELAY)
    with relay_thread(relay), writing(state, staff_id=staff.id, seed=3) as writer:
        wait_until(lambda: victim.external_id in crm_contacts(state), timeout=20, what="the victim's first version")
        with state.db.unit_of_work() as session:
            user = session.get(User, victim.id)
            assert user is not None
            user.version += 1
            session.flush()
            payload = {**accounts_service.contact_payload(user), "role": None}  # the CRM store refuses a contact without a role
            events.record(session, events.Event("contact", user.external_id, user.version, "contact.upserted", payload=payload))
        for name in ("Waits once", "Waits twice"):
            with state.db.unit_of_work() as session:
                actor = session.get(User, victim.id)
                accounts_service.update_profile(session, actor=actor, name=name, locale="en")
        wait_until(lambda: status_counts(state)["dead"] == 1, timeout=20, what="the poison event to be parked")
        time.sleep(1.0)  # the stream goes on around the parked record
    assert writer.errors == []

    def only_the_victim_waits() -> bool:
        with state.db.unit_of_work(write=False) as session:
            rows = session.execute(select(OutboxEvent.aggregate_id, OutboxEvent.status).where(OutboxEvent.status != OutboxStatus.DELIVERED))
            return sorted((a, s.value) for a, s in rows) == sorted([(victim.external_id, "dead"), *[(victim.external_id, "pending")] * 2])

    with relay_thread(relay):
        wait_until(only_the_victim_waits, timeout=20, what="everything but the victim's record to be delivered")
        report = reconcile(state.db, state.crm_engine)
        contacts = report.entities["crm_contact"]
        assert (contacts.missing, contacts.extra, contacts.mismatched) == ([], [], [victim.external_id])
        assert report.entities["crm_partner_application"].in_sync
        assert crm_contacts(state)[victim.external_id]["version"] == 1
        with state.db.unit_of_work() as session:
            dead = session.scalar(select(OutboxEvent).where(OutboxEvent.status == OutboxStatus.DEAD))
            assert dead is not None
            assert "role" in (dead.last_error or "").lower() or "null" in (dead.last_error or "").lower(), dead.last_error
            dead_id = dead.id
            dead.payload = {**dead.payload, "role": "customer"}  # the fix
            assert replay_dead(session) == 1
        wait_until(lambda: status_counts(state)["pending"] + status_counts(state)["dead"] == 0, timeout=20, what="the replay to deliver")
    with state.db.unit_of_work(write=False) as session:
        replayed = session.get(OutboxEvent, dead_id)
        assert replayed is not None
        assert (replayed.status, replayed.attempts) == (OutboxStatus.DELIVERED, 1)  # one delivery after the replay
    assert crm_contacts(state)[victim.external_id]["version"] == 4
    assert crm_contacts(state)[victim.external_id]["name"] == "Waits twice"
    assert_crm_equals_portal(state)


# -- 4. duplicated and shuffled deliveries --------------------------------------------------------
def test_duplicated_and_shuffled_redeliveries_end_in_the_in_order_state(state: Any, staff: User) -> None:
    """Events re-queued in random order and random groups, again and again, even into an
    empty CRM store (latest versions first): the final state is the in-order one."""
    with writing(state, staff_id=staff.id, seed=4, interval_s=0.0) as writer:
        wait_until(lambda: writer.ops >= 300, timeout=30, what="300 portal writes")
    assert writer.errors == []
    relay = Relay(
        state.db, SqlConnector(state.crm_engine, max_batch=7), config=RelayConfig(batch_size=13, base_backoff_s=0, max_backoff_s=0)
    )
    relay.drain()
    assert_crm_equals_portal(state)
    with state.crm_engine.connect() as conn:
        in_order = {t.name: sorted(map(tuple, conn.execute(select(t)))) for t in (crm.crm_contact, crm.crm_partner_application)}
    with state.db.unit_of_work(write=False) as session:
        ids = list(session.scalars(select(OutboxEvent.id)))

    rng = random.Random(44)
    totals = RelayStats()
    for round_no in range(4):
        if round_no == 0:  # start from an empty store: what arrives first is whatever was shuffled first
            with state.crm_engine.begin() as conn:
                conn.execute(delete(crm.crm_contact))
                conn.execute(delete(crm.crm_partner_application))
            chosen = list(ids)
        else:
            chosen = rng.sample(ids, k=len(ids) // 2)
        rng.shuffle(chosen)
        while chosen:
            size = rng.randint(1, 40)
            group, chosen = chosen[:size], chosen[size:]
            with state.db.unit_of_work() as session:
                session.execute(update(OutboxEvent).where(OutboxEvent.id.in_(group)).values(status=OutboxStatus.PENDING, delivered_at=None))
            totals.add(relay.drain())
    assert totals.outcomes["unchanged"] > 0  # duplicates and stale versions arrived, and changed nothing
    assert totals.outcomes["created"] > 0
    with state.crm_engine.connect() as conn:
        now = {t.name: sorted(map(tuple, conn.execute(select(t)))) for t in (crm.crm_contact, crm.crm_partner_application)}
    assert now == in_order
    assert_crm_equals_portal(state)


# -- 5. concurrent writers on SQLite --------------------------------------------------------------
@pytest.mark.timeout(120)
def test_eight_concurrent_writers_with_the_relay_running_never_see_database_is_locked(
    state: Any, settings: Settings, backend: str, tmp_path: Path
) -> None:
    """Eight writer threads (create, read, edit) while a relay process claims and records
    outbox rows in the same database (two relays on PostgreSQL). On SQLite every write is
    BEGIN IMMEDIATE under a busy timeout, so writers queue instead of failing."""
    env = relay_env(settings, ADAPTER_BATCH_SIZE="5", ADAPTER_IDLE_SLEEP_S="0.01")
    relays = [RelayProcess(env, tmp_path / f"relay-{n}.log").start() for n in range(2 if backend == "postgresql" else 1)]
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                email = f"w{n}-{i}@example.com"
                with state.db.unit_of_work() as session:
                    accounts_service.create_user(session, email=email, password=None, role=Role.CUSTOMER, name=f"W {n} {i}")
                with state.db.unit_of_work(write=False) as session:
                    found = accounts_service.find_by_email(session, email)
                    assert found is not None
                with state.db.unit_of_work() as session:
                    actor = accounts_service.find_by_email(session, email)
                    accounts_service.update_profile(session, actor=actor, name=f"W {n} {i} edited", locale="zh")
        except BaseException as exc:  # collected: the assertion reports it
            errors.append(exc)

    try:
        for relay in relays:
            relay.wait_ready()
        threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        assert errors == []
        wait_until(lambda: status_counts(state)["pending"] == 0, timeout=30, what="the relay to catch up")
    finally:
        for relay in relays:
            relay.stop()
    with state.db.unit_of_work(write=False) as session:
        assert accounts_service.count_users(session) == 120
    assert_crm_equals_portal(state)
    assert all(contact["name"].endswith("edited") and contact["version"] == 2 for contact in crm_contacts(state).values())
