"""A small, real OpenID Connect provider for tests: a Starlette app served by uvicorn on loopback.

It speaks the authorization code flow the way real providers do: discovery, JWKS, an
authorization endpoint that approves at once (no login page) for the configured test user and
redirects back with `code` and `state`, a token endpoint that authenticates the client
(client_secret_basic or client_secret_post), uses each code once and checks the PKCE (S256)
verifier, and a userinfo endpoint. id_tokens are RS256, signed with joserfc, and carry the
nonce of the authorization request.

The simple way (browser tests)::

    from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, oidc_providers_env, start_provider

    issuer, stop = start_provider({"sub": "u-1", "email": "ana@example.com", "email_verified": True, "name": "Ana"})
    try:
        env = {"OIDC_PROVIDERS": oidc_providers_env(issuer, name="test", label="Test ID"), ...}
        # start the portal with env; its login page now shows "Sign in with Test ID"
    finally:
        stop()

`issuer` is the provider's base URL; its discovery document is at
`{issuer}/.well-known/openid-configuration`. The client is CLIENT_ID / CLIENT_SECRET.

For finer control use `LocalOpenIdProvider` (also a context manager): change `user_claims`
between sign-ins, make the next authorizations fail (`deny`), tamper with the id_token
(`id_token_overrides`, `sign_with_unknown_key`), leave the profile out of the id_token so the
client must call userinfo (`profile_in_id_token`), or register exact `redirect_uris`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import unquote, urlencode

import uvicorn
from joserfc import jwt
from joserfc.jwk import RSAKey
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CLIENT_ID = "portal-test-client"
CLIENT_SECRET = "portal-test-client-secret"
CODE_LIFETIME_S = 60
TOKEN_LIFETIME_S = 300
# Claims that describe the person: in the id_token (unless `profile_in_id_token` is off) and userinfo.
PROFILE_CLAIMS = ("email", "email_verified", "name", "given_name", "family_name", "locale")


@dataclass(frozen=True)
class _Grant:
    """What an authorization code stands for, until it is exchanged once."""

    client_id: str
    redirect_uri: str
    code_challenge: str
    nonce: str | None
    claims: dict[str, Any]
    expires_at: float


class LocalOpenIdProvider:
    """An OpenID provider on 127.0.0.1 with one user: whoever asks is signed in as `user_claims`."""

    def __init__(
        self,
        user_claims: Mapping[str, Any],
        *,
        client_id: str = CLIENT_ID,
        client_secret: str = CLIENT_SECRET,
        redirect_uris: Iterable[str] = (),
    ) -> None:
        self.user_claims: dict[str, Any] = dict(user_claims)
        self.client_id = client_id
        self.client_secret = client_secret
        # Empty: any redirect URI is accepted (the token request must still repeat it exactly).
        self.redirect_uris = frozenset(redirect_uris)
        # Knobs for the unhappy paths; they apply to the authorizations that follow.
        self.deny = False
        self.id_token_overrides: dict[str, Any] = {}
        self.sign_with_unknown_key = False
        self.profile_in_id_token = True
        # What the provider received, for assertions.
        self.token_requests: list[dict[str, str]] = []
        self.issuer = ""
        # A path of its own, as a realm or tenant has at real providers: a restarted provider on a
        # reused port is a different issuer, so no client cache mistakes one for the other.
        self._realm = secrets.token_hex(4)
        self.app = Starlette(
            routes=[
                Route(f"/{self._realm}/.well-known/openid-configuration", self._discovery),
                Route(f"/{self._realm}/jwks", self._jwks),
                Route(f"/{self._realm}/authorize", self._authorize),
                Route(f"/{self._realm}/token", self._token, methods=["POST"]),
                Route(f"/{self._realm}/userinfo", self._userinfo),
            ]
        )
        self._key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"})
        self._unknown_key = RSAKey.generate_key(2048, parameters={"kid": secrets.token_hex(8), "use": "sig", "alg": "RS256"})
        self._grants: dict[str, _Grant] = {}
        self._access_tokens: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- running ---------------------------------------------------------------------------------
    @property
    def metadata_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def start(self) -> str:
        """Serve on a free loopback port; returns the issuer URL once the server accepts connections."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.issuer = f"http://127.0.0.1:{sock.getsockname()[1]}/{self._realm}"
        # No logging config, websockets or lifespan: nothing global is touched and nothing extra imported.
        config = uvicorn.Config(self.app, log_config=None, log_level="warning", access_log=False, lifespan="off", ws="none", http="h11")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name="oidc-provider", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                sock.close()
                raise RuntimeError("the test OpenID provider did not start")
            time.sleep(0.01)
        return self.issuer

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
        self._server, self._thread = None, None

    def __enter__(self) -> LocalOpenIdProvider:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def reset(self, user_claims: Mapping[str, Any]) -> None:
        """Back to the happy path with another user (between tests sharing one server)."""
        self.user_claims = dict(user_claims)
        self.deny = False
        self.id_token_overrides = {}
        self.sign_with_unknown_key = False
        self.profile_in_id_token = True
        self.token_requests.clear()

    # -- endpoints -------------------------------------------------------------------------------
    async def _discovery(self, request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile"],
                "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                "code_challenge_methods_supported": ["S256"],
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "nonce", *PROFILE_CLAIMS],
            }
        )

    async def _jwks(self, request: Request) -> Response:
        return JSONResponse({"keys": [self._key.as_dict(private=False)]})

    async def _authorize(self, request: Request) -> Response:
        params = request.query_params
        redirect_uri = params.get("redirect_uri", "")
        # Errors about the client or the redirect URI are shown here, never sent to an unchecked URI.
        if params.get("client_id") != self.client_id:
            return JSONResponse({"error": "invalid_client"}, status_code=400)
        if not redirect_uri or (self.redirect_uris and redirect_uri not in self.redirect_uris):
            return JSONResponse({"error": "invalid_request", "error_description": "redirect_uri is not registered"}, status_code=400)

        def back(**answer: str) -> Response:
            if "state" in params:
                answer["state"] = params["state"]
            separator = "&" if "?" in redirect_uri else "?"
            return RedirectResponse(f"{redirect_uri}{separator}{urlencode(answer)}", status_code=302)

        if params.get("response_type") != "code":
            return back(error="unsupported_response_type")
        if "openid" not in params.get("scope", "").split():
            return back(error="invalid_scope")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            return back(error="invalid_request", error_description="PKCE with S256 is required")
        if self.deny:
            return back(error="access_denied", error_description="The user said no")
        code = secrets.token_urlsafe(32)
        with self._lock:
            self._grants[code] = _Grant(
                client_id=self.client_id,
                redirect_uri=redirect_uri,
                code_challenge=params["code_challenge"],
                nonce=params.get("nonce"),
                claims=dict(self.user_claims),
                expires_at=time.time() + CODE_LIFETIME_S,
            )
        return back(code=code)

    async def _token(self, request: Request) -> Response:
        async with request.form() as form:
            fields = {key: value for key, value in form.items() if isinstance(value, str)}
        with self._lock:
            self.token_requests.append(dict(fields))
        client_id, client_secret = _client_credentials(request.headers.get("authorization", ""), fields)
        if client_id != self.client_id or not hmac.compare_digest(client_secret.encode(), self.client_secret.encode()):
            return _token_error("invalid_client", status=401)
        if fields.get("grant_type") != "authorization_code":
            return _token_error("unsupported_grant_type")
        with self._lock:
            # Used once, even when the rest of the request is wrong (RFC 6749 §4.1.2).
            grant = self._grants.pop(fields.get("code", ""), None)
        if grant is None or grant.expires_at < time.time() or grant.client_id != client_id:
            return _token_error("invalid_grant")
        if fields.get("redirect_uri") != grant.redirect_uri:
            return _token_error("invalid_grant", "redirect_uri differs from the authorization request")
        if not hmac.compare_digest(_s256(fields.get("code_verifier", "")), grant.code_challenge):
            return _token_error("invalid_grant", "PKCE verification failed")

        now = int(time.time())
        access_token = secrets.token_urlsafe(32)
        with self._lock:
            self._access_tokens[access_token] = grant.claims
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.claims["sub"],
            "aud": client_id,
            "iat": now,
            "exp": now + TOKEN_LIFETIME_S,
            "auth_time": now,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        if self.profile_in_id_token:
            claims.update({k: v for k, v in grant.claims.items() if k in PROFILE_CLAIMS})
        claims.update(self.id_token_overrides)
        key = self._unknown_key if self.sign_with_unknown_key else self._key
        id_token = jwt.encode({"alg": "RS256", "kid": key.kid}, claims, key)
        return JSONResponse(
            {
                "access_token": access_token,
                "token_type": "Bearer",
                "expires_in": TOKEN_LIFETIME_S,
                "id_token": id_token,
                "scope": "openid email profile",
            },
            headers={"Cache-Control": "no-store"},
        )

    async def _userinfo(self, request: Request) -> Response:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            claims = self._access_tokens.get(token) if scheme.lower() == "bearer" else None
        if claims is None:
            return JSONResponse({"error": "invalid_token"}, status_code=401, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return JSONResponse({"sub": claims["sub"], **{k: v for k, v in claims.items() if k in PROFILE_CLAIMS}})


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode("ascii")).digest()).rstrip(b"=").decode("ascii")


def _client_credentials(authorization: str, fields: Mapping[str, str]) -> tuple[str, str]:
    """client_secret_basic (RFC 6749 §2.3.1: form-encoded, then Basic) or client_secret_post."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() == "basic":
        try:
            user, _, password = base64.b64decode(encoded, validate=True).decode().partition(":")
        except ValueError:
            return "", ""
        return unquote(user), unquote(password)
    return fields.get("client_id", ""), fields.get("client_secret", "")


def _token_error(error: str, description: str = "", *, status: int = 400) -> Response:
    body = {"error": error, **({"error_description": description} if description else {})}
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def start_provider(user_claims: Mapping[str, Any], **options: Any) -> tuple[str, Callable[[], None]]:
    """Start a provider signing everyone in as `user_claims` (needs at least "sub").

    Returns (issuer URL, stop). `options` go to LocalOpenIdProvider (client_id, client_secret,
    redirect_uris).
    """
    provider = LocalOpenIdProvider(user_claims, **options)
    return provider.start(), provider.stop


def oidc_providers_env(
    issuer: str, *, name: str = "test", label: str = "Test ID", client_id: str = CLIENT_ID, client_secret: str = CLIENT_SECRET
) -> str:
    """The OIDC_PROVIDERS value that points the portal at this provider."""
    return json.dumps(
        [
            {
                "name": name,
                "label": label,
                "client_id": client_id,
                "client_secret": client_secret,
                "server_metadata_url": f"{issuer}/.well-known/openid-configuration",
            }
        ]
    )
