"""CRM-side changes reach the portal after one pull cycle; re-pulling changes nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from backend_adapter import crm_schema as crm
from backend_adapter.puller import Puller
from portal.accounts.models import Account


def _write_account(state: Any, account_id: str, name: str, tier: str | None, at: datetime) -> None:
    with state.crm_engine.begin() as conn:
        exists = conn.execute(select(crm.crm_account.c.account_id).where(crm.crm_account.c.account_id == account_id)).first()
        values = {"kind": "partner", "name": name, "tier": tier, "country": "SG", "updated_at": at}
        if exists:
            conn.execute(update(crm.crm_account).where(crm.crm_account.c.account_id == account_id).values(**values))
        else:
            conn.execute(crm.crm_account.insert().values(account_id=account_id, **values))


def test_an_account_written_by_the_erp_appears_after_one_pull(state: Any, connector: Any, uow: Any) -> None:
    puller = Puller(state.db, connector, page_size=2)
    for n in range(5):
        _write_account(state, f"P-{n}", f"Partner {n}", "silver", datetime(2026, 11, 1, 9, 0, n))
    assert {source: n for source, n in puller.pull_once().items() if n} == {"crm_account": 5}
    with uow() as session:
        assert session.get(Account, "P-3").name == "Partner 3"
    # Re-pulling re-reads only the overlap and changes nothing.
    puller.pull_once()
    with uow() as session:
        assert len(session.scalars(select(Account)).all()) == 5
    _write_account(state, "P-3", "Partner Three", "gold", datetime(2026, 11, 1, 10, 0))
    puller.pull_once()
    with uow() as session:
        account = session.get(Account, "P-3")
        assert (account.name, account.tier) == ("Partner Three", "gold")


def test_a_late_row_with_an_earlier_timestamp_is_still_seen(state: Any, connector: Any, uow: Any) -> None:
    puller = Puller(state.db, connector, overlap_s=10)
    _write_account(state, "P-A", "A", None, datetime(2026, 11, 1, 9, 0, 30))
    puller.pull_once()
    # Committed after the pull, stamped a few seconds earlier (another system's clock or a long transaction).
    _write_account(state, "P-B", "B", None, datetime(2026, 11, 1, 9, 0, 25))
    puller.pull_once()
    with uow() as session:
        assert session.get(Account, "P-B") is not None
