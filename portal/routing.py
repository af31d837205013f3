"""Starlette's router with an index on the first path segment.

Starlette tries every route's regular expression in declaration order until one matches: 14
before `/account`, 78 before `/repairs/{number}`, ≈ 0.6 µs each (docs/performance.md). This
router tries the same routes in the same order, but only those that can match the request's
first path segment: routes whose first segment is a literal (`/account/...`) are filed under
it; the others (a parameter in the first segment, a root mount, a host route) are tried for
every path, in their place in the order. So the first full match, the first partial match
(405) and the fallbacks (slash redirect, 404) are those of Starlette's scan, which stays the
path for every request without a full match (tests/portal/test_routing.py compares both on
every route of the app).
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette._utils import get_route_path
from starlette.routing import BaseRoute, Match, Mount, Route, Router, WebSocketRoute
from starlette.types import Receive, Scope, Send


def first_segment(path: str) -> str:
    """`/account/profile` → `account`; `/` → ``."""
    return path[1:].split("/", 1)[0]


def literal_first_segment(route: BaseRoute) -> str | None:
    """The first segment every path this route matches starts with, or None if it has none."""
    if not isinstance(route, Route | Mount | WebSocketRoute):
        return None  # a Host route, or a route type this index does not know: tried always
    path = route.path
    if not path.startswith("/"):
        return None  # a root mount ("")
    segment = first_segment(path)
    if "{" in segment:
        return None
    if isinstance(route, Mount) and segment == "":
        return None
    return segment


class IndexedRouter(Router):
    def __init__(self, routes: Sequence[BaseRoute] | None = None, **kwargs: object) -> None:
        super().__init__(routes, **kwargs)  # type: ignore[arg-type]
        self._indexed: int = -1
        self._by_segment: dict[str, list[BaseRoute]] = {}
        self._always: list[BaseRoute] = []

    def _build_index(self) -> None:
        keys = {key for route in self.routes if (key := literal_first_segment(route)) is not None}
        by_segment: dict[str, list[BaseRoute]] = {key: [] for key in keys}
        always: list[BaseRoute] = []
        for route in self.routes:
            key = literal_first_segment(route)
            if key is None:
                always.append(route)
                for bucket in by_segment.values():
                    bucket.append(route)
            else:
                by_segment[key].append(route)
        self._by_segment, self._always = by_segment, always
        self._indexed = len(self.routes)

    def candidates(self, scope: Scope) -> list[BaseRoute]:
        """The routes that can match this request, in declaration order."""
        if self._indexed != len(self.routes):  # a route was added after start-up (tests do)
            self._build_index()
        return self._by_segment.get(first_segment(get_route_path(scope)), self._always)

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().app(scope, receive, send)
            return
        if "router" not in scope:
            scope["router"] = self
        for route in self.candidates(scope):
            match, child_scope = route.matches(scope)
            if match is Match.FULL:
                scope["route"] = route
                scope.update(child_scope)
                await route.handle(scope, receive, send)
                return
        # Nothing matched fully (a full match wins over an earlier partial one in Starlette too):
        # its scan finds the partial match (405), the slash redirect or the 404.
        await super().app(scope, receive, send)
