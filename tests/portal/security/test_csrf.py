"""CSRF: on by default for every unsafe method; GET never changes anything.

Walks the route table, so a new form endpoint is covered the day it is added.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from portal.security.models import WebSession
from tests.portal.security import matrix
from tests.portal.security.conftest import World
from tests.portal.security.helpers import is_unsafe, outcome, route_methods, snapshot
from tests.portal.security.test_authorization_matrix import ROUTES, _template

# Unsafe endpoints allowed to skip the CSRF check: only ones authenticated by a signature or
# a bearer token (the Stripe webhook, /api/v1), each listed here by hand. The partner API's are
# plain endpoints that read no cookie (tests/portal/partner/test_api.py proves their own checks,
# and that a signed-in browser session gets 401 there).
CSRF_EXEMPT: frozenset[tuple[str, str]] = frozenset({("/oauth/token", "POST"), ("/api/v1/reports", "POST")})

PENDING = "signed in with a password, code owed"
UNSAFE_ROUTES = [(path, method) for path, method in ROUTES if is_unsafe(method) and (path, method) not in CSRF_EXEMPT]
GET_ROUTES = [(path, method) for path, method in ROUTES if method == "GET"]


def _specs(app: Any) -> list[tuple[str, str, Any]]:
    found = []
    for route in app.routes:
        for path, method in route_methods([route]):
            found.append((_template(path), method, getattr(route.endpoint, "portal_view", None)))
    return found


def _actors(path: str, method: str) -> list[tuple[matrix.Case, str]]:
    """Who the matrix lets through (a signed-in role, and the guest when allowed): CSRF must stop even them."""
    found: dict[bool, tuple[matrix.Case, str]] = {}
    for case in matrix.MATRIX[(path, method)]:
        for role in matrix.ROLES:
            if case.expect[role] in ("ok", "invalid"):
                found.setdefault(role == matrix.GUEST, (case, role))
    if (path, method) == ("/login/2fa", "POST"):
        # Only someone between password and code uses it: the matrix has nobody like that.
        found[True] = (matrix.Case(expect={PENDING: "invalid"}, form={"code": "000000"}), PENDING)
    assert found, f"nobody may use {method} {path}: nothing to test"
    return list(found.values())


def test_every_unsafe_route_goes_through_the_checked_pipeline(app: Any) -> None:
    """A plain Starlette endpoint would skip the CSRF check: every unsafe route is a @view."""
    unchecked = [
        f"{method} {path}" for path, method, spec in _specs(app) if is_unsafe(method) and spec is None and (path, method) not in CSRF_EXEMPT
    ]
    assert not unchecked


def test_csrf_exemptions_are_exactly_the_allow_list(app: Any) -> None:
    exempt = {(path, method) for path, method, spec in _specs(app) if is_unsafe(method) and (spec is None or not spec.csrf)}
    assert exempt == CSRF_EXEMPT


@pytest.mark.parametrize(("path", "method"), UNSAFE_ROUTES, ids=[f"{m} {p}" for p, m in UNSAFE_ROUTES])
def test_unsafe_request_without_a_valid_token_is_refused_and_changes_nothing(world: World, path: str, method: str) -> None:
    for case, role in _actors(path, method):
        if role == PENDING:
            client = world.make_client()
            assert client.login(world.email(matrix.PARTNER_X)).headers["location"] == "/login/2fa"
            world.clients[PENDING], world.tokens[PENDING] = client, client.csrf("/login/2fa")
        client = world.client(role)
        url = world.url(path, case, role)
        stranger = world.token(matrix.CUSTOMER_B if role != matrix.CUSTOMER_B else matrix.CUSTOMER_A)
        before = snapshot(world.state)
        attempts = {
            "no token": ({**case.form}, {}),
            "empty token": ({**case.form, "csrf_token": ""}, {}),
            "token of another session (form)": ({**case.form, "csrf_token": stranger}, {}),
            "token of another session (header)": ({**case.form}, {"X-CSRF-Token": stranger}),
        }
        for name, (form, headers) in attempts.items():
            response = client.request(method, url, data=form, headers=headers, follow_redirects=False)
            assert response.status_code == 403, f"{role}, {name}: {response.status_code}"
            assert snapshot(world.state) == before, f"{role}, {name}: changed the database"
        # Control: the same request with this browser's own token (in the header) gets through.
        response = client.request(method, url, data=case.form, headers={"X-CSRF-Token": world.token(role)}, follow_redirects=False)
        assert outcome(response) == case.expect[role], role


def test_a_post_from_a_browser_without_the_csrf_cookie_is_refused(world: World) -> None:
    token = world.token(matrix.GUEST)
    fresh = world.make_client()
    response = fresh.post("/login", data={"csrf_token": token, "email": "ann@alpha.example", "password": "x"}, follow_redirects=False)
    assert response.status_code == 403


def test_a_token_from_before_sign_in_is_no_longer_accepted_after_it(world: World) -> None:
    """The token is bound to the session: signing in (a new session) retires the old token."""
    client = world.make_client()
    anonymous_token = client.csrf("/")
    client.login(world.email(matrix.CUSTOMER_A))
    response = client.post("/account/profile", data={"csrf_token": anonymous_token, "name": "Mallory"}, follow_redirects=False)
    assert response.status_code == 403
    assert "Mallory" not in client.get("/account/profile").text


def _business_state(world: World) -> dict[str, list[str]]:
    """Everything but the sessions' scratch data and last-seen time (not business state)."""
    state = snapshot(world.state, skip=("web_session",))
    with world.state.db.engine.connect() as conn:
        rows = conn.execute(select(WebSession.token_hash, WebSession.user_id, WebSession.pending_user_id, WebSession.expires_at))
        state["web_session"] = sorted(repr(tuple(row)) for row in rows)
    return state


# GET routes that write by design, and the tables they may touch (e.g. the rate-limit counters
# of public lookups). Listed by hand; none today.
# Public lookups count attempts per address even on GET (the counter is the protection).
GET_WRITES: dict[str, frozenset[str]] = {"/warranty": frozenset({"rate_limit_bucket"})}


def test_get_requests_never_change_state(world: World) -> None:
    """Every GET route, for every role: rows before equal rows after (counts and content)."""
    for role in matrix.ROLES:
        world.client(role)
    before = _business_state(world)
    for path, _method in GET_ROUTES:
        for case in matrix.MATRIX[(path, "GET")]:
            for role in matrix.ROLES:
                response = world.client(role).get(world.url(path, case, role), follow_redirects=False)
                assert response.status_code < 500, (path, role)
            after = _business_state(world)
            changed = {table for table in before if before[table] != after[table]} - GET_WRITES.get(path, frozenset())
            assert not changed, f"GET {path} {case.label} changed {sorted(changed)}"
            before = after


def test_the_worlds_csrf_tokens_are_the_ones_its_pages_carry(world: World) -> None:
    """The matrix computes tokens instead of fetching pages; they must be the same."""
    for role in (matrix.GUEST, matrix.CUSTOMER_A, matrix.ADMIN):
        assert world.client(role).csrf("/") == world.token(role)
