"""Warranty of a unit: the last day covered (month ends, leap days), where the start date
comes from, and the rate-limited public check."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from portal.accounts.models import Role
from portal.customer import service
from portal.customer.models import Product, RegistrationStatus, UnitRegistration
from portal.customer.warranty import compute, warranty_of
from portal.db import utcnow
from portal.errors import RateLimited
from tests.portal.customer.test_service import add_product, add_serial

NOW = utcnow()


def _product(months: int) -> Product:
    return Product(sku="NW-X", name="Unit", category="x", warranty_months=months, active=True, updated_at=NOW)


@pytest.mark.parametrize(
    ("starts_on", "months", "last_day"),
    [
        (date(2025, 3, 15), 24, date(2027, 3, 14)),
        (date(2026, 1, 31), 1, date(2026, 2, 27)),  # no 31 February: clamped to the 28th, the day before is covered
        (date(2024, 2, 29), 12, date(2025, 2, 27)),  # leap day start
        (date(2023, 2, 28), 12, date(2024, 2, 27)),
        (date(2025, 12, 1), 1, date(2025, 12, 31)),  # across the year end
        (date(2025, 8, 31), 6, date(2026, 2, 27)),
        (date(2025, 1, 1), 0, date(2024, 12, 31)),  # no warranty at all
    ],
)
def test_the_last_day_covered(starts_on: date, months: int, last_day: date) -> None:
    assert compute("S", _product(months), starts_on, starts_on).ends_on == last_day


def test_the_last_day_is_still_covered_and_the_next_is_not() -> None:
    start = date(2024, 5, 31)
    last = compute("S", _product(24), start, start).ends_on
    assert last == date(2026, 5, 30)
    assert compute("S", _product(24), start, last).status == "in_warranty"
    assert compute("S", _product(24), start, last + timedelta(days=1)).status == "out_of_warranty"


def test_without_a_start_date_or_product_the_warranty_is_unknown() -> None:
    assert compute("S", _product(24), None, date(2026, 1, 1)).status == "unknown"
    assert compute("S", None, date(2025, 1, 1), date(2026, 1, 1)).status == "unknown"


def test_the_crm_start_date_wins_then_a_confirmed_registration(uow: Any, make_user: Any) -> None:
    customer = make_user("cleo@home.example", Role.CUSTOMER)
    crm_start = (NOW - timedelta(days=800)).date()
    bought = (NOW - timedelta(days=30)).date()
    with uow() as db:
        add_product(db, "NW-CAM-1", months=24)
        add_serial(db, "DATED", starts_on=crm_start)
        add_serial(db, "UNDATED")
        for serial, status in (("DATED", RegistrationStatus.CONFIRMED), ("UNDATED", RegistrationStatus.PENDING)):
            db.add(
                UnitRegistration(
                    user_id=customer.id,
                    serial=serial,
                    purchase_date=bought,
                    proof_filename="r.pdf",
                    proof_content_type="application/pdf",
                    proof_data=b"%PDF-",
                    status=status,
                    created_at=NOW,
                    decided_at=NOW if status is RegistrationStatus.CONFIRMED else None,
                )
            )
    with uow() as db:
        dated, undated = warranty_of(db, "DATED"), warranty_of(db, "UNDATED")
        assert warranty_of(db, "NO-SUCH") is None
        assert dated is not None
        assert undated is not None
        assert (dated.status, dated.starts_on) == ("out_of_warranty", crm_start)
        assert undated.status == "unknown"  # a registration counts once staff confirm it
        db.query(UnitRegistration).filter_by(serial="UNDATED").update({"status": RegistrationStatus.CONFIRMED, "decided_at": NOW})
    with uow() as db:
        confirmed = warranty_of(db, "UNDATED")
        assert confirmed is not None
        assert (confirmed.status, confirmed.starts_on) == ("in_warranty", bought)


def test_the_public_check_normalises_the_serial_and_counts_lookups_per_address(uow: Any) -> None:
    with uow() as db:
        add_product(db, "NW-CAM-1", months=24)
        add_serial(db, "CAM0001", starts_on=(NOW - timedelta(days=10)).date())
    with uow() as db:
        found = service.check_warranty(db, " cam 0001 ", "203.0.113.9")
        assert found is not None
        assert (found.serial, found.status) == ("CAM0001", "in_warranty")
        assert service.check_warranty(db, "nope", "203.0.113.9") is None
        for _ in range(18):
            service.check_warranty(db, "CAM0001", "203.0.113.9")
        with pytest.raises(RateLimited) as caught:
            service.check_warranty(db, "CAM0001", "203.0.113.9")
        assert caught.value.retry_after in range(1, 62)
        assert service.check_warranty(db, "CAM0001", "198.51.100.1") is not None  # another address is not affected
