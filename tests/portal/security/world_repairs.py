"""Records of the test world for the repairs routes (called by conftest.build_world).

One RMA per tenant, each with one unit (status requested) and a photo: C-A's (created by
customer_a), C-B's (customer_b) and the consumer's (no account, contact dee@home.example).
Named world.ids["rma:<tenant>"] (the RMA number), "unit:<tenant>" (the unit number) and
"photo:<tenant>" (the photo id).
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import TYPE_CHECKING

from PIL import Image
from sqlalchemy.orm import Session

from portal.customer.models import Product, Serial
from portal.repairs.lifecycle import RmaStatus
from portal.repairs.models import EventSource, Outcome, Rma, RmaEvent, RmaPhoto, RmaUnit, WarrantyStatus
from tests.portal.security import matrix

if TYPE_CHECKING:
    from tests.portal.security.conftest import World

RMAS = {
    # tenant: (number, role that created it, account)
    "C-A": ("RMA-AAAA22", matrix.CUSTOMER_A, "C-A"),
    "C-B": ("RMA-BBBB22", matrix.CUSTOMER_B, "C-B"),
    "consumer": ("RMA-DDDD22", matrix.CONSUMER, None),
}


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 80, 160)).save(out, "PNG")
    return out.getvalue()


def add(db: Session, world: World, now: datetime) -> None:
    """Add records and name them in world.ids (e.g. "rma:C-A")."""
    if db.get(Product, "WR-ROUTER") is None:
        db.add(Product(sku="WR-ROUTER", name="World Router", category="routers", warranty_months=24, active=True, updated_at=now))
    photo_data = _png()
    for tenant, (number, role, account_id) in RMAS.items():
        serial = f"WR-{tenant.upper()}-1"
        db.add(Serial(serial=serial, sku="WR-ROUTER", order_number=None, shipped_at=now, warranty_starts_on=now.date(), updated_at=now))
        rma = Rma(
            number=number,
            user_id=world.user_id(role),
            account_id=account_id,
            contact_email=world.email(role),
            contact_name=role.title(),
            locale="en",
            fault_category="no_power",
            description="Does not power on.",
            return_address=f"{tenant} return address",
            preferred_outcome=Outcome.REPAIR,
            created_at=now,
            updated_at=now,
        )
        rma.units.append(
            RmaUnit(
                line_no=1,
                unit_number=f"{number}-1",
                serial=serial,
                sku="WR-ROUTER",
                order_number=None,
                warranty_status=WarrantyStatus.IN_WARRANTY,
                warranty_until=None,
                status=RmaStatus.REQUESTED,
                status_changed_at=now,
                created_at=now,
            )
        )
        db.add(rma)
        db.flush()
        db.add(RmaEvent(unit_id=rma.units[0].id, status=RmaStatus.REQUESTED, source=EventSource.PORTAL, occurred_at=now))
        photo = RmaPhoto(
            rma_id=rma.id, filename="fault.png", content_type="image/png", size=len(photo_data), data=photo_data, created_at=now
        )
        db.add(photo)
        db.flush()
        world.ids[f"rma:{tenant}"] = number
        world.ids[f"unit:{tenant}"] = f"{number}-1"
        world.ids[f"photo:{tenant}"] = photo.id
