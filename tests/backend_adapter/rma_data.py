"""Repairs in the portal's database, made as the customer service would (models + workflow)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from backend_adapter import crm_schema as crm
from portal.db import new_uuid, utcnow
from portal.repairs import workflow
from portal.repairs.lifecycle import RmaStatus
from portal.repairs.models import Outcome, Rma, RmaEvent, RmaUnit, WarrantyStatus

CAROL = "carol@harbor-robotics.example"
SERIALS = ("HR-BRD-000231", "HR-BRD-000232")


def make_rma(uow: Callable[..., Any], number: str = "RMA-7K3Q9P", serials: tuple[str, ...] = SERIALS) -> list[str]:
    """An RMA of C-1001 with one unit per serial (requested); returns the units' external ids."""
    now = utcnow()
    with uow() as db:
        rma = Rma(
            number=number,
            account_id="C-1001",
            contact_email=CAROL,
            contact_name="Carol Hughes",
            locale="en",
            fault_category="no_power",
            description="The board does not start after the firmware update.",
            return_address="Harbor Robotics, 1 Quay Street, Bristol",
            preferred_outcome=Outcome.REPAIR,
            created_at=now,
            updated_at=now,
        )
        db.add(rma)
        db.flush()
        units = []
        for line_no, serial in enumerate(serials, start=1):
            unit = RmaUnit(
                rma=rma,
                line_no=line_no,
                unit_number=f"{number}-{line_no}",
                serial=serial,
                sku="CTRL-200",
                order_number="SO-20417",
                warranty_status=WarrantyStatus.IN_WARRANTY,
                status=RmaStatus.REQUESTED,
                status_changed_at=now,
                created_at=now,
            )
            db.add(unit)
            db.flush()
            workflow.append_event(db, unit, RmaStatus.REQUESTED, note="Requested by the customer.", occurred_at=now)
            workflow.record_unit(db, unit)
            units.append(unit.external_id)
        return units


def unit_of(db: Session, external_id: str) -> RmaUnit:
    return db.scalars(select(RmaUnit).where(RmaUnit.external_id == external_id)).one()


def timeline(db: Session, external_id: str) -> list[RmaEvent]:
    unit = unit_of(db, external_id)
    return list(db.scalars(select(RmaEvent).where(RmaEvent.unit_id == unit.id).order_by(RmaEvent.occurred_at, RmaEvent.id)))


def crm_now() -> datetime:
    """Now as the CRM store keeps it (naive UTC)."""
    return utcnow().replace(tzinfo=None)


def crm_rows(engine: Any, table: Any, **where: Any) -> list[dict[str, Any]]:
    stmt = select(table).where(*(table.c[k] == v for k, v in where.items())).order_by(table.c.external_id)
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def repair_centre_sets_status(engine: Any, external_id: str, status: str, *, version: int | None = None) -> None:
    """The CRM's own tools change a unit's status (keeping the version unless given)."""
    values: dict[str, Any] = {"status": status, "updated_at": crm_now()}
    if version is not None:
        values["version"] = version
    with engine.begin() as conn:
        conn.execute(update(crm.crm_rma).where(crm.crm_rma.c.external_id == external_id).values(**values))


def repair_centre_adds_event(engine: Any, rma_number: str, status: str, note: str, *, customer_visible: bool | None = None) -> str:
    external_id = new_uuid()
    now = crm_now()
    with engine.begin() as conn:
        conn.execute(
            crm.crm_rma_event.insert().values(
                external_id=external_id,
                version=1,
                rma_number=rma_number,
                status=status,
                note=note,
                source="crm",
                customer_visible=customer_visible,
                occurred_at=now,
                updated_at=now,
            )
        )
    return external_id
