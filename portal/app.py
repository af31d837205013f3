"""The application factory: settings in, a Starlette app out. Nothing is read at import."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from typing import Any

import structlog
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from portal import metrics
from portal.logging import configure_logging
from portal.middleware import PortalMiddleware
from portal.routing import IndexedRouter
from portal.security.headers import apply_security_headers, csp_nonce
from portal.settings import Settings, load_settings
from portal.state import AppState, build_state
from portal.web import page_render

log = structlog.get_logger(__name__)


async def _mail_loop(state: AppState) -> None:
    """Deliver queued mail shortly after each commit that queued some, and poll as a fallback."""
    while True:
        try:
            await asyncio.to_thread(state.deliver_mail)
        except Exception:  # keep the loop alive; the message stays queued
            log.exception("mail.loop_error")
        await asyncio.to_thread(state.mail_wakeup.wait, state.settings.background_poll_s)
        state.mail_wakeup.clear()


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state: AppState = request.app.state.portal

    def check() -> dict[str, str]:
        results = {}
        if state.crm_engine is None:
            results["crm_db"] = "ok"  # an HTTP API: its health is the adapter's (see /metrics)
        for name, engine in (("portal_db", state.db.engine), ("crm_db", state.crm_engine)):
            if engine is None:
                continue
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                results[name] = "ok"
            except Exception as exc:  # any failure means not ready
                results[name] = f"error: {type(exc).__name__}"
        return results

    results = await asyncio.to_thread(check)
    ok = all(v == "ok" for v in results.values())
    return JSONResponse({"status": "ok" if ok else "unavailable", **results}, status_code=200 if ok else 503)


def routes() -> list[BaseRoute]:
    from portal.accounts import sso_views
    from portal.accounts import views as account_views
    from portal.customer import views as customer_views
    from portal.home import views as home_views
    from portal.kb import search_views as kb_search_views
    from portal.kb import views as kb_views
    from portal.partner import api as partner_api
    from portal.partner import api_views as partner_api_views
    from portal.partner import dashboard_views, form_views, report_views
    from portal.partner import views as partner_views
    from portal.repairs import views as repair_views
    from portal.staff import repairs as staff_repair_views
    from portal.staff import views as staff_views

    return [
        Route("/healthz", healthz, name="healthz"),
        Route("/readyz", readyz, name="readyz"),
        Route("/metrics", metrics.endpoint, name="metrics"),
        *home_views.routes,
        *account_views.routes,
        *sso_views.routes,
        *kb_search_views.routes,
        *kb_views.routes,
        *partner_views.routes,
        *report_views.routes,
        *form_views.routes,
        *partner_api_views.routes,
        *partner_api.routes,
        *dashboard_views.routes,
        *staff_views.routes,
        *customer_views.routes,
        *repair_views.routes,
        *staff_repair_views.routes,
    ]


def _start_adapter(state: AppState, stop: threading.Event) -> threading.Thread:
    """The backend adapter in a thread of this process (the embedded default, `make run`)."""
    from backend_adapter.connectors import connector_for
    from backend_adapter.connectors.sql import SqlConnector
    from backend_adapter.runner import Adapter

    connector = SqlConnector(state.crm_engine) if state.crm_engine is not None else connector_for(state.settings.crm_database_url)
    worker = Adapter.build(state.db, connector, mailing=state.mailing)

    def run() -> None:
        try:
            worker.run_forever(stop)
        except Exception:
            log.exception("adapter.stopped_with_error")

    thread = threading.Thread(target=run, name="backend-adapter", daemon=True)
    thread.start()
    return thread


def _start_search_updater(state: AppState) -> Any:
    """Keep this node's knowledge-base search index in step with the kb_change log
    (rebuilt first when missing or damaged; one writer per index directory)."""
    from portal.kb.index import Updater, get_index

    updater = Updater(get_index(state.settings.data_dir), lambda: state.db.unit_of_work(write=False), state.settings.background_poll_s)
    updater.start()
    return updater


def _start_report_worker(state: AppState) -> Any:
    """Validate and commit large partner report files in the background (every web process)."""
    from portal.partner.reports.worker import ReportWorker

    worker = ReportWorker(state.db, state.settings.background_poll_s, wakeup=state.report_wakeup)
    worker.start()
    return worker


def create_app(settings: Settings | None = None, *, background: bool | None = None) -> Starlette:
    """Build the app. `background` runs the mail sender in-process (default: ADAPTER_IN_PROCESS)."""
    settings = settings or load_settings()
    configure_logging(debug=settings.debug)
    state = build_state(settings)
    run_background = settings.adapter_in_process if background is None else background

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        tasks = [asyncio.create_task(_mail_loop(state))] if run_background else []
        adapter_stop = threading.Event()
        adapter_thread = _start_adapter(state, adapter_stop) if run_background else None
        search_updater = _start_search_updater(state) if background is not False else None
        report_worker = _start_report_worker(state) if background is not False else None
        try:
            yield {}
        finally:
            adapter_stop.set()
            if search_updater is not None:
                await asyncio.to_thread(search_updater.close)
            if report_worker is not None:
                await asyncio.to_thread(report_worker.close)
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            if adapter_thread is not None:
                await asyncio.to_thread(adapter_thread.join, 15)
            state.db.dispose()
            if state.crm_engine is not None:
                state.crm_engine.dispose()

    async def not_found(request: Request, exc: Exception) -> Response:
        return page_render(state, request, "errors/404.html", 404)

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("request.error", path=request.url.path, error=repr(exc))
        nonce = csp_nonce(request.scope)
        response = page_render(state, request, "errors/500.html", 500)
        # Sent from outside the middleware stack: the headers are not added on the way out.
        apply_security_headers(response.headers, nonce=nonce, https=settings.https, path=request.url.path)
        return response

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        return page_render(state, request, "errors/405.html", 405)

    app = Starlette(
        debug=False,
        middleware=[Middleware(PortalMiddleware, https=settings.https)],
        exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error},
    )
    # Starlette's router with an index on the first path segment: the same routes, tried in
    # the same order, but not the 78 regular expressions of a scan (portal/routing.py).
    app.router = IndexedRouter(
        [*routes(), Mount("/static", app=StaticFiles(directory=str(settings.static_dir)), name="static")], lifespan=lifespan
    )
    app.state.portal = state
    return app
