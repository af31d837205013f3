"""Security headers and cookie flags on every response: each route, 404, 405 and 500 pages."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.routing import Route

from portal.app import create_app
from portal.settings import Settings
from tests.conftest import PASSWORD, WebClient
from tests.portal.security import matrix
from tests.portal.security.conftest import World
from tests.portal.security.test_authorization_matrix import ROUTES

CSP_MUST = ("object-src 'none'", "base-uri 'none'", "frame-ancestors 'none'", "default-src 'self'")


def _nonce(response: Any) -> str:
    csp = response.headers.get("content-security-policy", "")
    match = re.search(r"script-src [^;]*'nonce-([A-Za-z0-9_\-]+)'", csp)
    assert match, f"no script nonce in CSP: {csp!r}"
    return match.group(1)


def assert_security_headers(response: Any, *, https: bool = False) -> None:
    where = f"{response.request.method} {response.request.url.path} -> {response.status_code}"
    csp = response.headers.get("content-security-policy", "")
    for directive in CSP_MUST:
        assert directive in csp, f"{where}: CSP lacks {directive}"
    assert "unsafe-inline" not in csp, where
    assert "unsafe-eval" not in csp, where
    nonce = _nonce(response)
    if response.headers.get("content-type", "").startswith("text/html"):
        scripts = re.findall(r"<script\b[^>]*>", response.text)
        assert all(f'nonce="{nonce}"' in tag for tag in scripts), f"{where}: a script without this response's nonce"
    assert response.headers.get("x-content-type-options") == "nosniff", where
    assert response.headers.get("referrer-policy") in ("strict-origin-when-cross-origin", "same-origin", "no-referrer"), where
    if https:
        assert "max-age=" in response.headers.get("strict-transport-security", ""), f"{where}: no HSTS"
    else:
        assert "strict-transport-security" not in response.headers, f"{where}: HSTS over plain HTTP"
    for cookie in response.headers.get_list("set-cookie"):
        name = cookie.split("=", 1)[0]
        flags = {part.strip().lower() for part in cookie.split(";")[1:]}
        assert "httponly" in flags, f"{where}: cookie {name} is not HttpOnly"
        assert "samesite=lax" in flags, f"{where}: cookie {name} is not SameSite=Lax"
        assert ("secure" in flags) == https, f"{where}: cookie {name} Secure={'secure' in flags} over {'https' if https else 'http'}"


def _every_route(world: World) -> Iterator[Any]:
    """Each route and method (params filled), as the guest and as a role the route serves; unsafe methods without a token (the 403 page)."""
    for path, method in ROUTES:
        for case in matrix.MATRIX[(path, method)]:
            roles = [matrix.GUEST, *[r for r in matrix.SIGNED_IN_ROLES if case.expect[r] == "ok"][:1]]
            for role in roles:
                client = world.client(role)
                url = world.url(path, case, role)
                if method == "GET":
                    yield client.get(url, follow_redirects=False)
                else:  # an unsafe method without a token: the 403 page
                    yield client.request(method, url, data=case.form, follow_redirects=False)


def test_every_route_answers_with_the_security_headers(world: World) -> None:
    statuses = set()
    for response in _every_route(world):
        assert_security_headers(response)
        statuses.add(response.status_code)
    assert {200, 303, 400, 403, 404} <= statuses


def test_error_pages_have_the_security_headers(client: WebClient) -> None:
    not_found = client.get("/no/such/page")
    assert not_found.status_code == 404
    assert_security_headers(not_found)
    not_allowed = client.delete("/login")
    assert not_allowed.status_code == 405
    assert_security_headers(not_allowed)
    assert_security_headers(client.get("/static/no-such-file.css"))


def test_the_500_page_has_the_security_headers_and_no_details(settings: Settings, state: Any) -> None:
    app = create_app(settings, background=False)

    def boom(request: Any) -> Any:
        raise RuntimeError("secret internals: /srv/portal, password=hunter2")

    app.router.routes.append(Route("/boom", boom))
    with WebClient(app, raise_server_exceptions=False) as web:
        response = web.get("/boom")
    app.state.portal.db.dispose()
    assert response.status_code == 500
    assert "hunter2" not in response.text
    assert "Traceback" not in response.text
    assert_security_headers(response)


def test_the_nonce_differs_on_every_response(client: WebClient) -> None:
    nonces = {_nonce(client.get("/")) for _ in range(5)}
    nonces.add(_nonce(client.get("/no/such/page")))
    assert len(nonces) == 6


def test_cookies_of_a_whole_journey_are_httponly_and_samesite(world: World) -> None:
    """Sign-in, flash message, language choice, sign-out: every cookie set on the way."""
    client = world.make_client()
    seen = []
    for response in (
        client.get("/login"),
        client.login(world.email(matrix.CUSTOMER_A)),
        client.submit("/language", {"locale": "zh", "next": "/account"}),
        client.get("/account"),
        client.submit("/logout"),
        client.get("/"),
    ):
        assert_security_headers(response)
        seen += [c.split("=", 1)[0] for c in response.headers.get_list("set-cookie")]
    assert {"portal_csrf", "portal_session", "portal_flash", "portal_lang"} <= set(seen)


@pytest.fixture
def https_client(settings: Settings, state: Any) -> Iterator[WebClient]:
    app = create_app(dataclasses.replace(settings, base_url="https://portal.example"), background=False)
    with WebClient(app, base_url="https://portal.example") as web:
        yield web
    app.state.portal.db.dispose()


def test_behind_https_cookies_are_secure_and_hsts_is_sent(https_client: WebClient, make_user: Any) -> None:
    make_user("https@example.com")
    responses = [https_client.get("/"), https_client.get("/no/such/page")]
    token = re.search(r'name="csrf_token" value="([^"]+)"', responses[0].text)
    assert token
    login = https_client.post("/login", data={"csrf_token": token.group(1), "email": "https@example.com", "password": PASSWORD})
    responses += [*login.history, login]
    for response in responses:
        assert_security_headers(response, https=True)
    assert any(c.startswith("portal_session=") for r in responses for c in r.headers.get_list("set-cookie"))
