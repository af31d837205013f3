"""Partner extranet pages and the public "become a partner" application."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from portal.errors import Invalid
from portal.partner import service
from portal.web import PARTNER_ROLES, Ctx, view

FIELDS = ("company", "country", "contact_name", "contact_email", "website", "message")


@view(methods=("GET", "POST"))
def apply(ctx: Ctx) -> Response:
    values = {name: ctx.field(name) for name in FIELDS}
    if ctx.request.method == "POST":
        try:
            service.submit_application(ctx.db, ctx.state.mailing, **values, locale=ctx.locale, ip=ctx.ip)
        except Invalid as exc:
            return ctx.render("partner/apply.html", status=422, values=values, errors=exc.errors, countries=service.COUNTRIES)
        return ctx.render("partner/apply_done.html", values=values)
    return ctx.render("partner/apply.html", values=values, errors={}, countries=service.COUNTRIES)


@view(roles=PARTNER_ROLES)
def home(ctx: Ctx) -> Response:
    assert ctx.user is not None
    return ctx.render("partner/home.html", account=service.partner_account(ctx.db, actor=ctx.user))


routes = [
    Route("/partner/apply", apply, methods=["GET", "POST"], name="partner_apply"),
    Route("/partner", home, name="partner_home"),
]
