"""Partner dashboard and staff partner overview: hand-computed figures on a small fixture."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import pyotp
import pytest

from portal.accounts.models import Role, User
from portal.customer.models import Product
from portal.partner import dashboard
from portal.partner.models import (
    InventoryReportLine,
    ReportKind,
    ReportSource,
    ReportSubmission,
    SalesTarget,
    SellThroughReportLine,
    SubmissionStatus,
)

TODAY = date(2026, 3, 15)
PRODUCTS = [("NW-A", "Alpha board", "boards"), ("NW-B", "Beta board", "boards"), ("NW-C", "Gamma switch", "switches")]
TARGETS = {("2026-01", "NW-A"): 10, ("2026-01", "NW-C"): 20, ("2026-02", "NW-A"): 10, ("2026-02", "NW-B"): 10, ("2026-02", "NW-C"): 20}


def _submission(
    db: Any, partner: str, kind: ReportKind, period: str, version: int, status: SubmissionStatus, at: datetime, score: int
) -> int:
    row = ReportSubmission(
        partner_account_id=partner, kind=kind, period=period, version=version, status=status, source=ReportSource.UPLOAD,
        accepted_count=3, rejected_count=0, quality_score=score, created_at=at, submitted_at=at,
    )  # fmt: skip
    db.add(row)
    db.flush()
    return row.id


def _sale(submission: int, partner: str, n: int, sold_on: date, sku: str, qty: int, country: str) -> SellThroughReportLine:
    return SellThroughReportLine(
        submission_id=submission, partner_account_id=partner, external_id=f"{submission}-{n}", line_key=f"k{submission}-{n}",
        row_number=n, sold_on=sold_on, sku=sku, quantity=qty, unit_price_cents=1000, currency="USD",
        end_customer_name="End Co", end_customer_country=country,
    )  # fmt: skip


def _stock(submission: int, partner: str, n: int, sku: str, qty: int, location: str) -> InventoryReportLine:
    return InventoryReportLine(
        submission_id=submission, partner_account_id=partner, external_id=f"{submission}-{n}", line_key=f"k{submission}-{n}",
        row_number=n, as_of=date(2026, 2, 28), location=location, sku=sku, quantity_on_hand=qty,
    )  # fmt: skip


@pytest.fixture
def figures(uow: Any, make_account: Any) -> str:
    """P-100's reports: January sell-through v1 (superseded, must not count) and v2, February
    sell-through (late) and inventory; no January inventory report (missing)."""
    make_account("P-100", "partner", name="Hundred Trading")
    make_account("P-200", "partner", name="Twohundred Ltd")
    with uow() as db:
        for sku, name, category in PRODUCTS:
            db.add(Product(sku=sku, name=name, category=category, warranty_months=12, updated_at=datetime(2026, 1, 1, tzinfo=UTC)))
        for (period, sku), units in TARGETS.items():
            db.add(SalesTarget(partner_account_id="P-100", period=period, sku=sku, target_units=units, target_revenue_cents=units * 1000))
        jan_old = _submission(
            db, "P-100", ReportKind.SELL_THROUGH, "2026-01", 1, SubmissionStatus.SUPERSEDED, datetime(2026, 1, 31, tzinfo=UTC), 50
        )
        jan = _submission(
            db, "P-100", ReportKind.SELL_THROUGH, "2026-01", 2, SubmissionStatus.SUBMITTED, datetime(2026, 2, 5, tzinfo=UTC), 100
        )
        feb = _submission(
            db, "P-100", ReportKind.SELL_THROUGH, "2026-02", 1, SubmissionStatus.SUBMITTED, datetime(2026, 3, 12, tzinfo=UTC), 80
        )
        stock = _submission(
            db, "P-100", ReportKind.INVENTORY, "2026-02", 1, SubmissionStatus.SUBMITTED, datetime(2026, 3, 1, tzinfo=UTC), 90
        )
        db.add_all(
            [
                _sale(jan_old, "P-100", 1, date(2026, 1, 20), "NW-A", 100, "SG"),
                _sale(jan, "P-100", 1, date(2026, 1, 20), "NW-A", 8, "SG"),
                _sale(jan, "P-100", 2, date(2026, 1, 21), "NW-C", 20, "MY"),
                _sale(feb, "P-100", 1, date(2026, 2, 3), "NW-A", 4, "SG"),
                _sale(feb, "P-100", 2, date(2026, 2, 10), "NW-B", 10, "MY"),
                _sale(feb, "P-100", 3, date(2026, 2, 20), "NW-C", 5, "SG"),
                _stock(stock, "P-100", 1, "NW-A", 10, "Depot 1"),
                _stock(stock, "P-100", 2, "NW-A", 2, "Depot 2"),
                _stock(stock, "P-100", 3, "NW-B", -1, "Depot 1"),
                _stock(stock, "P-100", 4, "NW-C", 30, "Depot 1"),
            ]
        )
    return "P-100"


def _table(rows: list[dashboard.Row]) -> dict[str, tuple[int | None, int]]:
    return {r.key: (r.target_units, r.actual_units) for r in rows}


def test_sell_through_against_target_by_every_dimension(uow: Any, figures: str) -> None:
    with uow() as db:
        everything = dashboard.Filters()
        assert _table(dashboard.breakdown(db, [figures], everything, "month")) == {"2026-01": (30, 28), "2026-02": (40, 19)}
        assert _table(dashboard.breakdown(db, [figures], everything, "category")) == {"boards": (30, 22), "switches": (40, 25)}
        assert _table(dashboard.breakdown(db, [figures], everything, "product")) == {"NW-A": (20, 12), "NW-B": (10, 10), "NW-C": (40, 25)}
        assert _table(dashboard.breakdown(db, [figures], everything, "region")) == {"SG": (None, 17), "MY": (None, 30)}
        months = {r.key: r for r in dashboard.breakdown(db, [figures], everything, "month")}
        assert months["2026-01"].percent == 93
        assert not months["2026-01"].behind
        assert months["2026-02"].percent == 48
        assert months["2026-02"].behind
        # Drill-down: February, then boards.
        drilled = dashboard.Filters.parse(month="2026-02", category="boards")
        assert _table(dashboard.breakdown(db, [figures], drilled, "product")) == {"NW-A": (10, 4), "NW-B": (10, 10)}
        by_region = dashboard.Filters.parse(region="sg")
        assert _table(dashboard.breakdown(db, [figures], by_region, "product")) == {"NW-A": (None, 12), "NW-C": (None, 5)}
        # Another partner's figures are not mixed in.
        assert dashboard.breakdown(db, ["P-200"], everything, "month") == []


def test_weeks_of_cover_warnings_and_history(uow: Any, figures: str) -> None:
    with uow() as db:
        covers = {c.sku: c for c in dashboard.cover(db, figures, dashboard.Filters())}
        # Window 2026-02-01..28 (4 weeks): A sold 4 -> 1/week, 12 on hand -> 12 weeks.
        assert (covers["NW-A"].on_hand, covers["NW-A"].weekly_units, covers["NW-A"].weeks) == (12, 1.0, 12.0)
        assert (covers["NW-B"].weeks, covers["NW-B"].anomaly) == (-0.4, True)
        assert (covers["NW-C"].weeks, covers["NW-C"].anomaly) == (24.0, False)
        found = [(w.period, w.kind, w.late) for w in dashboard.warnings(db, figures, TODAY)]
        assert found == [("2026-02", ReportKind.SELL_THROUGH, True), ("2026-01", ReportKind.INVENTORY, False)]
        # Before February's due day nothing of February is missing yet.
        early = dashboard.warnings(db, figures, date(2026, 3, 5))
        assert [(w.period, w.kind) for w in early if not w.late] == [("2026-01", ReportKind.INVENTORY)]
        history = dashboard.history(db, figures)
        assert [(s.period, s.version, s.quality_score) for s in history] == [
            ("2026-02", 1, 80), ("2026-02", 1, 90), ("2026-01", 2, 100), ("2026-01", 1, 50),
        ]  # fmt: skip


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dashboard, "today", lambda: TODAY)


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_partner_pages_drill_down_and_csv(client: Any, make_user: Any, figures: str, frozen: None, locale: str) -> None:
    make_user("pia@hundred.example", Role.PARTNER, account_id="P-100", locale=locale)
    client.login("pia@hundred.example")
    page = client.get("/partner/dashboard")
    assert page.status_code == 200
    assert 'role="img"' in page.text
    assert "<table" in page.text
    assert "/partner/dashboard?month=2026-02" in page.text
    assert "/partner/dashboard?category=boards" in page.text
    assert "Alpha board" in page.text
    assert "Gamma switch" in page.text
    if locale == "en":
        assert "Behind target" in page.text
        assert "No inventory report for 2026-01" in page.text
    drilled = client.get("/partner/dashboard?month=2026-02&category=boards")
    assert "/partner/dashboard?month=2026-02&amp;category=boards&amp;product=NW-A" in drilled.text
    assert "Gamma switch</a>" not in drilled.text
    download = client.get("/partner/dashboard.csv?month=2026-02&category=boards")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    rows = list(csv.reader(io.StringIO(download.content.decode("utf-8-sig"))))
    assert rows[0] == list(dashboard.CSV_HEADER)
    assert ["product", "NW-A", "Alpha board", "10", "4", "40", "", "", ""] in rows
    assert ["cover", "NW-A", "Alpha board", "", "", "", "12", "1.0", "12.0"] in rows
    assert not any(r[1] == "NW-C" for r in rows[1:])


def test_a_partner_sees_only_its_own_account(client: Any, make_user: Any, figures: str, frozen: None) -> None:
    make_user("tom@twohundred.example", Role.PARTNER, account_id="P-200")
    client.login("tom@twohundred.example")
    page = client.get("/partner/dashboard")
    assert page.status_code == 200
    assert "Alpha board" not in page.text
    assert "2026-02" not in page.text
    assert "NW-A" not in client.get("/partner/dashboard.csv").text
    assert client.get("/staff/partners/P-100").status_code == 404
    assert client.get("/staff/partners").status_code == 404


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_staff_see_all_partners_with_exception_flags(
    client: Any, make_user: Any, uow: Any, figures: str, frozen: None, locale: str
) -> None:
    with uow() as db:
        staff = make_user("sam@northwind.example", Role.STAFF, locale=locale)
        month, rows = dashboard.staff_overview(db, staff, on=TODAY)
        assert month == "2026-02"
        by_id = {r.account.account_id: r for r in rows}
        hundred, two = by_id["P-100"], by_id["P-200"]
        assert (hundred.month.target_units, hundred.month.actual_units, hundred.behind) == (40, 19, True)
        assert hundred.missing == []
        assert hundred.anomalies == ["NW-B"]
        assert hundred.last[ReportKind.SELL_THROUGH] is not None
        assert hundred.last[ReportKind.SELL_THROUGH].quality_score == 80
        assert two.missing == [ReportKind.SELL_THROUGH, ReportKind.INVENTORY]
        assert not two.behind
        # January: on track, and nothing is missing before the 10th.
        _, early = dashboard.staff_overview(db, staff, "2026-01", on=date(2026, 3, 5))
        assert not any(r.behind or r.missing for r in early)
    with uow() as db:
        row = db.get(User, staff.id)
        row.totp_secret, row.totp_enabled = pyotp.random_base32(), True
        secret = row.totp_secret
    client.login("sam@northwind.example")
    client.submit("/login/2fa", {"code": pyotp.TOTP(secret).now()}, form_page="/login/2fa")
    page = client.get("/staff/partners")
    assert page.status_code == 200
    assert "Hundred Trading" in page.text
    assert "Twohundred Ltd" in page.text
    assert "/staff/partners/P-100?month=2026-02" in page.text
    if locale == "en":
        assert "Behind target" in page.text
        assert "Missing sell-through report" in page.text
        assert "Inventory anomaly: NW-B" in page.text
    detail = client.get("/staff/partners/P-100?month=2026-02")
    assert detail.status_code == 200
    assert "Hundred Trading" in detail.text
    assert "/staff/partners/P-100?month=2026-02&amp;category=boards" in detail.text
    assert client.get("/staff/partners/C-NOPE").status_code == 404


def test_demo_reports_are_seeded_once_with_products_behind_target(uow: Any, make_account: Any) -> None:
    make_account(dashboard.DEMO_PARTNER, "partner")
    with uow() as db:
        for index, sku in enumerate(dashboard.DEMO_FALLBACK_SKUS):
            db.add(SalesTarget(partner_account_id="P-2001", period="2026-02", sku=sku, target_units=30 + index, target_revenue_cents=100))
    with uow() as db:
        assert dashboard.seed_demo_reports(db, on=TODAY) == 6
    with uow() as db:
        assert dashboard.seed_demo_reports(db, on=TODAY) == 0
        products = dashboard.breakdown(db, ["P-2001"], dashboard.Filters(month="2026-02"), "product")
        assert {r.key for r in products} == set(dashboard.DEMO_FALLBACK_SKUS)
        assert any(r.behind for r in products)
        assert not all(r.behind for r in products)
        assert dashboard.cover(db, "P-2001", dashboard.Filters())
        assert {s.period for s in dashboard.history(db, "P-2001")} == {"2025-12", "2026-01", "2026-02"}
