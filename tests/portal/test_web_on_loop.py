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


def test_a_guest_page_that_reads_nothing_takes_no_thread_and_no_unit_of_work(
    client: Any, make_user: Any, state: AppState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`view(uses_database=False)`: without a session cookie there is nothing to read, so the home
    page runs on the event loop on every database (PostgreSQL too) and opens no unit of work."""
    units: list[str] = []
    quick_read = state.db.quick_read

    def counting_quick_read() -> Any:
        units.append("quick read")
        return quick_read()

    monkeypatch.setattr(state.db, "quick_read", counting_quick_read)
    hops = _count_hops(monkeypatch)
    page = client.get("/")
    assert page.status_code == 200
    assert 'href="/warranty"' in page.text
    assert (hops, units) == ([], [])
    make_user("home@example.com", Role.CUSTOMER)
    client.login("home@example.com")
    hops.clear()
    units.clear()
    assert client.get("/").status_code == 200
    # Signed in, the session is looked up: a quick read (PostgreSQL: on a quick-read thread).
    assert units == ["quick read"]
    assert hops == ([] if state.db.reads_never_wait else ["_handle (quick-read thread)"])


def test_views_that_read_nothing_are_quick_reads_and_never_touch_the_session() -> None:
    from sqlalchemy import text
    from sqlalchemy.exc import UnboundExecutionError

    from portal.db import without_database
    from portal.web import view

    with without_database() as session, pytest.raises(UnboundExecutionError):
        session.execute(text("SELECT 1"))  # a view wrongly declared fails loudly, it reads nothing
    with pytest.raises(ValueError, match="on_loop"):
        view(uses_database=False)


def test_views_declared_to_read_nothing_do_not_use_the_database_in_their_source(settings: Any) -> None:
    declared = [
        (path, endpoint) for path, endpoint in _views(create_app(settings, background=False)) if not endpoint.portal_view.uses_database
    ]
    assert [path for path, _ in declared] == ["/"]
    for path, endpoint in declared:
        assert not re.search(r"ctx\.db|service\.", inspect.getsource(endpoint.__wrapped_view__)), path
