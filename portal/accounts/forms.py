"""Input parsing and validation for account forms. Messages are message ids for `_()`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from email_validator import EmailNotValidError, validate_email

from portal.errors import Invalid
from portal.security.passwords import password_problem

NAME_MAX = 200


def clean_email(value: str, field: str = "email") -> str:
    value = (value or "").strip()
    if not value:
        raise Invalid(field, "Enter your e-mail address.")
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError:
        raise Invalid(field, "Enter a valid e-mail address, like name@example.com.") from None
    # Domain part is case-insensitive; we also fold the local part, as every real mailbox does.
    return result.normalized.lower()


def clean_name(value: str, field: str = "name", *, required: bool = True) -> str:
    value = " ".join((value or "").split())
    if required and not value:
        raise Invalid(field, "Enter your name.")
    if len(value) > NAME_MAX:
        raise Invalid(field, "Use at most 200 characters.")
    return value


def clean_new_password(password: str, confirm: str | None, *, email: str = "", field: str = "password") -> str:
    problem = password_problem(password or "", email=email)
    if problem:
        raise Invalid(field, problem)
    if confirm is not None and confirm != password:
        raise Invalid("password_confirm", "The two passwords do not match.")
    return password


def clean_locale(value: str) -> str:
    from portal.i18n import LOCALES

    if value not in LOCALES:
        raise Invalid("locale", "Choose a language from the list.")
    return value


def validate(**cleaners: Callable[[], Any]) -> dict[str, Any]:
    """Run every cleaner; raise one Invalid holding all fields' messages, so a form shows them at once."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, cleaner in cleaners.items():
        try:
            values[name] = cleaner()
        except Invalid as exc:
            errors.update(exc.errors)
    if errors:
        raise Invalid(errors)
    return values
