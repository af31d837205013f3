"""The staff repair desk: queues, receiving parcels, one RMA with its moves, notes and quotes.

Thin views over portal.repairs.desk (the rules) and portal.repairs.workflow (the changes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from portal.errors import Invalid
from portal.events import status as sync_service
from portal.repairs import desk
from portal.repairs.lifecycle import RmaStatus
from portal.repairs.service import FAULT_CATEGORIES
from portal.web import STAFF_ROLES, Ctx, view


def _page(ctx: Ctx) -> int:
    try:
        return max(1, int(ctx.request.query_params.get("page", "1")))
    except ValueError:
        return 1


def _duration(ctx: Ctx) -> Callable[[timedelta], str]:
    """Time in a state in words: "3 days", "5 hours", "less than an hour"."""

    def text(elapsed: timedelta) -> str:
        if elapsed.days >= 1:
            return ctx.t.ngettext("%(num)s day", "%(num)s days", elapsed.days)
        hours = elapsed.seconds // 3600
        if hours >= 1:
            return ctx.t.ngettext("%(num)s hour", "%(num)s hours", hours)
        return ctx._("less than an hour")

    return text


def _common(ctx: Ctx) -> dict[str, Any]:
    return {"duration": _duration(ctx), "labels": desk.LABELS, "limits": desk.LIMITS, "fault_labels": FAULT_CATEGORIES}


def _errors(ctx: Ctx, exc: Invalid) -> dict[str, str]:
    """Messages of a refused move carry the unit and the states; translate them here."""
    params = getattr(exc, "params", None)
    if not params:
        return exc.errors
    filled = {key: ctx._(value) for key, value in params.items()}
    return {field: ctx._(message, **filled) for field, message in exc.errors.items()}


@view(roles=STAFF_ROLES)
def queue(ctx: Ctx) -> Response:
    assert ctx.user is not None
    params = ctx.request.query_params
    result = desk.work_queue(
        ctx.db, actor=ctx.user, queue=params.get("queue", desk.QUEUE_OPEN), search=params.get("q", ""), page=_page(ctx)
    )
    return ctx.render("staff/repairs/queue.html", q=result, open_states=desk.OPEN_STATES, **_common(ctx))


@view(methods=("GET", "POST"), roles=STAFF_ROLES)
def receive(ctx: Ctx) -> Response:
    assert ctx.user is not None
    if ctx.request.method == "GET":
        return ctx.render("staff/repairs/receive.html", results=[], errors={}, code="", codes="", **_common(ctx))
    code, codes = ctx.field("code"), ctx.field("codes")
    try:
        results = desk.receive(ctx.db, ctx.state.mailing, actor=ctx.user, codes=desk.parse_codes(code, codes))
    except Invalid as exc:
        return ctx.render("staff/repairs/receive.html", status=422, results=[], errors=exc.errors, code=code, codes=codes, **_common(ctx))
    if len(results) == 1 and results[0].outcome == desk.RECEIVED and results[0].rma_number:
        only = results[0]
        ctx.flash(
            ctx.t.ngettext(
                "Received %(num)s unit of %(number)s.", "Received %(num)s units of %(number)s.", only.count, number=only.rma_number
            )
        )
        return ctx.redirect(f"/staff/repairs/{only.rma_number}")
    # The field stays empty for the next scan; the results say what happened to each code.
    return ctx.render("staff/repairs/receive.html", results=results, errors={}, code="", codes="", **_common(ctx))


def _detail(ctx: Ctx, status: int = 200, errors: dict[str, str] | None = None, values: dict[str, Any] | None = None) -> Response:
    assert ctx.user is not None
    detail = desk.get_rma(ctx.db, actor=ctx.user, number=ctx.request.path_params["number"])
    sync_states = {
        u.unit.id: sync_service.aggregate_sync_state(ctx.db, aggregate_type="rma_unit", aggregate_id=u.unit.external_id)
        for u in detail.units
    }
    return ctx.render(
        "staff/repairs/rma.html",
        status=status,
        d=detail,
        sync_states=sync_states,
        errors=errors or {},
        values=values or {},
        currencies=desk.CURRENCIES,
        **_common(ctx),
    )


@view(roles=STAFF_ROLES)
def rma_detail(ctx: Ctx) -> Response:
    return _detail(ctx)


@view(methods=("POST",), roles=STAFF_ROLES)
def rma_move(ctx: Ctx) -> Response:
    assert ctx.user is not None
    number = ctx.request.path_params["number"]
    units = [u for u in ctx.form.getlist("unit") if isinstance(u, str)]
    to, note, visible = ctx.field("to"), ctx.field("note"), ctx.field("visible") == "1"
    try:
        moved = desk.move_units(
            ctx.db, ctx.state.mailing, actor=ctx.user, number=number, unit_numbers=units, to=to, note=note, customer_visible=visible
        )
    except Invalid as exc:
        ctx.db.rollback()
        values = {"move_note": note, "move_group": ctx.field("group"), "move_visible": visible, "move_units": units}
        return _detail(ctx, 422, _errors(ctx, exc), values)
    label = ctx._(desk.LABELS[RmaStatus(to)])
    ctx.flash(ctx.t.ngettext("%(num)s unit moved to “%(state)s”.", "%(num)s units moved to “%(state)s”.", len(moved), state=label))
    return ctx.redirect(f"/staff/repairs/{moved[0].rma.number}")


@view(methods=("POST",), roles=STAFF_ROLES)
def rma_note(ctx: Ctx) -> Response:
    assert ctx.user is not None
    number = ctx.request.path_params["number"]
    unit = ctx.field("note_unit")
    note, visible = ctx.field("note"), ctx.field("visible") == "1"
    try:
        desk.add_note(
            ctx.db,
            actor=ctx.user,
            number=number,
            unit_numbers=[unit] if unit and unit != "all" else None,
            note=note,
            customer_visible=visible,
        )
    except Invalid as exc:
        ctx.db.rollback()
        return _detail(ctx, 422, exc.errors, {"note": note, "note_unit": unit, "note_visible": visible})
    ctx.flash(ctx._("Note added for the customer.") if visible else ctx._("Internal note added."))
    return ctx.redirect(f"/staff/repairs/{number.upper()}")


@view(methods=("POST",), roles=STAFF_ROLES)
def rma_quote(ctx: Ctx) -> Response:
    assert ctx.user is not None
    number = ctx.request.path_params["number"]
    values = {name: ctx.field(name) for name in ("quote_unit", "amount", "currency", "valid_until")}
    try:
        unit = desk.send_quote(
            ctx.db,
            ctx.state.mailing,
            actor=ctx.user,
            number=number,
            unit_number=values["quote_unit"],
            amount=values["amount"],
            currency=values["currency"],
            valid_until=values["valid_until"],
        )
    except Invalid as exc:
        ctx.db.rollback()
        return _detail(ctx, 422, exc.errors, values)
    ctx.flash(ctx._("Quote sent for %(unit)s.", unit=unit.unit_number))
    return ctx.redirect(f"/staff/repairs/{unit.rma.number}")


routes: list[BaseRoute] = [
    Route("/staff/repairs", queue, name="staff_repairs"),
    Route("/staff/repairs/receive", receive, methods=["GET", "POST"], name="staff_repairs_receive"),
    Route("/staff/repairs/{number}", rma_detail, name="staff_rma"),
    Route("/staff/repairs/{number}/move", rma_move, methods=["POST"], name="staff_rma_move"),
    Route("/staff/repairs/{number}/note", rma_note, methods=["POST"], name="staff_rma_note"),
    Route("/staff/repairs/{number}/quote", rma_quote, methods=["POST"], name="staff_rma_quote"),
]
