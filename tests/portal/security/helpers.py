"""Shared helpers of the security suite: outcomes, database snapshots, signing in, the route table."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pyotp
from sqlalchemy import select
from starlette.routing import Mount, Route

from portal.accounts.models import User
from portal.app import AppState
from portal.models import metadata as portal_metadata
from portal.web import UNSAFE_METHODS
from tests.conftest import PASSWORD, WebClient

REDIRECTS = frozenset({301, 302, 303, 307, 308})


def outcome(response: Any) -> str:
    """What a user experiences, in the authorization matrix's words.

    ok       the page answered (2xx) or sent them on to a page other than sign-in (3xx)
    invalid  the page answered that the input is not right (400, 409, 422): the route was reached
    login    sent to /login (sign in first)
    2fa      sent to /account/2fa (set up two-factor first)
    404      "page not found", the same for missing and for not-yours
    other    the status code itself ("403", "405", "429", "500")
    """
    status = response.status_code
    if status in REDIRECTS:
        path = urlsplit(response.headers["location"]).path
        if path == "/login":
            return "login"
        if path == "/account/2fa":
            return "2fa"
        return "ok"
    if 200 <= status < 300:
        return "ok"
    if status in (400, 409, 422):
        return "invalid"
    return str(status)


def snapshot(state: AppState, *, skip: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """Every row of every portal table (as text, sorted): compare two to prove nothing changed.

    The audit log is left out: recording a denial is the one change a denial must make
    (test_audit.py checks those rows)."""
    tables: dict[str, list[str]] = {}
    with state.db.engine.connect() as conn:
        for table in portal_metadata.sorted_tables:
            if table.name in skip or table.name == "audit_event":
                continue
            tables[table.name] = sorted(repr(tuple(row)) for row in conn.execute(select(table)))
    return tables


def totp_code(state: AppState, email: str) -> str:
    """A current code the server has not accepted yet (codes are never accepted twice)."""
    with state.db.unit_of_work(write=False) as db:
        user = db.scalar(select(User).where(User.email == email))
        assert user is not None, email
        assert user.totp_secret, email
        secret, last = user.totp_secret, user.totp_last_step
    totp = pyotp.TOTP(secret)
    now_step = int(time.time() // totp.interval)
    for step in (now_step, now_step + 1):
        if last is None or step > last:
            return str(totp.generate_otp(step))
    raise AssertionError(f"no unused TOTP code left for {email} in this time step")


def sign_in(client: WebClient, state: AppState, email: str, password: str = PASSWORD) -> None:
    """Sign in through the real forms: password, then the TOTP step when the user has one."""
    response = client.login(email, password)
    if response.headers["location"] == "/login/2fa":
        response = client.submit("/login/2fa", {"code": totp_code(state, email)})
        assert response.status_code == 303, response.text[:300]
    assert client.get("/account", follow_redirects=False).status_code == 200


def session_cookie(client: WebClient) -> str | None:
    return client.cookies.get("portal_session")


def strip_volatile(html: str) -> str:
    """A page without what differs on every response: CSRF tokens and CSP nonces."""
    html = re.sub(r'name="csrf_token" value="[^"]*"', 'name="csrf_token" value=""', html)
    return re.sub(r'nonce="[^"]*"', 'nonce=""', html)


def route_methods(routes: list[Any]) -> Iterator[tuple[str, str]]:
    """(path, method) for every route; HEAD is GET's twin and not listed. The only mount
    allowed is /static (a mount anywhere else would hide routes from these tests)."""
    for route in routes:
        if isinstance(route, Mount):
            assert route.path == "/static", f"unexpected mount {route.path}: its routes would escape the security suite"
            continue
        assert isinstance(route, Route), f"unexpected route type {type(route).__name__} at {getattr(route, 'path', '?')}"
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                yield route.path, method


def is_unsafe(method: str) -> bool:
    return method in UNSAFE_METHODS
