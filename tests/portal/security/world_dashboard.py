"""Records of the test world for the dashboard routes (called by conftest.build_world): a sales
target for each partner account, named world.ids["dashboard_partner:P-X"] / ["dashboard_partner:P-Y"]."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from portal.partner.models import SalesTarget

if TYPE_CHECKING:
    from tests.portal.security.conftest import World


def add(db: Session, world: World, now: datetime) -> None:
    for account_id in ("P-X", "P-Y"):
        db.add(
            SalesTarget(
                partner_account_id=account_id, period="2026-01", sku="NW-DASH-1", target_units=10, target_revenue_cents=1000, updated_at=now
            )
        )
        world.ids[f"dashboard_partner:{account_id}"] = account_id
    db.flush()
