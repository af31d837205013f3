"""Domain errors raised by services and mapped to responses in one place (portal.web)."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400


class NotFound(DomainError):
    """The record does not exist *or* the actor may not see it (both answer 404)."""

    status_code = 404


class Forbidden(DomainError):
    status_code = 403


class Conflict(DomainError):
    status_code = 409

    def __init__(self, message: str = "", **params: object) -> None:
        super().__init__(message % params if params else message)
        self.message = message  # the English source (a msgid when params are given)
        self.params = params


class Invalid(DomainError):
    """Input failed a business rule; carries field -> message for re-rendering the form."""

    status_code = 422

    def __init__(self, field: str | dict[str, str], message: str = "") -> None:
        self.errors: dict[str, str] = dict(field) if isinstance(field, dict) else {field: message}
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


class RateLimited(DomainError):
    status_code = 429

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limited, retry after {retry_after}s")
        self.retry_after = max(1, int(retry_after))


class LoginRequired(DomainError):
    status_code = 401
