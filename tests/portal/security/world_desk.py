"""Records of the test world for the desk routes (called by conftest.build_world)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from portal.repairs import workflow
from portal.repairs.lifecycle import RmaStatus
from portal.repairs.models import Outcome, Rma, RmaUnit, WarrantyStatus

if TYPE_CHECKING:
    from tests.portal.security.conftest import World

DESK_RMA = "RMA-DESK01"


def add(db: Session, world: World, now: datetime) -> None:
    """One RMA of account C-A with one unit waiting for approval: world.ids["desk_rma"]."""
    rma = Rma(
        number=DESK_RMA,
        user_id=world.user_id("customer_a"),
        account_id="C-A",
        contact_email="ann@alpha.example",
        contact_name="Ann",
        locale="en",
        fault_category="no_power",
        description="Does not power on.",
        return_address="1 Alpha Road\nLondon",
        preferred_outcome=Outcome.REPAIR,
        created_at=now,
        updated_at=now,
    )
    db.add(rma)
    db.flush()
    unit = RmaUnit(
        rma_id=rma.id,
        line_no=1,
        unit_number=f"{DESK_RMA}-1",
        serial="DESK-SN-0001",
        sku="NW-CTRL-1",
        warranty_status=WarrantyStatus.IN_WARRANTY,
        status=RmaStatus.REQUESTED,
        status_changed_at=now,
        created_at=now,
    )
    db.add(unit)
    db.flush()
    workflow.append_event(db, unit, RmaStatus.REQUESTED, occurred_at=now)
    workflow.record_unit(db, unit)
    world.ids["desk_rma"] = DESK_RMA
