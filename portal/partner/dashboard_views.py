"""Partner dashboard (partners: their own account; staff: any partner) and the staff partner overview."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from portal.errors import NotFound
from portal.partner import dashboard as service
from portal.web import PARTNER_ROLES, STAFF_ROLES, Ctx, view


def _filters(ctx: Ctx) -> service.Filters:
    query = ctx.request.query_params
    return service.Filters.parse(
        month=query.get("month", ""),
        category=query.get("category", ""),
        product=query.get("product", ""),
        region=query.get("region", ""),
    )


def _render(ctx: Ctx, board: service.Dashboard, *, base_path: str, staff: bool) -> Response:
    return ctx.render(
        "partner/dashboard.html",
        board=board,
        base_path=base_path,
        csv_path=None if staff else "/partner/dashboard.csv",
        base_template="staff/base.html" if staff else "partner/base.html",
        service=service,
    )


@view(roles=PARTNER_ROLES)
def partner_dashboard(ctx: Ctx) -> Response:
    assert ctx.user is not None
    board = service.dashboard(ctx.db, ctx.user, _filters(ctx))
    return _render(ctx, board, base_path="/partner/dashboard", staff=False)


@view(roles=PARTNER_ROLES)
def partner_dashboard_csv(ctx: Ctx) -> Response:
    assert ctx.user is not None
    board = service.dashboard(ctx.db, ctx.user, _filters(ctx))
    name = f"dashboard-{board.account.account_id}{'-' + board.filters.month if board.filters.month else ''}.csv"
    return Response(
        service.dashboard_csv(board),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


@view(roles=STAFF_ROLES)
def staff_partners(ctx: Ctx) -> Response:
    assert ctx.user is not None
    month, rows = service.staff_overview(ctx.db, ctx.user, ctx.request.query_params.get("month", ""))
    return ctx.render("staff/partners.html", month=month, rows=rows, service=service)


@view(roles=STAFF_ROLES)
def staff_partner(ctx: Ctx) -> Response:
    assert ctx.user is not None
    account_id = str(ctx.request.path_params.get("account_id", ""))
    if not account_id or len(account_id) > 40:
        raise NotFound()
    board = service.dashboard(ctx.db, ctx.user, _filters(ctx), account_id=account_id)
    return _render(ctx, board, base_path=f"/staff/partners/{account_id}", staff=True)


routes = [
    Route("/partner/dashboard", partner_dashboard, name="partner_dashboard"),
    Route("/partner/dashboard.csv", partner_dashboard_csv, name="partner_dashboard_csv"),
    Route("/staff/partners", staff_partners, name="staff_partners"),
    Route("/staff/partners/{account_id}", staff_partner, name="staff_partner"),
]
