"""Partner sell-through reporting in a real browser, in English and in Chinese.

The demo partner administrator downloads the CSV template, fills it for a past month with good
lines and two bad ones, sees the preview (accepted count, each rejected line with its reason),
submits, downloads the rejected lines, fixes them in that very file (its reasons column left in:
the page says it is ignored), uploads it in add mode and submits again; the dashboard's units
sold for the month and for the product go up by exactly the quantities uploaded, and staff see
the same number on their partner overview and on the partner's page. Every page is audited with
axe-core.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyotp
from playwright.sync_api import Page, expect

from e2e.conftest import Auditor
from e2e.pages import (
    LoginPage,
    PartnerDashboardPage,
    PartnerReportsPage,
    ReportPreviewPage,
    ReportUploadPage,
    StaffPartnersPage,
    TwoFactorPage,
    translator,
)
from e2e.test_repairs import staff_signs_in
from portal.demo import DEMO_PASSWORD
from portal.partner.reports.columns import COLUMNS, ERROR_HEADER, Kind

Shoot = Callable[[Page, str], Path]

PARTNER = "P-2001"
PARTNER_NAME = "Pacific Distribution Pte Ltd"
PARTNER_ADMIN = "paula@pacific-dist.example"  # partner admin: two-factor sign-in is required
PARTNER_USER = "peter@pacific-dist.example"  # partner (not admin): password only
SELL_THROUGH = "Sell-through"
ADD = "Add these lines to the period's report"
SKU = "NW-SW-24G"  # an active demo SKU with a target
SKU_NAME = "24-port gigabit switch"
OTHER_SKU = "NW-AP-AX6"
UNKNOWN_SKU = "NW-XX-9999"


def past_period(months_back: int) -> tuple[str, date]:
    """(YYYY-MM, its first day) `months_back` months before this one. The demo data has reports
    for the last 3 months only, so 4 and more months back start at version 1."""
    first = datetime.now(UTC).date().replace(day=1)  # the app's clock is UTC
    for _ in range(months_back):
        first = (first - timedelta(days=1)).replace(day=1)
    return first.strftime("%Y-%m"), first


def read_csv(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf"), "CSV downloads start with a UTF-8 BOM (Excel)"
    return list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))


def write_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode("utf-8-sig")


def sale(header: list[str], language: str, **values: str) -> list[str]:
    """A sell-through row in the column order of `header` (the template's own headers)."""
    by_header = {column.header(language): column.name for column in COLUMNS[Kind.SELL_THROUGH]}
    defaults = {"unit_price": "450.00", "currency": "SGD", "country": "SG", "postcode": "018956", "serial": ""}
    merged = {**defaults, **values}
    return [merged[by_header[cell]] for cell in header]


def partner_admin_signs_in(page: Page, a11y: Auditor) -> None:
    """Paula (demo partner admin) has no TOTP yet in a fresh demo: the first sign-in sets it up."""
    login = LoginPage(page).open()
    a11y.check(page)
    login.sign_in(PARTNER_ADMIN, DEMO_PASSWORD, lands_on=r"/account/2fa$")
    setup = TwoFactorPage(page).expect_loaded()
    a11y.check(page)
    setup.turn_on(pyotp.TOTP(setup.secret).now())
    a11y.check(page)
    setup.codes_saved()
    expect(page).to_have_url(re.compile(r"/partner$"))
    a11y.check(page)


def test_partner_admin_uploads_fixes_and_resubmits_and_staff_see_the_same_numbers(
    page: Page,
    new_page: Callable[[], Page],
    a11y: Auditor,
    make_user: Callable[..., str],
    unique_email: Callable[[str], str],
    screenshot: Shoot,
) -> None:
    period, first = past_period(4)
    partner_admin_signs_in(page, a11y)

    # 0. The dashboard before: units sold in the month and of the product.
    board = PartnerDashboardPage(page).open_with(month=period)
    a11y.check(page)
    month_before = board.units_sold("Month", period)
    board.open_with(month=period, product=SKU)
    a11y.check(page)
    sku_before = board.units_sold("Product", SKU)

    # 1. Reports page -> upload page -> the sell-through CSV template with English headers.
    page.goto("/partner")
    board.nav_link("Reports").click()
    reports = PartnerReportsPage(page).expect_loaded()
    a11y.check(page)
    upload = reports.upload()
    a11y.check(page)
    name, data = upload.download_template(SELL_THROUGH, "csv", "en")
    assert name == "northwind-sell-through-template-en.csv"
    template = read_csv(data)
    header = template[0]
    assert header == [column.en for column in COLUMNS[Kind.SELL_THROUGH]]
    assert len(template) == 2, "the header and one example row"

    # 2. Three good lines, an unknown SKU and a quantity that is not a whole number.
    day = first.isoformat()
    good = [
        sale(header, "en", sold_on=day, sku=SKU, quantity="3", customer_name="Lion City Robotics", invoice_ref="PD-E2E-001"),
        sale(header, "en", sold_on=day, sku=OTHER_SKU, quantity="5", customer_name="Marina Offices", invoice_ref="PD-E2E-002"),
        sale(
            header,
            "en",
            sold_on=(first + timedelta(days=9)).isoformat(),
            sku=SKU,
            quantity="2",
            customer_name="Jurong Labs",
            invoice_ref="PD-E2E-003",
        ),
    ]
    bad = [
        sale(header, "en", sold_on=day, sku=UNKNOWN_SKU, quantity="4", customer_name="Tampines Clinic", invoice_ref="PD-E2E-004"),
        sale(header, "en", sold_on=day, sku=OTHER_SKU, quantity="2.5", customer_name="Changi Freight", invoice_ref="PD-E2E-005"),
    ]
    preview = upload.submit_file(
        kind_label=SELL_THROUGH, period=period, mode_label=ADD, filename=f"sales-{period}.csv", data=write_csv([header, *good, *bad])
    )
    assert preview.fact("Accepted lines") == "3"
    assert preview.fact("Rejected lines") == "2"
    reasons = preview.rejected_reasons()
    assert set(reasons) == {"5", "6"}, reasons  # file rows (the header is row 1)
    assert f"SKU: Unknown SKU “{UNKNOWN_SKU}”." in reasons["5"]
    assert "Quantity: “2.5” is not a whole number." in reasons["6"]
    expect(preview.main).to_contain_text("the reasons column is ignored")
    a11y.check(page)
    screenshot(page, "en-40-report-preview")

    # 3. Submit the accepted lines: version 1 of the period.
    first_preview_url = page.url
    reports = preview.submit(3)
    expect(reports.status).to_contain_text("submitted as version 1: 3 lines")
    assert reports.versions(SELL_THROUGH, period) == ["1"]
    expect(reports.cell(SELL_THROUGH, period, 1, "Lines")).to_have_text("3")
    expect(reports.cell(SELL_THROUGH, period, 1, "Rejected lines")).to_have_text("2")
    a11y.check(page)

    # 4. The rejected lines: exactly the two bad ones, with a reasons column; fix them in that file.
    page.goto(first_preview_url)
    preview = ReportPreviewPage(page).expect_loaded()
    a11y.check(page)
    name, data = preview.download_rejected()
    assert name == f"sales-{period}-rejected.csv"
    rejected = read_csv(data)
    assert rejected[0] == [*header, ERROR_HEADER["en"]]
    assert [row[:-1] for row in rejected[1:]] == bad
    assert UNKNOWN_SKU in rejected[1][-1]
    assert "2.5" in rejected[2][-1]
    sku_col, qty_col = header.index("SKU"), header.index("Quantity")
    rejected[1][sku_col] = SKU  # was the unknown SKU; 4 units
    rejected[2][qty_col] = "1"  # was 2.5
    upload = ReportUploadPage(page).open().expect_loaded()
    preview = upload.submit_file(
        kind_label=SELL_THROUGH, period=period, mode_label=ADD, filename=f"sales-{period}-fixed.csv", data=write_csv(rejected)
    )
    assert preview.fact("Accepted lines") == "2"
    assert preview.fact("Rejected lines") == "0"
    expect(preview.rejected_table).to_have_count(0)
    a11y.check(page)
    reports = preview.submit(2)
    expect(reports.status).to_contain_text("submitted as version 2")
    assert reports.versions(SELL_THROUGH, period) == ["2", "1"]
    expect(reports.cell(SELL_THROUGH, period, 2, "Lines")).to_have_text("5")  # the period's report: both files
    a11y.check(page)

    # The same file sent again never counts twice: refused before any preview.
    upload = ReportUploadPage(page).open().expect_loaded()
    upload.field("Period (YYYY-MM)").fill(period)
    upload.field("Report file (CSV or XLSX)").set_input_files(
        {"name": f"sales-{period}-fixed.csv", "mimeType": "text/csv", "buffer": write_csv(rejected)}
    )
    upload.button("Check the file").click()
    expect(upload.error_summary).to_contain_text(f"Already submitted: you sent this file for {period}")
    expect(upload.error_summary).to_contain_text("(version 2). Nothing was added.")
    a11y.check(page)

    # 5. The dashboard: up by exactly the uploaded quantities (3 + 5 + 2 + 4 + 1; the SKU 3 + 2 + 4).
    board = PartnerDashboardPage(page).open_with(month=period)
    assert board.units_sold("Month", period) == month_before + 15
    assert board.units_sold("Product", SKU) == sku_before + 9
    a11y.check(page)
    screenshot(page, "en-41-partner-dashboard")
    board.table("Product").get_by_role("link", name=SKU_NAME, exact=True).click()  # drill down
    page.wait_for_url(re.compile(rf"product={SKU}"))
    board.expect_loaded()
    assert board.units_sold("Month", period) == sku_before + 9
    assert board.units_sold("Region", "SG") >= 9
    a11y.check(page)

    # 6. Staff see the same numbers: the partner overview for the month, and the partner's page.
    staff = new_page()
    staff_signs_in(staff, a11y, make_user, unique_email("report-staff"))
    staff.goto(f"/staff/partners?month={period}")
    overview = StaffPartnersPage(staff).expect_loaded()
    a11y.check(staff)
    assert overview.units_sold(period, PARTNER) == month_before + 15
    staff_board = overview.open_partner(PARTNER_NAME, PARTNER)
    expect(staff_board.heading).to_contain_text(PARTNER)
    assert staff_board.units_sold("Month", period) == month_before + 15
    assert staff_board.units_sold("Product", SKU) == sku_before + 9
    a11y.check(staff)
    screenshot(staff, "en-42-staff-partner")


def test_chinese_template_preview_and_dashboard(page: Page, a11y: Auditor, screenshot: Shoot) -> None:
    """A partner user (no two-factor sign-in needed) in Chinese: the Chinese template's headers,
    a file with those headers, the preview with its reasons, the submit and the dashboard."""
    t = translator("zh")
    period, first = past_period(5)
    login = LoginPage(page).open()
    a11y.check(page)
    login.sign_in(PARTNER_USER, DEMO_PASSWORD, lands_on=r"/partner$")
    a11y.check(page)
    LoginPage(page).switch_language("zh")
    expect(page.locator("html")).to_have_attribute("lang", re.compile(r"^zh"))
    board = PartnerDashboardPage(page, t).open_with(month=period)
    a11y.check(page)
    month_before = board.units_sold("Month", period)

    upload = ReportUploadPage(page, t).open().expect_loaded()
    a11y.check(page)
    name, data = upload.download_template(SELL_THROUGH, "csv", "zh")
    assert name == "northwind-sell-through-template-zh.csv"
    header = read_csv(data)[0]
    assert header == [column.zh for column in COLUMNS[Kind.SELL_THROUGH]]
    assert header[:3] == ["销售日期", "产品编码", "数量"]

    day = (first + timedelta(days=3)).isoformat()
    rows = [
        header,
        sale(header, "zh", sold_on=day, sku=SKU, quantity="7", customer_name="狮城机器人有限公司", invoice_ref="PD-ZH-001"),
        sale(header, "zh", sold_on=day, sku="NW-MB-Z390", quantity="1", customer_name="滨海办公", invoice_ref="PD-ZH-002"),
    ]
    preview = upload.submit_file(kind_label=SELL_THROUGH, period=period, mode_label=ADD, filename="销售报表.csv", data=write_csv(rows))
    assert preview.fact("Accepted lines") == "1"
    assert preview.fact("Rejected lines") == "1"
    reasons = preview.rejected_reasons()
    assert list(reasons) == ["3"]
    # Prefixed by the file's own (Chinese) header, in the page's language.
    reason = t.gettext("The SKU %(value)s is no longer active.", value="NW-MB-Z390")
    assert reasons["3"] == t.gettext("%(column)s: %(reason)s", column="产品编码", reason=reason)
    a11y.check(page)
    screenshot(page, "zh-40-report-preview")

    reports = preview.submit(1)
    assert reports.versions(SELL_THROUGH, period) == ["1"]
    a11y.check(page)
    board = PartnerDashboardPage(page, t).open_with(month=period)
    assert board.units_sold("Month", period) == month_before + 7
    a11y.check(page)
    screenshot(page, "zh-41-partner-dashboard")


def test_a_small_report_filled_in_online_is_checked_fixed_and_submitted(page: Page, a11y: Auditor, screenshot: Shoot) -> None:
    """The web form: a partner user starts a draft, types two lines (one with an unknown SKU),
    checks (the reason shows on that cell, nothing is stored), fixes it and submits; the page is
    audited in English and in Chinese."""
    period, first = past_period(6)
    login = LoginPage(page).open()
    a11y.check(page)
    login.sign_in(PARTNER_USER, DEMO_PASSWORD, lands_on=r"/partner$")
    a11y.check(page)
    if not (page.locator("html").get_attribute("lang") or "").startswith("en"):  # the Chinese test saved zh for him
        with page.expect_navigation():
            page.locator("header select.js-autosubmit").select_option("en")
    expect(page.locator("html")).to_have_attribute("lang", re.compile(r"^en"))
    page.goto("/partner/reports")
    a11y.check(page)
    page.get_by_role("link", name="Fill in a report online").click()
    a11y.check(page)
    page.get_by_label("Kind of report").select_option("sell_through")
    page.get_by_label("Period (YYYY-MM)").fill(period)
    page.get_by_role("button", name="Start the report").click()
    expect(page).to_have_url(re.compile(r"/partner/reports/drafts/\d+$"))
    day = (first + timedelta(days=4)).isoformat()
    lines = [
        {
            "sold_on": day,
            "sku": SKU,
            "quantity": "3",
            "unit_price": "450.00",
            "currency": "SGD",
            "customer_name": "Form Robotics",
            "country": "SG",
            "postcode": "018956",
            "invoice_ref": "PD-FORM-1",
        },
        {
            "sold_on": day,
            "sku": UNKNOWN_SKU,
            "quantity": "2",
            "unit_price": "99.50",
            "currency": "SGD",
            "customer_name": "Form Offices",
            "country": "SG",
            "postcode": "018956",
            "invoice_ref": "PD-FORM-2",
        },
    ]
    for index, line in enumerate(lines):
        for name, value in line.items():
            page.locator(f'[name="l{index}-{name}"]').fill(value)
    page.get_by_role("button", name="Check and submit").click()
    expect(page.locator(".error-summary")).to_contain_text(UNKNOWN_SKU)
    expect(page.locator("#e-c-1-sku")).to_have_text(f"Unknown SKU “{UNKNOWN_SKU}”.")
    expect(page.locator('[name="l0-customer_name"]')).to_have_value("Form Robotics")  # nothing typed is lost
    a11y.check(page)
    screenshot(page, "en-43-report-form-errors")

    page.locator('[name="l1-sku"]').fill(OTHER_SKU)
    page.get_by_role("button", name="Check and submit").click()
    expect(page).to_have_url(re.compile(r"/partner/reports$"))
    expect(page.get_by_role("table", name=f"{SELL_THROUGH} — {period}")).to_contain_text("2")
    a11y.check(page)

    LoginPage(page).switch_language("zh")
    page.goto("/partner/reports/new")
    t = translator("zh")
    page.get_by_label(t.gettext("Period (YYYY-MM)")).fill(period)
    page.get_by_role("button", name=t.gettext("Start the report")).click()
    expect(page).to_have_url(re.compile(r"/partner/reports/drafts/\d+$"))
    a11y.check(page)
    screenshot(page, "zh-43-report-form")
