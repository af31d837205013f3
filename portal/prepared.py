"""Hot statements compiled once and run without SQLAlchemy's per-execution and per-row work.

Used by the relay's batches and by the web tier's hottest reads (the session lookup on every
request; docs/decisions/0012). The relay moves every outbox event through a handful of
statements, 500 rows at a time. Through
`Connection.execute`, SQLAlchemy rebuilds or looks up each statement, constructs one parameter
dict per row of an executemany and a `Row` with type processing per result row: measured on the
claim's 500-row read, 4.9 ms against 1.1 ms for the same SQL run on the DB-API cursor
(docs/performance.md). A `Prepared` statement is compiled once per dialect; its parameters and
results go through the same type processors SQLAlchemy would use (so values are stored and read
exactly as elsewhere), and `exec_driver_sql` keeps SQLAlchemy's connection, transaction and
error wrapping.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any, Generic, TypeVar

from sqlalchemy import ARRAY, JSON, Column, ColumnElement, Connection, Dialect, String, any_, bindparam, func, select
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import instance_state
from sqlalchemy.sql import ClauseElement

from portal.db import read_unchanged

T = TypeVar("T")


def listed(column: ColumnElement[Any], name: str, dialect: str) -> ColumnElement[bool]:
    """`column` is one of a list given as ONE parameter `name` (its value from `list_value`):
    PostgreSQL `column = ANY(:array)`, SQLite `column IN (SELECT value FROM json_each(:json))`.
    A long `IN (?, ?, ...)` list is rendered and bound anew on every execution: psycopg parsed a
    statement with 500 placeholders for about 3 ms, and SQLAlchemy's expansion of the lists was a
    tenth of the relay's Python time on SQLite."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(column.type)))
    return column.in_(select(func.json_each(bindparam(name, type_=String)).table_valued("value").c.value))


def list_value(values: list[Any], dialect: str) -> Any:
    return values if dialect == "postgresql" else json.dumps(values)


# SQLite keeps a DateTime as text in this format (SQLAlchemy's default for its SQLite dialect).
_SQLITE_DATETIME_FORMAT = "%(year)04d-%(month)02d-%(day)02d %(hour)02d:%(minute)02d:%(second)02d.%(microsecond)06d"


def bind_processor(type_: Any, dialect: Dialect) -> Callable[[Any], Any] | None:
    """The type's bind processor for the dialect, as SQLAlchemy would apply it. One exception, for
    speed: SQLite's DateTime, which SQLAlchemy formats through a %-format of seven fields (two per
    CRM row: a tenth of the upsert's Python time); for a naive datetime `isoformat(" ",
    "microseconds")` gives the same text (tests/backend_adapter/test_prepared.py)."""
    impl = type_.dialect_impl(dialect)
    process = impl.bind_processor(dialect)
    if process is None or dialect.name != "sqlite" or getattr(impl, "_storage_format", None) != _SQLITE_DATETIME_FORMAT:
        return process  # type: ignore[no-any-return]
    general = process

    def sqlite_datetime(value: Any) -> Any:
        if type(value) is datetime and value.tzinfo is None:
            return value.isoformat(" ", "microseconds")
        return general(value)

    return sqlite_datetime


class Prepared:
    def __init__(self, stmt: ClauseElement, dialect: Dialect, *, column_keys: Sequence[str] | None = None) -> None:
        compiled: Any = stmt.compile(dialect=dialect, column_keys=list(column_keys) if column_keys is not None else None)
        self.sql = compiled.string
        self.positional = bool(compiled.positional)
        by_name = {name: bind for bind, name in compiled.bind_names.items()}
        self.names: tuple[str, ...] = tuple(compiled.positiontup or ()) if self.positional else tuple(by_name)
        # Parameters declared without a value (`bindparam("name")`, an INSERT's columns) come from the
        # caller; literals of the statement (a status, a CASE's constants) are bound once, here.
        keys = set(column_keys or ())
        self.given = tuple(dict.fromkeys(n for n in self.names if by_name[n].required or n in keys))
        self.constants: dict[str, Any] = {}
        processors: list[tuple[int, Callable[[Any], Any]]] = []
        for name in dict.fromkeys(self.names):
            bind = by_name[name]
            process = bind_processor(bind.type, dialect)
            if name in self.given:
                if process is not None:
                    processors.append((self.given.index(name), process))
            else:
                self.constants[name] = process(bind.effective_value) if process else bind.effective_value
        self.processors = tuple(processors)
        if dialect.driver == "psycopg":
            # Arrays (id lists, the upsert's columns) in psycopg's binary format: its text format
            # quotes every element with regular expressions in Python, about 5x slower (0.64 ms
            # against 0.11 ms for 500 e-mail addresses).
            for name, bind in by_name.items():
                if isinstance(bind.type, ARRAY):
                    self.sql = self.sql.replace(f"%({name})s", f"%({name})b")
        self._pick = itemgetter(*self.given) if len(self.given) > 1 else None
        self.result_processors: tuple[Callable[[Any], Any] | None, ...] = ()
        columns = getattr(stmt, "selected_columns", None)
        if columns is not None:
            self.result_processors = tuple(c.type.dialect_impl(dialect).result_processor(dialect, None) for c in columns)

    def _bind(self, values: Mapping[str, Any]) -> Any:
        bound = list(self._pick(values)) if self._pick is not None else [values[name] for name in self.given]
        for index, process in self.processors:
            bound[index] = process(bound[index])
        if not self.constants:
            return tuple(bound) if self.positional and len(self.given) == len(self.names) else self._arrange(bound)
        return self._arrange(bound)

    def _arrange(self, bound: list[Any]) -> Any:
        named = {**self.constants, **dict(zip(self.given, bound, strict=True))}
        return tuple(named[name] for name in self.names) if self.positional else named

    def execute(self, conn: Connection, values: Mapping[str, Any] | None = None) -> Any:
        return conn.exec_driver_sql(self.sql, self._bind(values or {}))

    def executemany(self, conn: Connection, rows: Iterable[Mapping[str, Any]]) -> None:
        conn.exec_driver_sql(self.sql, [self._bind(row) for row in rows])  # type: ignore[arg-type]

    def rows(self, conn: Connection, values: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """The result rows as tuples, each value through its column type's result processor."""
        return self._processed(self.execute(conn, values).fetchall())

    def fetch(self, session: Session, values: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """`rows()` run in the session's transaction, on its DB-API connection: no SQLAlchemy
        execution context or result object (≈ 50 µs of a one-row lookup; docs/decisions/0012).
        Pending ORM changes are flushed first, as a query would autoflush them. Errors are the
        driver's own, not wrapped in SQLAlchemy's exceptions."""
        session.flush()
        cursor = session.connection().connection.driver_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(self.sql, self._bind(values or {}))
            raw = cursor.fetchall()
        finally:
            cursor.close()
        return self._processed(raw)

    def _processed(self, raw: Sequence[Any]) -> list[tuple[Any, ...]]:
        steps = [(i, p) for i, p in enumerate(self.result_processors) if p is not None]
        if not steps:
            return [tuple(r) for r in raw]
        out = []
        for r in raw:
            row = list(r)
            for i, process in steps:
                row[i] = process(row[i])
            out.append(tuple(row))
        return out


class PerDialect:
    """A statement's `Prepared` form for each dialect it is run on, compiled on first use."""

    def __init__(self, stmt: ClauseElement) -> None:
        self.stmt = stmt
        self._compiled: dict[tuple[str, str], Prepared] = {}

    def on(self, session: Session) -> Prepared:
        dialect = session.get_bind().dialect
        key = (dialect.name, dialect.driver)
        found = self._compiled.get(key)
        if found is None:
            found = self._compiled[key] = Prepared(self.stmt, dialect)
        return found

    def fetch_kept(self, session: Session, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """`fetch`, or, in a quick read, the rows an earlier quick read fetched with the same
        values while the database has stayed unchanged (`portal.db.read_unchanged`). The rows
        are shared between requests: attach them with `shared=True`."""
        if session.new or session.deleted or session.dirty:
            return self.on(session).fetch(session, values)  # flushed and read, as `fetch` would
        key = (self, *sorted((name, tuple(v) if isinstance(v, list) else v) for name, v in values.items()))
        return read_unchanged(session, key, lambda: self.on(session).fetch(session, values))


class EntityReader(Generic[T]):
    """Puts objects of a mapped class, read as plain rows by a `Prepared` select, into a session
    as if the ORM had loaded them: persistent, in its identity map (an object already there is
    returned as it is, as a query without `populate_existing` would), changes tracked, lazy
    relationships loading on access. The ORM's own loading of the session lookup's three objects
    costs ≈ 100 µs more per request (docs/decisions/0012).

    `columns()` lists every mapped column, in the order the select must return them, so no
    attribute is left unloaded. Relationships are set by the caller (`set_committed_value`) or
    load lazily.
    """

    def __init__(self, cls: type[T]) -> None:
        mapper = sa_inspect(cls)
        self.cls = cls
        self._columns: list[Column[Any]] = [c for c in mapper.columns if isinstance(c, Column)]
        if len(self._columns) != len(mapper.column_attrs):
            raise TypeError(f"{cls.__name__}: only plain column attributes can be read")
        self.keys = tuple(mapper.get_property_by_column(c).key for c in self._columns)
        pk = [self._columns.index(c) for c in mapper.primary_key]  # type: ignore[arg-type]
        self._pk = itemgetter(*pk) if len(pk) > 1 else None
        self._pk0 = pk[0]
        self._new = mapper.class_manager.new_instance
        self.width = len(self._columns)
        self._json_at = tuple(i for i, c in enumerate(self._columns) if isinstance(c.type, JSON))

    def columns(self) -> list[Column[Any]]:
        return list(self._columns)

    def optional(self, session: Session, values: Sequence[Any], *, shared: bool = False) -> T | None:
        """`attach`, or None when the primary key is NULL (the missing side of an outer join)."""
        return None if values[self._pk0] is None else self.attach(session, values, shared=shared)

    def attach(self, session: Session, values: Sequence[Any], *, shared: bool = False) -> T:
        """The object whose column values are `values` (in `columns()` order), in `session`.
        `shared`: the values are also given to other sessions (a cache); the object gets its own
        copy of each JSON value (a dict, a list), so changing one in place changes no other."""
        ident = self._pk(values) if self._pk is not None else (values[self._pk0],)
        key = (self.cls, ident, None)
        identity_map = session.identity_map
        found = identity_map.get(key)
        if found is not None:
            return found  # type: ignore[no-any-return]
        obj = self._new()
        if shared and self._json_at:
            values = list(values)
            for i in self._json_at:
                values[i] = copy.deepcopy(values[i])
        obj.__dict__.update(zip(self.keys, values, strict=True))
        # What the ORM's loader does for a new row (sqlalchemy/orm/loading.py, `_instance`).
        state = instance_state(obj)
        state.key = key
        state.identity_token = None
        state.session_id = session.hash_key
        identity_map._add_unpresent(state, key)  # type: ignore[attr-defined]
        return obj  # type: ignore[no-any-return]
