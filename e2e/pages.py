"""Page objects: every element is found by its role and accessible name, or by its label.

Names are looked up in the app's own catalogue for the page's language (`t`), so the same
objects work in English and in Chinese, whatever the state of the translations.
"""

from __future__ import annotations

import re
from typing import Self

from playwright.sync_api import Locator, Page, expect

from portal.i18n import Catalogues, Translator

_CATALOGUES = Catalogues()


def translator(locale: str) -> Translator:
    return _CATALOGUES.get(locale)


class BasePage:
    path = "/"

    def __init__(self, page: Page, t: Translator | None = None) -> None:
        self.page = page
        self.t = t or translator("en")

    def _(self, message: str, **params: object) -> str:
        return self.t.gettext(message, **params)

    # -- navigation --------------------------------------------------------------------------
    def open(self) -> Self:
        self.page.goto(self.path)
        return self

    def expect_loaded(self) -> Self:
        return self

    # -- common parts ------------------------------------------------------------------------
    @property
    def header(self) -> Locator:
        return self.page.get_by_role("banner")

    @property
    def main(self) -> Locator:
        return self.page.get_by_role("main")

    @property
    def heading(self) -> Locator:
        return self.main.get_by_role("heading", level=1)

    @property
    def status(self) -> Locator:
        """The flash messages (a live region)."""
        return self.main.get_by_role("status")

    @property
    def error_summary(self) -> Locator:
        return self.main.get_by_role("alert")

    @property
    def language_select(self) -> Locator:
        return self.header.get_by_role("combobox", name=self._("Language"), exact=True)

    def button(self, name: str) -> Locator:
        return self.main.get_by_role("button", name=self._(name), exact=True)

    def link(self, name: str) -> Locator:
        return self.main.get_by_role("link", name=self._(name), exact=True)

    def field(self, label: str) -> Locator:
        return self.main.get_by_label(self._(label), exact=True)

    def nav_link(self, name: str) -> Locator:
        return self.header.get_by_role("navigation").get_by_role("link", name=self._(name), exact=True)

    def switch_language(self, locale: str) -> BasePage:
        """Choose a language in the header select; the page re-submits itself (JS)."""
        with self.page.expect_navigation():
            self.language_select.select_option(locale)
        return BasePage(self.page, translator(locale))

    def sign_out(self) -> HomePage:
        self.header.get_by_role("button", name=self._("Sign out"), exact=True).click()
        self.page.wait_for_url(re.compile(r"/$"))
        return HomePage(self.page, self.t)


class HomePage(BasePage):
    path = "/"

    @property
    def sign_in_link(self) -> Locator:
        return self.header.get_by_role("link", name=self._("Sign in"), exact=True)


class RegisterPage(BasePage):
    path = "/register"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Create an account"))
        return self

    def register(self, *, name: str, email: str, password: str) -> BasePage:
        self.field("Your name").fill(name)
        self.field("E-mail address").fill(email)
        self.field("Password").fill(password)
        self.field("Repeat the password").fill(password)
        self.button("Create account").click()
        check = BasePage(self.page, self.t)
        expect(check.heading).to_have_text(self._("Check your e-mail"))
        return check


class VerifyEmailPage(BasePage):
    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Verify your e-mail address"))
        return self

    def confirm(self) -> LoginPage:
        self.button("Verify my e-mail address").click()
        self.page.wait_for_url(re.compile(r"/login$"))
        return LoginPage(self.page, self.t).expect_loaded()


class LoginPage(BasePage):
    path = "/login"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Sign in"))
        return self

    def submit(self, email: str, password: str) -> None:
        self.field("E-mail address").fill(email)
        self.field("Password").fill(password)
        self.button("Sign in").click()
        self.page.wait_for_load_state()

    def sign_in(self, email: str, password: str, *, lands_on: str = r"/account$") -> None:
        self.submit(email, password)
        self.page.wait_for_url(re.compile(lands_on))

    def sign_in_expecting_error(self, email: str, password: str) -> Locator:
        self.submit(email, password)
        expect(self.error_summary).to_be_visible()
        return self.error_summary

    def forgot_password(self) -> ForgotPasswordPage:
        self.link("Forgot your password?").click()
        return ForgotPasswordPage(self.page, self.t).expect_loaded()

    def sso_button(self, provider_label: str) -> Locator:
        return self.main.get_by_role("link", name=self._("Sign in with %(provider)s", provider=provider_label), exact=True)


class SecondFactorPage(BasePage):
    """/login/2fa: the code asked after the password."""

    def expect_loaded(self) -> Self:
        expect(self.page).to_have_url(re.compile(r"/login/2fa$"))
        expect(self.heading).to_have_text(self._("Two-factor sign-in"))
        return self

    def enter(self, code: str) -> None:
        self.field("Code").fill(code)
        self.button("Continue").click()
        self.page.wait_for_load_state()


class ForgotPasswordPage(BasePage):
    path = "/password/forgot"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Reset your password"))
        return self

    def request_link(self, email: str) -> BasePage:
        self.field("E-mail address").fill(email)
        self.button("Send the link").click()
        sent = BasePage(self.page, self.t)
        expect(sent.heading).to_have_text(self._("Check your e-mail"))
        return sent


class ResetPasswordPage(BasePage):
    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Choose a new password"))
        return self

    def choose(self, password: str) -> LoginPage:
        self.field("New password").fill(password)
        self.field("Repeat the new password").fill(password)
        self.button("Save the new password").click()
        self.page.wait_for_url(re.compile(r"/login$"))
        return LoginPage(self.page, self.t).expect_loaded()


class AccountPage(BasePage):
    path = "/account"

    def expect_loaded(self) -> Self:
        expect(self.page).to_have_url(re.compile(r"/account$"))
        return self

    @property
    def facts(self) -> Locator:
        """The values of the facts list (<dd>: role "definition")."""
        return self.main.get_by_role("definition")

    def side_link(self, name: str) -> Locator:
        return self.main.get_by_role("navigation", name=self._("Your account")).get_by_role("link", name=self._(name), exact=True)


class TwoFactorPage(BasePage):
    """/account/2fa: set up TOTP; the recovery codes page follows."""

    path = "/account/2fa"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Set up two-factor sign-in"))
        return self

    @property
    def secret(self) -> str:
        # The key has no role or label of its own; the page marks it for tests.
        return self.main.get_by_test_id("totp-secret").inner_text().strip()

    def turn_on(self, code: str) -> Self:
        self.field("6-digit code").fill(code)
        self.button("Turn on two-factor sign-in").click()
        expect(self.heading).to_have_text(self._("Two-factor sign-in is on"))
        return self

    @property
    def recovery_codes(self) -> list[str]:
        return [text.strip() for text in self.main.get_by_role("list").last.get_by_role("listitem").all_inner_texts()]

    def codes_saved(self) -> None:
        self.link("I have saved my codes").click()
        self.page.wait_for_load_state()


class ColleaguesPage(BasePage):
    path = "/account/colleagues"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Colleagues"))
        return self

    def invite(self, email: str, role_label: str = "Member") -> Self:
        self.field("Their e-mail address").fill(email)
        self.field("Role").select_option(label=self._(role_label))
        self.button("Send invitation").click()
        expect(self.status).to_contain_text(self._("Invitation sent to %(email)s.", email=email))
        return self

    @property
    def members(self) -> Locator:
        return self.main.get_by_role("table")

    def withdraw_button(self, email: str) -> Locator:
        return self.main.get_by_role("button", name=self._("Withdraw the invitation to %(email)s", email=email), exact=True)


class AcceptInvitationPage(BasePage):
    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Accept the invitation"))
        return self

    def join(self, *, name: str, password: str) -> LoginPage:
        self.field("Your name").fill(name)
        self.field("Choose a password").fill(password)
        self.field("Repeat the password").fill(password)
        self.button("Join").click()
        self.page.wait_for_url(re.compile(r"/login$"))
        return LoginPage(self.page, self.t).expect_loaded()


class PartnerApplyPage(BasePage):
    path = "/partner/apply"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Become a partner"))
        return self

    def apply(self, *, company: str, country: str, name: str, email: str, website: str, message: str) -> BasePage:
        self.field("Company name").fill(company)
        self.field("Country").select_option(country)
        self.field("Your name").fill(name)
        self.field("Your work e-mail address").fill(email)
        self.field("Company website").fill(website)
        self.field("What do you sell, and to whom?").fill(message)
        self.button("Send application").click()
        done = BasePage(self.page, self.t)
        expect(done.heading).to_have_text(self._("Thank you, your application is in"))
        return done


class StaffApplicationsPage(BasePage):
    path = "/staff/applications"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Partner applications"))
        return self

    def open_application(self, company: str) -> StaffApplicationPage:
        self.main.get_by_role("table").get_by_role("link", name=company, exact=True).click()
        return StaffApplicationPage(self.page, self.t, company).expect_loaded()


class StaffApplicationPage(BasePage):
    def __init__(self, page: Page, t: Translator | None, company: str) -> None:
        super().__init__(page, t)
        self.company = company

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self.company)
        return self

    def approve(self, note: str = "") -> StaffApplicationsPage:
        if note:
            self.field("Note to the applicant (optional)").fill(note)
        self.button("Approve and invite").click()
        self.page.wait_for_url(re.compile(r"/staff/applications$"))
        listing = StaffApplicationsPage(self.page, self.t).expect_loaded()
        expect(listing.status).to_contain_text(self._("Application approved. The contact has been invited."))
        return listing


class PartnerHomePage(BasePage):
    path = "/partner"

    def expect_loaded(self) -> Self:
        expect(self.page).to_have_url(re.compile(r"/partner$"))
        return self


# -- repairs ------------------------------------------------------------------------------------------
class ProductsPage(BasePage):
    path = "/products"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("My products"))
        return self

    def serials(self) -> list[str]:
        """Serial numbers of the units listed (the row headers of the units table)."""
        table = self.main.get_by_role("table", name=self._("Your units"))
        return [text.strip() for text in table.locator("tbody tr .serial").all_inner_texts()]


class WarrantyPage(BasePage):
    path = "/warranty"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Check warranty"))
        return self

    def check(self, serial: str) -> Locator:
        self.field("Serial number").fill(serial)
        self.button("Check warranty").click()
        result = self.main.locator(".warranty-result")
        expect(result).to_be_visible()
        return result


class RepairRequestPage(BasePage):
    path = "/repairs/new"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Request a repair"))
        return self

    def choose_unit(self, serial: str) -> None:
        self.main.get_by_role("checkbox", name=re.compile(re.escape(serial))).check()

    def request(self, *, fault_label: str, description: str, address: str) -> RepairPage:
        self.main.get_by_label(self._("What is wrong?")).select_option(label=self._(fault_label))
        self.field("Describe the fault").fill(description)
        self.field("Return address").fill(address)
        self.main.get_by_role("radio", name=self._("Repair my unit"), exact=True).check()
        self.button("Send repair request").click()
        self.page.wait_for_url(re.compile(r"/repairs/RMA-[A-Z0-9]+$"))
        return RepairPage(self.page, self.t)


class RepairPage(BasePage):
    """The signed-in customer's timeline of one RMA."""

    @property
    def number(self) -> str:
        match = re.search(r"/repairs/(RMA-[A-Z0-9]+)$", self.page.url)
        assert match, self.page.url
        return match.group(1)

    def expect_loaded(self) -> Self:
        expect(self.heading).to_contain_text(self.number)
        return self

    def timeline_text(self) -> str:
        return self.main.inner_text()

    def open_label(self) -> BasePage:
        self.link("Return label").click()
        self.page.wait_for_url(re.compile(r"/label$"))
        return BasePage(self.page, self.t)


class RepairStatusPage(BasePage):
    """The guest lookup: RMA number + e-mail."""

    path = "/repair-status"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Repair status"))
        return self

    def look_up(self, number: str, email: str) -> None:
        self.field("RMA number").fill(number)
        self.field("E-mail address").fill(email)
        self.button("Show the repair").click()


class StaffReceivePage(BasePage):
    path = "/staff/repairs/receive"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Receive parcels"))
        return self

    def scan(self, code: str) -> None:
        """As a barcode scanner does: type the code, then Enter."""
        self.field("RMA number or unit number").fill(code)
        self.field("RMA number or unit number").press("Enter")


class StaffRmaPage(BasePage):
    def __init__(self, page: Page, t: Translator | None, number: str) -> None:
        super().__init__(page, t)
        self.number = number
        self.path = f"/staff/repairs/{number}"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_contain_text(self.number)
        return self

    def move_all(self, to_label: str, note: str = "") -> Self:
        form = self.main.locator("form.desk-form").filter(has=self.page.get_by_label(self._("Next step"))).first
        form.get_by_label(self._("Next step")).select_option(label=self._(to_label))
        if note:
            form.get_by_label(self._("Note (optional)")).fill(note)
        form.get_by_role("button", name=self._("Move"), exact=True).click()
        self.page.wait_for_load_state()
        return self.expect_loaded()


# -- knowledge base -----------------------------------------------------------------------------------
class KbSearchPage(BasePage):
    """The help-article search box (on /kb and /kb/search) and the results page."""

    path = "/kb"

    @property
    def box(self) -> Locator:
        # A combobox once the script has enhanced it (a plain search box without JavaScript).
        return self.main.get_by_role("search").get_by_role("combobox", name=self._("Search help articles"), exact=True)

    def type_slowly(self, text: str) -> Locator:
        """Type as a person does; returns the suggestions list (the combobox's listbox)."""
        self.box.press_sequentially(text, delay=60)
        return self.main.get_by_role("listbox", name=self._("Search help articles"))

    def search(self, query: str) -> Self:
        self.box.fill(query)
        self.box.press("Enter")
        self.page.wait_for_url(re.compile(r"/kb/search\?"))
        expect(self.heading).to_have_text(self._("Search help articles"))
        return self

    @property
    def hits(self) -> Locator:
        return self.main.locator(".search-hit h2 a")

    @property
    def suggestion(self) -> Locator:
        return self.main.locator(".search-suggestion a")


# -- partner reports and dashboards (issue 6) -----------------------------------------------------------
def _cell(table: Locator, row_key: str, column: str) -> Locator:
    """The cell of `table` in the row whose row header contains `row_key`, under the column
    header `column` (th scope=row counts as the first cell, as in the header row)."""
    headers = [text.strip() for text in table.locator("thead th").all_inner_texts()]
    assert column in headers, f"no column {column!r} in {headers}"
    row = table.locator("tbody tr").filter(has=table.page.get_by_role("rowheader").filter(has_text=row_key))
    return row.locator("th, td").nth(headers.index(column))


class PartnerReportsPage(BasePage):
    """/partner/reports: the submitted reports, grouped by period and kind, versions newest first."""

    path = "/partner/reports"

    def expect_loaded(self) -> Self:
        expect(self.page).to_have_url(re.compile(r"/partner/reports$"))
        expect(self.heading).to_have_text(self._("Reports"))
        return self

    def period_table(self, kind_label: str, period: str) -> Locator:
        return self.main.get_by_role("table", name=f"{self._(kind_label)} — {period}", exact=True)

    def versions(self, kind_label: str, period: str) -> list[str]:
        return [text.strip() for text in self.period_table(kind_label, period).locator("tbody th").all_inner_texts()]

    def cell(self, kind_label: str, period: str, version: int, column: str) -> Locator:
        return _cell(self.period_table(kind_label, period), str(version), self._(column))

    def upload(self) -> ReportUploadPage:
        self.link("Upload a report").click()
        return ReportUploadPage(self.page, self.t).expect_loaded()


class ReportUploadPage(BasePage):
    path = "/partner/reports/upload"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Upload a report"))
        return self

    def template_link(self, kind_label: str, fmt: str, language: str) -> Locator:
        """The template download of `kind_label` in `fmt` (CSV/XLSX) with `language` headers."""
        name = f"{fmt.upper()} ({self._(kind_label)}, {language})"
        return self.main.get_by_role("link", name=name, exact=True)

    def download_template(self, kind_label: str, fmt: str, language: str) -> tuple[str, bytes]:
        """(suggested file name, bytes) of the template, downloaded as a person does."""
        with self.page.expect_download() as info:
            self.template_link(kind_label, fmt, language).click()
        download = info.value
        return download.suggested_filename, download.path().read_bytes()

    def submit_file(self, *, kind_label: str, period: str, mode_label: str, filename: str, data: bytes) -> ReportPreviewPage:
        self.field("Kind of report").select_option(label=self._(kind_label))
        self.field("Period (YYYY-MM)").fill(period)
        self.main.get_by_role("radio", name=self._(mode_label), exact=True).check()
        self.field("Report file (CSV or XLSX)").set_input_files({"name": filename, "mimeType": "text/csv", "buffer": data})
        self.button("Check the file").click()
        self.page.wait_for_url(re.compile(r"/partner/reports/uploads/\d+$"))
        return ReportPreviewPage(self.page, self.t).expect_loaded()


class ReportPreviewPage(BasePage):
    """/partner/reports/uploads/{id}: accepted and rejected lines before the commit."""

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Check your report"))
        return self

    def fact(self, term: str) -> str:
        """The value (<dd>) after the term (<dt>) `term` in the facts list."""
        return self.main.locator("dl.facts dt", has_text=self._(term)).locator("xpath=following-sibling::dd[1]").inner_text().strip()

    @property
    def rejected_table(self) -> Locator:
        return self.main.get_by_role("table", name=self._("Rejected lines and why"), exact=True)

    def rejected_reasons(self) -> dict[str, str]:
        """row number in the file -> the reasons shown for it (one text; the column after the row's)."""
        rows = self.rejected_table.locator("tbody tr")
        found = {}
        for index in range(rows.count()):
            row = rows.nth(index)
            found[row.locator("th").inner_text().strip()] = row.locator("td").first.inner_text().strip()
        return found

    def download_rejected(self) -> tuple[str, bytes]:
        with self.page.expect_download() as info:
            self.link("Download the rejected lines").click()
        download = info.value
        return download.suggested_filename, download.path().read_bytes()

    def submit(self, count: int) -> PartnerReportsPage:
        self.main.get_by_role("button", name=self._("Submit the %(count)s accepted lines", count=count), exact=True).click()
        return PartnerReportsPage(self.page, self.t).expect_loaded()


class PartnerDashboardPage(BasePage):
    """The sell-through dashboard: /partner/dashboard for partners, /staff/partners/{id} for staff."""

    def __init__(self, page: Page, t: Translator | None = None, path: str = "/partner/dashboard") -> None:
        super().__init__(page, t)
        self.path = path

    def expect_loaded(self) -> Self:
        expect(self.heading).to_contain_text(self._("Sell-through dashboard"))
        return self

    def open_with(self, **filters: str) -> Self:
        query = "&".join(f"{key}={value}" for key, value in filters.items() if value)
        self.page.goto(f"{self.path}?{query}" if query else self.path)
        return self.expect_loaded()

    def table(self, dimension_label: str) -> Locator:
        caption = self._("Sell-through against target by %(dimension)s", dimension=self._(dimension_label).lower())
        return self.main.get_by_role("table", name=caption, exact=True)

    def units_sold(self, dimension_label: str, key: str) -> int:
        """Units sold in the row `key` of the table by `dimension_label`; 0 when it has no row
        (or the section has no table: nothing sold and no target)."""
        table = self.table(dimension_label)
        if table.count() == 0:
            return 0
        cell = _cell(table, key, self._("Units sold"))
        return int(cell.inner_text().strip()) if cell.count() else 0


class StaffPartnersPage(BasePage):
    path = "/staff/partners"

    def expect_loaded(self) -> Self:
        expect(self.heading).to_have_text(self._("Partners"))
        return self

    def units_sold(self, month: str, account_id: str) -> int:
        table = self.main.get_by_role("table", name=self._("Partners with their last reports and sell-through for %(month)s", month=month))
        return int(_cell(table, account_id, self._("Units sold")).inner_text().strip())

    def open_partner(self, name: str, account_id: str) -> PartnerDashboardPage:
        self.main.get_by_role("link", name=name, exact=True).click()
        self.page.wait_for_url(re.compile(rf"/staff/partners/{re.escape(account_id)}"))
        return PartnerDashboardPage(self.page, self.t, f"/staff/partners/{account_id}").expect_loaded()
