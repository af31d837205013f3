"""Passwords: ASVS 5.0 L2 policy (length, common list, no composition rules), argon2id, rehash."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from argon2 import PasswordHasher, Type, extract_parameters

from portal.accounts.models import User
from portal.security import passwords
from portal.security.passwords import password_problem
from tests.conftest import PASSWORD, WebClient

EMAIL = "jane.doe@example.com"
TOO_SHORT = "Use at least 8 characters."
TOO_LONG = "Use at most 128 characters."
COMMON = "This password is too common. Choose one that is harder to guess."
IS_EMAIL = "Do not use your e-mail address as your password."

POLICY = [
    ("", TOO_SHORT),
    ("k7#pQ2z", TOO_SHORT),  # 7 characters
    ("k7#pQ2zx", None),  # 8 characters
    ("m" * 63 + "q", None),  # 64 characters
    ("passphrase " * 11 + "seven19", None),  # 128 characters
    ("passphrase " * 11 + "seven190", TOO_LONG),  # 129 characters
    ("password1", COMMON),
    ("qwertyuiop", COMMON),
    ("Password1", COMMON),  # the list is matched without regard to case
    ("trustno1", COMMON),
    ("jane.doe", IS_EMAIL),  # the e-mail's local part
    ("JANE.DOE", IS_EMAIL),
    # No composition rules: no digit, no capital, no symbol needed; any script, spaces allowed.
    ("alllowercaseletters", None),
    ("82039471650", None),
    ("correct horse battery", None),
    ("我的密码很长很安全吗", None),
]


@pytest.mark.parametrize(("password", "problem"), POLICY, ids=[f"{len(p)} chars {p[:12]!r}" for p, _ in POLICY])
def test_password_policy(password: str, problem: str | None) -> None:
    assert password_problem(password, email=EMAIL) == problem


def test_the_length_cases_are_as_long_as_they_claim() -> None:
    assert [len(p) for p, _ in POLICY[1:6]] == [7, 8, 64, 128, 129]


def test_the_registration_form_applies_the_policy(client: WebClient) -> None:
    for password, problem in (("k7#pQ2z", TOO_SHORT), ("qwertyuiop", COMMON), ("x" * 129, TOO_LONG)):
        response = client.submit("/register", {"email": EMAIL, "name": "Jane", "password": password, "password_confirm": password})
        assert response.status_code == 422
        assert problem in response.text
    long_one = "passphrase " * 11 + "seven19"
    response = client.submit("/register", {"email": EMAIL, "name": "Jane", "password": long_one, "password_confirm": long_one})
    assert response.status_code == 200


def test_stored_hashes_are_argon2id(make_user: Any, uow: Any) -> None:
    user = make_user("hash@example.com")
    with uow() as db:
        stored = db.get(User, user.id).password_hash
    assert stored.startswith("$argon2id$")
    assert extract_parameters(stored).type is Type.ID
    assert PASSWORD not in stored


def test_production_hashing_uses_argon2id_with_the_library_defaults() -> None:
    """The suite swaps in cheap parameters; the module as shipped uses argon2-cffi's defaults."""
    spec = importlib.util.spec_from_file_location("portal_passwords_as_shipped", passwords.__file__)
    assert spec
    assert spec.loader
    shipped = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shipped)
    default = PasswordHasher()
    hasher = shipped._hasher
    assert hasher.type is Type.ID
    assert (hasher.time_cost, hasher.memory_cost, hasher.parallelism) == (default.time_cost, default.memory_cost, default.parallelism)


def test_a_hash_with_old_parameters_is_upgraded_at_the_next_sign_in(client: WebClient, make_user: Any, uow: Any) -> None:
    user = make_user("old@example.com")
    old_hash = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=2).hash(PASSWORD)
    with uow() as db:
        db.get(User, user.id).password_hash = old_hash
    # A wrong password changes nothing.
    assert client.submit("/login", {"email": "old@example.com", "password": "not the password"}).status_code == 400
    with uow() as db:
        assert db.get(User, user.id).password_hash == old_hash
    client.login("old@example.com")
    with uow() as db:
        new_hash = db.get(User, user.id).password_hash
    assert new_hash != old_hash
    assert not passwords.needs_rehash(new_hash)
    current = passwords._hasher
    params = extract_parameters(new_hash)
    assert (params.type, params.time_cost, params.memory_cost, params.parallelism) == (
        Type.ID,
        current.time_cost,
        current.memory_cost,
        current.parallelism,
    )
    # The same password still works with the upgraded hash.
    client.submit("/logout")
    client.login("old@example.com")
