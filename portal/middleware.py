"""The one middleware of the app: security headers, request metrics and gzip in one pass.

Three separate middleware (each its own `send` wrapper and header scans) cost ≈ 45 µs a
request, more than the page ceiling's whole request (docs/performance.md). This one wraps
`send` once, adds the security headers to the raw header list, counts the request, and puts
Starlette's gzip in the way only of requests that accept gzip.
"""

from __future__ import annotations

import time

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from portal.metrics import observe_request
from portal.security.headers import RawSecurityHeaders, new_nonce

GZIP_MINIMUM_SIZE = 1000


def accepts_gzip(scope: Scope) -> bool:
    return any(name == b"accept-encoding" and b"gzip" in value.lower() for name, value in scope["headers"])


class PortalMiddleware:
    def __init__(self, app: ASGIApp, *, https: bool) -> None:
        self.app = app
        self.gzipped = GZipMiddleware(app, minimum_size=GZIP_MINIMUM_SIZE)
        self.headers = RawSecurityHeaders(https=https)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        nonce = new_nonce()
        scope.setdefault("state", {})["csp_nonce"] = nonce
        path = scope.get("path", "")
        status = 500

        async def send_with_headers(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = self.headers.add(list(message.get("headers", ())), nonce=nonce, path=path)
            await send(message)

        try:
            await (self.gzipped if accepts_gzip(scope) else self.app)(scope, receive, send_with_headers)
        finally:
            observe_request(scope, status, time.perf_counter() - started)
