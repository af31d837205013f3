"""The CRM store's own guard on `crm_rma.status`: a push never moves a unit's status back, even
with a higher version (the repair centre may have written a later status meanwhile)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from backend_adapter import crm_schema as crm
from backend_adapter.connectors.base import Outcome, UpsertItem
from backend_adapter.connectors.sql import SqlConnector
from tests.backend_adapter.rma_data import crm_rows

UNIT = "9b0e4c1a-0000-4000-8000-000000000004"


def _row(status: str, reason: str = "no_power: dead", number: str = "RMA-7K3Q9P-1") -> dict[str, Any]:
    at = datetime(2026, 11, 5, 8, 0)
    return {
        "rma_number": number,
        "account_id": "C-1001",
        "contact_email": "carol@harbor-robotics.example",
        "serial": "HR-BRD-000231",
        "sku": "CTRL-200",
        "order_number": "SO-20417",
        "reason": reason,
        "warranty_status": "in_warranty",
        "status": status,
        "created_at": at,
        "updated_at": at,
    }


def _push(connector: SqlConnector, version: int, status: str, **kw: Any) -> Outcome:
    [result] = connector.upsert("crm_rma", [UpsertItem(UNIT, version, _row(status, **kw))])
    return result.outcome


def _stored(state: Any) -> tuple[str, int, str]:
    [row] = crm_rows(state.crm_engine, crm.crm_rma, external_id=UNIT)
    return row["status"], row["version"], row["reason"]


@pytest.mark.parametrize(
    ("stored", "pushed", "kept"),
    [
        ("received", "diagnosing", "diagnosing"),  # later: taken
        ("diagnosing", "received", "diagnosing"),  # earlier: the CRM's later status stays
        ("repaired", "replaced", "repaired"),  # equal rank: the first stays
        ("quote_sent", "quote_declined", "quote_declined"),
        ("cancelled", "received", "cancelled"),  # a side exit ends the case…
        ("awaiting_unit", "cancelled", "cancelled"),
        ("rejected", "closed", "closed"),  # …only closing it beats it
        ("delivered", "rejected", "rejected"),
        ("teleported", "received", "received"),  # a status we do not know ranks lowest
    ],
)
def test_a_newer_version_never_moves_the_status_back(state: Any, connector: SqlConnector, stored: str, pushed: str, kept: str) -> None:
    assert _push(connector, 3, stored) is Outcome.CREATED
    assert _push(connector, 4, pushed, reason="no_power: dead after update") is Outcome.UPDATED
    # The version and the other columns are the portal's; the status is the later one.
    assert _stored(state) == (kept, 4, "no_power: dead after update")


def test_a_stale_portal_push_changes_nothing(state: Any, connector: SqlConnector) -> None:
    _push(connector, 7, "repairing")
    assert _push(connector, 5, "shipped", reason="stale") is Outcome.UNCHANGED
    assert _push(connector, 7, "received", reason="stale") is Outcome.UNCHANGED
    assert _stored(state) == ("repairing", 7, "no_power: dead")


def test_the_guard_applies_row_by_row_in_one_batch(state: Any, connector: SqlConnector) -> None:
    ids = [f"00000000-0000-4000-8000-00000000000{n}" for n in range(3)]
    statuses = ["requested", "diagnosing", "closed"]
    connector.upsert(
        "crm_rma", [UpsertItem(i, 1, _row(s, number=f"RMA-AAAAAA-{n}")) for n, (i, s) in enumerate(zip(ids, statuses, strict=True))]
    )
    results = connector.upsert("crm_rma", [UpsertItem(i, 2, _row("received", number=f"RMA-AAAAAA-{n}")) for n, i in enumerate(ids)])
    assert [r.outcome for r in results] == [Outcome.UPDATED] * 3
    assert [crm_rows(state.crm_engine, crm.crm_rma, external_id=i)[0]["status"] for i in ids] == ["received", "diagnosing", "closed"]


def test_other_pushed_tables_take_the_newer_status_as_before(state: Any, connector: SqlConnector) -> None:
    at = datetime(2026, 11, 5, 8, 0)
    row = {"company": "Acme", "country": "DE", "contact_email": "a@acme.example", "created_at": at, "updated_at": at}
    connector.upsert("crm_partner_application", [UpsertItem(UNIT, 1, {**row, "status": "approved"})])
    connector.upsert("crm_partner_application", [UpsertItem(UNIT, 2, {**row, "status": "submitted"})])
    assert crm_rows(state.crm_engine, crm.crm_partner_application)[0]["status"] == "submitted"
