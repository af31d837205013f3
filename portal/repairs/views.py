"""Customer repair pages (request, list, timeline, label, quote answer, cancel) and the public
repair-status lookup. Thin: the rules are in portal.repairs.service."""

from __future__ import annotations

from typing import Any

import segno
from markupsafe import Markup
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from portal.errors import Conflict, Invalid
from portal.repairs import service, workflow
from portal.repairs.lifecycle import EXPLAIN, LABELS
from portal.repairs.models import Outcome
from portal.security.tokens import InvalidToken
from portal.uploads import safe_filename
from portal.web import CUSTOMER_ROLES, Ctx, view

FORM_FIELDS = ("fault_category", "description", "return_address", "preferred_outcome", "more_serials")


def _page_number(ctx: Ctx) -> int:
    raw = ctx.request.query_params.get("page", "1")
    return int(raw) if raw.isdigit() and len(raw) < 6 else 1


def _common() -> dict[str, Any]:
    return {
        "labels": LABELS,
        "explain": EXPLAIN,
        "fault_categories": service.FAULT_CATEGORIES,
        "warranty_labels": service.WARRANTY_LABELS,
        "outcome_labels": service.OUTCOMES,
        "main_path": service.MAIN_PATH,
    }


def _render_form(ctx: Ctx, values: dict[str, str], chosen: list[str], errors: dict[str, str], status: int = 200) -> Response:
    assert ctx.user is not None
    outcomes = [(o.value, label) for o, label in service.OUTCOMES.items()]
    if not service.advance_replacement_allowed(ctx.user):
        outcomes = [(v, label) for v, label in outcomes if v != Outcome.ADVANCE_REPLACEMENT.value]
    return ctx.render(
        "repairs/new.html",
        status=status,
        values=values,
        chosen=chosen,
        errors=errors,
        units=service.owned_units(ctx.db, actor=ctx.user),
        outcomes=outcomes,
        **_common(),
    )


@view(methods=("GET", "POST"), roles=CUSTOMER_ROLES)
def new_repair(ctx: Ctx) -> Response:
    assert ctx.user is not None
    if ctx.request.method == "POST":
        values = {name: ctx.field(name) for name in FORM_FIELDS}
        chosen = [s for s in ctx.form.getlist("serial") if isinstance(s, str)]
        typed = service.split_serials(values["more_serials"])
        photos = ctx.files("photos")
        try:
            rma = service.request_repair(
                ctx.db,
                ctx.state.mailing,
                actor=ctx.user,
                form=service.RepairRequest(
                    serials=chosen + typed,
                    fault_category=values["fault_category"],
                    description=values["description"],
                    return_address=values["return_address"],
                    preferred_outcome=values["preferred_outcome"],
                    photos=photos,
                ),
            )
        except Invalid as exc:
            errors = service.error_messages(exc, ctx._)
            if photos and "photos" not in errors:
                errors["photos"] = ctx._("For your safety the photos were not kept: choose them again.")
            return _render_form(ctx, values, chosen, errors, status=422)
        ctx.flash(ctx._("Your repair request %(number)s has been sent. We have e-mailed you a confirmation.", number=rma.number))
        return ctx.redirect(f"/repairs/{rma.number}")
    query = ctx.request.query_params
    chosen = service.preselected_serials(ctx.db, actor=ctx.user, serials=query.getlist("serial"), order_number=query.get("order", ""))
    values = {
        "fault_category": "",
        "description": "",
        "return_address": service.last_return_address(ctx.db, actor=ctx.user),
        "preferred_outcome": Outcome.REPAIR.value,
        "more_serials": "",
    }
    owned = {u.serial for u in service.owned_units(ctx.db, actor=ctx.user)}
    values["more_serials"] = "\n".join(s for s in chosen if s not in owned)  # e.g. a reseller's unit from a link
    return _render_form(ctx, values, chosen, {})


@view(roles=CUSTOMER_ROLES, on_loop=True)
def repairs_list(ctx: Ctx) -> Response:
    assert ctx.user is not None
    state = ctx.request.query_params.get("state", "")
    state = state if state in ("open", "closed") else ""
    result = service.list_rmas(ctx.db, actor=ctx.user, state=state, page=_page_number(ctx))
    return ctx.render("repairs/list.html", result=result, state_filter=state, **_common())


@view(roles=CUSTOMER_ROLES, on_loop=True)
def repair_detail(ctx: Ctx) -> Response:
    assert ctx.user is not None
    tl = service.rma_timeline(ctx.db, actor=ctx.user, number=ctx.request.path_params["number"])
    return ctx.render("repairs/detail.html", tl=tl, guest=False, **_common())


@view(roles=CUSTOMER_ROLES)
def repair_photo(ctx: Ctx) -> Response:
    assert ctx.user is not None
    photo = service.get_photo(
        ctx.db, actor=ctx.user, number=ctx.request.path_params["number"], photo_id=ctx.request.path_params["photo_id"]
    )
    return Response(
        photo.data,
        media_type=photo.content_type,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
            "Content-Disposition": f'inline; filename="{safe_filename(photo.filename)}"',
        },
    )


@view(roles=CUSTOMER_ROLES)
def repair_label(ctx: Ctx) -> Response:
    assert ctx.user is not None
    rma = service.get_rma(ctx.db, actor=ctx.user, number=ctx.request.path_params["number"])
    title = ctx._("QR code of %(number)s", number=rma.number)
    # Markup we generate from the RMA number (letters, digits, a dash): trusted SVG.
    qr = Markup(segno.make(rma.number, error="m").svg_inline(scale=4, title=title, omitsize=True))  # noqa: S704
    return ctx.render("repairs/label.html", rma=rma, qr=qr, repair_centre=service.REPAIR_CENTRE, packing=service.PACKING)


@view(methods=("POST",), roles=CUSTOMER_ROLES)
def answer_quote(ctx: Ctx) -> Response:
    assert ctx.user is not None
    number = ctx.request.path_params["number"]
    decision = ctx.field("decision")
    if decision not in ("accept", "decline"):
        ctx.flash(ctx._("Choose Accept or Decline."), "error")
        service.get_rma(ctx.db, actor=ctx.user, number=number)  # a foreign RMA stays a 404
        return ctx.redirect(f"/repairs/{number}")
    try:
        unit = service.answer_quote(
            ctx.db,
            ctx.state.mailing,
            actor=ctx.user,
            number=number,
            unit_number=ctx.request.path_params["unit_number"],
            accept=decision == "accept",
        )
    except Conflict as exc:
        ctx.flash(ctx._(exc.message), "error")
        return ctx.redirect(f"/repairs/{number}")
    if decision == "accept":
        ctx.flash(ctx._("You accepted the quote for %(unit)s. We start the repair.", unit=unit.unit_number))
    else:
        ctx.flash(ctx._("You declined the quote for %(unit)s. We send the unit back unrepaired.", unit=unit.unit_number))
    return ctx.redirect(f"/repairs/{unit.rma.number}")


@view(methods=("POST",), roles=CUSTOMER_ROLES)
def cancel_repair(ctx: Ctx) -> Response:
    assert ctx.user is not None
    number = ctx.request.path_params["number"]
    try:
        units = service.cancel(ctx.db, ctx.state.mailing, actor=ctx.user, number=number)
    except Conflict as exc:
        ctx.flash(ctx._(exc.message), "error")
        return ctx.redirect(f"/repairs/{number}")
    ctx.flash(ctx.t.ngettext("%(num)s unit was cancelled.", "%(num)s units were cancelled.", len(units)))
    return ctx.redirect(f"/repairs/{units[0].rma.number}")


# -- guests ---------------------------------------------------------------------------------------
@view(methods=("GET", "POST"))
def repair_status(ctx: Ctx) -> Response:
    values = {"number": ctx.field("number"), "email": ctx.field("email")}
    if ctx.request.method == "POST":
        rma = service.guest_lookup(ctx.db, values["number"], values["email"], ctx.ip)
        if rma is not None:
            return ctx.render("repairs/guest.html", tl=service.timeline(ctx.db, rma, with_photos=False), guest=True, **_common())
        return ctx.render("repairs/status_lookup.html", values={"number": values["number"], "email": ""}, failed=True, link_invalid=False)
    return ctx.render("repairs/status_lookup.html", values=values, failed=False, link_invalid=False)


@view()
def repair_status_link(ctx: Ctx) -> Response:
    token = ctx.request.path_params["token"]
    rma = None
    try:
        payload = ctx.state.mailing.signer.unsign(workflow.TRACK_PURPOSE, token, max_age_s=workflow.TRACK_MAX_AGE_S)
    except InvalidToken:
        payload = None
    if isinstance(payload, dict) and isinstance(payload.get("n"), str) and isinstance(payload.get("e"), str):
        rma = service.rma_for_link(ctx.db, payload["n"], payload["e"])
    if rma is None:
        values = {"number": "", "email": ""}
        return ctx.render("repairs/status_lookup.html", status=400, values=values, failed=False, link_invalid=True)
    return ctx.render("repairs/guest.html", tl=service.timeline(ctx.db, rma, with_photos=False), guest=True, **_common())


routes: list[BaseRoute] = [
    Route("/repairs", repairs_list, name="repairs_list"),
    Route("/repairs/new", new_repair, methods=["GET", "POST"], name="repairs_new"),
    Route("/repairs/{number}", repair_detail, name="repairs_detail"),
    Route("/repairs/{number}/photos/{photo_id:int}", repair_photo, name="repairs_photo"),
    Route("/repairs/{number}/label", repair_label, name="repairs_label"),
    Route("/repairs/{number}/units/{unit_number}/quote", answer_quote, methods=["POST"], name="repairs_quote"),
    Route("/repairs/{number}/cancel", cancel_repair, methods=["POST"], name="repairs_cancel"),
    Route("/repair-status", repair_status, methods=["GET", "POST"], name="repair_status"),
    Route("/repair-status/{token}", repair_status_link, name="repair_status_link"),
]
