"""Single sign-on against a real OpenID provider on loopback (tests/support/oidc_provider.py).

The portal runs in the TestClient; the browser's trip to the provider is an httpx request to
the local provider, whose redirect back (code + state) is fed to the portal's callback.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import httpx
import pyotp
import pytest
from sqlalchemy import select

from portal.accounts import sso
from portal.accounts.models import OidcIdentity, Role, User
from portal.i18n import Catalogues
from portal.security import totp
from portal.security.models import AuditEvent
from portal.settings import OidcProvider, Settings
from tests.conftest import PASSWORD
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, LocalOpenIdProvider
from tests.support.pg import free_port

PORTAL = "http://testserver"
CALLBACK = f"{PORTAL}/login/sso/test/callback"
ANA = {"sub": "ana-0001", "email": "ana@example.com", "email_verified": True, "name": "Ana Lima", "locale": "zh-CN"}


@pytest.fixture(scope="module")
def provider_server() -> Iterator[LocalOpenIdProvider]:
    # Only the portal's exact callback is registered, as at a real provider.
    with LocalOpenIdProvider(ANA, redirect_uris={CALLBACK}) as provider:
        yield provider


@pytest.fixture
def provider(provider_server: LocalOpenIdProvider) -> LocalOpenIdProvider:
    provider_server.reset(ANA)
    sso.clear_cache()
    return provider_server


def _test_provider(metadata_url: str) -> OidcProvider:
    return OidcProvider(name="test", label="Test ID", client_id=CLIENT_ID, client_secret=CLIENT_SECRET, server_metadata_url=metadata_url)


@pytest.fixture
def settings(settings: Settings, provider: LocalOpenIdProvider) -> Settings:
    return dataclasses.replace(settings, oidc_providers=(_test_provider(provider.metadata_url),))


def authorize(client: Any, start: str = "/login/sso/test") -> str:
    """Start at the portal and let the provider approve; the callback path (with code and state)."""
    response = client.get(start, follow_redirects=False)
    assert response.status_code == 303, response.text[:500]
    with httpx.Client() as browser:
        answer = browser.get(response.headers["location"], follow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(f"{CALLBACK}?")
    return location.removeprefix(PORTAL)


def sign_in(client: Any, start: str = "/login/sso/test") -> Any:
    return client.get(authorize(client, start), follow_redirects=False)


def audit_rows(uow: Callable[..., Any], action: str) -> list[AuditEvent]:
    with uow() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


def user_by_email(uow: Callable[..., Any], email: str) -> User | None:
    with uow() as session:
        user: User | None = session.scalar(select(User).where(User.email == email))
        return user


def identities(uow: Callable[..., Any]) -> list[tuple[int, str, str]]:
    with uow() as session:
        return [(i.user_id, i.provider, i.subject) for i in session.scalars(select(OidcIdentity))]


def assert_refused(response: Any, status: int, uow: Callable[..., Any], reason: str) -> None:
    assert response.status_code == status
    # The page speaks the reader's language (a signed-in user's profile may say Chinese).
    locale = "zh" if '<html lang="zh-Hans">' in response.text else "en"
    assert Catalogues().get(locale).gettext("Sign-in with %(provider)s did not work", provider="Test ID") in response.text
    assert "Traceback" not in response.text
    failures = audit_rows(uow, "login.sso_failed")
    assert failures, "no login.sso_failed audit row"
    assert failures[-1].detail["reason"] == reason
    assert failures[-1].detail["provider"] == "test"


def assert_signed_out(client: Any) -> None:
    assert client.get("/account", follow_redirects=False).headers["location"].startswith("/login")


# -- the happy paths -------------------------------------------------------------------------------
def test_the_login_page_offers_the_provider(client: Any) -> None:
    page = client.get("/login").text
    assert 'href="/login/sso/test"' in page
    assert "Sign in with Test ID" in page


def test_the_flow_uses_state_pkce_nonce_and_the_exact_redirect_uri(client: Any, provider: LocalOpenIdProvider) -> None:
    location = client.get("/login/sso/test", follow_redirects=False).headers["location"]
    assert location.startswith(f"{provider.issuer}/authorize?")
    query = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
    assert query["response_type"] == "code"
    assert query["client_id"] == CLIENT_ID
    assert query["redirect_uri"] == CALLBACK
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 32
    assert len(query["nonce"]) >= 32

    with httpx.Client() as browser:
        callback = browser.get(location, follow_redirects=False).headers["location"].removeprefix(PORTAL)
    assert client.get(callback, follow_redirects=False).status_code == 303
    exchange = provider.token_requests[-1]
    assert exchange["redirect_uri"] == CALLBACK
    # The verifier travels only in the back channel, and matches the challenge sent by the browser.
    verifier = exchange["code_verifier"]
    assert verifier not in location
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    assert challenge == query["code_challenge"]


def test_a_new_person_with_a_verified_email_becomes_a_verified_customer(client: Any, uow: Any) -> None:
    guest_session = client.get("/login/sso/test", follow_redirects=False).cookies.get("portal_session")
    response = sign_in(client)
    assert (response.status_code, response.headers["location"]) == (303, "/account")
    # A fresh session, not the one that carried the flow.
    assert response.cookies.get("portal_session") not in (None, guest_session)
    assert "Ana Lima" in client.get("/account").text

    user = user_by_email(uow, "ana@example.com")
    assert user is not None
    assert (user.role, user.name, user.locale, user.password_hash) == (Role.CUSTOMER, "Ana Lima", "zh", None)
    assert user.email_verified_at is not None
    assert identities(uow) == [(user.id, "test", "ana-0001")]
    assert audit_rows(uow, "register")[-1].detail == {"method": "sso:test"}
    assert [r.detail["subject"] for r in audit_rows(uow, "sso.linked")] == ["ana-0001"]
    login = audit_rows(uow, "login")[-1]
    assert (login.actor_user_id, login.detail["method"]) == (user.id, "sso:test")


def test_an_existing_user_is_linked_by_verified_email_and_later_found_by_subject(
    client: Any, make_client: Any, make_user: Any, provider: LocalOpenIdProvider, uow: Any
) -> None:
    existing = make_user("ana@example.com", name="Ana Existing")
    assert sign_in(client).headers["location"] == "/account"
    assert "Ana Existing" in client.get("/account").text
    assert identities(uow) == [(existing.id, "test", "ana-0001")]
    assert audit_rows(uow, "sso.linked")[-1].actor_user_id == existing.id

    # The provider's address changes (even to an unverified one): the link is by subject now.
    provider.user_claims.update(email="ana.lima@example.org", email_verified=False)
    other_browser = make_client()
    assert sign_in(other_browser).headers["location"] == "/account"
    assert "Ana Existing" in other_browser.get("/account").text
    assert user_by_email(uow, "ana.lima@example.org") is None
    assert len(audit_rows(uow, "sso.linked")) == 1


def test_the_email_may_come_from_userinfo(client: Any, provider: LocalOpenIdProvider, uow: Any) -> None:
    provider.profile_in_id_token = False
    assert sign_in(client).headers["location"] == "/account"
    user = user_by_email(uow, "ana@example.com")
    assert user is not None
    assert user.name == "Ana Lima"


def test_an_unverified_local_account_is_taken_over_without_its_unproven_password(
    client: Any, make_client: Any, make_user: Any, uow: Any
) -> None:
    # Someone registered Ana's address (and chose its password) but never opened the link.
    squatted = make_user("ana@example.com", verified=False)
    assert sign_in(client).headers["location"] == "/account"
    user = user_by_email(uow, "ana@example.com")
    assert user is not None
    assert (user.id, user.password_hash) == (squatted.id, None)
    assert user.email_verified_at is not None
    response = make_client().submit("/login", {"email": "ana@example.com", "password": PASSWORD})
    assert response.status_code == 400


def test_a_signed_in_user_is_sent_on(client: Any, make_user: Any) -> None:
    make_user("bo@example.com")
    client.login("bo@example.com")
    response = client.get("/login/sso/test?next=/account/profile", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (303, "/account/profile")


# -- refusals and failures -------------------------------------------------------------------------
@pytest.mark.parametrize("verified", [False, "false", None, "yes"])
def test_an_unverified_email_is_refused_and_links_nothing(
    client: Any, make_user: Any, provider: LocalOpenIdProvider, uow: Any, verified: object
) -> None:
    make_user("ana@example.com")
    provider.user_claims["email_verified"] = verified
    assert_refused(sign_in(client), 403, uow, "email_not_verified")
    assert identities(uow) == []
    assert_signed_out(client)


def test_an_unverified_email_creates_nobody(client: Any, provider: LocalOpenIdProvider, uow: Any) -> None:
    provider.user_claims["email_verified"] = False
    response = sign_in(client)
    assert_refused(response, 403, uow, "email_not_verified")
    assert "Your e-mail address at Test ID is not verified" in response.text
    assert user_by_email(uow, "ana@example.com") is None


def test_no_email_at_all_is_refused(client: Any, provider: LocalOpenIdProvider, uow: Any) -> None:
    del provider.user_claims["email"]
    assert_refused(sign_in(client), 403, uow, "no_email")
    assert identities(uow) == []


def test_inactive_users_are_refused(client: Any, make_client: Any, make_user: Any, uow: Any) -> None:
    user = make_user("ana@example.com")
    with uow() as session:
        session.get(User, user.id).is_active = False
    response = sign_in(client)
    assert_refused(response, 403, uow, "inactive")
    assert "deactivated" in response.text
    assert identities(uow) == []


def test_a_linked_user_who_was_deactivated_is_refused(client: Any, make_client: Any, make_user: Any, uow: Any) -> None:
    user = make_user("ana@example.com")
    assert sign_in(client).headers["location"] == "/account"
    with uow() as session:
        session.get(User, user.id).is_active = False
    browser = make_client()
    assert_refused(sign_in(browser), 403, uow, "inactive")
    assert_signed_out(browser)


def test_a_tampered_state_is_rejected(client: Any, uow: Any) -> None:
    callback = authorize(client)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    state = query["state"]
    # Change the last character to a different one (the same one would be no tampering at all).
    forged = state[:-1] + ("x" if state[-1] != "x" else "y")
    tampered = f"/login/sso/test/callback?{urlencode({**query, 'state': forged})}"
    assert_refused(client.get(tampered), 400, uow, "state")
    missing = f"/login/sso/test/callback?{urlencode({'code': query['code']})}"
    assert_refused(client.get(missing), 400, uow, "state")
    assert_signed_out(client)
    assert user_by_email(uow, "ana@example.com") is None


def test_a_callback_in_another_browser_is_rejected(client: Any, make_client: Any, uow: Any) -> None:
    # Login CSRF: an attacker's own callback URL must not sign the victim's browser in.
    callback = authorize(client)
    victim = make_client()
    assert_refused(victim.get(callback), 400, uow, "state")
    assert_signed_out(victim)


def test_a_replayed_callback_is_rejected(client: Any, make_client: Any, uow: Any) -> None:
    callback = authorize(client)
    assert client.get(callback, follow_redirects=False).status_code == 303
    assert_refused(client.get(callback), 400, uow, "state")
    assert_refused(make_client().get(callback), 400, uow, "state")
    assert len(audit_rows(uow, "login")) == 1


def test_a_failed_callback_uses_up_its_state(client: Any, provider: LocalOpenIdProvider, uow: Any) -> None:
    provider.deny = True
    callback = authorize(client)
    assert_refused(client.get(callback), 400, uow, "provider_error")
    assert_refused(client.get(callback), 400, uow, "state")


def test_a_refusal_at_the_provider_is_explained(client: Any, provider: LocalOpenIdProvider, uow: Any) -> None:
    provider.deny = True
    response = sign_in(client)
    assert_refused(response, 400, uow, "provider_error")
    assert "cancelled or refused at Test ID" in response.text
    assert 'href="/login/sso/test"' in response.text


def test_a_nonce_mismatch_is_rejected(client: Any, provider: LocalOpenIdProvider, uow: Any) -> None:
    provider.id_token_overrides = {"nonce": "not-the-one-we-sent"}
    assert_refused(sign_in(client), 400, uow, "nonce")
    assert user_by_email(uow, "ana@example.com") is None
    assert_signed_out(client)


@pytest.mark.parametrize(
    ("overrides", "unknown_key"),
    [
        pytest.param({"aud": "someone-else"}, False, id="audience"),
        pytest.param({"aud": ["someone-else", CLIENT_ID]}, False, id="several-audiences-without-azp"),
        pytest.param({"iss": "http://127.0.0.1:1/impostor"}, False, id="issuer"),
        pytest.param({"exp": int(time.time()) - 3600}, False, id="expired"),
        pytest.param({}, True, id="unpublished-key"),
    ],
)
def test_an_id_token_that_does_not_verify_is_rejected(
    client: Any, provider: LocalOpenIdProvider, uow: Any, overrides: dict[str, Any], unknown_key: bool
) -> None:
    provider.id_token_overrides = overrides
    provider.sign_with_unknown_key = unknown_key
    assert_refused(sign_in(client), 400, uow, "id_unverified")
    assert user_by_email(uow, "ana@example.com") is None


def test_a_wrong_code_is_rejected_by_the_provider(client: Any, uow: Any) -> None:
    callback = authorize(client)
    query = {k: v[0] for k, v in parse_qs(urlsplit(callback).query).items()}
    forged = f"/login/sso/test/callback?{urlencode({**query, 'code': 'forged'})}"
    assert_refused(client.get(forged), 400, uow, "code_rejected")


def test_an_unreachable_provider_is_a_friendly_page(client: Any, state: Any, uow: Any) -> None:
    dead = f"http://127.0.0.1:{free_port()}/.well-known/openid-configuration"
    state.settings = dataclasses.replace(state.settings, oidc_providers=(_test_provider(dead),))
    response = client.get("/login/sso/test")
    assert_refused(response, 502, uow, "unreachable")
    assert "We could not reach Test ID" in response.text


@pytest.mark.parametrize("path", ["/login/sso/nope", "/login/sso/nope/callback?code=x&state=y"])
def test_an_unknown_provider_is_404(client: Any, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 404
    assert "Page not found" in response.text


# -- where the person lands ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "next_url",
    ["//evil.example", "/\\evil.example", "https:evil.example", "javascript:alert(1)", "https://evil.example/", "/\r\nSet-Cookie:x=y"],
)
def test_next_only_ever_leads_to_a_local_path(client: Any, next_url: str) -> None:
    response = sign_in(client, f"/login/sso/test?next={quote(next_url, safe='')}")
    assert response.status_code == 303
    assert response.headers["location"] == "/account"


def test_next_leads_back_to_the_page_asked_for(client: Any) -> None:
    assert sign_in(client, "/login/sso/test?next=/account/profile").headers["location"] == "/account/profile"


def test_a_user_with_two_factor_sign_in_must_give_the_second_factor(client: Any, make_user: Any, uow: Any) -> None:
    user = make_user("ana@example.com")
    secret = totp.new_secret()
    with uow() as session:
        row = session.get(User, user.id)
        row.totp_secret, row.totp_enabled = secret, True
    response = sign_in(client, "/login/sso/test?next=/account/profile")
    assert (response.status_code, response.headers["location"]) == (303, "/login/2fa")
    assert_signed_out(client)
    assert audit_rows(uow, "login") == []
    assert audit_rows(uow, "login.sso_mfa_pending")[-1].detail == {"method": "sso:test"}

    response = client.submit("/login/2fa", {"code": pyotp.TOTP(secret).now()}, form_page="/login/2fa")
    assert (response.status_code, response.headers["location"]) == (303, "/account/profile")
    assert "Test User" in client.get("/account").text


# -- the flow bookkeeping in the session -----------------------------------------------------------
def _flow(state: str, *, expires_in: float = 600) -> sso.PendingFlow:
    return sso.PendingFlow(provider="test", state=state, nonce="n", code_verifier="v", next_url="", expires_at=time.time() + expires_in)


def test_a_session_keeps_a_few_live_flows_and_uses_each_once() -> None:
    data: dict[str, Any] = {}
    for index in range(sso.MAX_PENDING_FLOWS + 2):
        data[sso.FLOWS_KEY] = sso.remember_flow(data, flow=_flow(f"s{index}", expires_in=600 + index))
    assert sorted(data[sso.FLOWS_KEY]) == [f"s{i}" for i in range(2, sso.MAX_PENDING_FLOWS + 2)]
    flow = sso.pending_flow(data, state="s3", provider="test")
    assert flow is not None
    assert (flow.state, flow.nonce, flow.code_verifier) == ("s3", "n", "v")
    assert sso.pending_flow(data, state="s3", provider="other") is None
    assert sso.pending_flow(data, state="", provider="test") is None
    data[sso.FLOWS_KEY] = sso.without_flow(data, state="s3")
    assert sso.pending_flow(data, state="s3", provider="test") is None


def test_an_expired_flow_is_gone() -> None:
    data = {sso.FLOWS_KEY: sso.remember_flow({}, flow=_flow("old", expires_in=-1))}
    assert sso.pending_flow(data, state="old", provider="test") is None
