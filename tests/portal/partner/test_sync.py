"""CRM sales targets (composite key, updated_at may be NULL) reach the portal's read copies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select, update

from backend_adapter import crm_schema as crm
from backend_adapter.connectors.sql import SqlConnector
from backend_adapter.puller import Puller
from portal.partner.models import SalesTarget


@pytest.fixture
def crm_connector(state: Any) -> SqlConnector:
    return SqlConnector(state.crm_engine)


def _targets(uow: Any) -> list[tuple[Any, ...]]:
    with uow() as session:
        return [
            (t.partner_account_id, t.period, t.sku, t.target_units, t.target_revenue_cents, t.updated_at)
            for t in session.scalars(select(SalesTarget).order_by(SalesTarget.partner_account_id, SalesTarget.period, SalesTarget.sku))
        ]


def test_sales_targets_are_pulled_including_those_without_a_timestamp(state: Any, crm_connector: SqlConnector, uow: Any) -> None:
    stamped = datetime(2026, 11, 1, 9, 0)
    rows = [
        {
            "partner_account_id": partner,
            "period": period,
            "sku": sku,
            "target_units": 10,
            "target_revenue_cents": 10_000,
            "updated_at": None if partner == "P-2" else stamped,
        }
        for partner in ("P-1", "P-2")
        for period in ("2026-10", "2026-11")
        for sku in ("NW-SW-8P", "NW-NAS-4B")
    ]
    with state.crm_engine.begin() as conn:
        conn.execute(crm.crm_sales_target.insert(), rows)
    puller = Puller(state.db, crm_connector, page_size=3)
    assert puller.pull_once()["crm_sales_target"] == 8
    targets = _targets(uow)
    assert len(targets) == 8
    assert sum(1 for t in targets if t[5] is None) == 4
    assert ("P-1", "2026-11", "NW-SW-8P", 10, 10_000, stamped.replace(tzinfo=UTC)) in targets

    puller.pull_once()
    assert _targets(uow) == targets

    later = datetime(2026, 11, 3, 12, 0)
    with state.crm_engine.begin() as conn:
        conn.execute(
            update(crm.crm_sales_target)
            .where(crm.crm_sales_target.c.partner_account_id == "P-2", crm.crm_sales_target.c.period == "2026-11")
            .values(target_units=25, updated_at=later)
        )
    puller.pull_once()
    with uow() as session:
        changed = session.get(SalesTarget, ("P-2", "2026-11", "NW-NAS-4B"))
        assert changed is not None
        assert (changed.target_units, changed.updated_at) == (25, later.replace(tzinfo=UTC))
        assert session.scalar(select(func.count()).select_from(SalesTarget).where(SalesTarget.target_units == 25)) == 2
    after = _targets(uow)
    puller.pull_once()
    assert _targets(uow) == after
