"""Account enumeration: a known and an unknown e-mail get the same answer (status and page),
on sign-in, password reset, registration and resending the verification link."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import pytest
from argon2 import PasswordHasher

from portal.security import passwords, ratelimit
from tests.conftest import PASSWORD, WebClient
from tests.portal.security.helpers import strip_volatile

KNOWN = "known@example.com"
UNVERIFIED = "unverified@example.com"
UNKNOWN = "unknown@example.com"
PLACEHOLDER = "someone@example.com"


def answer(client: WebClient, path: str, data: dict[str, str], email: str) -> tuple[int, str]:
    """Status and page, with the typed e-mail and per-response tokens taken out."""
    response = client.submit(path, data)
    return response.status_code, strip_volatile(response.text).replace(email, PLACEHOLDER)


FORMS: dict[str, tuple[str, Callable[[str], dict[str, str]]]] = {
    "sign in with a wrong password": ("/login", lambda email: {"email": email, "password": "not the password"}),
    "password reset": ("/password/forgot", lambda email: {"email": email}),
    "register": ("/register", lambda email: {"email": email, "name": "Eve", "password": PASSWORD, "password_confirm": PASSWORD}),
    "resend verification": ("/verify-email/resend", lambda email: {"email": email}),
}


@pytest.mark.parametrize("form", FORMS, ids=list(FORMS))
@pytest.mark.parametrize("known", [KNOWN, UNVERIFIED])
def test_known_and_unknown_emails_get_the_same_answer(make_client: Callable[[], WebClient], make_user: Any, form: str, known: str) -> None:
    make_user(KNOWN)
    make_user(UNVERIFIED, verified=False)
    path, data = FORMS[form]
    known_answer = answer(make_client(), path, data(known), known)
    unknown_answer = answer(make_client(), path, data(UNKNOWN), UNKNOWN)
    assert known_answer == unknown_answer
    assert PLACEHOLDER in known_answer[1] or form == "register"


@pytest.mark.parametrize("path", ["/password/forgot", "/verify-email/resend"])
def test_repeated_requests_for_one_address_answer_like_an_unknown_address(
    make_client: Callable[[], WebClient], make_user: Any, path: str
) -> None:
    """The per-address mail cap must not answer 429 only for addresses that exist."""
    make_user(UNVERIFIED, verified=False)
    for email in (UNVERIFIED, UNKNOWN):
        answers = {answer(make_client(), path, {"email": email}, email) for _ in range(ratelimit.EMAIL_ACTION_TARGET.max_hits + 2)}
        assert len(answers) == 1, email
        if email == UNVERIFIED:
            known_answers = answers
    assert answers == known_answers


def test_the_mail_cap_still_limits_mail_to_one_address(make_client: Callable[[], WebClient], make_user: Any, outbox_mail: Any) -> None:
    make_user(KNOWN)
    for _ in range(ratelimit.EMAIL_ACTION_TARGET.max_hits + 2):
        make_client().submit("/password/forgot", {"email": KNOWN})
    assert len([m for m in outbox_mail() if m["To"] == KNOWN]) == ratelimit.EMAIL_ACTION_TARGET.max_hits


def test_signing_in_takes_about_as_long_for_unknown_and_known_emails(
    make_client: Callable[[], WebClient], make_user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Loose: an unknown e-mail still costs a password hash (no fast path to spot it). The
    suite's cheap hash would hide a missing one, so this test hashes at a noticeable cost."""
    hasher = PasswordHasher(time_cost=2, memory_cost=16 * 1024, parallelism=1)
    monkeypatch.setattr(passwords, "_hasher", hasher)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", hasher.hash("dummy"))
    make_user(KNOWN)
    timings: dict[str, list[float]] = {KNOWN: [], UNKNOWN: []}
    for round_ in range(5):
        for email in (KNOWN, UNKNOWN):
            client = make_client()
            token = client.csrf("/login")
            started = time.perf_counter()
            response = client.post("/login", data={"csrf_token": token, "email": email, "password": f"wrong {round_}"})
            timings[email].append(time.perf_counter() - started)
            assert response.status_code == 400
    known, unknown = statistics.median(timings[KNOWN]), statistics.median(timings[UNKNOWN])
    assert max(known, unknown) / min(known, unknown) < 3, (known, unknown)
