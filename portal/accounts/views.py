"""Account pages: register, verify, sign in/out, passwords, profile, 2FA, colleagues."""

from __future__ import annotations

from starlette.responses import Response
from starlette.routing import Route

from portal.accounts import service
from portal.accounts.models import Role
from portal.errors import Conflict, Invalid
from portal.security import sessions, totp
from portal.web import ANY_ROLE, Ctx, safe_next, view

ADMIN_ROLES = frozenset({Role.CUSTOMER_ADMIN, Role.PARTNER_ADMIN, Role.ADMIN})


def _home_for(ctx: Ctx) -> str:
    user = ctx.user
    if user is None:
        return "/"
    if user.role.is_staff:
        return "/staff"
    if user.role.is_partner:
        return "/partner"
    return "/account"


# -- registration and verification ----------------------------------------------------------
@view(methods=("GET", "POST"))
def register(ctx: Ctx) -> Response:
    if ctx.user:
        return ctx.redirect(_home_for(ctx))
    values = {"email": ctx.field("email"), "name": ctx.field("name")}
    if ctx.request.method == "POST":
        try:
            service.register_customer(
                ctx.db,
                ctx.state.mailing,
                email=values["email"],
                password=ctx.raw_field("password"),
                password_confirm=ctx.raw_field("password_confirm"),
                name=values["name"],
                locale=ctx.locale,
                ip=ctx.ip,
            )
        except Invalid as exc:
            return ctx.render("accounts/register.html", status=422, values=values, errors=exc.errors)
        return ctx.render("accounts/check_email.html", email=values["email"])
    return ctx.render("accounts/register.html", values=values, errors={})


@view(methods=("GET", "POST"))
def verify_email(ctx: Ctx) -> Response:
    """GET shows a confirm button (mail scanners prefetch links); POST verifies."""
    token = ctx.request.query_params.get("token", "") or ctx.field("token")
    if ctx.request.method == "GET":
        return ctx.render("accounts/verify_email.html", token=token)
    try:
        service.verify_email(ctx.db, ctx.state.signer, token=token)
    except Invalid:
        return ctx.render("accounts/link_invalid.html", status=400, resend=True)
    ctx.flash(ctx._("Your e-mail address is verified. You can sign in now."))
    return ctx.redirect("/login")


@view(methods=("GET", "POST"))
def resend_verification(ctx: Ctx) -> Response:
    if ctx.request.method == "POST":
        service.resend_verification(ctx.db, ctx.state.mailing, email=ctx.field("email"), ip=ctx.ip)
        return ctx.render("accounts/check_email.html", email=ctx.field("email"))
    return ctx.render("accounts/resend.html", values={"email": ""}, errors={})


# -- signing in and out -------------------------------------------------------------------------
@view(methods=("GET", "POST"))
def login(ctx: Ctx) -> Response:
    next_url = safe_next(ctx.request.query_params.get("next") or ctx.field("next"), "")
    if ctx.user:
        return ctx.redirect(next_url or _home_for(ctx))
    values = {"email": ctx.field("email"), "next": next_url}
    if ctx.request.method == "GET":
        return ctx.render("accounts/login.html", values=values, errors={})
    try:
        user = service.authenticate(ctx.db, email=values["email"], password=ctx.raw_field("password"), ip=ctx.ip)
    except service.EmailNotVerified as exc:
        return ctx.render("accounts/login.html", status=400, values=values, errors=exc.errors, unverified=True)
    except Invalid as exc:
        return ctx.render("accounts/login.html", status=400, values=values, errors=exc.errors)
    if service.second_factor_needed(user):
        ctx.begin_session(user=None, pending_user=user, data={"next": next_url})
        return ctx.redirect("/login/2fa")
    ctx.begin_session(user=user)
    service.record_login(ctx.db, user=user, ip=ctx.ip)
    return ctx.redirect(next_url or _home_for(ctx))


@view(methods=("GET", "POST"), allow_pending_mfa=True)
def login_second_factor(ctx: Ctx) -> Response:
    user = ctx.pending_user
    if user is None:
        return ctx.redirect("/login")
    if ctx.request.method == "GET":
        return ctx.render("accounts/login_2fa.html", errors={})
    try:
        service.verify_second_factor(ctx.db, user=user, code=ctx.field("code"), ip=ctx.ip)
    except Invalid as exc:
        return ctx.render("accounts/login_2fa.html", status=400, errors=exc.errors)
    next_url = safe_next(str(ctx.session_data().get("next") or ""), "")
    first_factor = str(ctx.session_data().get("login_method") or "password")
    ctx.begin_session(user=user)
    service.record_login(ctx.db, user=user, ip=ctx.ip, method=f"{first_factor}+totp")
    return ctx.redirect(next_url or _home_for(ctx))


@view(methods=("POST",))
def logout(ctx: Ctx) -> Response:
    if ctx.user:
        service.record_logout(ctx.db, user=ctx.user, ip=ctx.ip)
    ctx.end_session()
    ctx.flash(ctx._("You are signed out."))
    return ctx.redirect("/")


# -- passwords ----------------------------------------------------------------------------------
@view(methods=("GET", "POST"))
def forgot_password(ctx: Ctx) -> Response:
    if ctx.request.method == "POST":
        service.request_password_reset(ctx.db, ctx.state.mailing, email=ctx.field("email"), ip=ctx.ip)
        return ctx.render("accounts/reset_sent.html", email=ctx.field("email"))
    return ctx.render("accounts/forgot.html", values={"email": ""}, errors={})


@view(methods=("GET", "POST"))
def reset_password(ctx: Ctx) -> Response:
    token = ctx.request.query_params.get("token", "") or ctx.field("token")
    try:
        service.user_for_reset_token(ctx.db, ctx.state.signer, token=token)
    except Invalid:
        return ctx.render("accounts/link_invalid.html", status=400, resend=False)
    if ctx.request.method == "GET":
        return ctx.render("accounts/reset.html", token=token, errors={})
    try:
        service.reset_password(
            ctx.db,
            ctx.state.signer,
            token=token,
            password=ctx.raw_field("password"),
            password_confirm=ctx.raw_field("password_confirm"),
            ip=ctx.ip,
        )
    except Invalid as exc:
        return ctx.render("accounts/reset.html", status=422, token=token, errors=exc.errors)
    ctx.end_session()
    ctx.flash(ctx._("Your password has been changed. Sign in with the new one."))
    return ctx.redirect("/login")


# -- the signed-in account -------------------------------------------------------------------------
@view(roles=ANY_ROLE, on_loop=True)
def account_home(ctx: Ctx) -> Response:
    assert ctx.user is not None
    return ctx.render("accounts/home.html", account=ctx.user.account)


@view(methods=("GET", "POST"), roles=ANY_ROLE)
def profile(ctx: Ctx) -> Response:
    user = ctx.user
    assert user is not None
    values = {"name": ctx.field("name", user.name), "locale": ctx.field("locale", user.locale)}
    if ctx.request.method == "POST":
        try:
            service.update_profile(ctx.db, actor=user, name=values["name"], locale=values["locale"])
        except Invalid as exc:
            return ctx.render("accounts/profile.html", status=422, values=values, errors=exc.errors)
        ctx.t = ctx.state.catalogues.get(user.locale)
        ctx.flash(ctx._("Your profile has been saved."))
        return ctx.redirect("/account/profile")
    return ctx.render("accounts/profile.html", values=values, errors={})


@view(methods=("GET", "POST"), roles=ANY_ROLE, allow_pending_mfa=True)
def change_password(ctx: Ctx) -> Response:
    user = ctx.user
    assert user is not None
    if ctx.request.method == "POST":
        try:
            service.change_password(
                ctx.db,
                actor=user,
                current=ctx.raw_field("current_password"),
                password=ctx.raw_field("password"),
                password_confirm=ctx.raw_field("password_confirm"),
                ip=ctx.ip,
            )
        except Invalid as exc:
            return ctx.render("accounts/password.html", status=422, errors=exc.errors)
        # Every session ended with the change; this browser continues in a fresh one.
        ctx.session_row = None
        ctx.begin_session(user=user)
        ctx.flash(ctx._("Your password has been changed. Other devices have been signed out."))
        return ctx.redirect("/account")
    return ctx.render("accounts/password.html", errors={})


@view(methods=("GET", "POST"), roles=ANY_ROLE, allow_pending_mfa=True)
def two_factor(ctx: Ctx) -> Response:
    """Set up (or, where optional, turn off) TOTP two-factor sign-in."""
    user = ctx.user
    assert user is not None
    if user.totp_enabled:
        if ctx.request.method == "POST" and ctx.field("action") == "disable":
            try:
                service.disable_totp(ctx.db, actor=user, password=ctx.raw_field("password"))
            except Invalid as exc:
                return ctx.render("accounts/two_factor_on.html", status=422, errors=exc.errors)
            ctx.flash(ctx._("Two-factor sign-in is off."))
            return ctx.redirect("/account/2fa")
        return ctx.render("accounts/two_factor_on.html", errors={})
    secret = str(ctx.session_data().get("totp_secret") or "")
    if not secret:
        secret = totp.new_secret()
        ctx.update_session_data(totp_secret=secret)
    uri = totp.provisioning_uri(secret, user.email)
    if ctx.request.method == "POST":
        try:
            codes = service.confirm_totp(ctx.db, actor=user, secret=secret, code=ctx.field("code"))
        except Invalid as exc:
            return ctx.render("accounts/two_factor_setup.html", status=422, secret=secret, qr=totp.qr_svg(uri), errors=exc.errors)
        ctx.update_session_data(totp_secret=None)
        return ctx.render("accounts/recovery_codes.html", codes=codes, next_url=_home_for(ctx))
    return ctx.render("accounts/two_factor_setup.html", secret=secret, qr=totp.qr_svg(uri), errors={})


# -- colleagues ---------------------------------------------------------------------------------
@view(methods=("GET", "POST"), roles=ADMIN_ROLES)
def colleagues(ctx: Ctx) -> Response:
    user = ctx.user
    assert user is not None
    roles = service._INVITER_ROLES[user.role]
    values = {"email": ctx.field("email"), "role": ctx.field("role", roles[0].value)}
    errors: dict[str, str] = {}
    status = 200
    if ctx.request.method == "POST":
        try:
            role = Role(values["role"]) if values["role"] in {r.value for r in roles} else None
            if role is None:
                raise Invalid("role", "Choose a role from the list.")
            service.invite(ctx.db, ctx.state.mailing, actor=user, email=values["email"], role=role, account_id=user.account_id)
        except Invalid as exc:
            errors, status = exc.errors, 422
        except Conflict:
            errors, status = {"email": "This person is already a member."}, 409
        else:
            ctx.flash(ctx._("Invitation sent to %(email)s.", email=values["email"]))
            return ctx.redirect("/account/colleagues")
    return ctx.render(
        "accounts/colleagues.html",
        status=status,
        members=service.list_colleagues(ctx.db, actor=user),
        invitations=service.pending_invitations(ctx.db, actor=user),
        roles=roles,
        values=values,
        errors=errors,
    )


@view(methods=("POST",), roles=ADMIN_ROLES)
def remove_colleague(ctx: Ctx) -> Response:
    assert ctx.user is not None
    target = service.remove_colleague(ctx.db, actor=ctx.user, user_id=int(ctx.request.path_params["user_id"]))
    ctx.flash(ctx._("%(email)s no longer has access to this account.", email=target.email))
    return ctx.redirect("/account/colleagues")


@view(methods=("POST",), roles=ADMIN_ROLES)
def revoke_invitation(ctx: Ctx) -> Response:
    assert ctx.user is not None
    service.revoke_invitation(ctx.db, actor=ctx.user, invitation_id=int(ctx.request.path_params["invitation_id"]))
    ctx.flash(ctx._("The invitation was withdrawn."))
    return ctx.redirect("/account/colleagues")


@view(methods=("GET", "POST"))
def accept_invitation(ctx: Ctx) -> Response:
    token = ctx.request.query_params.get("token", "") or ctx.field("token")
    try:
        invitation = service.invitation_for_token(ctx.db, token=token)
    except Invalid:
        return ctx.render("accounts/link_invalid.html", status=400, resend=False)
    existing = service.find_by_email(ctx.db, invitation.email)
    values = {"name": ctx.field("name")}
    if ctx.request.method == "POST":
        try:
            user = service.accept_invitation(
                ctx.db,
                token=token,
                name=values["name"],
                password=ctx.raw_field("password"),
                password_confirm=ctx.raw_field("password_confirm"),
                signed_in=ctx.user,
                ip=ctx.ip,
            )
        except Invalid as exc:
            return ctx.render(
                "accounts/accept.html", status=422, invitation=invitation, existing=existing, token=token, values=values, errors=exc.errors
            )
        ctx.flash(ctx._("Welcome! You have joined the account."))
        if ctx.user is not None and ctx.user.id == user.id:
            return ctx.redirect("/account")
        return ctx.redirect("/login")
    return ctx.render("accounts/accept.html", invitation=invitation, existing=existing, token=token, values=values, errors={})


routes = [
    Route("/register", register, methods=["GET", "POST"], name="register"),
    Route("/verify-email", verify_email, methods=["GET", "POST"], name="verify_email"),
    Route("/verify-email/resend", resend_verification, methods=["GET", "POST"], name="resend_verification"),
    Route("/login", login, methods=["GET", "POST"], name="login"),
    Route("/login/2fa", login_second_factor, methods=["GET", "POST"], name="login_2fa"),
    Route("/logout", logout, methods=["POST"], name="logout"),
    Route("/password/forgot", forgot_password, methods=["GET", "POST"], name="forgot_password"),
    Route("/password/reset", reset_password, methods=["GET", "POST"], name="reset_password"),
    Route("/account", account_home, name="account"),
    Route("/account/profile", profile, methods=["GET", "POST"], name="profile"),
    Route("/account/password", change_password, methods=["GET", "POST"], name="change_password"),
    Route("/account/2fa", two_factor, methods=["GET", "POST"], name="two_factor"),
    Route("/account/colleagues", colleagues, methods=["GET", "POST"], name="colleagues"),
    Route("/account/colleagues/{user_id:int}/remove", remove_colleague, methods=["POST"], name="remove_colleague"),
    Route("/account/invitations/{invitation_id:int}/revoke", revoke_invitation, methods=["POST"], name="revoke_invitation"),
    Route("/invitations/accept", accept_invitation, methods=["GET", "POST"], name="accept_invitation"),
]

__all__ = ["routes", "sessions"]
