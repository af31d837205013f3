"""Database engines, the declarative base and the unit of work.

One unit of work per request / CLI command / adapter batch: `unit_of_work()` opens a
session, the caller's code runs, and it commits on success or rolls back on error.
Services never commit.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from operator import itemgetter
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from sqlalchemy import Connection, DateTime, Engine, MetaData, Table, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import StaticPool
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored naive-UTC (SQLite has no zones), returned aware-UTC."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: ARG002
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use portal.db.utcnow()")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:  # noqa: ARG002
        return None if value is None else value.replace(tzinfo=UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


def utcnow() -> datetime:
    return datetime.now(UTC)


_MARKERS = {"qmark": "?", "format": "%s", "pyformat": "%s"}


def insert_many(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, Any]], constants: Mapping[str, Any] | None = None
) -> None:
    """INSERT `rows` (all with the same keys), plus `constants` (the same values in every row),
    with one DB-API executemany.

    Each value goes through its column type's bind processor, as SQLAlchemy would do (a
    constant once), but without SQLAlchemy's per-row statement bookkeeping, which costs more
    than the insert itself for narrow rows (100,000 report lines: 2.3 of 5.3 s; docs/performance.md)."""
    if not rows:
        return
    dialect = connection.dialect
    constants = constants or {}
    names = list(rows[0])
    columns = [table.c[name] for name in [*names, *constants]]

    def processor(column: Any) -> Callable[[Any], Any] | None:
        return column.type.dialect_impl(dialect).bind_processor(dialect)  # type: ignore[no-any-return]

    fixed = tuple(value if (p := processor(table.c[name])) is None else p(value) for name, value in constants.items())
    varying = [(i, p) for i, name in enumerate(names) if (p := processor(table.c[name])) is not None]
    marker = _MARKERS[dialect.paramstyle]
    quote = dialect.identifier_preparer.quote
    sql = f"INSERT INTO {quote(table.name)} ({', '.join(quote(c.name) for c in columns)}) VALUES ({', '.join([marker] * len(columns))})"
    pick = itemgetter(*names) if len(names) > 1 else (lambda row: (row[names[0]],))
    values: list[tuple[Any, ...]]
    if not varying:
        values = [pick(row) + fixed for row in rows]
    else:
        values = []
        for row in rows:
            picked = list(pick(row))
            for i, process in varying:
                picked[i] = process(picked[i])
            values.append((*picked, *fixed))
    connection.exec_driver_sql(sql, values)  # type: ignore[arg-type]


def new_uuid() -> str:
    return str(uuid.uuid4())


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# Pool sizing. Requests run their unit of work in Starlette's thread pool (anyio's default:
# 40 threads), each holding one connection, and a GET that refreshes the session's last-seen
# time briefly holds a second one. With SQLAlchemy's default pool (5 kept + 10 overflow)
# every connection above 5 was closed on return and reopened by the next request (a new
# PostgreSQL backend each time; for SQLite a new file handle and PRAGMAs), and 15 requests
# that each held one connection while waiting for a second could block each other until
# the pool timeout. Keep as many connections as there are threads, plus headroom for the
# second connection; they are opened lazily, only as concurrency demands.
POOL_SIZE = 40
POOL_MAX_OVERFLOW = 10


# A pooled PostgreSQL connection that sat unused this long is tested before use (see ping_when_idle).
PING_AFTER_IDLE_S = 1.0


def make_engine(url: str, *, ping_after_idle_s: float = PING_AFTER_IDLE_S, **kwargs: Any) -> Engine:
    """An engine with our SQLite settings: WAL, a busy timeout, and BEGIN IMMEDIATE for writes.

    pysqlite's own transaction handling is switched off so we can choose the BEGIN mode:
    deferred for reads, IMMEDIATE for writes (a deferred read that later writes can fail
    with "database is locked" at once, whatever the busy timeout).

    Other databases: the pool sizing below, and connections tested before use when they have
    been idle (`ping_when_idle`).
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", POOL_MAX_OVERFLOW)
        engine = create_engine(url, **kwargs)
        ping_when_idle(engine, ping_after_idle_s)
        return engine
    database = parsed.database or ""
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"check_same_thread": False, "timeout": 30}
    if database in ("", ":memory:"):
        kwargs.setdefault("poolclass", StaticPool)
    else:
        kwargs.setdefault("pool_size", POOL_SIZE)
        kwargs.setdefault("max_overflow", POOL_MAX_OVERFLOW)
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    queue = threading.Lock()
    holder: list[int | None] = [None]  # the thread whose writer holds the queue

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
        if mode == "IMMEDIATE" and not conn.info.get(_QUEUED_WRITER):
            if holder[0] == threading.get_ident():
                # It would wait for itself: for the queue, then for SQLite's lock, then fail.
                raise RuntimeError("a second write transaction on a thread whose first is still open")
            if queue.acquire(timeout=WRITE_QUEUE_TIMEOUT_S):
                holder[0] = threading.get_ident()
                conn.info[_QUEUED_WRITER] = True
        conn.exec_driver_sql(f"BEGIN {mode}")

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
        if record.info.pop(_QUEUED_WRITER, False):
            holder[0] = None
            queue.release()

    @event.listens_for(engine, "invalidate")
    def _on_invalidate(_dbapi_conn: Any, record: Any, _exc: Any) -> None:
        _on_checkin(_dbapi_conn, record)

    return engine


# SQLite: writers of one process queue on a lock of the process before they ask SQLite for its
# write lock (BEGIN IMMEDIATE), and leave the queue when their connection goes back to the pool
# (after the commit or rollback). Waiting for SQLite's lock itself is a poll: its busy handler
# sleeps 1, 2, 5, 10 … 100 ms between tries, so with 32 writers at once a few waited seconds while
# others went ahead (the guest lookup's p95 was 1.8 s at 32 connections; docs/decisions/0016). A
# lock hands over at once (in no guaranteed order). Writers of other processes (the adapter, a
# second worker) still meet at SQLite's lock. After WRITE_QUEUE_TIMEOUT_S a writer stops waiting
# in the queue and waits at SQLite's lock, whose busy timeout is another 30 s. A thread that opens
# a second write transaction while its first is open gets an error at once instead.
WRITE_QUEUE_TIMEOUT_S = 30.0
_QUEUED_WRITER = "portal.queued_writer"


def ping_when_idle(engine: Engine, after_s: float) -> None:
    """Test a pooled connection with a ping before use if it sat idle for `after_s` or more.

    SQLAlchemy's `pool_pre_ping` pings on every checkout: one more round trip per request, to a
    server that, on the benchmark machine, shares the web worker's core (≈ 60 µs of the worker's
    CPU and ≈ 30 µs of the server's per request; docs/decisions/0013). A connection handed back a
    moment ago by a request that used it is alive but for a failure in that moment; one that sat
    in the pool may have been closed by a database restart, a failover or an idle timeout, and
    is pinged, as before. A failed ping makes the pool replace the connection (SQLAlchemy retries
    a checkout whose listener raises `DisconnectionError`). A connection that fails while in use
    fails that request; SQLAlchemy then discards it and the others its pool opened before
    (the rollback that ends the request meets the same disconnect), so the next requests get
    fresh ones (tests/portal/test_db.py).
    """
    dialect = engine.dialect

    @event.listens_for(engine, "connect")
    def _fresh(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkin")
    def _idle_from(_dbapi_conn: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _ping_if_idle(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get("idle_since")
        if since is not None and time.monotonic() - since < after_s:
            return
        try:
            dialect.do_ping(dbapi_conn)
        except Exception as exc:  # whatever the reason, this connection cannot be used
            raise DisconnectionError(f"pooled connection failed its ping: {exc}") from exc


_T = TypeVar("_T")


@contextmanager
def without_database() -> Iterator[Session]:
    """A unit of work for a request that reads nothing: a session bound to no database, so a
    query through it raises `UnboundExecutionError` instead of reading (portal.web,
    `view(uses_database=False)`)."""
    session = Session()
    try:
        yield session
    finally:
        session.close()


# Where a quick read's session keeps its `UnchangedReads` (Session.info).
UNCHANGED_READS = "portal.unchanged_reads"


def read_unchanged(session: Session, key: Hashable, load: Callable[[], _T]) -> _T:
    """`load()` run in `session`, or, in a quick read, its value from an earlier quick read when
    the database has not changed since (`UnchangedReads`). `key` names the read and its
    parameters. The value is shared by the requests that find it: treat it as immutable."""
    reads: UnchangedReads | None = session.info.get(UNCHANGED_READS)
    return load() if reads is None else reads.get(key, load)


class UnchangedReads:
    """Values read by quick reads, kept while no connection has committed to the database since.

    SQLite's `PRAGMA data_version` on a connection changes whenever another connection commits
    to the database file, from this process or any other; the quick-read connection itself never
    writes. A value read in a transaction that found version V is therefore exactly what the same
    read returns in any later transaction on that connection that finds V again. A logout, a
    password change or a deactivation commits, so every worker's next request reads afresh:
    nothing is revoked later than without the cache (docs/decisions/0014). The version is read
    once per request, on the first lookup; a transaction that has written (its connection's
    `total_changes` moved) neither uses nor stores values.
    """

    MAX_ENTRIES = 4096

    def __init__(self) -> None:
        self._values: dict[Hashable, Any] = {}
        self._version: int | None = None
        self._raw: Any = None
        self._checked = False
        self._changes_at_start = 0

    def begin(self, raw: Any) -> None:
        """A new quick read on DB-API connection `raw`, inside its BEGIN."""
        if raw is not self._raw:
            self.clear()
            self._raw = raw
        self._checked = False
        self._changes_at_start = raw.total_changes

    def clear(self) -> None:
        self._values.clear()
        self._version = None
        self._raw = None

    def get(self, key: Hashable, load: Callable[[], _T]) -> _T:
        raw = self._raw
        if raw is None or raw.total_changes != self._changes_at_start:
            return load()
        if not self._checked:
            # The transaction's first read, if nothing else has read yet: it fixes the snapshot
            # that this version describes and that the request's other reads will see.
            version = raw.execute("PRAGMA data_version").fetchone()[0]
            if version != self._version:
                self._values.clear()
                self._version = version
            self._checked = True
        try:
            return self._values[key]  # type: ignore[no-any-return]
        except KeyError:
            pass
        value = load()
        if len(self._values) >= self.MAX_ENTRIES:
            self._values.clear()
        self._values[key] = value
        return value


class Database:
    """The portal database: a session factory for reads and one for writes."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        # SQLite in WAL mode: a reader never waits for a lock, so quick reads may run on the
        # event loop (portal.web, `view(on_loop=True)`). A PostgreSQL query waits for the network.
        # (Not an in-memory database: it has no WAL, and its one connection is shared by all.)
        self.reads_never_wait = is_sqlite(url) and not isinstance(self.engine.pool, StaticPool)
        write_bind = self.engine.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite(url) else self.engine
        # PostgreSQL reads run in autocommit: no BEGIN/ROLLBACK round trips for a GET, whose
        # transaction would be rolled back anyway (each statement still sees a consistent snapshot).
        # SQLite reads keep their deferred transaction: closing the session rolls it back, so
        # nothing a GET might write through its session is ever kept.
        read_bind = self.engine if is_sqlite(url) else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read = sessionmaker(bind=read_bind, expire_on_commit=False)
        self._write = sessionmaker(bind=write_bind, expire_on_commit=False)
        self._after_commit: list[Callable[[Session], None]] = []
        # Quick reads (see quick_read). SQLite, on the event loop: one connection kept for them.
        self._quick_lock = threading.Lock()
        self._quick_connection: Connection | None = None
        self._unchanged_reads = UnchangedReads()
        # PostgreSQL, on the quick-read threads: a connection kept by each thread.
        self.keeps_thread_connections = not is_sqlite(url)
        self._thread_kept = threading.local()
        self._thread_kept_lock = threading.Lock()
        self._thread_connections: set[Connection] = set()
        self._ping_after_idle_s = float(engine_kwargs.get("ping_after_idle_s", PING_AFTER_IDLE_S))

    def on_commit(self, hook: Callable[[Session], None]) -> None:
        """Run `hook(session)` after every successful unit-of-work commit (wakes senders)."""
        self._after_commit.append(hook)

    @contextmanager
    def unit_of_work(self, *, write: bool = True) -> Iterator[Session]:
        session = (self._write if write else self._read)()
        try:
            yield session
            if write:
                session.commit()
                for hook in self._after_commit:
                    hook(session)
            # A read is not rolled back explicitly: close() below ends its transaction with a
            # ROLLBACK all the same (SQLite; PostgreSQL reads have none), without first expiring
            # every loaded object as Session.rollback() does (docs/decisions/0009).
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    @contextmanager
    def quick_read(self) -> Iterator[Session]:
        """A read-only unit of work for a quick read: a page that needs a read or two and no
        write (views declared `on_loop=True`; portal.web). Its session runs on a connection kept
        for quick reads instead of one checked out of the pool for each request: the pool's
        checkout and return (with its reset and events), the isolation switch of PostgreSQL's
        autocommit reads and the session's transaction bookkeeping cost more than the read itself
        (docs/decisions/0013, 0015). The session joins a SQLAlchemy transaction held open on that
        connection and never ends it (join mode "rollback_only": no commit goes through; a
        rollback ends it and the next quick read opens it again). After an error the connection
        goes back to the pool and the next quick read takes another. A connection kept for quick
        reads refuses writes (`_set_read_only`; decision 0019) until it goes back to the pool.

        - SQLite in WAL mode (on the event loop): one connection; each quick read has its own
          SQLite transaction (BEGIN … ROLLBACK: one snapshot for the request, nothing it might
          write kept), and its session carries the database's `UnchangedReads`
          (`read_unchanged`): rows read by an earlier quick read, reused while no connection has
          committed since. Quick reads run one at a time on an event loop; should another loop
          thread ask while the connection is in use (test clients run their own loops), it gets
          a pooled unit of work.
        - PostgreSQL (on the few quick-read threads): a connection per thread, in autocommit as
          every read is (each statement sees what was committed before it), pinged first when it
          sat idle for `ping_after_idle_s`, as the pool does (`ping_when_idle`).
        - An in-memory SQLite database: a pooled unit of work.
        """
        if self.reads_never_wait and self._quick_lock.acquire(blocking=False):
            try:
                with self._sqlite_quick_read() as session:
                    yield session
            finally:
                self._quick_lock.release()
        elif self.keeps_thread_connections:
            with self._thread_quick_read() as session:
                yield session
        else:
            with self.unit_of_work(write=False) as session:
                yield session

    @contextmanager
    def _sqlite_quick_read(self) -> Iterator[Session]:
        try:
            connection = self._quick_connection
            if connection is None or connection.closed or connection.invalidated:
                connection = self._quick_connection = self.engine.connect()
                _set_read_only(connection, True)
            raw = connection.connection.dbapi_connection
            assert raw is not None
            if not connection.in_transaction():
                connection.begin()  # SQLAlchemy's, held open; its BEGIN is ended at once:
                raw.rollback()  # each quick read has its own SQLite transaction below.
            raw.execute("BEGIN DEFERRED")
            self._unchanged_reads.begin(raw)
            session = Session(bind=connection, expire_on_commit=False, join_transaction_mode="rollback_only")
            session.info[UNCHANGED_READS] = self._unchanged_reads
        except BaseException:
            self._close_quick_connection()
            raise
        failed = True
        try:
            yield session
            failed = False
        finally:
            session.close()
            if failed:
                self._close_quick_connection()
            else:
                raw.rollback()

    @contextmanager
    def _thread_quick_read(self) -> Iterator[Session]:
        kept = self._thread_kept
        try:
            connection = self._thread_connection(kept)
            session = Session(bind=connection, expire_on_commit=False, join_transaction_mode="rollback_only")
        except BaseException:
            self._close_thread_connection(kept)
            raise
        failed = True
        try:
            yield session
            failed = False
        finally:
            session.close()
            if failed:
                self._close_thread_connection(kept)
            else:
                kept.idle_since = time.monotonic()

    def _thread_connection(self, kept: threading.local) -> Connection:
        connection: Connection | None = getattr(kept, "connection", None)
        if connection is not None and (connection.closed or connection.invalidated):
            connection = None
        if connection is not None and time.monotonic() - kept.idle_since >= self._ping_after_idle_s:
            try:
                raw = connection.connection.dbapi_connection
                assert raw is not None
                self.engine.dialect.do_ping(raw)
            except Exception:  # closed by a restart, a failover or an idle timeout: take another
                connection.invalidate()  # not back to the pool as if it were fine
                self._close_thread_connection(kept)
                connection = None
        if connection is None:
            connection = self.engine.connect()  # a pool checkout, pinged there if it idled
            connection.execution_options(isolation_level="AUTOCOMMIT")
            _set_read_only(connection, True)
            kept.connection = connection
            with self._thread_kept_lock:
                self._thread_connections.add(connection)
        if not connection.in_transaction():
            connection.begin()  # no BEGIN in autocommit: SQLAlchemy's bookkeeping only
        return connection

    def _close_thread_connection(self, kept: threading.local) -> None:
        connection: Connection | None = getattr(kept, "connection", None)
        kept.connection = None
        if connection is not None:
            with self._thread_kept_lock:
                self._thread_connections.discard(connection)
            _return_read_only_to_pool(connection)

    def _close_quick_connection(self) -> None:
        """After an error in a quick read: back to the pool (whose reset rolls back), and the
        next quick read takes a fresh connection."""
        connection, self._quick_connection = self._quick_connection, None
        self._unchanged_reads.clear()
        if connection is not None:
            _return_read_only_to_pool(connection)

    def dispose(self) -> None:
        with self._quick_lock:
            self._close_quick_connection()
        with self._thread_kept_lock:
            kept, self._thread_connections = self._thread_connections, set()
        for connection in kept:  # each thread finds its own closed and takes another
            _return_read_only_to_pool(connection)
        self.engine.dispose()


def _set_read_only(connection: Connection, read_only: bool) -> None:
    """A connection kept for quick reads refuses writes in the database itself: a write that
    slipped into a quick read fails at once, where SQLite would hold its write lock until the
    rollback and PostgreSQL's autocommit would commit it (the pipeline refuses its own writes on
    the loop, `Ctx._refuse_on_loop`; this covers a view's). Reset before the pool has it back."""
    raw = connection.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        if connection.dialect.name == "sqlite":
            cursor.execute(f"PRAGMA query_only = {int(read_only)}")
        else:
            cursor.execute(f"SET default_transaction_read_only = {'on' if read_only else 'off'}")
    finally:
        cursor.close()


def _return_read_only_to_pool(connection: Connection) -> None:
    if not (connection.closed or connection.invalidated):  # (an invalidated one would reconnect)
        try:
            _set_read_only(connection, False)
        except Exception:  # a broken connection: the pool discards it
            connection.invalidate()
    _return_to_pool(connection)


def _return_to_pool(connection: Connection) -> None:
    try:
        connection.close()  # the pool's reset rolls back
    except Exception:  # a broken connection: the pool discards it
        connection.invalidate()
