"""Staff console: partner applications, staff users."""

from __future__ import annotations

from datetime import datetime

from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import service as accounts_service
from portal.accounts.models import Role
from portal.errors import Conflict
from portal.events import status as sync_service
from portal.partner import service as partner_service
from portal.partner.models import ApplicationStatus
from portal.security.audit import audit
from portal.web import STAFF_ROLES, Ctx, view

ADMIN_ONLY = frozenset({Role.ADMIN})


def _page(ctx: Ctx) -> int:
    try:
        return max(1, int(ctx.request.query_params.get("page", "1")))
    except ValueError:
        return 1


@view(roles=STAFF_ROLES)
def home(ctx: Ctx) -> Response:
    assert ctx.user is not None
    _pending, pending_total = partner_service.list_applications(ctx.db, actor=ctx.user, status=ApplicationStatus.SUBMITTED)
    return ctx.render("staff/home.html", pending_total=pending_total)


@view(roles=STAFF_ROLES)
def applications(ctx: Ctx) -> Response:
    assert ctx.user is not None
    raw = ctx.request.query_params.get("status", "submitted")
    status = ApplicationStatus(raw) if raw in {s.value for s in ApplicationStatus} else None
    page = _page(ctx)
    rows, total = partner_service.list_applications(ctx.db, actor=ctx.user, status=status, page=page)
    pages = max(1, -(-total // partner_service.PAGE_SIZE))
    return ctx.render(
        "staff/applications.html", rows=rows, total=total, status_filter=raw, page=page, pages=pages, statuses=list(ApplicationStatus)
    )


@view(methods=("GET", "POST"), roles=STAFF_ROLES)
def application_detail(ctx: Ctx) -> Response:
    assert ctx.user is not None
    application_id = int(ctx.request.path_params["application_id"])
    application = partner_service.get_application(ctx.db, actor=ctx.user, application_id=application_id)

    def page(status: int = 200, errors: dict[str, str] | None = None) -> Response:
        sync_state = _sync_state(ctx, application.external_id)
        return ctx.render("staff/application.html", status=status, application=application, errors=errors or {}, sync_state=sync_state)

    if ctx.request.method == "GET":
        return page()
    decision = ctx.field("decision")
    if decision not in ("approve", "reject"):
        return page(422, {"decision": "Choose approve or reject."})
    try:
        partner_service.decide_application(
            ctx.db, ctx.state.mailing, actor=ctx.user, application_id=application_id, approve=decision == "approve", note=ctx.field("note")
        )
    except Conflict:
        return page(409, {"decision": "This application has already been decided."})
    ctx.flash(ctx._("Application approved. The contact has been invited.") if decision == "approve" else ctx._("Application rejected."))
    return ctx.redirect("/staff/applications")


def _sync_state(ctx: Ctx, external_id: str) -> str:
    return sync_service.aggregate_sync_state(ctx.db, aggregate_type="partner_application", aggregate_id=external_id)


@view(roles=STAFF_ROLES)
def sync_health(ctx: Ctx) -> Response:
    figures = sync_service.sync_status(ctx.db)
    last_pull = datetime.fromisoformat(figures.last_pull_at) if figures.last_pull_at else None
    return ctx.render("staff/sync.html", figures=figures, last_pull=last_pull, dead=sync_service.dead_events(ctx.db))


@view(methods=("POST",), roles=STAFF_ROLES)
def sync_replay(ctx: Ctx) -> Response:
    assert ctx.user is not None
    raw = ctx.field("event_id")
    count = sync_service.replay_dead(ctx.db, event_ids=[int(raw)] if raw.isdigit() else None)
    audit(ctx.db, "sync.replay", actor_user_id=ctx.user.id, actor_email=ctx.user.email, target=raw or "all", count=count)
    ctx.flash(ctx.t.ngettext("%(num)s event was put back in the queue.", "%(num)s events were put back in the queue.", count))
    return ctx.redirect("/staff/sync")


@view(methods=("POST",), roles=ADMIN_ONLY)
def set_user_active(ctx: Ctx) -> Response:
    assert ctx.user is not None
    active = ctx.field("active") == "1"
    target = accounts_service.set_active(ctx.db, actor=ctx.user, user_id=int(ctx.request.path_params["user_id"]), active=active)
    ctx.flash(
        ctx._("%(email)s can sign in again.", email=target.email)
        if active
        else ctx._("%(email)s is deactivated and signed out.", email=target.email)
    )
    return ctx.redirect("/account/colleagues")


routes = [
    Route("/staff", home, name="staff_home"),
    Route("/staff/applications", applications, name="staff_applications"),
    Route("/staff/applications/{application_id:int}", application_detail, methods=["GET", "POST"], name="staff_application"),
    Route("/staff/users/{user_id:int}/active", set_user_active, methods=["POST"], name="staff_user_active"),
    Route("/staff/sync", sync_health, name="staff_sync"),
    Route("/staff/sync/replay", sync_replay, methods=["POST"], name="staff_sync_replay"),
]
