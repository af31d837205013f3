"""Security headers on every response (pure ASGI, so 404/500 pages get them too)."""

from __future__ import annotations

import secrets

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send


def apply_security_headers(headers: MutableHeaders, *, nonce: str, https: bool, path: str) -> None:
    headers["Content-Security-Policy"] = (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self'; img-src 'self' data:; font-src 'self'; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "strict-origin-when-cross-origin"
    headers["X-Frame-Options"] = "DENY"
    headers["Cross-Origin-Opener-Policy"] = "same-origin"
    headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
    if https:
        headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
    if not path.startswith("/static/"):
        headers.setdefault("Cache-Control", "no-store")


class SecurityHeadersMiddleware:
    """Sets the headers on every response that passes through it. Starlette sends the 500
    page from ServerErrorMiddleware, outside every user middleware: the 500 handler calls
    `apply_security_headers` itself (with the request's nonce, `csp_nonce`)."""

    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["csp_nonce"] = nonce

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                apply_security_headers(MutableHeaders(scope=message), nonce=nonce, https=self.https, path=scope.get("path", ""))
            await send(message)

        await self.app(scope, receive, send_with_headers)


def csp_nonce(scope: Scope) -> str:
    """The request's nonce (set by the middleware), or a fresh one if it never ran."""
    state = scope.setdefault("state", {})
    return str(state.setdefault("csp_nonce", secrets.token_urlsafe(16)))
