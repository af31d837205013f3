"""Account journeys in a real browser (Debian chromium) against the live app.

Each journey uses fresh e-mail addresses, so the tests are independent of each other and of
their order; the demo users (carol, sam) are only used where the journey is about them.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

import pyotp
from playwright.sync_api import Page, expect

from e2e.conftest import OIDC_LABEL, OIDC_NAME, Auditor, LiveServer, MailReader
from e2e.pages import (
    AcceptInvitationPage,
    AccountPage,
    BasePage,
    ColleaguesPage,
    HomePage,
    LoginPage,
    PartnerApplyPage,
    PartnerHomePage,
    RegisterPage,
    ResetPasswordPage,
    SecondFactorPage,
    StaffApplicationsPage,
    TwoFactorPage,
    VerifyEmailPage,
    translator,
)
from portal.demo import DEMO_PASSWORD

Shoot = Callable[[Page, str], Path]

EN = translator("en")
ZH = translator("zh")


def next_totp(secret: str) -> str:
    """A code from the NEXT time step: the current one may have been used already (a code is
    never accepted twice), and the server accepts one step of drift either way."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def test_register_verify_sign_in_switch_to_chinese_and_sign_out(
    page: Page, a11y: Auditor, mail: MailReader, unique_email: Callable[[str], str], screenshot: Shoot
) -> None:
    email = unique_email("newcomer")
    password = "violet kettle mountain 42"

    HomePage(page).open()
    a11y.check(page)
    screenshot(page, "en-01-home")

    register = RegisterPage(page).open().expect_loaded()
    a11y.check(page)
    screenshot(page, "en-02-register")
    register.register(name="Nora Newcomer", email=email, password=password)
    a11y.check(page)

    message = mail.wait_for(email, link="/verify-email")
    assert message.subject
    page.goto(message.link("/verify-email"))
    verify = VerifyEmailPage(page).expect_loaded()
    a11y.check(page)
    login = verify.confirm()
    expect(login.status).to_contain_text(EN.gettext("Your e-mail address is verified. You can sign in now."))
    a11y.check(page)
    screenshot(page, "en-03-login")

    login.sign_in(email, password)
    account = AccountPage(page).expect_loaded()
    expect(account.heading).to_have_text(EN.gettext("Hello, %(name)s", name="Nora Newcomer"))
    a11y.check(page)
    screenshot(page, "en-04-account")

    chinese = account.switch_language("zh")
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(chinese.language_select).to_have_value("zh")
    # The select's chosen option is always Chinese; the heading is whatever the catalogue says
    # (still English while the translations are being filled in, Chinese once they are).
    expect(chinese.language_select.locator("option:checked")).to_have_text("简体中文")
    expect(chinese.heading).to_have_text(ZH.gettext("Hello, %(name)s", name="Nora Newcomer"))
    a11y.check(page)
    screenshot(page, "zh-04-account")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: one column, nothing cut off
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth"), "sideways scrolling"
    screenshot(page, "zh-04-account-phone")
    page.set_viewport_size({"width": 1280, "height": 900})

    home = chinese.sign_out()
    expect(home.sign_in_link).to_be_visible()
    expect(home.status).to_contain_text(ZH.gettext("You are signed out."))
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    a11y.check(page)
    screenshot(page, "zh-01-home")

    # Pages seen before signing in, now in Chinese (the language cookie stays).
    RegisterPage(page, ZH).open().expect_loaded()
    a11y.check(page)
    screenshot(page, "zh-02-register")
    LoginPage(page, ZH).open().expect_loaded()
    a11y.check(page)
    screenshot(page, "zh-03-login")


def test_password_reset_by_email(
    page: Page, a11y: Auditor, mail: MailReader, unique_email: Callable[[str], str], make_user: Callable[..., str], screenshot: Shoot
) -> None:
    email = make_user(unique_email("forgetful"), "old harbour lantern 7", name="Fred Forgetful")
    new_password = "copper finch orchard 19"

    login = LoginPage(page).open().expect_loaded()
    a11y.check(page)
    forgot = login.forgot_password()
    a11y.check(page)
    screenshot(page, "en-05-forgot-password")
    forgot.request_link(email)
    a11y.check(page)

    message = mail.wait_for(email, link="/password/reset")
    page.goto(message.link("/password/reset"))
    reset = ResetPasswordPage(page).expect_loaded()
    a11y.check(page)
    login = reset.choose(new_password)
    expect(login.status).to_contain_text(EN.gettext("Your password has been changed. Sign in with the new one."))
    a11y.check(page)

    # The link works once.
    page.goto(message.link("/password/reset"))
    expect(BasePage(page).heading).to_have_text(EN.gettext("This link is not valid any more"))
    a11y.check(page)

    login = LoginPage(page).open().expect_loaded()
    errors = login.sign_in_expecting_error(email, "old harbour lantern 7")
    expect(page).to_have_url(re.compile(r"/login$"))
    a11y.check(page)
    screenshot(page, "en-06-login-error")
    assert errors.is_visible()

    login.sign_in(email, new_password)
    account = AccountPage(page).expect_loaded()
    expect(account.heading).to_have_text(EN.gettext("Hello, %(name)s", name="Fred Forgetful"))
    a11y.check(page)


def test_customer_admin_invites_a_colleague_who_joins(
    page: Page, new_page: Callable[[], Page], a11y: Auditor, mail: MailReader, unique_email: Callable[[str], str], screenshot: Shoot
) -> None:
    colleague = unique_email("colleague")
    colleague_password = "amber tugboat violin 88"

    # Carol, the customer administrator of Harbor Robotics, invites a colleague.
    LoginPage(page).open().sign_in("carol@harbor-robotics.example", DEMO_PASSWORD)
    account = AccountPage(page).expect_loaded()
    a11y.check(page)
    account.side_link("Colleagues").click()
    colleagues = ColleaguesPage(page).expect_loaded()
    a11y.check(page)
    colleagues.invite(colleague)
    expect(colleagues.withdraw_button(colleague)).to_be_visible()
    a11y.check(page)
    screenshot(page, "en-07-colleagues")

    # The colleague, in their own browser, accepts through the e-mailed link.
    invited = new_page()
    message = mail.wait_for(colleague, link="/invitations/accept")
    assert "Harbor Robotics Ltd" in message.text
    invited.goto(message.link("/invitations/accept"))
    accept = AcceptInvitationPage(invited).expect_loaded()
    a11y.check(invited)
    screenshot(invited, "en-08-accept-invitation")
    login = accept.join(name="Cora Colleague", password=colleague_password)
    expect(login.status).to_contain_text(EN.gettext("Welcome! You have joined the account."))
    a11y.check(invited)

    login.sign_in(colleague, colleague_password)
    joined = AccountPage(invited).expect_loaded()
    expect(joined.heading).to_have_text(EN.gettext("Hello, %(name)s", name="Cora Colleague"))
    expect(joined.facts.filter(has_text="Harbor Robotics Ltd (C-1001)")).to_have_count(1)
    a11y.check(invited)

    # Carol now sees a member instead of an open invitation.
    page.reload()
    expect(colleagues.members.get_by_role("row").filter(has_text=colleague)).to_contain_text("Cora Colleague")
    expect(colleagues.withdraw_button(colleague)).to_have_count(0)
    a11y.check(page)


def test_partner_application_approved_by_staff_then_partner_admin_signs_in_with_totp(
    page: Page, new_page: Callable[[], Page], a11y: Auditor, mail: MailReader, unique_email: Callable[[str], str], screenshot: Shoot
) -> None:
    contact = unique_email("partner")
    company = f"Lumen Distribution {contact.split('@')[0].rsplit('.', 1)[-1]}"
    partner_password = "saffron lighthouse quartz 3"

    # 1. A distributor applies (public page, no account).
    apply = PartnerApplyPage(page).open().expect_loaded()
    a11y.check(page)
    screenshot(page, "en-09-partner-apply")
    apply.apply(
        company=company,
        country="SG",
        name="Priya Partner",
        email=contact,
        website="https://lumen.example",
        message="Networking gear for SMB resellers in South-East Asia.",
    )
    a11y.check(page)
    mail.wait_for(contact)  # the acknowledgement

    # 2. Staff (Sam) signs in for the first time: two-factor set-up is required.
    staff = new_page()
    LoginPage(staff).open().sign_in("sam@northwind.example", DEMO_PASSWORD, lands_on=r"/account/2fa$")
    setup = TwoFactorPage(staff).expect_loaded()
    expect(setup.status).to_contain_text(EN.gettext("Set up two-factor sign-in to continue."))
    a11y.check(staff)
    screenshot(staff, "en-10-2fa-setup")
    setup.turn_on(pyotp.TOTP(setup.secret).now())
    assert len(setup.recovery_codes) == 10
    a11y.check(staff)
    screenshot(staff, "en-11-recovery-codes")
    setup.codes_saved()
    expect(staff).to_have_url(re.compile(r"/staff$"))
    a11y.check(staff)

    # 3. Sam approves the application.
    BasePage(staff).nav_link("Partner applications").click()
    applications = StaffApplicationsPage(staff).expect_loaded()
    a11y.check(staff)
    screenshot(staff, "en-12-staff-applications")
    detail = applications.open_application(company)
    a11y.check(staff)
    screenshot(staff, "en-13-staff-application")
    detail.approve(note="Welcome aboard.")
    a11y.check(staff)

    # 4. The contact accepts the invitation and becomes the partner administrator.
    partner = new_page()
    invitation = mail.wait_for(contact, link="/invitations/accept")
    assert company in invitation.text
    partner.goto(invitation.link("/invitations/accept"))
    accept = AcceptInvitationPage(partner).expect_loaded()
    a11y.check(partner)
    login = accept.join(name="Priya Partner", password=partner_password)
    a11y.check(partner)

    # 5. First sign-in: TOTP set-up is required before the extranet opens.
    login.sign_in(contact, partner_password, lands_on=r"/account/2fa$")
    setup = TwoFactorPage(partner).expect_loaded()
    a11y.check(partner)
    secret = setup.secret
    setup.turn_on(pyotp.TOTP(secret).now())
    a11y.check(partner)
    setup.codes_saved()
    extranet = PartnerHomePage(partner).expect_loaded()
    expect(extranet.heading).to_have_text(company)
    a11y.check(partner)
    extranet.sign_out()
    a11y.check(partner)

    # 6. Second sign-in: password, then a TOTP code (never the one used at set-up).
    login = LoginPage(partner).open().expect_loaded()
    login.submit(contact, partner_password)
    second = SecondFactorPage(partner).expect_loaded()
    a11y.check(partner)
    screenshot(partner, "en-14-login-2fa")
    second.enter(next_totp(secret))
    extranet = PartnerHomePage(partner).expect_loaded()
    expect(extranet.heading).to_have_text(company)
    expect(extranet.header).to_contain_text(EN.gettext("Partner extranet"))
    a11y.check(partner)
    screenshot(partner, "en-15-partner-extranet")

    chinese = extranet.switch_language("zh")
    expect(partner.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(chinese.heading).to_have_text(company)
    a11y.check(partner)
    screenshot(partner, "zh-15-partner-extranet")


def test_sign_in_through_a_local_openid_provider(
    page: Page, a11y: Auditor, live_server: LiveServer, unique_email: Callable[[str], str], screenshot: Shoot
) -> None:
    provider = live_server.oidc
    assert provider is not None, f"the local OpenID provider is not available: {live_server.oidc_error}"
    email = unique_email("sso")
    # The provider approves at once (no page of its own) as this person, e-mail verified.
    provider.reset({"sub": f"sub-{email}", "email": email, "email_verified": True, "name": "Sid Single-Sign-On"})

    # First time: a verified address nobody has yet becomes a new customer.
    login = LoginPage(page).open().expect_loaded()
    a11y.check(page)
    screenshot(page, "en-16-login-with-sso")
    login.sso_button(OIDC_LABEL).click()
    account = AccountPage(page).expect_loaded()
    expect(account.heading).to_have_text(EN.gettext("Hello, %(name)s", name="Sid Single-Sign-On"))
    expect(account.facts.filter(has_text=email)).to_have_count(1)
    a11y.check(page)
    # The portal used the authorization code flow with PKCE and its exact callback URI.
    exchange = provider.token_requests[-1]
    assert exchange["grant_type"] == "authorization_code"
    assert exchange["code_verifier"]
    assert exchange["redirect_uri"] == f"{live_server.url}/login/sso/{OIDC_NAME}/callback"

    # Second time: the linked identity signs the same user in.
    account.sign_out()
    a11y.check(page)
    login = LoginPage(page).open().expect_loaded()
    login.sso_button(OIDC_LABEL).click()
    account = AccountPage(page).expect_loaded()
    expect(account.heading).to_have_text(EN.gettext("Hello, %(name)s", name="Sid Single-Sign-On"))
    a11y.check(page)

    # The person says no at the provider: a page that explains, and a way back.
    account.sign_out()
    provider.deny = True
    try:
        LoginPage(page).open().sso_button(OIDC_LABEL).click()
        failed = BasePage(page)
        expect(failed.heading).to_have_text(EN.gettext("Sign-in with %(provider)s did not work", provider=OIDC_LABEL))
        expect(failed.link("Sign in with your password")).to_be_visible()
        a11y.check(page)
        screenshot(page, "en-17-sso-failed")
    finally:
        provider.deny = False
