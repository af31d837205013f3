"""Single sign-on with the OpenID Connect providers in OIDC_PROVIDERS: the protocol and the account rules.

Protocol: the authorization code flow with `state`, PKCE (S256) and `nonce`. The browser is
sent to the provider with a fresh flow (`begin_authorization`); the flow is remembered in the
server-side session and used once (`remember_flow`, `pending_flow`, `without_flow`). The
callback's code is exchanged at the token endpoint and the id_token checked with the
provider's published keys: signature, issuer, audience, expiry and nonce
(`complete_authorization`). Provider metadata and keys are cached per process.

Account rules (`user_for_claims`): a known (provider, subject) signs in its user. Otherwise the
identity is linked only to the user with the e-mail address the provider says it verified,
and a verified address nobody has yet becomes a new customer. Unverified addresses and
inactive users are refused.

Functions take keyword arguments, never commit and raise `SsoFailed` (a domain error).
"""

from __future__ import annotations

import enum
import hmac
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import structlog
from authlib.common.security import generate_token
from authlib.integrations.base_client import OAuthError
from authlib.integrations.httpx_client import OAuth2Client

# The HTTP library under Authlib's client: httpx2 when installed, else httpx (Authlib's fallback).
from authlib.integrations.httpx_client._compat import httpx2 as authlib_http
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts import forms, service
from portal.accounts.models import OidcIdentity, Role, User
from portal.db import utcnow
from portal.errors import DomainError, Invalid
from portal.i18n import normalise_locale
from portal.security import sessions
from portal.security.audit import audit
from portal.settings import OidcProvider

log = structlog.get_logger(__name__)

SCOPE = "openid email profile"
HTTP_TIMEOUT_S = 10.0
# A flow not finished within this time is dropped: the person has walked away.
FLOW_MAX_AGE_S = 10 * 60
# Sign-ins started in other tabs stay usable, but a session holds only a few.
MAX_PENDING_FLOWS = 3
METADATA_TTL_S = 60 * 60
KEYS_TTL_S = 60 * 60
# An id_token signed with a key we do not know makes us re-read the provider's keys (it may
# have rotated them), but not more often than this, so forged tokens cannot make us hammer it.
KEYS_MIN_REFRESH_S = 60
CLOCK_SKEW_S = 60
# Asymmetric algorithms only: `none` and HS* (keyed with the client secret) are never accepted.
# ("EdDSA" is left out: RFC 9864 deprecates it for "Ed25519".)
SIGNING_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "Ed25519")
# What we keep of the claims on the identity row (not the whole token).
KEPT_CLAIMS = ("iss", "email", "email_verified", "name")
# Network, timeout, HTTP status, and a body that is not JSON.
HTTP_ERRORS: tuple[type[Exception], ...] = (authlib_http.HTTPError, ValueError)


class Reason(enum.StrEnum):
    """Why a sign-in did not work: a code for the audit log and for the page shown."""

    STATE = "state"  # missing, unknown, expired or already used `state`
    PROVIDER_ERROR = "provider_error"  # the provider answered with an error (e.g. the person cancelled)
    UNREACHABLE = "unreachable"  # discovery, keys, token or userinfo endpoint failed
    CODE_REJECTED = "code_rejected"  # the token endpoint refused the code, or answered without an id_token
    ID_UNVERIFIED = "id_unverified"  # the id_token's signature, issuer, audience, expiry or another claim is wrong
    NONCE = "nonce"  # the id_token was not issued for this flow
    NO_EMAIL = "no_email"
    EMAIL_NOT_VERIFIED = "email_not_verified"
    EMAIL_INVALID = "email_invalid"
    INACTIVE = "inactive"


class SsoFailed(DomainError):
    """Signing in with a provider did not work. `detail` is for the audit log, never the page."""

    status_code = 400

    def __init__(self, reason: Reason, detail: str = "", *, email: str | None = None, user_id: int | None = None) -> None:
        super().__init__(f"{reason.value}: {detail}" if detail else reason.value)
        self.reason = reason
        self.detail = detail[:200]
        self.email = email
        self.user_id = user_id


class ProviderUnavailable(SsoFailed):
    """The provider could not be used (down, misconfigured, answering nonsense): its failure, not the person's."""

    status_code = 502

    def __init__(self, detail: str) -> None:
        super().__init__(Reason.UNREACHABLE, detail)


class SsoRefused(SsoFailed):
    """The provider vouched for the person, but our rules do not let them in this way."""

    status_code = 403


# -- provider metadata and keys (cached per process) ---------------------------------------------
@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    token_endpoint_auth_methods: tuple[str, ...]
    signing_algorithms: tuple[str, ...]

    @classmethod
    def parse(cls, document: Mapping[str, Any], *, discovery_url: str) -> ProviderMetadata:
        def text(name: str) -> str:
            value = document.get(name)
            if not isinstance(value, str) or not value:
                raise ProviderUnavailable(f"metadata without {name}")
            return value

        def names(name: str, default: tuple[str, ...]) -> tuple[str, ...]:
            value = document.get(name)
            return tuple(v for v in value if isinstance(v, str)) if isinstance(value, list) else default

        issuer = text("issuer")
        # OpenID Connect Discovery 1.0 §4.3: the issuer must be the one the document was found
        # under, or one provider could speak for another (mix-up).
        if discovery_url != issuer.rstrip("/") + "/.well-known/openid-configuration":
            raise ProviderUnavailable("metadata issuer does not match its discovery URL")
        userinfo = document.get("userinfo_endpoint")
        return cls(
            issuer=issuer,
            authorization_endpoint=text("authorization_endpoint"),
            token_endpoint=text("token_endpoint"),
            jwks_uri=text("jwks_uri"),
            userinfo_endpoint=userinfo if isinstance(userinfo, str) and userinfo else None,
            # Defaults per RFC 8414 / OpenID Connect Discovery when the provider does not say.
            token_endpoint_auth_methods=names("token_endpoint_auth_methods_supported", ("client_secret_basic",)),
            signing_algorithms=names("id_token_signing_alg_values_supported", ("RS256",)),
        )


_cache_lock = threading.Lock()
_metadata_cache: dict[str, tuple[float, ProviderMetadata]] = {}
_keys_cache: dict[str, tuple[float, KeySet]] = {}


def clear_cache() -> None:
    """Forget every provider's metadata and keys (tests; a provider changed its configuration)."""
    with _cache_lock:
        _metadata_cache.clear()
        _keys_cache.clear()


def _plain_client() -> Any:
    """For the public documents (metadata, keys): no client identity needed."""
    return OAuth2Client(timeout=HTTP_TIMEOUT_S)


def _oauth_client(provider: OidcProvider, metadata: ProviderMetadata, redirect_uri: str) -> Any:
    return OAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        token_endpoint_auth_method=_auth_method(provider, metadata),
        scope=SCOPE,
        redirect_uri=redirect_uri,
        timeout=HTTP_TIMEOUT_S,
    )


def _auth_method(provider: OidcProvider, metadata: ProviderMetadata) -> str:
    if not provider.client_secret:
        return "none"  # a public client: PKCE alone binds the code to this flow
    if "client_secret_basic" not in metadata.token_endpoint_auth_methods and "client_secret_post" in metadata.token_endpoint_auth_methods:
        return "client_secret_post"
    return "client_secret_basic"


def _get_json(client: Any, url: str, **kwargs: Any) -> dict[str, Any]:
    """GET a JSON object. Any failure (network, status, body) means the provider cannot be used now."""
    try:
        response = client.request("GET", url, **kwargs)
        response.raise_for_status()
        document = response.json()
    except HTTP_ERRORS as exc:
        log.warning("sso.provider_request_failed", url=url, error=repr(exc))
        raise ProviderUnavailable(f"GET {url}: {type(exc).__name__}") from None
    if not isinstance(document, dict):
        raise ProviderUnavailable(f"GET {url}: not a JSON object")
    return document


def provider_metadata(provider: OidcProvider) -> ProviderMetadata:
    url = provider.server_metadata_url
    now = time.monotonic()
    with _cache_lock:
        cached = _metadata_cache.get(url)
    if cached is not None and now - cached[0] < METADATA_TTL_S:
        return cached[1]
    with _plain_client() as client:
        metadata = ProviderMetadata.parse(_get_json(client, url, withhold_token=True), discovery_url=url)
    with _cache_lock:
        _metadata_cache[url] = (now, metadata)
    return metadata


def _signing_keys(metadata: ProviderMetadata, *, refresh: bool = False) -> KeySet:
    now = time.monotonic()
    with _cache_lock:
        cached = _keys_cache.get(metadata.jwks_uri)
    if cached is not None and now - cached[0] < (KEYS_MIN_REFRESH_S if refresh else KEYS_TTL_S):
        return cached[1]
    with _plain_client() as client:
        document = _get_json(client, metadata.jwks_uri, withhold_token=True)
    try:
        keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
    except (JoseError, ValueError, KeyError, TypeError) as exc:
        raise ProviderUnavailable(f"unusable JWKS: {exc}") from None
    with _cache_lock:
        _keys_cache[metadata.jwks_uri] = (now, keys)
    return keys


# -- the flow --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PendingFlow:
    """One sign-in on its way through the provider, kept in the server-side session."""

    provider: str
    state: str
    nonce: str
    code_verifier: str
    next_url: str
    expires_at: float


FLOWS_KEY = "sso_flows"


def begin_authorization(*, provider: OidcProvider, redirect_uri: str, next_url: str) -> tuple[str, PendingFlow]:
    """The provider's authorization URL to send the browser to, and the flow to remember."""
    metadata = provider_metadata(provider)
    flow = PendingFlow(
        provider=provider.name,
        state=generate_token(32),
        nonce=generate_token(32),
        # RFC 7636 §4.1: 43 to 128 characters.
        code_verifier=generate_token(64),
        next_url=next_url,
        expires_at=time.time() + FLOW_MAX_AGE_S,
    )
    with _oauth_client(provider, metadata, redirect_uri) as client:
        url, _ = client.create_authorization_url(
            metadata.authorization_endpoint,
            state=flow.state,
            nonce=flow.nonce,
            code_challenge=create_s256_code_challenge(flow.code_verifier),
            code_challenge_method="S256",
        )
    return str(url), flow


def remember_flow(session_data: Mapping[str, Any], *, flow: PendingFlow) -> dict[str, dict[str, Any]]:
    """The session's pending flows with this one added (expired and the oldest dropped)."""
    flows = _live_flows(session_data)
    flows[flow.state] = asdict(flow)
    newest = sorted(flows.items(), key=lambda item: float(item[1]["expires_at"]), reverse=True)[:MAX_PENDING_FLOWS]
    return dict(newest)


def pending_flow(session_data: Mapping[str, Any], *, state: str, provider: str) -> PendingFlow | None:
    """The live flow this `state` belongs to, started for this provider; None otherwise."""
    stored = _live_flows(session_data).get(state) if state else None
    if stored is None:
        return None
    try:
        flow = PendingFlow(**stored)
    except TypeError:  # written by an older release
        return None
    return flow if flow.provider == provider else None


def without_flow(session_data: Mapping[str, Any], *, state: str) -> dict[str, dict[str, Any]]:
    """The session's pending flows with this one removed: a `state` is used once, whatever happens."""
    flows = _live_flows(session_data)
    flows.pop(state, None)
    return flows


def _live_flows(session_data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    stored = session_data.get(FLOWS_KEY)
    if not isinstance(stored, dict):
        return {}
    now = time.time()
    return {
        state: dict(flow)
        for state, flow in stored.items()
        if isinstance(flow, dict) and isinstance(flow.get("expires_at"), int | float) and flow["expires_at"] > now
    }


def complete_authorization(*, provider: OidcProvider, redirect_uri: str, code: str, flow: PendingFlow) -> dict[str, Any]:
    """Exchange the code (with the PKCE verifier) and return the verified claims of the person.

    The claims are the id_token's; when it carries no e-mail address, the address and whether it
    is verified come together from the userinfo endpoint.
    """
    if not code:
        raise SsoFailed(Reason.CODE_REJECTED, "no code in the callback")
    metadata = provider_metadata(provider)
    with _oauth_client(provider, metadata, redirect_uri) as client:
        try:
            token = client.fetch_token(
                metadata.token_endpoint, grant_type="authorization_code", code=code, code_verifier=flow.code_verifier
            )
        except OAuthError as exc:
            raise SsoFailed(Reason.CODE_REJECTED, str(exc.error)) from None
        except HTTP_ERRORS as exc:
            log.warning("sso.token_request_failed", provider=provider.name, error=repr(exc))
            raise ProviderUnavailable(f"token endpoint: {type(exc).__name__}") from None
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise SsoFailed(Reason.CODE_REJECTED, "no id_token in the token response")
        claims = _verified_id_token_claims(id_token, provider=provider, metadata=metadata, nonce=flow.nonce)
        if "email" in claims or metadata.userinfo_endpoint is None:
            return claims
        if str(token.get("token_type", "")).lower() != "bearer":
            raise SsoFailed(Reason.CODE_REJECTED, "the access token is not a bearer token")
        userinfo = _get_json(client, metadata.userinfo_endpoint)
    # OpenID Connect Core §5.3.2: userinfo about anyone else must not be used.
    if userinfo.get("sub") != claims["sub"]:
        raise SsoFailed(Reason.ID_UNVERIFIED, "userinfo is about another subject")
    merged = {**claims, "email": userinfo.get("email"), "email_verified": userinfo.get("email_verified")}
    for name in ("name", "given_name", "family_name", "locale"):
        if name not in merged and name in userinfo:
            merged[name] = userinfo[name]
    return merged


def _verified_id_token_claims(id_token: str, *, provider: OidcProvider, metadata: ProviderMetadata, nonce: str) -> dict[str, Any]:
    algorithms = [alg for alg in metadata.signing_algorithms if alg in SIGNING_ALGORITHMS]
    if not algorithms:
        raise SsoFailed(Reason.ID_UNVERIFIED, "the provider offers no signing algorithm we accept")
    try:
        try:
            token = jwt.decode(id_token, _signing_keys(metadata), algorithms=algorithms)
        except InvalidKeyIdError:
            token = jwt.decode(id_token, _signing_keys(metadata, refresh=True), algorithms=algorithms)
        claims = dict(token.claims)
        jwt.JWTClaimsRegistry(
            leeway=CLOCK_SKEW_S,
            iss={"essential": True, "value": metadata.issuer},
            aud={"essential": True, "value": provider.client_id},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
        ).validate(claims)
    except (JoseError, ValueError) as exc:
        raise SsoFailed(Reason.ID_UNVERIFIED, f"{type(exc).__name__}: {exc}") from None
    # OpenID Connect Core §3.1.3.7: with several audiences, `azp` must name us.
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if ("azp" in claims or len(audiences) > 1) and claims.get("azp") != provider.client_id:
        raise SsoFailed(Reason.ID_UNVERIFIED, "azp is not our client")
    received = claims.get("nonce")
    if not isinstance(received, str) or not hmac.compare_digest(received.encode(), nonce.encode()):
        raise SsoFailed(Reason.NONCE, "the id_token's nonce is not this flow's")
    return claims


# -- account rules ---------------------------------------------------------------------------------
def email_verified(claims: Mapping[str, Any]) -> bool:
    """Only an explicit yes counts. Some providers send the string "true" instead of the JSON boolean."""
    value = claims.get("email_verified")
    return value is True or (isinstance(value, str) and value.lower() == "true")


def user_for_claims(db: Session, *, provider: str, claims: Mapping[str, Any], locale: str, ip: str) -> User:
    """The user these verified claims sign in as, linking or creating one where the rules allow.

    Raises SsoRefused (NO_EMAIL, EMAIL_NOT_VERIFIED, EMAIL_INVALID, INACTIVE) before writing anything.
    """
    subject = str(claims["sub"])
    identity = db.scalar(select(OidcIdentity).where(OidcIdentity.provider == provider, OidcIdentity.subject == subject))
    if identity is not None:
        user = db.get(User, identity.user_id)
        if user is None or not user.is_active:
            raise SsoRefused(Reason.INACTIVE, email=user.email if user else None, user_id=identity.user_id)
        kept = _kept_claims(claims)
        if identity.claims != kept:
            identity.claims = kept
        return user

    raw_email = claims.get("email")
    if not isinstance(raw_email, str) or not raw_email.strip():
        raise SsoRefused(Reason.NO_EMAIL)
    if not email_verified(claims):
        raise SsoRefused(Reason.EMAIL_NOT_VERIFIED, email=raw_email[:254])
    try:
        email = forms.clean_email(raw_email)
    except Invalid:
        raise SsoRefused(Reason.EMAIL_INVALID, email=raw_email[:254]) from None

    user = service.find_by_email(db, email)
    if user is None:
        user = service.create_user(
            db,
            email=email,
            password=None,
            role=Role.CUSTOMER,
            name=_name_from(claims),
            locale=normalise_locale(_text(claims, "locale")) or locale,
            verified=True,
        )
        audit(db, "register", actor_user_id=user.id, actor_email=user.email, ip=ip, method=f"sso:{provider}")
    elif not user.is_active:
        raise SsoRefused(Reason.INACTIVE, email=user.email, user_id=user.id)
    elif user.email_verified_at is None:
        _claim_unverified_user(db, user=user, provider=provider, ip=ip)

    db.add(OidcIdentity(user_id=user.id, provider=provider, subject=subject, created_at=utcnow(), claims=_kept_claims(claims)))
    db.flush()
    audit(db, "sso.linked", actor_user_id=user.id, actor_email=user.email, ip=ip, provider=provider, subject=subject)
    return user


def _claim_unverified_user(db: Session, *, user: User, provider: str, ip: str) -> None:
    """Whoever registered this address never proved they own the mailbox; the provider just proved
    the person signing in does. The unproven password is dropped so that someone who registered
    another person's address in advance cannot get into the account that person now uses."""
    user.email_verified_at = utcnow()
    user.password_hash = None
    user.password_changed_at = utcnow()
    sessions.end_all_for_user(db, user.id)
    audit(db, "sso.claimed_unverified_user", actor_user_id=user.id, actor_email=user.email, ip=ip, provider=provider)


def record_failure(db: Session, *, provider: str, failure: SsoFailed, ip: str) -> None:
    audit(
        db,
        "login.sso_failed",
        actor_user_id=failure.user_id,
        actor_email=failure.email,
        ip=ip,
        provider=provider,
        reason=failure.reason.value,
        detail=failure.detail,
    )


def record_second_factor_pending(db: Session, *, user: User, provider: str, ip: str) -> None:
    """The provider's sign-in is the first factor only; `login` is recorded after the second."""
    audit(db, "login.sso_mfa_pending", actor_user_id=user.id, actor_email=user.email, ip=ip, method=f"sso:{provider}")


def _kept_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    return {name: claims[name] for name in KEPT_CLAIMS if name in claims}


def _text(claims: Mapping[str, Any], name: str) -> str:
    value = claims.get(name)
    return value if isinstance(value, str) else ""


def _name_from(claims: Mapping[str, Any]) -> str:
    name = _text(claims, "name") or f"{_text(claims, 'given_name')} {_text(claims, 'family_name')}"
    return " ".join(name.split())[: forms.NAME_MAX]
