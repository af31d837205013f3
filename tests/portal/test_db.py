"""Database behaviour the rest relies on: UTC timestamps, SQLite under concurrent writers."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from portal.accounts import service as accounts_service
from portal.accounts.models import Role, User
from portal.db import Database, is_sqlite, read_unchanged, utcnow
from portal.migrate import upgrade_portal


def test_timestamps_come_back_as_aware_utc(uow: Any, make_user: Any) -> None:
    user = make_user("tz@example.com")
    with uow() as session:
        created = session.get(User, user.id).created_at
    assert created.tzinfo is not None
    assert abs((utcnow() - created).total_seconds()) < 60


def test_naive_datetimes_are_refused(uow: Any, make_user: Any) -> None:
    user = make_user("naive@example.com")
    with pytest.raises(Exception, match="naive datetime"), uow() as session:
        session.get(User, user.id).created_at = datetime(2026, 1, 1)
        session.flush()


def test_eight_concurrent_writers_on_sqlite_never_see_database_is_locked(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'portal.db'}")
    upgrade_portal(db.engine)
    assert is_sqlite(db.url)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(15):
                with db.unit_of_work() as session:
                    accounts_service.create_user(session, email=f"w{n}-{i}@example.com", password=None, role=Role.CUSTOMER)
                with db.unit_of_work(write=False) as session:
                    accounts_service.find_by_email(session, f"w{n}-{i}@example.com")
        except BaseException as exc:  # collect, the assertion below reports it
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db.unit_of_work(write=False) as session:
        count = accounts_service.count_users(session)
    db.dispose()
    assert errors == []
    assert count == 120


def _begins(db: Database) -> list[str]:
    """Every BEGIN the engine sends, in order, with the thread that sent it."""
    from sqlalchemy import event

    seen: list[str] = []

    @event.listens_for(db.engine, "before_cursor_execute")
    def _record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.startswith("BEGIN IMMEDIATE"):
            seen.append(threading.current_thread().name)

    return seen


def test_sqlite_writers_of_one_process_wait_their_turn_before_asking_sqlite(tmp_path: Path) -> None:
    """A second writer waits in the process's queue, not in SQLite's busy handler (which polls
    with sleeps of up to 100 ms), and goes ahead as soon as the first commits or fails."""
    db = Database(f"sqlite:///{tmp_path / 'portal.db'}")
    upgrade_portal(db.engine)
    begins = _begins(db)
    done = threading.Event()

    def second() -> None:
        with db.unit_of_work() as session:
            accounts_service.create_user(session, email="second@example.com", password=None, role=Role.CUSTOMER)
        done.set()

    try:
        with db.unit_of_work() as session:
            accounts_service.create_user(session, email="first@example.com", password=None, role=Role.CUSTOMER)
            session.flush()  # holds SQLite's write lock from here to the commit
            waiter = threading.Thread(target=second, name="second")
            waiter.start()
            assert not done.wait(0.3)
            assert begins == ["MainThread"]  # the second has not asked SQLite yet
        assert done.wait(10)
        assert begins == ["MainThread", "second"]
        # A writer that fails leaves the queue as well: the next one does not wait.
        with pytest.raises(RuntimeError, match="boom"), db.unit_of_work() as session:
            accounts_service.create_user(session, email="failed@example.com", password=None, role=Role.CUSTOMER)
            session.flush()
            raise RuntimeError("boom")
        after_failure = threading.Thread(target=_create, args=(db, "third@example.com"))
        after_failure.start()
        after_failure.join(10)
        assert not after_failure.is_alive()
        with db.unit_of_work(write=False) as session:
            assert accounts_service.count_users(session) == 3
        # A second write transaction on a thread whose first is open would wait for itself.
        with db.unit_of_work() as session:
            accounts_service.create_user(session, email="outer@example.com", password=None, role=Role.CUSTOMER)
            session.flush()
            with pytest.raises(RuntimeError, match="second write transaction"):
                _create(db, "inner@example.com")
        _create(db, "after@example.com")  # the queue is free again
    finally:
        db.dispose()


def test_migration_0010_applies_and_keeps_room_in_outbox_pages_on_postgresql(state: Any) -> None:
    """Migration 0010 runs on both databases; on PostgreSQL it leaves free space in each outbox
    page, so the relay's lease update can stay in its page without new index entries (HOT)."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import text

    from portal.migrate import alembic_config

    script = ScriptDirectory.from_config(alembic_config(state.db.url))
    with state.db.engine.connect() as conn:
        applied = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        reloptions = text("SELECT reloptions FROM pg_class WHERE relname = 'outbox_event'")
        options = None if is_sqlite(state.db.url) else conn.execute(reloptions).scalar_one()
    assert script.get_revision("0010") is not None
    assert applied == script.get_current_head()  # 0010 and anything after it ran
    if options is not None:  # a storage parameter SQLite does not have
        assert "fillfactor=60" in options


# -- quick reads (portal.db.Database.quick_read: SQLite's on-loop reads; elsewhere a pooled read) ----
def _create(db: Database, email: str) -> None:
    with db.unit_of_work() as session:
        accounts_service.create_user(session, email=email, password=None, role=Role.CUSTOMER)


def test_quick_reads_see_every_commit_and_keep_nothing_they_write(state: Any) -> None:
    db = state.db
    _create(db, "first@example.com")
    with db.quick_read() as session:
        assert accounts_service.find_by_email(session, "first@example.com") is not None
        assert accounts_service.find_by_email(session, "second@example.com") is None
    _create(db, "second@example.com")
    with db.quick_read() as session:
        assert accounts_service.find_by_email(session, "second@example.com") is not None


def _refuses_writes(raw: Any, sqlite: bool, *, in_pool: bool = False) -> bool:
    cursor = raw.cursor()
    try:
        cursor.execute("PRAGMA query_only" if sqlite else "SHOW default_transaction_read_only")
        value = cursor.fetchone()[0]
    finally:
        cursor.close()
        if in_pool:
            raw.rollback()  # leave no transaction open in a connection the pool holds
    return bool(value) if sqlite else value == "on"


def test_a_write_in_a_quick_read_is_refused_by_the_database_and_the_pool_gets_a_writable_connection(state: Any) -> None:
    """A view declared a quick read that writes anyway: SQLite would take its write lock until the
    rollback, PostgreSQL's autocommit would commit. The connection kept for quick reads refuses."""
    db = state.db
    sqlite = is_sqlite(db.url)
    _create(db, "first@example.com")
    with pytest.raises(DBAPIError, match=r"(?i)read.?only"), db.quick_read() as session:
        raw = session.connection().connection.dbapi_connection
        assert _refuses_writes(raw, sqlite)
        accounts_service.create_user(session, email="stray@example.com", password=None, role=Role.CUSTOMER)
        session.flush()
    assert not _refuses_writes(raw, sqlite, in_pool=True)  # given back to the pool as writable as it came
    _create(db, "second@example.com")
    with db.quick_read() as session:
        assert accounts_service.find_by_email(session, "stray@example.com") is None
        assert accounts_service.count_users(session) == 2
        assert _refuses_writes(session.connection().connection.dbapi_connection, sqlite)


def test_a_quick_read_sees_its_databases_snapshot_and_holds_none_between_requests(state: Any) -> None:
    """SQLite: one snapshot for the whole request. PostgreSQL reads run in autocommit, each
    statement seeing what was committed before it (portal/db.py)."""
    db = state.db
    _create(db, "one@example.com")
    with db.quick_read() as session:
        assert accounts_service.count_users(session) == 1
        writer = threading.Thread(target=_create, args=(db, "two@example.com"))
        writer.start()
        writer.join()
        assert accounts_service.count_users(session) == (1 if is_sqlite(db.url) else 2)
    with db.quick_read() as session:
        assert accounts_service.count_users(session) == 2
    if is_sqlite(db.url):
        # No read transaction is left open between requests: a checkpoint can empty the WAL.
        with db.engine.connect() as conn:
            busy, _log, _checkpointed = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        assert busy == 0


def test_quick_reads_go_on_after_a_rollback_and_after_an_error(state: Any) -> None:
    db = state.db
    _create(db, "a@example.com")
    with db.quick_read() as session:
        user = accounts_service.find_by_email(session, "a@example.com")
        session.rollback()  # what the pipeline does on a domain error before rendering the error page
        assert user is not None
        assert user.email == "a@example.com"  # reloaded after the rollback
    with pytest.raises(RuntimeError, match="boom"), db.quick_read() as session:
        accounts_service.count_users(session)
        raise RuntimeError("boom")
    _create(db, "b@example.com")
    for _ in range(2):
        with db.quick_read() as session:
            assert accounts_service.count_users(session) == 2


def test_a_quick_read_from_a_second_thread_does_not_wait_for_the_first(state: Any) -> None:
    db = state.db
    _create(db, "c@example.com")
    inside, release = threading.Event(), threading.Event()
    seen: list[int] = []

    def first() -> None:
        with db.quick_read() as session:
            accounts_service.count_users(session)
            inside.set()
            release.wait(10)

    thread = threading.Thread(target=first)
    thread.start()
    assert inside.wait(10)
    with db.quick_read() as session:  # answered while the first still holds its read
        seen.append(accounts_service.count_users(session))
    release.set()
    thread.join()
    assert seen == [1]


# -- PostgreSQL connections dropped by the server (a restart, a failover, an idle timeout) ------------
def _drop_server_connections(url: str) -> int:
    """What a server restart does to the pool: every other connection to the database is closed."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    admin = create_engine(url, poolclass=NullPool)
    try:
        with admin.connect() as conn:
            others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ended = conn.execute(text(f"SELECT count(pg_terminate_backend(pid)) {others}")).scalar_one()
    finally:
        admin.dispose()
    return int(ended)


def _fill_pool(db: Database, connections: int) -> None:
    held = [db.engine.connect() for _ in range(connections)]
    for conn in held:
        conn.exec_driver_sql("SELECT 1")
        conn.close()


def _lookup(db: Database) -> None:
    """A request's first statement: the session lookup (run on the DB-API cursor by Prepared)."""
    from portal.security import sessions

    with db.unit_of_work(write=False) as session:
        assert sessions.load(session, "a-token-no-session-has", idle_s=60) is None
        assert accounts_service.count_users(session) >= 0


def test_a_pooled_connection_idle_for_a_while_is_tested_and_replaced(state: Any) -> None:
    if is_sqlite(state.db.url):
        pytest.skip("PostgreSQL only: SQLite has no server that could close the pool's connections")
    db = Database(state.db.url, ping_after_idle_s=0.2)
    try:
        _fill_pool(db, 3)
        assert _drop_server_connections(db.url) >= 3
        time.sleep(0.3)
        for _ in range(4):
            _lookup(db)  # each checkout pings, finds the connection gone, and opens a new one
    finally:
        db.dispose()


def test_after_a_connection_fails_in_use_the_pool_opens_fresh_ones(state: Any) -> None:
    if is_sqlite(state.db.url):
        pytest.skip("PostgreSQL only: SQLite has no server that could close the pool's connections")

    db = Database(state.db.url, ping_after_idle_s=3600)  # busy: never idle long enough to be pinged
    try:
        _fill_pool(db, 3)
        assert _drop_server_connections(db.url) >= 3
        with pytest.raises((DBAPIError, db.engine.dialect.loaded_dbapi.Error)):
            _lookup(db)  # the request that finds the connection gone fails …
        for _ in range(4):
            _lookup(db)  # … and the pool's other connections, closed as well, are not used again
    finally:
        db.dispose()


def test_an_in_memory_database_keeps_quick_reads_off_the_event_loop() -> None:
    """It has no WAL (a reader can wait) and one connection shared by every session."""
    db = Database("sqlite:///:memory:")
    try:
        upgrade_portal(db.engine)
        assert not db.reads_never_wait
        _create(db, "memory@example.com")
        with db.quick_read() as session:  # an ordinary pooled read
            assert accounts_service.count_users(session) == 1
    finally:
        db.dispose()


# -- reads kept while the database is unchanged (portal.db.UnchangedReads: SQLite quick reads) ------
def _user_count_reader(db: Database, loads: list[int]) -> Callable[[], int]:
    """Reads the user count in a quick read through `read_unchanged`; `loads` counts real reads."""

    def read() -> int:
        with db.quick_read() as session:

            def load() -> int:
                loads.append(1)
                return accounts_service.count_users(session)

            return read_unchanged(session, ("users",), load)

    return read


def test_a_quick_read_reuses_a_value_until_any_connection_commits(state: Any) -> None:
    db = state.db
    _create(db, "one@example.com")
    loads: list[int] = []
    read = _user_count_reader(db, loads)
    assert [read(), read(), read()] == [1, 1, 1]
    if not is_sqlite(db.url):
        assert len(loads) == 3  # PostgreSQL: no cache, every request reads
        return
    assert len(loads) == 1
    _create(db, "two@example.com")  # a commit through the pool (another worker's would be the same)
    assert [read(), read()] == [2, 2]
    assert len(loads) == 2
    # A commit from another process, through a connection of its own.
    other = sqlite3.connect(make_url(db.url).database or "")
    try:
        other.execute("UPDATE user_account SET name = 'Renamed' WHERE email = 'two@example.com'")
        other.commit()
    finally:
        other.close()
    assert read() == 2
    assert len(loads) == 3
    # A quick read that tries to write fails (decision 0019), and the next one reads afresh.
    with pytest.raises(DBAPIError, match=r"(?i)read.?only"), db.quick_read() as session:
        accounts_service.create_user(session, email="stray@example.com", password=None, role=Role.CUSTOMER)
        session.flush()
    assert read() == 2
    assert len(loads) == 4


def test_the_cache_starts_again_after_a_quick_read_fails(state: Any) -> None:
    db = state.db
    _create(db, "one@example.com")
    loads: list[int] = []
    read = _user_count_reader(db, loads)
    read()
    with pytest.raises(RuntimeError, match="boom"), db.quick_read():
        raise RuntimeError("boom")  # the quick connection is closed and a fresh one taken
    assert read() == 1
    assert len(loads) == 2


# -- the connections quick reads keep (SQLite: one, on the event loop; PostgreSQL: one per thread) ----
def _quick_read_connection(db: Database) -> Any:
    with db.quick_read() as session:
        assert accounts_service.count_users(session) >= 0
        return session.connection().connection.dbapi_connection


def test_quick_reads_keep_their_connection_from_one_request_to_the_next(state: Any) -> None:
    db = state.db
    first = _quick_read_connection(db)
    assert _quick_read_connection(db) is first
    elsewhere: list[Any] = []
    thread = threading.Thread(target=lambda: elsewhere.extend([_quick_read_connection(db), _quick_read_connection(db)]))
    thread.start()
    thread.join()
    assert elsewhere[0] is elsewhere[1]
    if is_sqlite(db.url):
        assert elsewhere[0] is first  # one connection for the database, used by one quick read at a time
    else:
        assert elsewhere[0] is not first  # one per quick-read thread
        with db.quick_read() as session:  # in autocommit, as every PostgreSQL read
            assert session.connection().connection.dbapi_connection.autocommit
    with pytest.raises(RuntimeError, match="boom"), db.quick_read():
        raise RuntimeError("boom")
    assert _quick_read_connection(db) is not None  # back to the pool after an error; one taken again


def _backend_pids(db: Database) -> set[int]:
    from sqlalchemy import text

    pids: set[int] = set()
    for _ in range(2):
        with db.quick_read() as session:
            pids.add(int(session.execute(text("SELECT pg_backend_pid()")).scalar_one()))
    return pids


def test_a_kept_connection_dropped_by_the_server_is_replaced(state: Any) -> None:
    if is_sqlite(state.db.url):
        pytest.skip("PostgreSQL only: SQLite has no server that could close a kept connection")
    from sqlalchemy.exc import DBAPIError

    idle = Database(state.db.url, ping_after_idle_s=0.2)
    busy = Database(state.db.url, ping_after_idle_s=3600)
    try:
        (idle_pid,) = _backend_pids(idle)
        (busy_pid,) = _backend_pids(busy)
        assert _drop_server_connections(state.db.url) >= 2
        time.sleep(0.3)
        (fresh,) = _backend_pids(idle)  # pinged after idling, found gone, replaced: no error
        assert fresh != idle_pid
        with pytest.raises((DBAPIError, busy.engine.dialect.loaded_dbapi.Error)):
            _lookup_quickly(busy)  # not idle long enough to be pinged: this request fails …
        (again,) = _backend_pids(busy)  # … and the next one runs on another connection
        assert again != busy_pid
    finally:
        idle.dispose()
        busy.dispose()


def _lookup_quickly(db: Database) -> None:
    with db.quick_read() as session:
        accounts_service.count_users(session)


def test_disposing_the_database_closes_every_kept_connection(state: Any) -> None:
    db = Database(state.db.url)
    if is_sqlite(db.url):
        first = _quick_read_connection(db)
        db.dispose()
        with pytest.raises(sqlite3.ProgrammingError, match="closed"):
            first.execute("SELECT 1")
        assert _quick_read_connection(db) is not first  # and the next quick read opens another
        db.dispose()
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    threads = [threading.Thread(target=_lookup_quickly, args=(db,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    admin = create_engine(state.db.url, poolclass=NullPool)
    count = text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
    try:
        with admin.connect() as conn:
            before = int(conn.execute(count).scalar_one())
        db.dispose()
        with admin.connect() as conn:
            after = int(conn.execute(count).scalar_one())
    finally:
        admin.dispose()
    assert before - after >= 3
