"""Warranty of a unit: the last day covered (month ends, leap days), where the start date
comes from (the CRM, a partner's reported sale, a confirmed registration), and the rate-limited
public check."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import event, select

from portal.accounts.models import Role
from portal.customer import service
from portal.customer.models import Product, RegistrationStatus, Serial, UnitRegistration
from portal.customer.warranty import (
    FROM_CRM,
    FROM_PARTNER_SALE,
    FROM_REGISTRATION,
    add_months,
    compute,
    warranties_of,
    warranty_of,
)
from portal.db import new_uuid, utcnow
from portal.errors import RateLimited
from portal.partner.models import ReportKind, ReportSource, ReportSubmission, SellThroughReportLine, SubmissionStatus
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


# -- a partner's reported sale as evidence of the start ------------------------------------------
# Report versions are written as the partner report service stores them: a new version of a
# period is SUBMITTED and the one it replaces SUPERSEDED (its lines kept as history); a line left
# out of the new version is withdrawn.

SOLD = (NOW - timedelta(days=40)).date()
Sale = tuple[str, str, date]  # serial, sku, sold_on


def _report(
    uow: Any, partner: str, sales: list[Sale], *, period: str = "2026-01", status: SubmissionStatus = SubmissionStatus.SUBMITTED
) -> None:
    """The partner's next version of the period's sell-through report, holding `sales`."""
    with uow() as db:
        versions = db.scalars(
            select(ReportSubmission).where(
                ReportSubmission.partner_account_id == partner,
                ReportSubmission.kind == ReportKind.SELL_THROUGH,
                ReportSubmission.period == period,
            )
        ).all()
        if status is SubmissionStatus.SUBMITTED:
            for older in versions:
                if older.status is SubmissionStatus.SUBMITTED:
                    older.status = SubmissionStatus.SUPERSEDED
        submission = ReportSubmission(
            partner_account_id=partner,
            kind=ReportKind.SELL_THROUGH,
            period=period,
            version=len(versions) + 1,
            status=status,
            source=ReportSource.FORM,
            created_at=NOW,
            submitted_at=NOW if status is SubmissionStatus.SUBMITTED else None,
        )
        db.add(submission)
        db.flush()
        for row, (serial, sku, sold_on) in enumerate(sales, start=2):
            db.add(
                SellThroughReportLine(
                    submission_id=submission.id,
                    partner_account_id=partner,
                    external_id=new_uuid(),
                    line_key=f"{sku}:{serial}"[:32],
                    row_number=row,
                    sold_on=sold_on,
                    sku=sku,
                    quantity=1,
                    unit_price_cents=129900,
                    currency="CNY",
                    end_customer_name=f"Customer {row}",
                    end_customer_country="CN",
                    serial=serial,
                )
            )


def _registration(db: Any, user_id: int, serial: str, bought: date) -> None:
    db.add(
        UnitRegistration(
            user_id=user_id,
            serial=serial,
            purchase_date=bought,
            proof_filename="r.pdf",
            proof_content_type="application/pdf",
            proof_data=b"%PDF-",
            status=RegistrationStatus.CONFIRMED,
            created_at=NOW,
            decided_at=NOW,
        )
    )


def _start(uow: Any, serial: str) -> tuple[str, date | None, str | None]:
    """(status, start, source) of the unit; the batch rule for order and product lists agrees."""
    with uow() as db:
        one = warranty_of(db, serial)
        assert one is not None
        unit = db.get(Serial, serial)
        assert warranties_of(db, [unit]) == {serial: one}
        return one.status, one.starts_on, one.source


@pytest.fixture
def units(uow: Any, make_account: Any) -> None:
    make_account("P-100", "partner")
    make_account("P-200", "partner")
    with uow() as db:
        add_product(db, "NW-CAM-1", months=24)
        add_product(db, "NW-SW-24G", months=12)


def test_a_unit_with_no_known_start_takes_the_partners_sale_date(uow: Any, units: None) -> None:
    with uow() as db:
        add_serial(db, "CAM-0001", sold_to="P-100", shipped_at=NOW - timedelta(days=200))
    assert _start(uow, "CAM-0001") == ("unknown", None, None)

    _report(uow, "P-100", [("CAM-0001", "NW-CAM-1", SOLD), ("CAM-OTHER", "NW-CAM-1", SOLD - timedelta(days=9))])
    assert _start(uow, "CAM-0001") == ("in_warranty", SOLD, FROM_PARTNER_SALE)
    with uow() as db:  # the public check answers the same
        checked = service.check_warranty(db, " cam-0001 ", "203.0.113.9")
        assert checked is not None
        assert (checked.starts_on, checked.ends_on) == (SOLD, date.fromordinal(add_months(SOLD, 24).toordinal() - 1))


def test_a_known_or_earlier_start_is_kept(uow: Any, units: None, make_user: Any) -> None:
    customer = make_user("cleo@home.example", Role.CUSTOMER)
    crm_start = SOLD - timedelta(days=800)
    with uow() as db:
        add_serial(db, "CAM-CRM", starts_on=crm_start)
        add_serial(db, "CAM-CRM-LATER", starts_on=SOLD + timedelta(days=1))
        add_serial(db, "CAM-EARLY")  # registered with a purchase date before the partner's sale
        add_serial(db, "CAM-LATE")  # registered with a purchase date after it
        _registration(db, customer.id, "CAM-EARLY", SOLD - timedelta(days=5))
        _registration(db, customer.id, "CAM-LATE", SOLD + timedelta(days=5))
    _report(uow, "P-100", [(s, "NW-CAM-1", SOLD) for s in ("CAM-CRM", "CAM-CRM-LATER", "CAM-EARLY", "CAM-LATE")])

    # The CRM's date wins, earlier or later, even when the unit is out of warranty by it.
    assert _start(uow, "CAM-CRM") == ("out_of_warranty", crm_start, FROM_CRM)
    assert _start(uow, "CAM-CRM-LATER") == ("in_warranty", SOLD + timedelta(days=1), FROM_CRM)
    # Otherwise the sale date applies only where nothing earlier is known.
    assert _start(uow, "CAM-EARLY") == ("in_warranty", SOLD - timedelta(days=5), FROM_REGISTRATION)
    assert _start(uow, "CAM-LATE") == ("in_warranty", SOLD, FROM_PARTNER_SALE)


def test_the_earliest_current_sale_of_any_partner_counts(uow: Any, units: None) -> None:
    with uow() as db:
        add_serial(db, "CAM-0002")
    _report(uow, "P-100", [("CAM-0002", "NW-CAM-1", SOLD)])
    _report(uow, "P-200", [("CAM-0002", "NW-CAM-1", SOLD - timedelta(days=3))], period="2025-12")
    assert _start(uow, "CAM-0002") == ("in_warranty", SOLD - timedelta(days=3), FROM_PARTNER_SALE)


def test_a_withdrawn_superseded_or_draft_sale_does_not_count(uow: Any, units: None) -> None:
    with uow() as db:
        add_serial(db, "CAM-0003")
    _report(uow, "P-100", [("CAM-0003", "NW-CAM-1", SOLD - timedelta(days=2)), ("CAM-OTHER", "NW-CAM-1", SOLD)])
    assert _start(uow, "CAM-0003") == ("in_warranty", SOLD - timedelta(days=2), FROM_PARTNER_SALE)

    # A correction moves the sale date later: the superseded version's earlier date is history.
    _report(uow, "P-100", [("CAM-0003", "NW-CAM-1", SOLD), ("CAM-OTHER", "NW-CAM-1", SOLD)])
    assert _start(uow, "CAM-0003") == ("in_warranty", SOLD, FROM_PARTNER_SALE)

    # A correction without the line withdraws it, and a draft being filled in is no report yet.
    _report(uow, "P-100", [("CAM-OTHER", "NW-CAM-1", SOLD)])
    _report(uow, "P-200", [("CAM-0003", "NW-CAM-1", SOLD)], status=SubmissionStatus.DRAFT)
    assert _start(uow, "CAM-0003") == ("unknown", None, None)
    with uow() as db:
        statuses = db.scalars(
            select(ReportSubmission.status).where(ReportSubmission.partner_account_id == "P-100").order_by(ReportSubmission.version)
        ).all()
    assert statuses == [SubmissionStatus.SUPERSEDED, SubmissionStatus.SUPERSEDED, SubmissionStatus.SUBMITTED]


def test_a_sale_reported_under_another_sku_is_no_evidence(uow: Any, units: None) -> None:
    with uow() as db:
        add_serial(db, "CAM-0004")
        add_serial(db, "SW-0001", sku="NW-SW-24G")
    _report(uow, "P-100", [("CAM-0004", "NW-SW-24G", SOLD), ("SW-0001", "NW-SW-24G", SOLD)])
    assert _start(uow, "CAM-0004") == ("unknown", None, None)
    assert _start(uow, "SW-0001") == ("in_warranty", SOLD, FROM_PARTNER_SALE)
    # The CRM corrects the unit's SKU (the pull updates the read copy): the line no longer matches.
    with uow() as db:
        unit = db.get(Serial, "SW-0001")
        unit.sku = "NW-CAM-1"
    assert _start(uow, "SW-0001") == ("unknown", None, None)


def test_lists_of_units_apply_the_same_rule_in_few_queries(uow: Any, units: None, state: Any) -> None:
    serials = [f"CAM-{n:04d}" for n in range(10, 40)]
    with uow() as db:
        for serial in serials:
            add_serial(db, serial)
    _report(uow, "P-100", [(s, "NW-CAM-1", SOLD - timedelta(days=i)) for i, s in enumerate(serials[:20])])
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    with uow() as db:
        units_ = db.scalars(select(Serial).where(Serial.serial.in_(serials))).all()
        event.listen(state.db.engine, "before_cursor_execute", count)
        try:
            cover = warranties_of(db, units_)
        finally:
            event.remove(state.db.engine, "before_cursor_execute", count)
    assert len(statements) <= 3
    assert [cover[s].starts_on for s in serials[:3]] == [SOLD, SOLD - timedelta(days=1), SOLD - timedelta(days=2)]
    assert {cover[s].status for s in serials[20:]} == {"unknown"}
