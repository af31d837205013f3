"""Random tokens and signed, expiring, purpose-bound links."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer


def random_token() -> str:
    """256 bits from the OS CSPRNG, URL-safe."""
    return secrets.token_urlsafe(32)


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class InvalidToken(Exception):
    pass


class LinkSigner:
    """Signs small payloads for e-mailed links; each purpose has its own salt."""

    def __init__(self, secret_key: str) -> None:
        self._secret = secret_key

    def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self._secret, salt=f"portal.{purpose}")

    def sign(self, purpose: str, payload: Any) -> str:
        return self._serializer(purpose).dumps(payload)

    def unsign(self, purpose: str, token: str, *, max_age_s: int) -> Any:
        try:
            return self._serializer(purpose).loads(token, max_age=max_age_s)
        except (SignatureExpired, BadSignature) as exc:
            raise InvalidToken(str(exc)) from exc
