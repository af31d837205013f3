"""Brute force: limits per (address, account), per address and per account, answered with
429 + Retry-After; an attacker at one address never locks the owner out elsewhere."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from portal.security import ratelimit
from tests.conftest import PASSWORD, WebClient
from tests.portal.security import matrix
from tests.portal.security.conftest import World
from tests.portal.security.helpers import sign_in, totp_code


def assert_limited(response: Any) -> int:
    assert response.status_code == 429, response.status_code
    retry_after = int(response.headers["retry-after"])
    assert retry_after >= 1
    assert retry_after <= 3600
    return retry_after


def test_guessing_one_account_from_one_address_is_stopped_and_the_owner_still_signs_in_elsewhere(
    world: World, from_address: Callable[[str], WebClient]
) -> None:
    victim = world.email(matrix.CUSTOMER_A)
    attacker = from_address("203.0.113.66")
    for attempt in range(ratelimit.LOGIN_PAIR.max_hits):
        response = attacker.submit("/login", {"email": victim, "password": f"guess {attempt}"})
        assert response.status_code == 400, attempt
    # Now even the right password is refused from that address, with a time to wait.
    retry_after = assert_limited(attacker.submit("/login", {"email": victim, "password": PASSWORD}))
    assert retry_after <= ratelimit.LOGIN_PAIR.window_s + 1
    # The owner, at home, is not locked out.
    owner = from_address("198.51.100.7")
    assert owner.submit("/login", {"email": victim, "password": PASSWORD}).status_code == 303
    # The attacker may still sign in to another account from the same address (no global lock).
    assert attacker.submit("/login", {"email": world.email(matrix.CUSTOMER_B), "password": PASSWORD}).status_code == 303


def test_spraying_many_accounts_from_one_address_is_stopped(world: World, from_address: Callable[[str], WebClient]) -> None:
    attacker = from_address("203.0.113.67")
    for attempt in range(ratelimit.LOGIN_IP.max_hits):
        response = attacker.submit("/login", {"email": f"user{attempt}@spray.example", "password": "Summer2026!"})
        assert response.status_code == 400, attempt
    assert_limited(attacker.submit("/login", {"email": world.email(matrix.CUSTOMER_B), "password": PASSWORD}))
    assert from_address("198.51.100.8").submit("/login", {"email": world.email(matrix.CUSTOMER_B), "password": PASSWORD}).status_code == 303


def test_a_distributed_attack_on_one_account_is_stopped_by_the_account_limit(
    world: World, from_address: Callable[[str], WebClient]
) -> None:
    victim = world.email(matrix.CUSTOMER_A)
    per_address = ratelimit.LOGIN_PAIR.max_hits
    for n in range(ratelimit.LOGIN_ACCOUNT.max_hits // per_address):
        bot = from_address(f"192.0.2.{n + 1}")
        for attempt in range(per_address):
            assert bot.submit("/login", {"email": victim, "password": f"guess {n}.{attempt}"}).status_code == 400
    assert_limited(from_address("192.0.2.200").submit("/login", {"email": victim, "password": "another guess"}))


FORMS = {
    "register": (
        "/register",
        lambda i: {"email": f"new{i}@example.com", "name": "New", "password": PASSWORD, "password_confirm": PASSWORD},
    ),
    "password reset": ("/password/forgot", lambda i: {"email": f"someone{i}@example.com"}),
    "resend verification": ("/verify-email/resend", lambda i: {"email": f"someone{i}@example.com"}),
    "partner application": (
        "/partner/apply",
        lambda i: {"company": f"Company {i}", "country": "GB", "contact_name": "Pat", "contact_email": f"pat{i}@example.com"},
    ),
}


@pytest.mark.parametrize("form", FORMS, ids=list(FORMS))
def test_forms_that_send_email_are_limited_per_address(world: World, from_address: Callable[[str], WebClient], form: str) -> None:
    path, data = FORMS[form]
    sender = from_address("203.0.113.70")
    for i in range(ratelimit.EMAIL_ACTION_IP.max_hits):
        assert sender.submit(path, data(i)).status_code == 200, i
    assert_limited(sender.submit(path, data(99)))
    assert from_address("198.51.100.9").submit(path, data(100)).status_code == 200


def test_second_factor_guesses_are_limited_even_for_the_right_code(world: World) -> None:
    web = world.make_client()
    email = world.email(matrix.STAFF)
    assert web.login(email).headers["location"] == "/login/2fa"
    for guess in range(ratelimit.MFA_USER.max_hits):
        response = web.submit("/login/2fa", {"code": f"{guess:06d}"})
        assert response.status_code == 400, guess
    assert_limited(web.submit("/login/2fa", {"code": totp_code(world.state, email)}))
    # Another user's second factor is unaffected.
    other = world.make_client()
    sign_in(other, world.state, world.email(matrix.ADMIN))


def test_a_replayed_second_factor_code_is_rejected(world: World) -> None:
    email = world.email(matrix.ADMIN)
    first = world.make_client()
    assert first.login(email).headers["location"] == "/login/2fa"
    code = totp_code(world.state, email)
    assert first.submit("/login/2fa", {"code": code}).status_code == 303
    second = world.make_client()
    assert second.login(email).headers["location"] == "/login/2fa"
    assert second.submit("/login/2fa", {"code": code}).status_code == 400
