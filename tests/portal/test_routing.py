"""The indexed router picks what Starlette's scan picks: the same route with the same path
parameters, the same 405 candidate, the same slash redirect, the same 404, for every route
of the app and for paths near them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from starlette.routing import BaseRoute, Mount, Route, Router
from starlette.types import Receive, Scope, Send

from portal.routing import IndexedRouter, literal_first_segment

SAMPLE = {"int": "7", "str": "RMA-B00001", "path": "css/portal.css", "float": "1.5", "uuid": "6f1c6d2e-8a4e-4d38-9b6b-2f0c9e0f4f11"}
METHODS = ("GET", "HEAD", "POST", "DELETE")


def _sample_path(route: BaseRoute) -> str:
    path = route.path  # type: ignore[attr-defined]
    for name, convertor in route.param_convertors.items():  # type: ignore[attr-defined]
        kind = next(key for key, conv in _convertors().items() if type(conv) is type(convertor))
        path = path.replace("{" + name + ("" if kind == "str" and "{" + name + "}" in path else ":" + kind) + "}", SAMPLE[kind])
    return path + ("/css/portal.css" if isinstance(route, Mount) else "")


def _convertors() -> dict[str, Any]:
    from starlette.convertors import CONVERTOR_TYPES

    return CONVERTOR_TYPES


def _paths(routes: list[BaseRoute]) -> list[str]:
    paths = {"/", "", "/nope", "/account/nope", "/static", "/static/", "/repairs/", "/orders/x/y", "//", "/account//x"}
    for route in routes:
        path = _sample_path(route)
        paths |= {path, path + "/", path.rstrip("/") or "/", path + "/extra", path.upper()}
    return sorted(paths)


async def _outcome(router: Router, path: str, method: str) -> tuple[Any, ...]:
    seen: list[tuple[Any, ...]] = []
    scope: Scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "scheme": "http",
        "server": ("testserver", 80),
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            seen.append(("response", message["status"], dict(message["headers"]).get(b"location")))

    await router.app(scope, receive, send)
    route = scope.get("route")
    return (*seen, "route", getattr(route, "name", None), scope.get("path_params"), scope.get("endpoint"))


@pytest.fixture
def recording_routes(app: Any, monkeypatch: pytest.MonkeyPatch) -> list[BaseRoute]:
    """The app's routes with their handlers replaced by a recorder (nothing runs); the route
    objects are module-level and shared with other apps, so they are restored afterwards."""

    async def handled(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 299, "headers": []})

    routes = list(app.router.routes)
    for route in routes:
        monkeypatch.setattr(route, "handle", handled)
    return routes


def test_the_app_uses_the_indexed_router(app: Any) -> None:
    assert isinstance(app.router, IndexedRouter)
    assert any(r.path == "/repairs/{number}" for r in app.router.routes if isinstance(r, Route))


def test_indexed_router_chooses_as_starlettes_scan_for_every_route(recording_routes: list[BaseRoute]) -> None:
    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})

    scan = Router(recording_routes, default=default)
    indexed = IndexedRouter(recording_routes, default=default)
    compared = 0

    async def compare() -> None:
        nonlocal compared
        for path in _paths(recording_routes):
            for method in METHODS:
                assert await _outcome(indexed, path, method) == await _outcome(scan, path, method), (method, path)
                compared += 1

    async def reached(route: BaseRoute) -> bool:
        outcomes = [await _outcome(indexed, _sample_path(route), method) for method in METHODS]
        return any(outcome[-3] == route.name for outcome in outcomes)  # type: ignore[attr-defined]

    asyncio.run(compare())
    assert compared > 4 * len(recording_routes)
    # The sample paths do reach their routes: the comparison covers real matches, not only 404s.
    assert [route.path for route in recording_routes if not asyncio.run(reached(route))] == []  # type: ignore[attr-defined]


def test_a_deep_route_is_found_among_its_own_segments_only(app: Any) -> None:
    router: IndexedRouter = app.router
    candidates = router.candidates({"type": "http", "path": "/repairs/RMA-B00001", "root_path": ""})
    assert candidates, "the repairs routes are indexed"
    assert all(literal_first_segment(route) in ("repairs", None) for route in candidates)
    assert len(candidates) < len(router.routes) / 4


def test_a_route_added_later_is_found(app: Any) -> None:
    from starlette.responses import PlainTextResponse

    router: IndexedRouter = app.router
    router.candidates({"type": "http", "path": "/", "root_path": ""})  # builds the index
    router.routes.append(Route("/late-addition", lambda request: PlainTextResponse("late"), name="late"))
    assert [r.name for r in router.candidates({"type": "http", "path": "/late-addition", "root_path": ""})] == ["late"]  # type: ignore[attr-defined]


def test_routes_with_a_parameter_first_are_tried_for_every_path() -> None:
    def endpoint(request: Any) -> Any:
        return None

    routes = [Route("/a/x", endpoint, name="ax"), Route("/{anything}/x", endpoint, name="any"), Route("/b/x", endpoint, name="bx")]
    router = IndexedRouter(routes)
    assert [r.name for r in router.candidates({"type": "http", "path": "/b/x", "root_path": ""})] == ["any", "bx"]  # type: ignore[attr-defined]
    assert [r.name for r in router.candidates({"type": "http", "path": "/c/x", "root_path": ""})] == ["any"]  # type: ignore[attr-defined]
