"""The repair journey in a real browser, in English and in Chinese.

A customer with demo orders checks a serial's warranty, requests a repair for two units,
gets the confirmation e-mail and prints the label; staff receive the parcel, diagnose,
repair and ship; the customer sees each step on the timeline and gets the e-mails; a guest
looks the RMA up by number and e-mail. Every page is audited with axe-core.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Page, expect

from e2e.conftest import Auditor, MailReader
from e2e.pages import (
    BasePage,
    LoginPage,
    ProductsPage,
    RepairPage,
    RepairRequestPage,
    RepairStatusPage,
    StaffReceivePage,
    StaffRmaPage,
    TwoFactorPage,
    WarrantyPage,
    translator,
)
from portal.accounts.models import Role
from portal.demo import DEMO_PASSWORD

Shoot = Callable[[Page, str], Path]

# (locale, demo customer whose profile language is that locale)
CUSTOMERS = {"en": "carol@harbor-robotics.example", "zh": "li.wei@lianhua.example"}
STAFF_STEPS = ("Diagnosing", "Repairing", "Repaired", "Shipped back")


def staff_signs_in(page: Page, a11y: Auditor, make_user: Callable[..., str], email: str) -> None:
    """A new staff member: the first sign-in requires setting up two-factor sign-in."""
    make_user(email, DEMO_PASSWORD, name="Rita Repair", role=Role.STAFF)
    login = LoginPage(page).open()
    a11y.check(page)
    login.sign_in(email, DEMO_PASSWORD, lands_on=r"/account/2fa$")
    setup = TwoFactorPage(page).expect_loaded()
    a11y.check(page)
    setup.turn_on(pyotp.TOTP(setup.secret).now())
    a11y.check(page)
    setup.codes_saved()
    expect(page).to_have_url(re.compile(r"/staff$"))
    a11y.check(page)


@pytest.mark.parametrize("locale", ["en", "zh"])
def test_repair_from_warranty_check_to_delivery_with_guest_lookup(
    locale: str,
    page: Page,
    new_page: Callable[[], Page],
    a11y: Auditor,
    mail: MailReader,
    make_user: Callable[..., str],
    unique_email: Callable[[str], str],
    screenshot: Shoot,
) -> None:
    t = translator(locale)
    customer = CUSTOMERS[locale]

    # 1. The customer signs in (the profile language is `locale`) and finds two of their units.
    login = LoginPage(page).open()
    a11y.check(page)
    login.sign_in(customer, DEMO_PASSWORD)
    a11y.check(page)
    products = ProductsPage(page, t).open().expect_loaded()
    a11y.check(page)
    screenshot(page, f"{locale}-20-products")
    serials = products.serials()
    assert len(serials) >= 2, serials
    first, second = serials[0], serials[1]

    # 2. Warranty check of the first unit (the public page).
    warranty = WarrantyPage(page, t).open().expect_loaded()
    result = warranty.check(first)
    expect(result).to_contain_text(first)
    expect(result.locator("dd").nth(1)).not_to_be_empty()
    a11y.check(page)
    screenshot(page, f"{locale}-21-warranty")

    # 3. A repair request for both units (the first preselected from its link).
    page.goto(f"/repairs/new?serial={first}")
    request = RepairRequestPage(page, t).expect_loaded()
    a11y.check(page)
    request.choose_unit(second)
    screenshot(page, f"{locale}-22-repair-request")
    repair = request.request(
        fault_label="Does not power on",
        description="The board does not power on since yesterday; tried another PSU.",
        address="Unit 4, Harbour Road\nSingapore 117438",
    ).expect_loaded()
    number = repair.number
    a11y.check(page)
    expect(repair.main).to_contain_text(first)
    expect(repair.main).to_contain_text(second)
    expect(repair.main).to_contain_text(t.gettext("Requested"))
    screenshot(page, f"{locale}-23-repair-timeline")

    confirmation = mail.wait_for(customer, subject=number)
    assert f"{number}-1" in confirmation.text
    assert f"{number}-2" in confirmation.text
    assert confirmation.link(f"/repairs/{number}/label") == f"{mail.base_url}/repairs/{number}/label"
    track_link = confirmation.link("/repair-status/")

    # 4. The printable return label, with its QR code.
    repair.open_label()
    expect(page.get_by_role("heading", level=1)).to_have_text(number)
    expect(page.locator("svg").first).to_be_visible()
    a11y.check(page)
    screenshot(page, f"{locale}-24-return-label")

    # 5. Staff receive the parcel by scanning its RMA number, then move both units on.
    staff = new_page()
    staff_signs_in(staff, a11y, make_user, unique_email("repair-staff"))
    receive = StaffReceivePage(staff).open().expect_loaded()
    a11y.check(staff)
    receive.scan(number)
    staff.wait_for_url(re.compile(rf"/staff/repairs/{number}$"))
    desk = StaffRmaPage(staff, None, number).expect_loaded()
    a11y.check(staff)
    screenshot(staff, f"{locale}-25-staff-received")
    received_mail = mail.wait_for(customer, subject=t.gettext("Received"))
    assert number in received_mail.subject
    for step in STAFF_STEPS:
        desk.move_all(step)
        a11y.check(staff)
        expect(desk.main.get_by_role("table").first).to_contain_text(step)  # the desk is in English
    screenshot(staff, f"{locale}-26-staff-shipped")

    # 6. The customer sees every step on the timeline and got an e-mail for each.
    for step in STAFF_STEPS:
        assert number in mail.wait_for(customer, subject=t.gettext(step)).subject
    page.goto(f"/repairs/{number}")
    repair = RepairPage(page, t).expect_loaded()
    for step in ("Received", *STAFF_STEPS):
        expect(repair.main).to_contain_text(t.gettext(step))
    a11y.check(page)
    screenshot(page, f"{locale}-27-repair-shipped")

    # 7. A guest (another browser, not signed in) looks the repair up by number and e-mail...
    guest = new_page()
    RepairStatusPage(guest).open()
    if locale != "en":
        BasePage(guest).switch_language(locale)
    lookup = RepairStatusPage(guest, t).expect_loaded()
    a11y.check(guest)
    lookup.look_up(number.lower(), customer.upper())
    expect(guest.get_by_role("heading", level=1)).to_contain_text(number)
    expect(guest.get_by_role("main")).to_contain_text(t.gettext("Shipped back"))
    expect(guest.get_by_role("main")).not_to_contain_text("Harbour Road")  # no return address for guests
    a11y.check(guest)
    screenshot(guest, f"{locale}-28-guest-lookup")
    # ...and the e-mailed link opens the same timeline without signing in.
    guest.goto(track_link)
    expect(guest.get_by_role("heading", level=1)).to_contain_text(number)
    a11y.check(guest)
