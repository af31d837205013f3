"""The CRM store reached directly over SQL (SQLite or PostgreSQL)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Engine, Table, and_, bindparam, case, false, func, literal_column, or_, select, true
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from backend_adapter import crm_schema
from backend_adapter.connectors.base import (
    Capabilities,
    ChangePage,
    CrmUnavailable,
    Cursor,
    ItemResult,
    Outcome,
    UpsertItem,
)
from portal.prepared import Prepared, list_value, listed

PUSHED_TABLES = frozenset(t.name for t in crm_schema.metadata.sorted_tables if "external_id" in t.c)
PULLED_KEYS: dict[str, tuple[str, ...]] = {
    "crm_account": ("account_id",),
    "crm_product": ("sku",),
    "crm_order": ("order_number",),
    "crm_serial": ("serial",),
    "crm_invoice": ("invoice_number",),
    # Composite keys: the cursor key is a JSON array of the key values (see `changes_since`).
    "crm_order_line": ("order_number", "line_no"),
    "crm_sales_target": ("partner_account_id", "period", "sku"),
    "crm_rma": ("external_id",),
    "crm_rma_event": ("external_id",),
}

# A NULL updated_at (allowed in crm_order_line and crm_sales_target) counts as this instant:
# such rows sort first and are read by the first full pull (and by any pull whose cursor is
# still at the epoch). A later change to such a row must set updated_at to be seen again.
EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - CRM timestamps are naive UTC by contract


# Results are immutable: one shared instance per kind of success instead of one per item.
_CREATED, _UPDATED, _UNCHANGED = ItemResult(Outcome.CREATED), ItemResult(Outcome.UPDATED), ItemResult(Outcome.UNCHANGED)


class SqlConnector:
    def __init__(self, engine: Engine, *, max_batch: int = 500) -> None:
        self.engine = engine
        # SQLite: upserts take the write lock up front (BEGIN IMMEDIATE, which waits under the
        # busy timeout). A deferred transaction that reads the versions and then writes fails at
        # once with "database is locked" when another writer got in between.
        self._write_engine = engine.execution_options(sqlite_begin="IMMEDIATE") if engine.dialect.name == "sqlite" else engine
        self.capabilities = Capabilities(max_batch=max_batch, tables=PUSHED_TABLES)
        # Statements compiled once: (table, the upsert's column keys; () for the version read).
        self._prepared: dict[tuple[str, tuple[str, ...]], Prepared] = {}

    def _table(self, name: str) -> Table:
        return crm_schema.metadata.tables[name]

    def upsert(self, table: str, items: list[UpsertItem]) -> list[ItemResult]:
        if table not in PUSHED_TABLES:
            return [ItemResult(Outcome.PERMANENT, f"unknown table {table}") for _ in items]
        target = self._table(table)
        try:
            with self._write_engine.begin() as conn:
                dialect = self.engine.dialect.name
                rows = [{**row, "external_id": external_id, "version": version} for external_id, version, row in items]
                keys = tuple(rows[0])
                upsert, latest = self._upsert_of(target, keys), _last_version_wins(rows)
                if dialect == "postgresql" and len(latest) == len(rows):
                    # One statement over column arrays, which also says what it did (see `_upsert_of`).
                    written = dict(upsert.rows(conn, {key: [row[key] for row in latest] for key in keys}))
                    return [_CREATED if written.get(i.external_id) else _UPDATED if i.external_id in written else _UNCHANGED for i in items]
                # SQLite, or several versions of one record in the batch (each judged against the
                # version stored before the batch): read the stored versions first.
                ids = list_value([item.external_id for item in items], dialect)
                before = dict(self._versions_of(target).rows(conn, {"ids": ids}))
                if dialect == "postgresql":
                    upsert.rows(conn, {key: [row[key] for row in latest] for key in keys})
                else:
                    upsert.executemany(conn, latest)
        except IntegrityError as exc:
            # One bad row spoils the batch's statement: retry the items one by one to find it.
            if len(items) > 1:
                return [result for item in items for result in self.upsert(table, [item])]
            return [ItemResult(Outcome.PERMANENT, _short(exc))]
        except OperationalError as exc:
            raise CrmUnavailable(_short(exc)) from exc
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise CrmUnavailable(_short(exc)) from exc
            if len(items) > 1:
                return [result for item in items for result in self.upsert(table, [item])]
            return [ItemResult(Outcome.PERMANENT, _short(exc))]
        results = []
        for item in items:
            previous = before.get(item.external_id)
            if previous is None:
                results.append(_CREATED)
            elif previous < item.version:
                results.append(_UPDATED)
            else:
                results.append(_UNCHANGED)
        return results

    def _versions_of(self, target: Table) -> Prepared:
        """The stored versions of a list of external ids (one list parameter: see `listed`)."""
        key = (target.name, ())
        if key not in self._prepared:
            stmt = select(target.c.external_id, target.c.version).where(listed(target.c.external_id, "ids", self.engine.dialect.name))
            self._prepared[key] = Prepared(stmt, self.engine.dialect)
        return self._prepared[key]

    def _upsert_of(self, target: Table, keys: tuple[str, ...]) -> Prepared:
        prepared = self._prepared.get((target.name, keys))
        if prepared is None:
            stmt: Any
            if self.engine.dialect.name == "postgresql":
                # PostgreSQL: `INSERT ... SELECT * FROM unnest(:col1, :col2, ...)`, one array parameter per
                # column: the batch is one statement. An executemany sends one INSERT per row (in a
                # pipeline, but each parsed, planned and run on its own): 500 rows took about twice as
                # long. The CRM tables have plain column types (text, integers, dates, booleans).
                arrays = (
                    func.unnest(*[bindparam(key, type_=ARRAY(target.c[key].type)) for key in keys]).table_valued(*keys).render_derived()
                )
                stmt = pg_insert(target).from_select(list(keys), select(*[arrays.c[key] for key in keys]))
            else:
                stmt = sqlite_insert(target)
            update_cols: dict[str, Any] = {c.name: stmt.excluded[c.name] for c in target.columns if c.name != "external_id"}
            if target.name == "crm_rma":
                # Two writers: the repair centre may have written a later status meanwhile.
                update_cols["status"] = _later_status(target.c.status, stmt.excluded.status)
            # A lower or equal version never overwrites: re-deliveries and stale retries change nothing.
            stmt = stmt.on_conflict_do_update(
                index_elements=[target.c.external_id], set_=update_cols, where=target.c.version < stmt.excluded.version
            )
            if self.engine.dialect.name == "postgresql":
                # (external_id, inserted) of each row it inserted or updated (`xmax` is 0 on a row
                # version made by an INSERT): no read of the stored versions is needed before it.
                stmt = stmt.returning(target.c.external_id, literal_column("xmax = 0"))
            column_keys = None if self.engine.dialect.name == "postgresql" else keys
            prepared = self._prepared[(target.name, keys)] = Prepared(stmt, self.engine.dialect, column_keys=column_keys)
        return prepared

    def changes_since(self, table: str, cursor: Cursor, *, limit: int) -> ChangePage:
        """Rows after the cursor in (updated_at, key...) order.

        A single-column key travels in `Cursor.key` as its text; a composite key as a JSON
        array of its values (typed, and unambiguous whatever the values contain).
        """
        target = self._table(table)
        key_cols = [target.c[k] for k in PULLED_KEYS.get(table, tuple(c.name for c in target.primary_key.columns))]
        stamp: ColumnElement[datetime] = target.c.updated_at
        if target.c.updated_at.nullable:
            stamp = func.coalesce(target.c.updated_at, EPOCH)
        stmt = select(target)
        if cursor.updated_at is not None:
            stmt = stmt.where(or_(stamp > cursor.updated_at, and_(stamp == cursor.updated_at, _after_key(key_cols, cursor.key))))
        stmt = stmt.order_by(stamp, *key_cols).limit(limit)
        try:
            with self.engine.connect() as conn:
                rows = [dict(r._mapping) for r in conn.execute(stmt)]
        except (OperationalError, DBAPIError) as exc:
            raise CrmUnavailable(_short(exc)) from exc
        if not rows:
            return ChangePage(rows=[], cursor=cursor)
        last = rows[-1]
        key = str(last[key_cols[0].name]) if len(key_cols) == 1 else json.dumps([last[c.name] for c in key_cols])
        updated_at = _as_datetime(last["updated_at"])
        return ChangePage(rows=rows, cursor=Cursor(updated_at=EPOCH if updated_at is None else updated_at, key=key))

    def close(self) -> None:
        self.engine.dispose()


def _status_rank(status: ColumnElement[Any]) -> ColumnElement[int]:
    """`crm_schema.RMA_STATUS_RANK` in SQL (an unknown status ranks 0: any known one beats it)."""
    return case(crm_schema.RMA_STATUS_RANK, value=status, else_=0)


def _later_status(stored: ColumnElement[Any], incoming: ColumnElement[Any]) -> ColumnElement[Any]:
    """The incoming status only when it ranks above the stored one: a status never moves back."""
    return case((_status_rank(incoming) > _status_rank(stored), incoming), else_=stored)


def _last_version_wins(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per external_id (the highest version): a statement may not touch a row twice."""
    best: dict[str, dict[str, Any]] = {}
    for row in rows:
        current = best.get(row["external_id"])
        if current is None or current["version"] < row["version"]:
            best[row["external_id"]] = row
    return list(best.values())


def _after_key(key_cols: list[Any], key: str) -> ColumnElement[bool]:
    """Key columns strictly after the cursor key, compared column by column (lexicographic)."""
    if len(key_cols) == 1:
        return key_cols[0] > key  # type: ignore[no-any-return]
    if not key:
        return true()
    values = json.loads(key)
    clause: ColumnElement[bool] = false()
    for index in reversed(range(len(key_cols))):
        clause = or_(key_cols[index] > values[index], and_(key_cols[index] == values[index], clause))
    return clause


def _as_datetime(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:500]


__all__ = ["PUSHED_TABLES", "SqlConnector"]
