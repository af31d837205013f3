"""`Prepared` statements bind and read values exactly as SQLAlchemy's own execution does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Boolean, Column, Date, DateTime, Integer, MetaData, String, Table, bindparam, insert, select
from sqlalchemy.dialects import sqlite

from portal.accounts.models import Account
from portal.db import UTCDateTime, make_engine
from portal.prepared import EntityReader, PerDialect, Prepared, bind_processor, list_value, listed
from portal.security.models import WebSession

DATETIMES = [
    datetime(2026, 12, 7, 13, 5, 9, 123456),
    datetime(2026, 1, 1),  # no microseconds: isoformat would drop them unless told not to
    datetime(999, 3, 4, 5, 6, 7, 8),  # a three-digit year is still written with four digits
    datetime(2026, 6, 1, 12, 0, tzinfo=UTC),  # aware: SQLAlchemy ignores the zone
    datetime(2026, 6, 1, 12, 0, tzinfo=timezone(timedelta(hours=8))),
    date(2026, 2, 3),
    None,
]


def test_the_sqlite_datetime_shortcut_writes_what_sqlalchemy_writes() -> None:
    dialect = sqlite.dialect()
    general = DateTime().dialect_impl(dialect).bind_processor(dialect)
    fast = bind_processor(DateTime(), dialect)
    assert general is not None
    assert fast is not None
    assert fast is not general
    assert [fast(value) for value in DATETIMES] == [general(value) for value in DATETIMES]
    assert fast(datetime(2026, 1, 1)) == "2026-01-01 00:00:00.000000"


def _table() -> Table:
    return Table(
        "prepared_probe",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("name", String(40)),
        Column("active", Boolean),
        Column("on_day", Date),
        Column("at", DateTime),
        Column("stamped", UTCDateTime()),
    )


def test_rows_inserted_and_read_back_match_sqlalchemys_execution(database_urls: tuple[str, str]) -> None:
    table = _table()
    engine = make_engine(database_urls[1])  # the CRM store's database, on SQLite or PostgreSQL
    try:
        table.metadata.create_all(engine)
        rows: list[dict[str, Any]] = [
            {
                "id": n,
                "name": f"n{n}" if n % 3 else None,
                "active": n % 2 == 0,
                "on_day": date(2026, 1, n),
                "at": datetime(2026, 1, n, 1, 2, 3, n),
                "stamped": datetime(2026, 2, n, tzinfo=UTC),
            }
            for n in range(1, 8)
        ]
        keys = tuple(rows[0])
        with engine.begin() as conn:
            Prepared(insert(table), conn.dialect, column_keys=keys).executemany(conn, rows[:4])
            conn.execute(insert(table), rows[4:])  # the same rows through SQLAlchemy, for comparison
            query = select(table).where(listed(table.c.id, "ids", conn.dialect.name), table.c.at >= bindparam("since")).order_by(table.c.id)
            read = Prepared(query, conn.dialect).rows(
                conn, {"ids": list_value([2, 3, 5, 6, 9], conn.dialect.name), "since": datetime(2026, 1, 3)}
            )
            by_sqlalchemy = [tuple(r) for r in conn.execute(select(table).where(table.c.id.in_([3, 5, 6])).order_by(table.c.id))]
            stored_text = conn.exec_driver_sql("SELECT CAST(at AS VARCHAR(40)) FROM prepared_probe ORDER BY id").scalars().all()
        assert read == by_sqlalchemy
        assert [r[0] for r in read] == [3, 5, 6]
        assert read[0][5] == datetime(2026, 2, 3, tzinfo=UTC)  # the UTCDateTime decorator ran on the way out
        # Rows 1-4 (Prepared) and 5-7 (SQLAlchemy) are stored in the same form.
        assert (stored_text[2], stored_text[5]) == ("2026-01-03 01:02:03.000003", "2026-01-06 01:02:03.000006")
    finally:
        table.metadata.drop_all(engine)
        engine.dispose()


def test_fetch_reads_in_the_sessions_transaction_and_follows_it_to_the_next(state: Any) -> None:
    """`fetch` sees what the session has pending (flushed first) and, after a commit, runs in
    the session's next transaction, not on the connection of the one that ended."""
    names = PerDialect(select(Account.name).where(Account.account_id == bindparam("account_id")))
    with state.db.unit_of_work() as db:
        db.add(Account(account_id="P-1", kind="customer", name="Pending Ltd", updated_at=datetime.now(UTC)))
        assert names.on(db).fetch(db, {"account_id": "P-1"}) == [("Pending Ltd",)]
        first = db.get_transaction()
        db.commit()
        db.add(Account(account_id="P-2", kind="customer", name="Second Ltd", updated_at=datetime.now(UTC)))
        assert names.on(db).fetch(db, {"account_id": "P-2"}) == [("Second Ltd",)]
        assert db.get_transaction() is not first
        db.rollback()
        assert names.on(db).fetch(db, {"account_id": "P-2"}) == []
        assert names.on(db).fetch(db, {"account_id": "P-1"}) == [("Pending Ltd",)]


def test_objects_attached_from_shared_values_each_get_their_own_json_values(state: Any) -> None:
    """Values kept for several requests (portal.db.UnchangedReads) are attached with `shared`:
    a change made in place to one request's session data reaches neither the kept values nor
    another request."""
    reader = EntityReader(WebSession)
    rows = PerDialect(select(*reader.columns()).where(WebSession.token_hash == bindparam("token_hash")))
    now = datetime.now(UTC)
    with state.db.unit_of_work() as db:
        db.add(WebSession(token_hash="h" * 64, created_at=now, last_seen_at=now, expires_at=now, data={"cart": ["a"]}))
    with state.db.unit_of_work(write=False) as db:
        kept = rows.on(db).fetch(db, {"token_hash": "h" * 64})[0]
    with state.db.unit_of_work(write=False) as first, state.db.unit_of_work(write=False) as second:
        one = reader.attach(first, kept, shared=True)
        one.data["cart"].append("b")
        other = reader.attach(second, kept, shared=True)
        assert other.data == {"cart": ["a"]}
    assert kept[reader.keys.index("data")] == {"cart": ["a"]}
