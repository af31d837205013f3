"""Partner report lines reach the CRM store through the outbox; a replaced period's missing lines
arrive withdrawn, changed lines as a new version."""

from __future__ import annotations

from typing import Any

from backend_adapter import crm_schema as crm
from backend_adapter.reconcile import reconcile
from backend_adapter.runner import Adapter
from portal.accounts.models import Role, User
from tests.backend_adapter.rma_data import crm_rows
from tests.portal.partner.reports.test_service import DAY, GOOD, INV_HEADER, commit, csv_bytes, sale, seed_products, upload


def _by_customer(state: Any) -> dict[str, tuple[int, int, bool]]:
    rows = crm_rows(state.crm_engine, crm.crm_sell_through_line)
    return {r["end_customer_name"]: (r["version"], r["quantity"], r["withdrawn"]) for r in rows}


def test_a_corrected_period_replaces_the_old_one_in_the_crm(
    state: Any, adapter: Adapter, uow: Any, make_account: Any, make_user: Any
) -> None:
    make_account("P-100", "partner")
    seed_products(uow)
    partner: User = make_user("pia@partner.example", Role.PARTNER, account_id="P-100")
    v1 = commit(uow, partner, upload(uow, partner, csv_bytes(GOOD)))
    adapter.run_once()
    assert _by_customer(state) == {"Alpha Co": (1, 2, False), "Beta Co": (1, 2, False), "Gamma Co": (1, 2, False)}
    assert {r["report_external_id"] for r in crm_rows(state.crm_engine, crm.crm_sell_through_line)} == {v1.external_id}

    corrected = csv_bytes([sale("Alpha Co", quantity="5"), sale("Beta Co")])
    commit(uow, partner, upload(uow, partner, corrected, mode="replace", name="corrected.csv"))
    added = csv_bytes([sale("Delta Co", quantity="1")])
    commit(uow, partner, upload(uow, partner, added, mode="add", name="late.csv"))
    adapter.run_once()
    assert _by_customer(state) == {
        "Alpha Co": (2, 5, False),
        "Beta Co": (2, 2, False),
        "Gamma Co": (2, 0, True),
        "Delta Co": (3, 1, False),
    }
    report = reconcile(state.db, state.crm_engine)
    assert report.entities["crm_sell_through_line"].in_sync


def test_inventory_lines_reach_the_crm(state: Any, adapter: Adapter, uow: Any, make_account: Any, make_user: Any) -> None:
    make_account("P-100", "partner")
    seed_products(uow)
    partner: User = make_user("pia@partner.example", Role.PARTNER, account_id="P-100")
    data = csv_bytes([[DAY.isoformat(), "Shenzhen", "NW-SW-24G", "12"], [DAY.isoformat(), "Shanghai", "NW-SW-24G", "3"]], header=INV_HEADER)
    commit(uow, partner, upload(uow, partner, data, kind="inventory"))
    adapter.run_once()
    rows = crm_rows(state.crm_engine, crm.crm_inventory_line)
    assert sorted((r["location"], r["quantity_on_hand"], r["as_of"], r["withdrawn"]) for r in rows) == [
        ("Shanghai", 3, DAY, False),
        ("Shenzhen", 12, DAY, False),
    ]
    assert reconcile(state.db, state.crm_engine).entities["crm_inventory_line"].in_sync
