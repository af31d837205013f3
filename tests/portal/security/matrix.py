"""The authorization matrix: every route x method x role (x object kind) and what must happen.

A route without an entry here fails the suite (test_authorization_matrix.py). Outcomes (see
helpers.outcome): "ok" the page answered or sent the user on, "invalid" the page answered
that the input is wrong (the route was reached), "login" sent to sign in, "404" not found,
"401" a bearer-token API route refused a request without a token (matrix_api.py).

Object routes are tried with objects of every tenant; `Obj("user:C-B")` names an object
of the test world (conftest.World), a plain string is put into the path as it is. A
record that belongs to someone else is always 404 (never 403) and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

GUEST = "guest"
CUSTOMER_A = "customer_a"  # customer of company account C-A
CUSTOMER_B = "customer_b"  # customer of company account C-B (the other tenant)
COLLEAGUE_A = "colleague_a"  # customer_admin of C-A
CONSUMER = "consumer"  # customer without a company account
PARTNER_X = "partner_x"  # partner_admin of P-X (TOTP on)
PARTNER_Y = "partner_y"  # partner user of P-Y
STAFF = "staff"  # staff (TOTP on)
ADMIN = "admin"  # admin (TOTP on)
ROLES = (GUEST, CUSTOMER_A, CUSTOMER_B, COLLEAGUE_A, CONSUMER, PARTNER_X, PARTNER_Y, STAFF, ADMIN)
SIGNED_IN_ROLES = ROLES[1:]
OUTCOMES = frozenset({"ok", "invalid", "login", "2fa", "404", "401"})  # 401: a bearer-token API route without a token


@dataclass(frozen=True)
class Obj:
    """A record of the test world, resolved to its id (conftest.World.resolve)."""

    name: str


@dataclass(frozen=True)
class Case:
    expect: Mapping[str, str]  # role -> outcome, for every role
    params: Mapping[str, Obj | str] = field(default_factory=dict)
    query: str = ""
    form: Mapping[str, str] = field(default_factory=dict)
    label: str = ""


def outcomes(default: str, **by_role: str) -> dict[str, str]:
    unknown = set(by_role) - set(ROLES)
    assert not unknown, unknown
    return {role: by_role.get(role, default) for role in ROLES}


def only(*roles: str, result: str = "ok") -> dict[str, str]:
    """Reachable by `roles`; every other signed-in user gets 404, a guest is asked to sign in."""
    return outcomes("404", guest="login", **dict.fromkeys(roles, result))


PUBLIC = outcomes("ok")
SIGNED_IN = outcomes("ok", guest="login")
NOBODY = outcomes("404", guest="login")  # e.g. someone else's record, for every role
ACCOUNT_ADMINS = (COLLEAGUE_A, PARTNER_X, ADMIN)  # may manage the members of their own account
STAFF_ROLES = (STAFF, ADMIN)
NOBODY_KNOWN = "nobody@unknown.example"


def _objects(path_param: str, kinds: Mapping[str, dict[str, str]], **extra: str) -> tuple[Case, ...]:
    return tuple(Case(expect=expect, params={path_param: Obj(kind)}, label=kind, form=extra) for kind, expect in kinds.items())


MATRIX: dict[tuple[str, str], tuple[Case, ...]] = {
    # -- operations ---------------------------------------------------------------------------
    ("/healthz", "GET"): (Case(PUBLIC),),
    ("/readyz", "GET"): (Case(PUBLIC),),
    ("/metrics", "GET"): (Case(PUBLIC),),
    # -- public pages ---------------------------------------------------------------------------
    ("/", "GET"): (Case(PUBLIC),),
    ("/language", "POST"): (Case(PUBLIC, form={"locale": "en", "next": "/kb"}),),
    ("/kb", "GET"): (Case(PUBLIC, query="q=warranty"),),
    ("/partner/apply", "GET"): (Case(PUBLIC),),
    ("/partner/apply", "POST"): (Case(outcomes("invalid"), form={"company": ""}),),
    # -- registration, sign-in, passwords (signed-in users are sent to their home page) ----------
    ("/register", "GET"): (Case(PUBLIC),),
    ("/register", "POST"): (Case(outcomes("ok", guest="invalid"), form={"email": "not-an-address"}),),
    ("/verify-email", "GET"): (Case(PUBLIC, query="token=forged"),),
    ("/verify-email", "POST"): (Case(outcomes("invalid"), form={"token": "forged"}),),
    ("/verify-email/resend", "GET"): (Case(PUBLIC),),
    ("/verify-email/resend", "POST"): (Case(PUBLIC, form={"email": NOBODY_KNOWN}),),
    ("/login", "GET"): (Case(PUBLIC),),
    ("/login", "POST"): (Case(outcomes("ok", guest="invalid"), form={"email": NOBODY_KNOWN, "password": "wrong password"}),),
    # Nobody here owes a second factor, so the second step sends everyone to sign in.
    ("/login/2fa", "GET"): (Case(outcomes("login")),),
    ("/login/2fa", "POST"): (Case(outcomes("login"), form={"code": "123456"}),),
    ("/logout", "POST"): (Case(PUBLIC),),
    ("/password/forgot", "GET"): (Case(PUBLIC),),
    ("/password/forgot", "POST"): (Case(PUBLIC, form={"email": NOBODY_KNOWN}),),
    ("/password/reset", "GET"): (Case(outcomes("invalid"), query="token=forged"),),
    ("/password/reset", "POST"): (Case(outcomes("invalid"), form={"token": "forged", "password": "x" * 12, "password_confirm": "x" * 12}),),
    ("/invitations/accept", "GET"): (Case(outcomes("invalid"), query="token=forged"),),
    ("/invitations/accept", "POST"): (Case(outcomes("invalid"), form={"token": "forged"}),),
    # Single sign-on: public; an unknown provider is "not found".
    ("/login/sso/{provider}", "GET"): (Case(outcomes("404"), params={"provider": "no-such-provider"}),),
    ("/login/sso/{provider}/callback", "GET"): (Case(outcomes("404"), params={"provider": "no-such-provider"}, query="code=x&state=y"),),
    # -- the signed-in account ---------------------------------------------------------------------
    ("/account", "GET"): (Case(SIGNED_IN),),
    ("/account/profile", "GET"): (Case(SIGNED_IN),),
    ("/account/profile", "POST"): (Case(SIGNED_IN),),  # no fields: the profile is saved unchanged
    ("/account/password", "GET"): (Case(SIGNED_IN),),
    ("/account/password", "POST"): (Case(outcomes("invalid", guest="login"), form={"current_password": "wrong password"}),),
    ("/account/2fa", "GET"): (Case(SIGNED_IN),),
    # With two-factor on, the page answers (nothing to do without action=disable); off, the code is wrong.
    ("/account/2fa", "POST"): (Case(outcomes("invalid", guest="login", partner_x="ok", staff="ok", admin="ok"), form={"code": "000000"}),),
    # -- colleagues: account admins, each within their own account -----------------------------------
    ("/account/colleagues", "GET"): (Case(only(*ACCOUNT_ADMINS)),),
    ("/account/colleagues", "POST"): (Case(only(*ACCOUNT_ADMINS, result="invalid"), form={"email": "not-an-address"}),),
    ("/account/colleagues/{user_id}/remove", "POST"): _objects(
        "user_id",
        {
            "user:C-A": only(COLLEAGUE_A),
            "user:C-B": NOBODY,
            "user:P-X": only(PARTNER_X),
            "user:P-Y": NOBODY,
            "user:staff": only(ADMIN),
            "self": NOBODY,  # never oneself
            "missing": NOBODY,
        },
    ),
    ("/account/invitations/{invitation_id}/revoke", "POST"): _objects(
        "invitation_id",
        {
            "invitation:C-A": only(COLLEAGUE_A),
            "invitation:C-B": NOBODY,
            "invitation:P-X": only(PARTNER_X),
            "invitation:P-Y": NOBODY,
            "invitation:staff": only(ADMIN),
            "missing": NOBODY,
        },
    ),
    # -- partner extranet -------------------------------------------------------------------------------
    ("/partner", "GET"): (Case(only(PARTNER_X, PARTNER_Y)),),
    # -- staff console -------------------------------------------------------------------------------------
    ("/staff", "GET"): (Case(only(*STAFF_ROLES)),),
    ("/staff/applications", "GET"): (Case(only(*STAFF_ROLES), query="status=submitted&page=1"),),
    ("/staff/applications/{application_id}", "GET"): _objects("application_id", {"application": only(*STAFF_ROLES), "missing": NOBODY}),
    ("/staff/applications/{application_id}", "POST"): _objects(
        "application_id", {"application": only(*STAFF_ROLES, result="invalid"), "missing": NOBODY}, decision="maybe"
    ),
    ("/staff/sync", "GET"): (Case(only(*STAFF_ROLES)),),
    ("/staff/sync/replay", "POST"): (Case(only(*STAFF_ROLES)), Case(only(*STAFF_ROLES), form={"event_id": "999999"}, label="one event")),
    # Only admins (de)activate users; admins are not tenant-bound, but never act on themselves.
    ("/staff/users/{user_id}/active", "POST"): _objects(
        "user_id", {"user:C-B": only(ADMIN), "user:P-Y": only(ADMIN), "self": NOBODY, "missing": NOBODY}, active="1"
    ),
}

# Each domain's entries live beside this file (imported last: they use the helpers above).
from tests.portal.security import (  # noqa: E402
    matrix_api,
    matrix_customer,
    matrix_dashboard,
    matrix_desk,
    matrix_kb,
    matrix_repairs,
    matrix_report_form,
    matrix_reports,
)

for _module in (matrix_customer, matrix_repairs, matrix_desk, matrix_kb, matrix_reports, matrix_dashboard, matrix_api, matrix_report_form):
    _overlap = set(_module.ENTRIES) & set(MATRIX)
    assert not _overlap, _overlap
    MATRIX.update(_module.ENTRIES)

# Routes whose entries may exist before the routes are merged (SSO, developed alongside).
PENDING_ROUTES = frozenset({("/login/sso/{provider}", "GET"), ("/login/sso/{provider}/callback", "GET")})
