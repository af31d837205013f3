"""Tenant isolation and roles: every route x method x role (x object of every tenant).

The table is tests/portal/security/matrix.py. A route without an entry fails here, so a new
route cannot ship without someone deciding who may use it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from portal.accounts.models import User
from portal.app import routes as portal_routes
from tests.portal.security import matrix
from tests.portal.security.conftest import ACCOUNTS, MEMBERS, USERS, World
from tests.portal.security.helpers import is_unsafe, outcome, route_methods, snapshot

DENIED = frozenset({"login", "404"})


def _template(path: str) -> str:
    """Path converters dropped, as the matrix spells paths: /x/{id:int} -> /x/{id}."""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def app_route_methods(routes: list[Any]) -> list[tuple[str, str]]:
    return [(_template(path), method) for path, method in route_methods(routes)]


ROUTES = app_route_methods(portal_routes())


def test_every_route_of_the_app_has_a_matrix_entry(app: Any) -> None:
    missing = [f"{method} {path}" for path, method in app_route_methods(app.routes) if (path, method) not in matrix.MATRIX]
    assert not missing, f"routes without an entry in tests/portal/security/matrix.py (decide who may use them): {missing}"


def test_the_matrix_lists_no_route_the_app_does_not_have(app: Any) -> None:
    stale = set(matrix.MATRIX) - set(app_route_methods(app.routes)) - matrix.PENDING_ROUTES
    assert not stale, f"matrix entries for routes that do not exist: {sorted(stale)}"


def test_every_matrix_case_names_an_outcome_for_every_role() -> None:
    for key, cases in matrix.MATRIX.items():
        assert cases, key
        for case in cases:
            assert set(case.expect) == set(matrix.ROLES), (key, case.label)
            assert set(case.expect.values()) <= matrix.OUTCOMES, (key, case.label, case.expect)
            assert "403" not in case.expect.values(), "records of others are 404, never 403"


@pytest.mark.parametrize(("path", "method"), ROUTES, ids=[f"{m} {p}" for p, m in ROUTES])
def test_each_role_gets_the_outcome_of_the_matrix_and_denials_change_nothing(world: World, path: str, method: str) -> None:
    """Each case (object kind) of the route, for each role. Cases of one route share a world:
    the records a case may change ("ok") are its own."""
    cases = matrix.MATRIX.get((path, method))
    assert cases is not None, f"{method} {path} has no entry in tests/portal/security/matrix.py"
    failures = []
    for role in matrix.ROLES:
        world.client(role)
    before = snapshot(world.state)
    for case in cases:
        for role in matrix.ROLES:
            client = world.client(role)
            url = world.url(path, case, role)
            if is_unsafe(method):
                response = client.request(method, url, data={"csrf_token": world.token(role), **case.form}, follow_redirects=False)
            else:
                response = client.request(method, url, follow_redirects=False)
            got, expected = outcome(response), case.expect[role]
            where = f"[{case.label}] {role}" if case.label else role
            if got != expected:
                failures.append(f"{where}: expected {expected}, got {got} ({response.status_code} {response.headers.get('location', '')})")
            after = snapshot(world.state)
            if got == expected and got in DENIED:
                changed = [name for name in before if before[name] != after[name]]
                if changed:
                    failures.append(f"{where}: denied ({got}) but changed {changed}")
            before = after
    assert not failures, f"{method} {path}:\n" + "\n".join(failures)


def test_a_foreign_record_answers_exactly_like_a_missing_one(world: World) -> None:
    """Not-yours and does-not-exist are indistinguishable: same status, same page."""
    client = world.client(matrix.COLLEAGUE_A)
    pages = []
    for target in (world.ids["user:C-B"], 987654):
        response = client.post(
            f"/account/colleagues/{target}/remove", data={"csrf_token": world.token(matrix.COLLEAGUE_A)}, follow_redirects=False
        )
        pages.append((response.status_code, re.sub(r'(value|nonce)="[^"]*"', "", response.text)))
    assert pages[0] == pages[1]
    assert pages[0][0] == 404


def test_pages_never_show_another_tenants_records(world: World) -> None:
    """Every page a tenant user can open is free of the other tenants' names and people."""
    markers = {tenant: [name, MEMBERS[tenant][0]] for tenant, (_kind, name) in ACCOUNTS.items()}
    for email, _role, account, _mfa in USERS.values():
        if account is not None:
            markers[account].append(email)
    tenant_roles = {role: account for role, (_e, _r, account, _m) in USERS.items() if role not in (matrix.STAFF, matrix.ADMIN)}
    get_pages = [(path, cases) for (path, method), cases in matrix.MATRIX.items() if method == "GET"]
    for role, own in tenant_roles.items():
        client = world.client(role)
        foreign = [m for tenant in ACCOUNTS if tenant != own for m in markers[tenant]]
        for path, cases in get_pages:
            for case in cases:
                if case.expect[role] != "ok":
                    continue
                page = client.get(world.url(path, case, role)).text
                leaked = [m for m in foreign if m in page]
                assert not leaked, f"{role} sees {leaked} on {path}"


def test_roles_that_require_two_factor_must_set_it_up_before_using_their_pages(world: World) -> None:
    """Staff, admins and partner admins without TOTP reach only the 2FA setup (and sign-out)."""
    with world.state.db.unit_of_work() as db:
        for role in (matrix.ADMIN, matrix.PARTNER_X):
            db.get(User, world.user_id(role)).totp_enabled = False  # type: ignore[union-attr]
    admin, partner = world.client(matrix.ADMIN), world.client(matrix.PARTNER_X)
    for path in ("/staff", "/staff/applications", f"/staff/applications/{world.ids['application']}", "/account/colleagues", "/account"):
        assert outcome(admin.get(path, follow_redirects=False)) == "2fa", path
    for path in ("/partner", "/account/colleagues", "/account/profile"):
        assert outcome(partner.get(path, follow_redirects=False)) == "2fa", path
    before = snapshot(world.state)
    target = world.user_id(matrix.CUSTOMER_B)
    response = admin.post(
        f"/staff/users/{target}/active", data={"csrf_token": world.token(matrix.ADMIN), "active": "0"}, follow_redirects=False
    )
    assert outcome(response) == "2fa"
    assert snapshot(world.state) == before
    assert admin.get("/account/2fa").status_code == 200
    assert partner.get("/account/2fa").status_code == 200


def test_every_role_of_the_world_signs_in_through_the_forms(world: World) -> None:
    """The matrix starts sessions directly; the same users get the same access through the
    real sign-in (password, and the TOTP step where the role requires it)."""
    homes = {matrix.STAFF: "/staff", matrix.ADMIN: "/staff", matrix.PARTNER_X: "/partner", matrix.PARTNER_Y: "/partner"}
    for role in matrix.SIGNED_IN_ROLES:
        client = world.client(role, real_sign_in=True)
        assert client.get(homes.get(role, "/account"), follow_redirects=False).status_code == 200, role
