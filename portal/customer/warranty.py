"""Warranty of one unit: from its start date and its product's warranty length.

Where the start comes from (`Warranty.source`), best evidence first:

1. the CRM's `warranty_starts_on` (`crm`): the CRM team owns that value once set, and it wins;
2. otherwise the earliest of what the portal knows of the unit's sale to its end customer:
   the sale date on a partner's *current* sell-through report line for this serial and its
   SKU (`partner_sale`; any partner; lines of superseded report versions, and so lines a
   correction withdrew, no longer count), and the purchase date of a confirmed registration
   (`registration`, bought through a reseller). A partner's sale date applies where nothing
   earlier is known: an earlier confirmed purchase date is kept, and a later one gives way;
3. otherwise unknown.

The portal never writes `crm_serial` (a CRM-owned table, CRM_STORE.md): the sale date reaches
the CRM as `crm_sell_through_line.sold_on` + `serial`, and setting `warranty_starts_on` from it
is the CRM's decision. The last day covered is the day before the same date `warranty_months`
later (clamped to the month's end).
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.customer.models import Product, RegistrationStatus, Serial, UnitRegistration
from portal.db import utcnow
from portal.partner.models import ReportSubmission, SellThroughReportLine, SubmissionStatus

# Where a start date came from (Warranty.source).
FROM_CRM = "crm"
FROM_PARTNER_SALE = "partner_sale"
FROM_REGISTRATION = "registration"


@dataclass(frozen=True)
class Warranty:
    serial: str
    product: Product | None
    status: str  # in_warranty | out_of_warranty | unknown (the CRM's vocabulary)
    starts_on: date | None
    ends_on: date | None  # last day covered
    source: str | None = None  # FROM_* above; None when the start is unknown

    @property
    def days_left(self) -> int | None:
        if self.ends_on is None or self.status != "in_warranty":
            return None
        return (self.ends_on - utcnow().date()).days


def add_months(start: date, months: int) -> date:
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return start.replace(year=year, month=month, day=min(start.day, calendar.monthrange(year, month)[1]))


def compute(serial: str, product: Product | None, starts_on: date | None, today: date, source: str | None = None) -> Warranty:
    source = source if starts_on is not None else None
    if product is None or starts_on is None:
        return Warranty(serial=serial, product=product, status="unknown", starts_on=starts_on, ends_on=None, source=source)
    ends_on = date.fromordinal(add_months(starts_on, product.warranty_months).toordinal() - 1)
    status = "in_warranty" if today <= ends_on else "out_of_warranty"
    return Warranty(serial=serial, product=product, status=status, starts_on=starts_on, ends_on=ends_on, source=source)


def start_of(crm_start: date | None, sold_on: date | None, purchased_on: date | None) -> tuple[date | None, str | None]:
    """The start date and its source from the three kinds of evidence (module docstring)."""
    if crm_start is not None:
        return crm_start, FROM_CRM
    if sold_on is not None and (purchased_on is None or sold_on < purchased_on):
        return sold_on, FROM_PARTNER_SALE
    if purchased_on is not None:
        return purchased_on, FROM_REGISTRATION
    return None, None


def warranty_of(db: Session, serial: str, *, today: date | None = None) -> Warranty | None:
    """None when the serial is not one of ours."""
    unit = db.get(Serial, serial)
    if unit is None:
        return None
    product = db.get(Product, unit.sku)
    sold_on = purchased_on = None
    if unit.warranty_starts_on is None:
        # One statement: the earliest current partner sale (ix_sell_through_line_serial, then the
        # submission by primary key) and the latest confirmed registration (ix_unit_registration_serial).
        earliest_sale = (
            select(func.min(SellThroughReportLine.sold_on))
            .join(ReportSubmission, ReportSubmission.id == SellThroughReportLine.submission_id)
            .where(
                SellThroughReportLine.serial == serial,
                SellThroughReportLine.sku == unit.sku,
                ReportSubmission.status == SubmissionStatus.SUBMITTED,
            )
            .scalar_subquery()
        )
        confirmed_purchase = (
            select(UnitRegistration.purchase_date)
            .where(UnitRegistration.serial == serial, UnitRegistration.status == RegistrationStatus.CONFIRMED)
            .order_by(UnitRegistration.decided_at.desc())
            .limit(1)
            .scalar_subquery()
        )
        row = db.execute(select(earliest_sale, confirmed_purchase)).one()
        sold_on, purchased_on = row[0], row[1]
    starts_on, source = start_of(unit.warranty_starts_on, sold_on, purchased_on)
    return compute(serial, product, starts_on, today or utcnow().date(), source)


def warranties_of(db: Session, units: Sequence[Serial], *, today: date | None = None) -> dict[str, Warranty]:
    """The rule of `warranty_of` for many units in at most three queries (products; current
    partner sales and confirmed registrations of the units the CRM gives no start date)."""
    today = today or utcnow().date()
    skus = {u.sku for u in units}
    products = {p.sku: p for p in db.scalars(select(Product).where(Product.sku.in_(skus)))} if skus else {}
    undated = {u.serial: u.sku for u in units if u.warranty_starts_on is None}
    sold: dict[str, date] = {}
    purchased: dict[str, date] = {}
    if undated:
        sales = db.execute(
            select(SellThroughReportLine.serial, SellThroughReportLine.sku, func.min(SellThroughReportLine.sold_on))
            .join(ReportSubmission, ReportSubmission.id == SellThroughReportLine.submission_id)
            .where(SellThroughReportLine.serial.in_(list(undated)), ReportSubmission.status == SubmissionStatus.SUBMITTED)
            .group_by(SellThroughReportLine.serial, SellThroughReportLine.sku)
        )
        for serial, sku, sold_on in sales:
            if serial is not None and undated.get(serial) == sku:
                sold[serial] = sold_on
        registrations = db.execute(
            select(UnitRegistration.serial, UnitRegistration.purchase_date)
            .where(UnitRegistration.serial.in_(list(undated)), UnitRegistration.status == RegistrationStatus.CONFIRMED)
            .order_by(UnitRegistration.decided_at.asc())
        )
        for serial, purchase_date in registrations:
            purchased[serial] = purchase_date  # the latest decision wins
    result = {}
    for u in units:
        starts_on, source = start_of(u.warranty_starts_on, sold.get(u.serial), purchased.get(u.serial))
        result[u.serial] = compute(u.serial, products.get(u.sku), starts_on, today, source)
    return result


def normalise_serial(value: str) -> str:
    """Serials are printed in capitals; people type them in lower case and with spaces."""
    return "".join(value.split()).upper()
