"""Extranet pages for partner admins: the API clients of their account (create, rotate, revoke).

A new or rotated secret is shown once, on the page that answers the POST (never stored in
clear, never put in a URL or the session)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from portal.accounts.models import Role
from portal.errors import Conflict, Invalid, NotFound
from portal.partner import api_service
from portal.partner.models import ApiClient
from portal.web import Ctx, view

ADMINS = frozenset({Role.PARTNER_ADMIN})


def _client_pk(ctx: Ctx) -> int:
    raw = str(ctx.request.path_params.get("client_pk", ""))
    if not raw.isdigit() or len(raw) > 12:
        raise NotFound()
    return int(raw)


def _page(
    ctx: Ctx,
    *,
    values: dict[str, object] | None = None,
    errors: dict[str, str] | None = None,
    secret: tuple[ApiClient, str] | None = None,
    status: int = 200,
) -> Response:
    assert ctx.user is not None
    return ctx.render(
        "partner/api_clients.html",
        status=status,
        clients=api_service.clients(ctx.db, ctx.user),
        scope_labels=api_service.SCOPE_LABELS,
        values=values or {"name": "", "scopes": list(api_service.SCOPES)},
        errors=errors or {},
        new_secret=secret,
    )


@view(methods=("GET", "POST"), roles=ADMINS)
def api_clients(ctx: Ctx) -> Response:
    assert ctx.user is not None
    api_service.clients(ctx.db, ctx.user)  # NotFound for anyone but a partner admin
    if ctx.request.method != "POST":
        return _page(ctx)
    name = ctx.field("name")
    scopes = [s for s in ctx.form.getlist("scopes") if isinstance(s, str)]
    try:
        client, secret = api_service.create_client(ctx.db, ctx.user, name=name, scopes=scopes, ip=ctx.ip)
    except Invalid as exc:
        return _page(ctx, values={"name": name, "scopes": scopes}, errors=exc.errors, status=422)
    return _page(ctx, secret=(client, secret))


@view(methods=("POST",), roles=ADMINS)
def rotate(ctx: Ctx) -> Response:
    assert ctx.user is not None
    try:
        client, secret = api_service.rotate_client(ctx.db, ctx.user, _client_pk(ctx), ip=ctx.ip)
    except Conflict as exc:
        return _page(ctx, errors={"client": exc.message}, status=409)
    return _page(ctx, secret=(client, secret))


@view(methods=("POST",), roles=ADMINS)
def revoke(ctx: Ctx) -> Response:
    assert ctx.user is not None
    client = api_service.revoke_client(ctx.db, ctx.user, _client_pk(ctx), ip=ctx.ip)
    ctx.flash(ctx._("API client %(name)s revoked: its secret and tokens no longer work.", name=client.name))
    return ctx.redirect("/partner/api-clients")


routes: list[BaseRoute] = [
    Route("/partner/api-clients", api_clients, methods=["GET", "POST"], name="partner_api_clients"),
    Route("/partner/api-clients/{client_pk:int}/rotate", rotate, methods=["POST"], name="partner_api_client_rotate"),
    Route("/partner/api-clients/{client_pk:int}/revoke", revoke, methods=["POST"], name="partner_api_client_revoke"),
]
