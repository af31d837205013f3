"""Quick reads (`view(on_loop=True)`) run on the event loop where reads never wait (SQLite), and
the pipeline's own writes of such a request still happen, on a view thread, before the answer."""

from __future__ import annotations

import inspect
import re
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

import portal.web
from portal.accounts.models import Role
from portal.app import AppState, create_app
from portal.security.models import AuditEvent, WebSession


def _views(app: Any) -> list[tuple[str, Any]]:
    return [(route.path, route.endpoint) for route in app.routes if hasattr(getattr(route, "endpoint", None), "portal_view")]


def test_quick_reads_are_gets_that_never_write(settings: Any) -> None:
    """A view on the loop must not write: none calls `committed()` or `update_session_data()`,
    none takes unsafe methods. The list is kept short on purpose."""
    quick = [(path, endpoint) for path, endpoint in _views(create_app(settings, background=False)) if endpoint.portal_view.on_loop]
    assert {path for path, _ in quick} >= {"/", "/account", "/orders", "/repairs/{number}"}
    for path, endpoint in quick:
        assert set(endpoint.portal_view.methods) == {"GET"}, path
        source = inspect.getsource(endpoint.__wrapped_view__)
        assert not re.search(r"\.committed\(|update_session_data\(", source), path


def _count_hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    hops: list[str] = []
    original = portal.web.run_in_threadpool

    async def counting(fn: Any, *args: Any, quick: bool = False) -> Any:
        hops.append(getattr(fn, "__name__", "?") + (" (quick-read thread)" if quick else ""))
        return await original(fn, *args, quick=quick)

    monkeypatch.setattr(portal.web, "run_in_threadpool", counting)
    return hops


def test_on_sqlite_a_quick_read_takes_no_thread_and_other_views_do(
    client: Any, make_user: Any, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_user("quick@example.com", Role.CUSTOMER)
    client.login("quick@example.com")
    hops = _count_hops(monkeypatch)
    assert client.get("/account").status_code == 200
    assert client.get("/account/profile").status_code == 200
    # PostgreSQL: the quick read on one of the few threads kept for them, the other view on a view thread.
    expected = [] if state.db.reads_never_wait else ["_handle (quick-read thread)"]
    assert hops == [*expected, "_handle"]


def test_the_session_touch_of_a_quick_read_is_written_before_the_answer(client: Any, make_user: Any, state: AppState) -> None:
    make_user("touch@example.com", Role.CUSTOMER)
    client.login("touch@example.com")
    with state.db.unit_of_work() as db:
        long_ago = db.scalars(select(WebSession.last_seen_at)).one() - timedelta(minutes=10)
        db.execute(update(WebSession).values(last_seen_at=long_ago))
    assert client.get("/account").status_code == 200
    with state.db.unit_of_work(write=False) as db:
        assert db.scalars(select(WebSession.last_seen_at)).one() > long_ago + timedelta(minutes=9)


def test_a_refused_quick_read_is_audited_before_the_answer(client: Any, make_user: Any, state: AppState) -> None:
    make_user("curious@example.com", Role.CUSTOMER)
    client.login("curious@example.com")
    assert client.get("/repairs/RMA-ZZZZZZ").status_code == 404
    with state.db.unit_of_work(write=False) as db:
        targets = list(db.scalars(select(AuditEvent.target).where(AuditEvent.action == "access.denied")))
    assert targets == ["GET /repairs/RMA-ZZZZZZ"]
