"""Prometheus metrics: request counts and latency by route template."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route
from starlette.types import Scope

from portal.db import utcnow
from portal.events.status import SyncStatus, sync_status

REQUESTS = Counter("portal_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


# CRM sync figures, read from the database at scrape time so every node reports them.
OUTBOX_PENDING = Gauge("portal_outbox_pending", "Outbox events waiting for delivery to the CRM store")
OUTBOX_DEAD = Gauge("portal_outbox_dead", "Outbox events parked as dead")
OUTBOX_OLDEST_PENDING_AGE = Gauge("portal_outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox event")
PULL_LAG = Gauge("portal_crm_pull_lag_seconds", "Seconds since the last pull from the CRM store (-1: never)")


def refresh_sync_gauges(status: SyncStatus) -> None:
    OUTBOX_PENDING.set(status.pending)
    OUTBOX_DEAD.set(status.dead)
    OUTBOX_OLDEST_PENDING_AGE.set(status.oldest_pending_age_s)
    if status.last_pull_at is None:
        PULL_LAG.set(-1)
    else:
        PULL_LAG.set(max(0.0, (utcnow() - datetime.fromisoformat(status.last_pull_at)).total_seconds()))


def _route_template(scope: Scope) -> str:
    """The path template of the route that fully matched the request, or "unmatched".

    Starlette's router records the route it dispatched to in ``scope["route"]``. For a plain
    ``Route`` that is the first full match, or a partial one (path matched, method not: the
    405 page), which counts as "unmatched", so the answer is known without matching again.
    Anything else (no route, a Mount such as /static) scans the routes as before.
    """
    route = scope.get("route")
    if isinstance(route, Route):
        return route.path if route.methods is None or scope["method"] in route.methods else "unmatched"
    app = scope.get("app")
    router = getattr(app, "router", None)
    for candidate in getattr(router, "routes", []):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return str(getattr(candidate, "path", "other"))
    return "unmatched"


_counters: dict[tuple[str, str, str], Any] = {}
_timers: dict[tuple[str, str], Any] = {}


def observe_request(scope: Scope, status: int, seconds: float) -> None:
    """Count a finished request and its latency under its route template (children of the
    labelled metrics kept per label set: `labels()` takes a lock and builds a key each time)."""
    method, route = scope["method"], _route_template(scope)
    key = (method, route, str(status))
    counter = _counters.get(key)
    if counter is None:
        counter = _counters[key] = REQUESTS.labels(*key)
    counter.inc()
    timer = _timers.get((method, route))
    if timer is None:
        timer = _timers[(method, route)] = LATENCY.labels(method, route)
    timer.observe(seconds)


async def endpoint(request: Request) -> Response:
    state = request.app.state.portal

    def read_status() -> SyncStatus:
        with state.db.unit_of_work(write=False) as session:
            return sync_status(session)

    try:
        refresh_sync_gauges(await asyncio.to_thread(read_status))
    except Exception:  # the scrape still answers; /readyz reports the database
        OUTBOX_PENDING.set(-1)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
