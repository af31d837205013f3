"""The CRM store's schema: our added columns and indexes reach an older store, and the rank
of RMA statuses covers the whole vocabulary."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import inspect, text

from backend_adapter import crm_schema as crm
from backend_adapter.connectors.base import Cursor, UpsertItem
from backend_adapter.connectors.sql import SqlConnector
from backend_adapter.mapping import to_crm
from tests.backend_adapter.rma_data import crm_rows

AT = datetime(2026, 11, 5, 8, 0)


def _columns(engine: Any, table: str) -> set[str]:
    return {c["name"] for c in inspect(engine).get_columns(table)}


def _indexes(engine: Any, table: str) -> set[str]:
    return {ix["name"] for ix in inspect(engine).get_indexes(table)}


def test_an_older_crm_store_gains_the_columns_and_indexes_we_added(state: Any, connector: SqlConnector) -> None:
    engine = state.crm_engine
    # A store from before `customer_visible`, the pull indexes and crm_contact.active.
    with engine.begin() as conn:
        for name in ("ix_crm_rma_event_updated", "ix_crm_rma_event_rma", "ix_crm_rma_updated"):
            conn.execute(text(f"DROP INDEX {name}"))
        conn.execute(text("ALTER TABLE crm_rma_event DROP COLUMN customer_visible"))
        conn.execute(text("ALTER TABLE crm_contact DROP COLUMN active"))
        conn.execute(
            text(
                "INSERT INTO crm_rma_event (external_id, version, rma_number, status, note, source, occurred_at, updated_at)"
                " VALUES ('old-1', 1, 'RMA-OLD001-1', 'received', 'Arrived.', 'crm', :at, :at)"
            ),
            {"at": AT},
        )
        conn.execute(
            text(
                "INSERT INTO crm_contact (external_id, version, email, role, created_at, updated_at)"
                " VALUES ('c-1', 1, 'old@example.com', 'customer', :at, :at)"
            ),
            {"at": AT},
        )
    assert "customer_visible" not in _columns(engine, "crm_rma_event")

    crm.create_crm_schema(engine)
    crm.create_crm_schema(engine)  # idempotent

    assert "customer_visible" in _columns(engine, "crm_rma_event")
    assert {"ix_crm_rma_event_updated", "ix_crm_rma_event_rma"} <= _indexes(engine, "crm_rma_event")
    assert "ix_crm_rma_updated" in _indexes(engine, "crm_rma")
    # Existing rows: customer_visible NULL (visible), active filled with its default.
    [old] = crm_rows(engine, crm.crm_rma_event, external_id="old-1")
    assert old["customer_visible"] is None
    assert crm_rows(engine, crm.crm_contact, external_id="c-1")[0]["active"] is True
    # …and the adapter works against it: pushes with the new column, pulls the old rows.
    write = to_crm(
        "rma_event.recorded",
        1,
        {
            "external_id": "new-1",
            "rma_number": "RMA-OLD001-1",
            "status": "diagnosing",
            "customer_visible": False,
            "occurred_at": AT.isoformat(),
        },
        AT,
    )
    connector.upsert(write.table, [UpsertItem(write.external_id, 1, write.row)])
    page = connector.changes_since("crm_rma_event", Cursor(updated_at=None, key=""), limit=10)
    assert {(r["external_id"], r["customer_visible"]) for r in page.rows} == {("old-1", None), ("new-1", False)}


def test_the_rank_covers_the_vocabulary_in_order() -> None:
    rank = crm.RMA_STATUS_RANK
    path = [
        "requested",
        "approved",
        "awaiting_unit",
        "received",
        "diagnosing",
        "quote_sent",
        "quote_accepted",
        "repairing",
        "repaired",
        "shipped",
        "delivered",
        "closed",
    ]
    assert [rank[s] for s in path] == sorted(rank[s] for s in path)
    assert len({rank[s] for s in path}) == len(path)
    assert rank["replacement_shipped"] < rank["received"]
    assert rank["quote_declined"] > rank["quote_sent"]
    assert rank["quote_declined"] < rank["shipped"]
    assert rank["rejected"] == rank["cancelled"] > rank["delivered"]
    assert max(rank, key=rank.__getitem__) == "closed"
