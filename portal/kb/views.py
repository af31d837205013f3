"""Knowledge base pages. Articles and search arrive with the knowledge-base issue; until
then /kb tells readers plainly that there are no articles yet and where to get help."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from portal.web import Ctx, view


@view()
def index(ctx: Ctx) -> Response:
    query = ctx.request.query_params.get("q", "").strip()[:200]
    return ctx.render("kb/index.html", query=query)


routes = [Route("/kb", index, name="kb")]
