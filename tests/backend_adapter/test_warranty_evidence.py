"""A partner's reported sale of a serial is evidence of that unit's warranty start.

The portal never writes `crm_serial` (CRM-owned, CRM_STORE.md): the sale reaches the CRM as
`crm_sell_through_line` (`serial`, `sold_on`, `withdrawn`), where the CRM team can take it as
the unit's `warranty_starts_on`; meanwhile the portal's warranty check uses it, and a date the
CRM sets wins once pulled."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update

from backend_adapter import crm_schema as crm
from backend_adapter.runner import Adapter
from portal.accounts.models import Role, User
from portal.customer.warranty import FROM_CRM, FROM_PARTNER_SALE, warranty_of
from tests.backend_adapter.rma_data import crm_now, crm_rows
from tests.portal.partner.reports.test_service import DAY, commit, csv_bytes, sale, seed_products, upload

SERIAL = "NW-B650-000042"


def _crm_serial(state: Any, **values: Any) -> None:
    """The ERP ships a board to the partner (no order of ours: sold through the partner)."""
    with state.crm_engine.begin() as conn:
        conn.execute(
            crm.crm_serial.insert().values(
                serial=SERIAL, sku="NW-MB-B650", order_number=None, sold_to_account_id="P-100", warranty_starts_on=None, **values
            )
        )


def _warranty(uow: Any) -> tuple[Any, Any, Any]:
    with uow() as db:
        found = warranty_of(db, SERIAL)
        assert found is not None
        return found.status, found.starts_on, found.source


def test_a_reported_sale_reaches_the_crm_and_starts_the_warranty(
    state: Any, adapter: Adapter, uow: Any, make_account: Any, make_user: Any
) -> None:
    make_account("P-100", "partner")
    seed_products(uow)
    shipped = datetime(2025, 6, 2, 8, 0)
    _crm_serial(state, shipped_at=shipped, updated_at=shipped)
    adapter.run_once()  # the portal's read copy of the serial
    assert _warranty(uow) == ("unknown", None, None)

    partner: User = make_user("pia@partner.example", Role.PARTNER, account_id="P-100")
    sold = sale("Alpha Co", quantity="1")
    sold[8] = SERIAL
    commit(uow, partner, upload(uow, partner, csv_bytes([sold, sale("Beta Co")])))
    adapter.run_once()

    lines = {r["serial"]: r for r in crm_rows(state.crm_engine, crm.crm_sell_through_line)}
    assert (lines[SERIAL]["sold_on"], lines[SERIAL]["sku"], lines[SERIAL]["withdrawn"]) == (DAY, "NW-MB-B650", False)
    # The CRM's own value is left to the CRM; the portal answers from the sale meanwhile.
    assert [r["warranty_starts_on"] for r in crm_rows_serial(state)] == [None]
    assert _warranty(uow) == ("in_warranty", DAY, FROM_PARTNER_SALE)

    # The CRM team sets the start (say, from the partner's sale a day earlier on its records).
    crm_start = DAY - timedelta(days=1)
    with state.crm_engine.begin() as conn:
        conn.execute(update(crm.crm_serial).values(warranty_starts_on=crm_start, updated_at=crm_now()))
    adapter.run_once()
    assert _warranty(uow) == ("in_warranty", crm_start, FROM_CRM)


def crm_rows_serial(state: Any) -> list[dict[str, Any]]:
    with state.crm_engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(crm.crm_serial.select())]
