"""Customer pages (orders, my products, unit registration), the public warranty check, and
the staff pages that decide unit registrations. Rules live in portal.customer.service."""

from __future__ import annotations

from urllib.parse import quote, urlencode

from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from portal.customer import service
from portal.customer.models import RegistrationStatus
from portal.customer.warranty import normalise_serial
from portal.errors import Conflict, Invalid
from portal.i18n import N_
from portal.web import CUSTOMER_ROLES, STAFF_ROLES, Ctx, view

REGISTER_FIELDS = ("serial", "purchase_date", "reseller")


def _page(ctx: Ctx) -> int:
    try:
        return max(1, int(ctx.request.query_params.get("page", "1")))
    except ValueError:
        return 1


def _query(ctx: Ctx, name: str) -> str:
    return ctx.request.query_params.get(name, "").strip()


# -- orders ------------------------------------------------------------------------------------------


@view(roles=CUSTOMER_ROLES, on_loop=True)
def orders(ctx: Ctx) -> Response:
    assert ctx.user is not None
    status_filter = _query(ctx, "status")
    if status_filter not in service.ORDER_STATUSES:
        status_filter = ""
    search = _query(ctx, "q")[: service.MAX_SEARCH]
    result = service.list_orders(ctx.db, actor=ctx.user, status=status_filter or None, search=search, page=_page(ctx))
    kept = {k: v for k, v in (("status", status_filter), ("q", search)) if v}
    return ctx.render(
        "customer/orders.html",
        result=result,
        status_filter=status_filter,
        search=search,
        statuses=service.ORDER_STATUSES,
        pager_base="/orders?" + (urlencode(kept) + "&" if kept else ""),
        filtered=bool(kept),
    )


@view(roles=CUSTOMER_ROLES, on_loop=True)
def order_detail(ctx: Ctx) -> Response:
    assert ctx.user is not None
    detail = service.get_order(ctx.db, actor=ctx.user, order_number=ctx.request.path_params["order_number"])
    return ctx.render("customer/order.html", detail=detail, repair_link=_repair_link)


def _repair_link(serial: str) -> str:
    return f"/repairs/new?serial={quote(serial, safe='')}"


# -- my products -------------------------------------------------------------------------------------


@view(roles=CUSTOMER_ROLES, on_loop=True)
def products(ctx: Ctx) -> Response:
    assert ctx.user is not None
    mine = service.list_products(ctx.db, actor=ctx.user, page=_page(ctx))
    return ctx.render("customer/products.html", mine=mine, repair_link=_repair_link)


@view(methods=("GET", "POST"), roles=CUSTOMER_ROLES)
def register(ctx: Ctx) -> Response:
    assert ctx.user is not None
    if ctx.request.method == "GET":
        values = dict.fromkeys(REGISTER_FIELDS, "")
        values["serial"] = normalise_serial(_query(ctx, "serial"))[:60]
        return ctx.render("customer/register.html", values=values, errors={}, file_lost=False)
    values = {name: ctx.field(name) for name in REGISTER_FIELDS}
    uploads = ctx.files("proof")
    try:
        registration = service.register_unit(
            ctx.db,
            actor=ctx.user,
            serial=values["serial"],
            purchase_date=values["purchase_date"],
            reseller=values["reseller"],
            proof=uploads[0] if uploads else None,
        )
    except Invalid as exc:
        return ctx.render("customer/register.html", status=422, values=values, errors=exc.errors, file_lost=bool(uploads))
    thanks = N_("Thank you. We check your proof of purchase for %(serial)s and e-mail you when it is done.")
    ctx.flash(ctx._(thanks, serial=registration.serial))
    return ctx.redirect("/products")


# -- the public warranty check -----------------------------------------------------------------------


@view()
def warranty(ctx: Ctx) -> Response:
    raw = _query(ctx, "serial")[:100]
    if not normalise_serial(raw):
        return ctx.render("customer/warranty.html", serial=raw, checked=False, result=None, repair_link=_repair_link)
    with ctx.committed() as db:  # the lookup counter must be written, though this is a GET
        result = service.check_warranty(db, raw, ctx.ip)
    return ctx.render("customer/warranty.html", serial=normalise_serial(raw)[:60], checked=True, result=result, repair_link=_repair_link)


# -- staff: unit registrations -------------------------------------------------------------------------


@view(roles=STAFF_ROLES)
def staff_registrations(ctx: Ctx) -> Response:
    assert ctx.user is not None
    raw = _query(ctx, "status") or "all"
    known = {s.value for s in RegistrationStatus}
    status_filter = raw if raw in known else "all"
    result = service.list_registrations(
        ctx.db, actor=ctx.user, status=RegistrationStatus(status_filter) if status_filter in known else None, page=_page(ctx)
    )
    return ctx.render(
        "staff/registrations.html",
        result=result,
        status_filter=status_filter,
        statuses=list(RegistrationStatus),
        pager_base=f"/staff/registrations?status={status_filter}&",
    )


@view(methods=("GET", "POST"), roles=STAFF_ROLES)
def staff_registration(ctx: Ctx) -> Response:
    assert ctx.user is not None
    registration_id = int(ctx.request.path_params["registration_id"])
    detail = service.get_registration(ctx.db, actor=ctx.user, registration_id=registration_id)

    def page(status: int = 200, errors: dict[str, str] | None = None, note: str = "") -> Response:
        return ctx.render("staff/registration.html", status=status, detail=detail, errors=errors or {}, note=note)

    if ctx.request.method == "GET":
        return page()
    decision, note = ctx.field("decision"), ctx.field("note")
    if decision not in ("confirm", "reject"):
        return page(422, {"decision": N_("Choose confirm or reject.")}, note)
    try:
        service.decide_registration(
            ctx.db, ctx.state.mailing, actor=ctx.user, registration_id=registration_id, confirm=decision == "confirm", note=note
        )
    except Invalid as exc:
        return page(422, exc.errors, note)
    except Conflict as exc:
        return page(409, {"decision": exc.message}, note)
    ctx.flash(
        ctx._("Registration confirmed. The customer has been told by e-mail.")
        if decision == "confirm"
        else ctx._("Registration rejected. The customer has been told by e-mail.")
    )
    return ctx.redirect("/staff/registrations")


@view(roles=STAFF_ROLES)
def staff_registration_proof(ctx: Ctx) -> Response:
    assert ctx.user is not None
    proof = service.registration_proof(ctx.db, actor=ctx.user, registration_id=int(ctx.request.path_params["registration_id"]))
    ascii_name = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._-") else "_" for ch in proof.filename) or "proof"
    return Response(
        proof.data,
        media_type=proof.content_type,
        headers={
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(proof.filename, safe='')}",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


routes: list[BaseRoute] = [
    Route("/orders", orders, name="customer_orders"),
    Route("/orders/{order_number}", order_detail, name="customer_order"),
    Route("/products", products, name="customer_products"),
    Route("/products/register", register, methods=["GET", "POST"], name="customer_register_unit"),
    Route("/warranty", warranty, name="warranty_check"),
    Route("/staff/registrations", staff_registrations, name="staff_registrations"),
    Route("/staff/registrations/{registration_id:int}", staff_registration, methods=["GET", "POST"], name="staff_registration"),
    Route("/staff/registrations/{registration_id:int}/proof", staff_registration_proof, name="staff_registration_proof"),
]
