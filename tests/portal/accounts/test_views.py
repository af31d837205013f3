"""Account pages over HTTP: what a person sees and what it changes."""

from __future__ import annotations

from typing import Any

import pyotp
from sqlalchemy import select

from portal.accounts.models import Role, User
from tests.conftest import PASSWORD, link_in


def _register(client: Any, email: str = "reader@example.com") -> Any:
    return client.submit(
        "/register", {"name": "Reader", "email": email, "password": PASSWORD, "password_confirm": PASSWORD}, form_page="/register"
    )


def test_register_verify_and_sign_in(client: Any, outbox_mail: Any, uow: Any) -> None:
    response = _register(client)
    assert response.status_code == 200
    assert "Check your e-mail" in response.text
    verify_path = link_in(outbox_mail()[-1], "/verify-email")
    # Opening the link shows a button and changes nothing (mail scanners prefetch links).
    page = client.get(verify_path)
    assert "Verify my e-mail address" in page.text
    with uow() as session:
        assert session.scalar(select(User).where(User.email == "reader@example.com")).email_verified_at is None
    token = verify_path.split("token=")[1]
    response = client.submit("/verify-email", {"token": token})
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    client.login("reader@example.com")
    assert "Hello, Reader" in client.get("/account").text


def test_register_form_keeps_input_and_shows_every_error(client: Any) -> None:
    response = client.submit(
        "/register", {"name": "Kept Name", "email": "bad", "password": "short", "password_confirm": "short"}, form_page="/register"
    )
    assert response.status_code == 422
    assert 'value="Kept Name"' in response.text
    assert "Enter a valid e-mail address" in response.text
    assert "Use at least 8 characters." in response.text
    assert 'aria-invalid="true"' in response.text


def test_a_bad_verification_link_offers_a_new_one(client: Any) -> None:
    response = client.submit("/verify-email", {"token": "forged"})
    assert response.status_code == 400
    assert "Send a new verification link" in response.text


def test_signing_in_lands_each_audience_on_its_home(client: Any, make_user: Any, make_account: Any, make_client: Any) -> None:
    make_account("P-1", "partner")
    make_user("customer@example.com")
    make_user("partner@p1.example", Role.PARTNER, account_id="P-1")
    for email, home in (("customer@example.com", "/account"), ("partner@p1.example", "/partner")):
        assert make_client().login(email).headers["location"] == home


def test_wrong_password_shows_a_message_and_keeps_the_email(client: Any, make_user: Any) -> None:
    make_user("user@example.com")
    response = client.submit("/login", {"email": "user@example.com", "password": "wrong password"})
    assert response.status_code == 400
    assert "The e-mail address or password is not right." in response.text
    assert 'value="user@example.com"' in response.text


def test_login_returns_to_the_page_asked_for(client: Any, make_user: Any) -> None:
    make_user("user@example.com")
    assert client.get("/account/profile", follow_redirects=False).headers["location"] == "/login?next=/account/profile"
    response = client.submit("/login", {"email": "user@example.com", "password": PASSWORD, "next": "/account/profile"})
    assert response.headers["location"] == "/account/profile"


def test_staff_must_set_up_two_factor_before_the_console(client: Any, make_user: Any) -> None:
    make_user("staff@northwind.example", Role.STAFF)
    client.login("staff@northwind.example")
    assert client.get("/staff", follow_redirects=False).headers["location"] == "/account/2fa"
    page = client.get("/account/2fa").text
    secret = page.split('data-testid="totp-secret">')[1].split("<")[0]
    response = client.submit("/account/2fa", {"code": pyotp.TOTP(secret).now()}, form_page="/account/2fa")
    assert response.status_code == 200
    assert 'data-testid="recovery-codes"' in response.text
    assert client.get("/staff").status_code == 200


def test_two_factor_users_need_a_code_after_the_password(client: Any, make_user: Any, uow: Any) -> None:
    user = make_user("mfa@example.com")
    secret = pyotp.random_base32()
    with uow() as session:
        row = session.get(User, user.id)
        row.totp_secret, row.totp_enabled = secret, True
    response = client.login("mfa@example.com")
    assert response.headers["location"] == "/login/2fa"
    # Half-signed-in is not signed in.
    assert client.get("/account", follow_redirects=False).headers["location"].startswith("/login")
    bad = client.submit("/login/2fa", {"code": "123456"}, form_page="/login/2fa")
    assert bad.status_code == 400
    good = client.submit("/login/2fa", {"code": pyotp.TOTP(secret).now()}, form_page="/login/2fa")
    assert good.headers["location"] == "/account"
    assert client.get("/account").status_code == 200


def test_profile_saves_name_and_language(client: Any, make_user: Any) -> None:
    make_user("profile@example.com")
    client.login("profile@example.com")
    response = client.submit("/account/profile", {"name": "New Name", "locale": "zh"}, form_page="/account/profile")
    assert response.headers["location"] == "/account/profile"
    page = client.get("/account/profile").text
    assert 'value="New Name"' in page
    assert '<html lang="zh-Hans">' in page


def test_password_change_keeps_this_browser_signed_in(client: Any, make_user: Any, make_client: Any) -> None:
    make_user("pw@example.com")
    client.login("pw@example.com")
    other = make_client()
    other.login("pw@example.com")
    response = client.submit(
        "/account/password",
        {"current_password": PASSWORD, "password": "a fresh passphrase", "password_confirm": "a fresh passphrase"},
        form_page="/account/password",
    )
    assert response.headers["location"] == "/account"
    assert client.get("/account").status_code == 200
    assert other.get("/account", follow_redirects=False).status_code == 303


def test_customer_admin_invites_and_removes_colleagues(
    client: Any, make_user: Any, make_account: Any, outbox_mail: Any, make_client: Any
) -> None:
    make_account("C-1", name="Harbor Robotics")
    make_user("admin@harbor.example", Role.CUSTOMER_ADMIN, account_id="C-1")
    client.login("admin@harbor.example")
    response = client.submit("/account/colleagues", {"email": "new@harbor.example", "role": "customer"}, form_page="/account/colleagues")
    assert response.status_code == 303
    accept = link_in(outbox_mail()[-1], "/invitations/accept")
    newcomer = make_client()
    assert "Accept the invitation" in newcomer.get(accept).text
    token = accept.split("token=")[1]
    joined = newcomer.submit(
        "/invitations/accept", {"token": token, "name": "New Colleague", "password": PASSWORD, "password_confirm": PASSWORD}
    )
    assert joined.headers["location"] == "/login"
    newcomer.login("new@harbor.example")
    assert "Harbor Robotics" in newcomer.get("/account").text
    page = client.get("/account/colleagues").text
    assert "new@harbor.example" in page
    user_id = page.split('action="/account/colleagues/')[1].split("/remove")[0]
    assert client.submit(f"/account/colleagues/{user_id}/remove").status_code == 303
    # Removal signs them out everywhere; signed in again, they are on their own.
    assert newcomer.get("/account", follow_redirects=False).status_code == 303
    newcomer.login("new@harbor.example")
    assert "Personal account" in newcomer.get("/account").text


def test_colleagues_page_is_only_for_account_admins(client: Any, make_user: Any, make_account: Any) -> None:
    make_account("C-1")
    make_user("member@harbor.example", Role.CUSTOMER, account_id="C-1")
    client.login("member@harbor.example")
    assert client.get("/account/colleagues").status_code == 404


def test_forgot_password_answers_the_same_for_any_address(client: Any, make_user: Any) -> None:
    make_user("known@example.com")
    known = client.submit("/password/forgot", {"email": "known@example.com"}, form_page="/password/forgot")
    unknown = client.submit("/password/forgot", {"email": "unknown@example.com"}, form_page="/password/forgot")
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("known@", "X@").count("X@") == 1
    assert "If an account uses" in unknown.text


def test_password_reset_page_sets_a_new_password(client: Any, make_user: Any, outbox_mail: Any) -> None:
    make_user("reset@example.com")
    client.submit("/password/forgot", {"email": "reset@example.com"}, form_page="/password/forgot")
    path = link_in(outbox_mail()[-1], "/password/reset")
    assert "Choose a new password" in client.get(path).text
    token = path.split("token=")[1]
    weak = client.submit("/password/reset", {"token": token, "password": "password", "password_confirm": "password"})
    assert weak.status_code == 422
    assert "too common" in weak.text
    done = client.submit("/password/reset", {"token": token, "password": "new and long", "password_confirm": "new and long"})
    assert done.headers["location"] == "/login"
    client.login("reset@example.com", "new and long")
    assert client.get(path).status_code == 400  # the link worked once
