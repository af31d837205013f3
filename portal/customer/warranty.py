"""Warranty of one unit: from its start date and its product's warranty length.

The start is the CRM's `warranty_starts_on`; failing that the purchase date of a confirmed
registration (bought through a reseller); failing that unknown. The last day covered is the
day before the same date `warranty_months` later (clamped to the month's end).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.customer.models import Product, RegistrationStatus, Serial, UnitRegistration
from portal.db import utcnow


@dataclass(frozen=True)
class Warranty:
    serial: str
    product: Product | None
    status: str  # in_warranty | out_of_warranty | unknown (the CRM's vocabulary)
    starts_on: date | None
    ends_on: date | None  # last day covered

    @property
    def days_left(self) -> int | None:
        if self.ends_on is None or self.status != "in_warranty":
            return None
        return (self.ends_on - utcnow().date()).days


def add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))


def compute(serial: str, product: Product | None, starts_on: date | None, today: date) -> Warranty:
    if product is None or starts_on is None:
        return Warranty(serial=serial, product=product, status="unknown", starts_on=starts_on, ends_on=None)
    ends_on = date.fromordinal(add_months(starts_on, product.warranty_months).toordinal() - 1)
    status = "in_warranty" if today <= ends_on else "out_of_warranty"
    return Warranty(serial=serial, product=product, status=status, starts_on=starts_on, ends_on=ends_on)


def warranty_of(db: Session, serial: str, *, today: date | None = None) -> Warranty | None:
    """None when the serial is not one of ours."""
    unit = db.get(Serial, serial)
    if unit is None:
        return None
    product = db.get(Product, unit.sku)
    starts_on = unit.warranty_starts_on
    if starts_on is None:
        starts_on = db.scalar(
            select(UnitRegistration.purchase_date)
            .where(UnitRegistration.serial == serial, UnitRegistration.status == RegistrationStatus.CONFIRMED)
            .order_by(UnitRegistration.decided_at.desc())
            .limit(1)
        )
    return compute(serial, product, starts_on, today or utcnow().date())


def normalise_serial(value: str) -> str:
    """Serials are printed in capitals; people type them in lower case and with spaces."""
    return "".join(value.split()).upper()
