"""The home page and the language switcher."""

from __future__ import annotations

import contextlib

from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import service as accounts_service
from portal.errors import Invalid
from portal.i18n import LOCALES
from portal.web import LANG_COOKIE, Ctx, safe_next, view


@view(on_loop=True, uses_database=False)
def home(ctx: Ctx) -> Response:
    return ctx.render("home/index.html")


@view(methods=("POST",))
def set_language(ctx: Ctx) -> Response:
    locale = ctx.field("locale")
    if locale in LOCALES:
        ctx.set_cookie(LANG_COOKIE, locale, max_age=365 * 24 * 3600)
        if ctx.user is not None:
            with contextlib.suppress(Invalid):
                accounts_service.set_locale(ctx.db, actor=ctx.user, locale=locale)
    return ctx.redirect(safe_next(ctx.field("next"), "/"))


routes = [
    Route("/", home, name="home"),
    Route("/language", set_language, methods=["POST"], name="set_language"),
]
