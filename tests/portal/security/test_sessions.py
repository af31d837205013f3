"""Server-side sessions: random tokens, rotated at sign-in, idle and absolute timeouts, and
ended by logout, password change, password reset and deactivation. Each test reuses the old
cookie afterwards and expects to be treated as signed out."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from portal.accounts.models import User
from portal.app import AppState, create_app
from portal.db import utcnow
from portal.security import sessions
from portal.security.models import WebSession
from portal.security.tokens import sha256_hex
from portal.settings import Settings
from tests.conftest import PASSWORD, WebClient, link_in
from tests.portal.security import matrix
from tests.portal.security.conftest import COOKIE_DOMAIN, MEMBERS, World
from tests.portal.security.helpers import session_cookie, sign_in, totp_code

NEW_PASSWORD = "a brand new passphrase"


def browser_with(world: World, token: str) -> WebClient:
    """Another browser presenting `token` as its session cookie (a stolen or kept cookie)."""
    web = world.make_client()
    web.cookies.set(sessions.COOKIE_NAME, token, domain=COOKIE_DOMAIN)
    return web


def signed_out(web: WebClient) -> bool:
    """Signed out: /account sends to sign-in, and a form post is not accepted as the user."""
    response = web.get("/account", follow_redirects=False)
    return response.status_code == 303 and response.headers["location"].startswith("/login")


def session_rows(state: AppState, user_id: int) -> list[WebSession]:
    with state.db.unit_of_work(write=False) as db:
        rows = list(db.scalars(select(WebSession).where(WebSession.user_id == user_id)))
        db.expunge_all()
        return rows


def test_the_cookie_is_a_random_token_of_at_least_128_bits_and_only_its_hash_is_stored(world: World) -> None:
    web = world.make_client()
    sign_in(web, world.state, world.email(matrix.CUSTOMER_A))
    token = session_cookie(web)
    assert token
    raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    assert len(raw) * 8 >= 128
    rows = session_rows(world.state, world.user_id(matrix.CUSTOMER_A))
    assert [row.token_hash for row in rows] == [sha256_hex(token)]
    with world.state.db.engine.connect() as conn:
        dump = repr([tuple(r) for r in conn.execute(select(WebSession))])
    assert token not in dump
    other = world.make_client()
    sign_in(other, world.state, world.email(matrix.CUSTOMER_A))
    assert session_cookie(other) != token


def test_signing_in_rotates_the_session_so_a_planted_cookie_stays_anonymous(world: World) -> None:
    """Session fixation: an attacker plants their anonymous session in the victim's browser."""
    with world.state.db.unit_of_work() as db:
        planted, _row = sessions.start(db, user=None, absolute_s=3600)
    victim = browser_with(world, planted)
    sign_in(victim, world.state, world.email(matrix.CUSTOMER_A))
    assert session_cookie(victim) != planted
    assert signed_out(browser_with(world, planted))
    with world.state.db.unit_of_work(write=False) as db:
        assert db.get(WebSession, sha256_hex(planted)) is None


def test_the_half_signed_in_cookie_is_replaced_after_the_second_factor(world: World) -> None:
    web = world.make_client()
    assert web.login(world.email(matrix.STAFF)).headers["location"] == "/login/2fa"
    pending = session_cookie(web)
    assert pending
    assert signed_out(web)
    assert web.submit("/login/2fa", {"code": totp_code(world.state, world.email(matrix.STAFF))}).status_code == 303
    assert session_cookie(web) not in (None, pending)
    assert not signed_out(web)
    assert signed_out(browser_with(world, pending))


def test_an_idle_session_ends(world: World) -> None:
    web = world.client(matrix.CUSTOMER_A)
    idle = world.state.settings.session_idle_s
    with world.state.db.unit_of_work() as db:
        db.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(seconds=idle - 30)))
    assert not signed_out(web), "still inside the idle timeout"
    with world.state.db.unit_of_work() as db:
        db.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(seconds=idle + 1)))
    assert signed_out(web)
    # A form posted with the old session's token is not accepted as the user's.
    response = web.post("/account/profile", data={"csrf_token": world.token(matrix.CUSTOMER_A), "name": "Idle"}, follow_redirects=False)
    assert response.status_code == 403
    with world.state.db.unit_of_work(write=False) as db:
        assert db.get(User, world.user_id(matrix.CUSTOMER_A)).name != "Idle"  # type: ignore[union-attr]


def test_a_busy_session_still_ends_at_the_absolute_timeout(world: World) -> None:
    web = world.client(matrix.CUSTOMER_A)
    with world.state.db.unit_of_work() as db:
        db.execute(update(WebSession).values(expires_at=utcnow() + timedelta(seconds=30), last_seen_at=utcnow()))
    assert not signed_out(web)
    with world.state.db.unit_of_work() as db:
        db.execute(update(WebSession).values(expires_at=utcnow() - timedelta(seconds=1), last_seen_at=utcnow()))
    assert signed_out(web)


def test_the_absolute_lifetime_is_set_at_sign_in(world: World) -> None:
    web = world.make_client()
    sign_in(web, world.state, world.email(matrix.CUSTOMER_A))
    (row,) = session_rows(world.state, world.user_id(matrix.CUSTOMER_A))
    lifetime = (row.expires_at - row.created_at).total_seconds()
    assert lifetime == world.state.settings.session_absolute_s


def test_logout_ends_the_session_for_good(world: World) -> None:
    web = world.make_client()
    sign_in(web, world.state, world.email(matrix.CUSTOMER_A))
    kept = session_cookie(web)
    assert kept
    assert web.submit("/logout").headers["location"] == "/"
    assert signed_out(web)
    assert signed_out(browser_with(world, kept))
    assert session_rows(world.state, world.user_id(matrix.CUSTOMER_A)) == []


def test_changing_the_password_signs_out_every_other_device(world: World) -> None:
    email = world.email(matrix.CUSTOMER_A)
    laptop, phone = world.make_client(), world.make_client()
    sign_in(laptop, world.state, email)
    sign_in(phone, world.state, email)
    old_laptop_cookie = session_cookie(laptop)
    response = laptop.submit(
        "/account/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        form_page="/account/password",
    )
    assert response.headers["location"] == "/account"
    assert signed_out(phone)
    assert old_laptop_cookie
    assert signed_out(browser_with(world, old_laptop_cookie))
    assert not signed_out(laptop), "the browser that changed it continues in a fresh session"
    assert len(session_rows(world.state, world.user_id(matrix.CUSTOMER_A))) == 1


def test_resetting_the_password_by_email_ends_every_session(world: World, outbox_mail: Callable[[], list[Any]]) -> None:
    email = world.email(matrix.CUSTOMER_A)
    stolen = world.client(matrix.CUSTOMER_A)
    anyone = world.make_client()
    assert anyone.submit("/password/forgot", {"email": email}).status_code == 200
    link = link_in(outbox_mail()[-1], "/password/reset")
    response = anyone.submit(link, {"password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD})
    assert response.headers["location"] == "/login"
    assert signed_out(stolen)
    assert session_rows(world.state, world.user_id(matrix.CUSTOMER_A)) == []


def test_an_admin_deactivating_a_user_ends_their_sessions(world: World) -> None:
    victim = world.client(matrix.CUSTOMER_B)
    kept = session_cookie(victim)
    admin = world.client(matrix.ADMIN)
    user_id = world.user_id(matrix.CUSTOMER_B)
    response = admin.post(f"/staff/users/{user_id}/active", data={"csrf_token": world.token(matrix.ADMIN), "active": "0"})
    assert response.status_code == 200
    assert signed_out(victim)
    assert kept
    assert signed_out(browser_with(world, kept))
    assert session_rows(world.state, user_id) == []
    # ...and the password no longer opens a new one.
    response = world.make_client().submit("/login", {"email": world.email(matrix.CUSTOMER_B), "password": PASSWORD})
    assert response.status_code == 400


def test_a_partner_admin_removing_a_colleague_ends_the_colleagues_sessions(world: World) -> None:
    email, _role = MEMBERS["P-X"]
    colleague = world.make_client()
    sign_in(colleague, world.state, email)
    admin = world.client(matrix.PARTNER_X)
    user_id = world.ids["user:P-X"]
    response = admin.post(f"/account/colleagues/{user_id}/remove", data={"csrf_token": world.token(matrix.PARTNER_X)})
    assert response.status_code == 200
    assert signed_out(colleague)
    assert session_rows(world.state, user_id) == []


def test_a_customer_admin_removing_a_colleague_ends_the_colleagues_sessions(world: World) -> None:
    """Detached from the company, the colleague signs in again and sees only their own account."""
    colleague = world.client(matrix.CUSTOMER_A)
    admin = world.client(matrix.COLLEAGUE_A)
    user_id = world.user_id(matrix.CUSTOMER_A)
    admin.post(f"/account/colleagues/{user_id}/remove", data={"csrf_token": world.token(matrix.COLLEAGUE_A)})
    assert signed_out(colleague)
    with world.state.db.unit_of_work(write=False) as db:
        assert db.get(User, user_id).account_id is None  # type: ignore[union-attr]


@pytest.fixture
def second_worker(settings: Settings) -> Iterator[WebClient]:
    """A browser served by a second worker process: its own app and database connections on
    the same database (SQLite quick reads keep what they read while it is unchanged)."""
    other = create_app(settings, background=False)
    with WebClient(other, base_url="http://testserver") as web:
        yield web
    other.state.portal.db.dispose()
    other.state.portal.crm_engine.dispose()


def test_what_one_worker_commits_reaches_the_next_request_on_another_at_once(world: World, second_worker: WebClient) -> None:
    web = world.make_client()
    sign_in(web, world.state, world.email(matrix.CUSTOMER_A))
    kept = session_cookie(web)
    assert kept
    second_worker.cookies.set(sessions.COOKIE_NAME, kept, domain=COOKIE_DOMAIN)
    for _ in range(2):  # read, then answered from what the second worker kept
        page = second_worker.get("/account")
        assert page.status_code == 200
        assert "Renamed Ann" not in page.text
    response = web.submit("/account/profile", {"name": "Renamed Ann", "locale": "en"}, form_page="/account/profile")
    assert response.status_code == 303
    assert "Renamed Ann" in second_worker.get("/account").text
    assert web.submit("/logout").headers["location"] == "/"
    assert signed_out(second_worker)
