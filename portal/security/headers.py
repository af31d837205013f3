"""Security headers on every response (pure ASGI, so 404/500 pages get them too)."""

from __future__ import annotations

import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import Scope

_CSP = (
    "default-src 'self'; "
    "script-src 'self' 'nonce-{nonce}'; "
    "style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "frame-ancestors 'none'; form-action 'self'"
)
_FIXED = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
    ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
)
_HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
_CACHE_CONTROL = ("Cache-Control", "no-store")  # unless the response chose its own


def new_nonce() -> str:
    return secrets.token_urlsafe(16)


def apply_security_headers(headers: MutableHeaders, *, nonce: str, https: bool, path: str) -> None:
    headers["Content-Security-Policy"] = _CSP.format(nonce=nonce)
    for name, value in _FIXED:
        headers[name] = value
    if https:
        headers[_HSTS[0]] = _HSTS[1]
    if not path.startswith("/static/"):
        headers.setdefault(*_CACHE_CONTROL)


class RawSecurityHeaders:
    """The same headers as `apply_security_headers`, added to a response's raw header list in
    one pass (`MutableHeaders` scans and re-encodes the list for each of the eight: ≈ 10 µs
    a response; docs/decisions/0012)."""

    def __init__(self, *, https: bool) -> None:
        fixed = [*_FIXED, _HSTS] if https else list(_FIXED)
        self._fixed = [(name.lower().encode(), value.encode()) for name, value in fixed]
        self._replaced = frozenset({b"content-security-policy", *(name for name, _ in self._fixed)})
        self._cache_control = (_CACHE_CONTROL[0].lower().encode(), _CACHE_CONTROL[1].encode())

    def add(self, raw: list[tuple[bytes, bytes]], *, nonce: str, path: str) -> list[tuple[bytes, bytes]]:
        names = {name.lower() for name, _ in raw}
        if not names.isdisjoint(self._replaced):
            raw = [(name, value) for name, value in raw if name.lower() not in self._replaced]
        raw.append((b"content-security-policy", _CSP.format(nonce=nonce).encode()))
        raw.extend(self._fixed)
        if b"cache-control" not in names and not path.startswith("/static/"):
            raw.append(self._cache_control)
        return raw


def csp_nonce(scope: Scope) -> str:
    """The request's nonce (set by the middleware), or a fresh one if it never ran."""
    state = scope.setdefault("state", {})
    return str(state.setdefault("csp_nonce", new_nonce()))
