"""Password hashing (argon2id with argon2-cffi defaults) and the password policy.

Policy per ASVS 5.0 L2: at least 8 characters, up to 128 allowed, no composition rules,
rejected when on the common-passwords list or equal to the e-mail's local part.
"""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from portal.i18n import N_

MIN_LENGTH = 8
MAX_LENGTH = 128

_hasher = PasswordHasher()
# A fixed hash to verify against when the user does not exist, so both paths cost the same.
_DUMMY_HASH = _hasher.hash("not-a-real-password-just-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


@cache
def _common_passwords() -> frozenset[str]:
    # zxcvbn ships the 30,000 most common passwords from leaked-password corpora.
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def password_problem(password: str, *, email: str = "") -> str | None:
    """The reason a password is refused (an untranslated message id), or None."""
    if len(password) < MIN_LENGTH:
        return N_("Use at least 8 characters.")
    if len(password) > MAX_LENGTH:
        return N_("Use at most 128 characters.")
    lowered = password.lower()
    if lowered in _common_passwords() or lowered.strip() in _common_passwords():
        return N_("This password is too common. Choose one that is harder to guess.")
    local = email.split("@", 1)[0].lower()
    if local and len(local) >= 3 and lowered == local:
        return N_("Do not use your e-mail address as your password.")
    return None
