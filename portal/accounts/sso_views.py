"""Sign-in with an OpenID Connect provider: the link to the provider and its way back.

GET /login/sso/{provider}           remembers a new flow in the session, redirects to the provider
GET /login/sso/{provider}/callback  checks the answer, signs the person in (or on to /login/2fa)

Both are open to anyone (guests); an unknown provider name is a 404.
"""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import service, sso
from portal.accounts.models import User
from portal.accounts.views import _home_for
from portal.errors import NotFound
from portal.settings import OidcProvider
from portal.web import Ctx, safe_next, view


def _provider(ctx: Ctx) -> OidcProvider:
    name = ctx.request.path_params["provider"]
    for provider in ctx.state.settings.oidc_providers:
        if provider.name == name:
            return provider
    raise NotFound()


def _redirect_uri(ctx: Ctx, provider: OidcProvider) -> str:
    # Exactly the URI registered at the provider: built from BASE_URL, never from the request's Host.
    return ctx.absolute_url(ctx.url("sso_callback", provider=provider.name))


def _failed(ctx: Ctx, provider: OidcProvider, failure: sso.SsoFailed) -> Response:
    sso.record_failure(ctx.db, provider=provider.name, failure=failure, ip=ctx.ip)
    return ctx.render("accounts/sso_failed.html", status=failure.status_code, provider=provider, reason=failure.reason.value)


@view()
def sso_start(ctx: Ctx) -> Response:
    provider = _provider(ctx)
    next_url = safe_next(ctx.request.query_params.get("next"), "")
    if ctx.user:
        return ctx.redirect(next_url or _home_for(ctx))
    try:
        # Talks to the provider (discovery), so outside the write transaction.
        authorization_url, flow = sso.begin_authorization(provider=provider, redirect_uri=_redirect_uri(ctx, provider), next_url=next_url)
    except sso.SsoFailed as failure:
        with ctx.committed():
            return _failed(ctx, provider, failure)
    with ctx.committed():
        ctx.update_session_data(**{sso.FLOWS_KEY: sso.remember_flow(ctx.session_data(), flow=flow)})
    return ctx.redirect(authorization_url)


@view()
def sso_callback(ctx: Ctx) -> Response:
    provider = _provider(ctx)
    params = ctx.request.query_params
    state = params.get("state", "")
    flow = sso.pending_flow(ctx.session_data(), state=state, provider=provider.name)
    failure: sso.SsoFailed | None = None
    claims: dict[str, object] = {}
    if flow is None:
        failure = sso.SsoFailed(sso.Reason.STATE, "missing" if not state else "unknown, expired or used")
    elif params.get("error"):
        failure = sso.SsoFailed(sso.Reason.PROVIDER_ERROR, params["error"][:60])
    else:
        try:
            # Talks to the provider (token, keys), so outside the write transaction.
            claims = sso.complete_authorization(
                provider=provider, redirect_uri=_redirect_uri(ctx, provider), code=params.get("code", ""), flow=flow
            )
        except sso.SsoFailed as exc:
            failure = exc

    with ctx.committed() as db:
        if ctx.session_row is not None and state:
            # Used up whatever happens next. Missing now (the row is locked): a concurrent callback used it.
            if failure is None and sso.pending_flow(ctx.session_data(), state=state, provider=provider.name) is None:
                failure = sso.SsoFailed(sso.Reason.STATE, "used by a concurrent request")
            ctx.update_session_data(**{sso.FLOWS_KEY: sso.without_flow(ctx.session_data(), state=state)})
        user: User | None = None
        if failure is None:
            try:
                # A savepoint: a refusal links and creates nothing, while the audit and the used-up state stay.
                with db.begin_nested():
                    user = sso.user_for_claims(db, provider=provider.name, claims=claims, locale=ctx.locale, ip=ctx.ip)
            except sso.SsoFailed as exc:
                failure = exc
        if failure is not None or user is None or flow is None:
            return _failed(ctx, provider, failure or sso.SsoFailed(sso.Reason.STATE))
        return _signed_in(ctx, provider, user, next_url=safe_next(flow.next_url, ""))


def _signed_in(ctx: Ctx, provider: OidcProvider, user: User, *, next_url: str) -> Response:
    """As after a password: a fresh session, or a pending one when a second factor is due."""
    method = f"sso:{provider.name}"
    if service.second_factor_needed(user):
        ctx.begin_session(user=None, pending_user=user, data={"next": next_url, "login_method": method})
        sso.record_second_factor_pending(ctx.db, user=user, provider=provider.name, ip=ctx.ip)
        return ctx.redirect("/login/2fa")
    ctx.begin_session(user=user)
    service.record_login(ctx.db, user=user, ip=ctx.ip, method=method)
    return ctx.redirect(next_url or _home_for(ctx))


routes = [
    Route("/login/sso/{provider}", sso_start, methods=["GET"], name="sso_start"),
    Route("/login/sso/{provider}/callback", sso_callback, methods=["GET"], name="sso_callback"),
]
