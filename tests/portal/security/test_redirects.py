"""Open redirects: `next=` only ever leads to a local path, after sign-in and elsewhere."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import pytest

from portal.web import safe_next
from tests.conftest import PASSWORD
from tests.portal.security import matrix
from tests.portal.security.conftest import World
from tests.portal.security.helpers import totp_code

HOSTILE = [
    "//evil.example",
    "//evil.example/account",
    "/\\evil.example",
    "\\\\evil.example",
    "/\\/evil.example",
    "///evil.example",
    "https:evil.example",
    "https://evil.example",
    "http://evil.example",
    "HTTP://evil.example",
    "javascript:alert(1)",
    "JavaScript:alert(document.cookie)",
    "data:text/html,<script>alert(1)</script>",
    " //evil.example",
    "/\t/evil.example",
    "/\r\n//evil.example",
    "evil.example",
    "",
]
LOCAL = ["/", "/account/profile", "/kb?q=reset%20password", "/staff/applications?status=submitted&page=2", "/partner#reports"]


@pytest.mark.parametrize("target", HOSTILE, ids=repr)
def test_safe_next_refuses_anything_but_a_local_path(target: str) -> None:
    assert safe_next(target) == "/"
    assert safe_next(target, "") == ""


@pytest.mark.parametrize("target", LOCAL)
def test_safe_next_keeps_local_paths(target: str) -> None:
    assert safe_next(target) == target


def _is_local(location: str) -> bool:
    parts = urlsplit(location)
    return not parts.scheme and not parts.netloc and location.startswith("/") and not location.startswith(("//", "/\\"))


@pytest.mark.parametrize("target", ["//evil", "/\\evil", "https:evil", "javascript:alert(1)", "http://evil.example"])
def test_after_sign_in_a_hostile_next_lands_on_a_local_page(world: World, target: str) -> None:
    email = world.email(matrix.CUSTOMER_A)
    as_form = world.make_client()
    response = as_form.submit("/login", {"email": email, "password": PASSWORD, "next": target})
    assert response.headers["location"] == "/account"
    in_query = world.make_client()
    response = in_query.post(
        f"/login?next={quote(target, safe='')}",
        data={"csrf_token": in_query.csrf("/login"), "email": email, "password": PASSWORD},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/account"
    # Already signed in: the login page sends on at once, also never off-site.
    response = in_query.get(f"/login?next={quote(target, safe='')}", follow_redirects=False)
    assert _is_local(response.headers["location"])


def test_a_hostile_next_is_dropped_across_the_second_factor_step(world: World) -> None:
    email = world.email(matrix.PARTNER_X)
    web = world.make_client()
    response = web.submit("/login", {"email": email, "password": PASSWORD, "next": "//evil.example"})
    assert response.headers["location"] == "/login/2fa"
    response = web.submit("/login/2fa", {"code": totp_code(world.state, email)})
    assert response.headers["location"] == "/partner"


def test_a_local_next_is_honoured(world: World) -> None:
    web = world.make_client()
    response = web.submit("/login", {"email": world.email(matrix.CUSTOMER_A), "password": PASSWORD, "next": "/account/profile"})
    assert response.headers["location"] == "/account/profile"


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\\evil.example"])
def test_the_language_switch_never_redirects_off_site(world: World, target: str) -> None:
    web = world.make_client()
    response = web.submit("/language", {"locale": "zh", "next": target})
    assert response.headers["location"] == "/"
