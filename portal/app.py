"""The application factory: settings in, a Starlette app out. Nothing is read at import."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import Engine, text, update
from sqlalchemy.orm import Session
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from portal import metrics
from portal.accounts.service import Mailing
from portal.db import Database, make_engine
from portal.i18n import Catalogues
from portal.logging import configure_logging
from portal.mail.sender import deliver_due
from portal.mail.service import MailComposer
from portal.mail.transports import Transport, transport_for
from portal.security.headers import SecurityHeadersMiddleware, apply_security_headers, csp_nonce
from portal.security.models import WebSession
from portal.security.tokens import LinkSigner
from portal.settings import Settings, load_settings
from portal.templating import make_environment
from portal.web import page_render

log = structlog.get_logger(__name__)


@dataclass
class AppState:
    settings: Settings
    db: Database
    crm_engine: Engine
    catalogues: Catalogues
    templates: Jinja2Templates
    signer: LinkSigner
    mailing: Mailing
    transport: Transport
    mail_wakeup: threading.Event = field(default_factory=threading.Event)

    def touch_session(self, token_hash: str, now: datetime) -> None:
        with self.db.unit_of_work() as session:
            session.execute(update(WebSession).where(WebSession.token_hash == token_hash).values(last_seen_at=now))

    def deliver_mail(self) -> int:
        return deliver_due(self.db, self.transport, sender=self.settings.mail_from)


def build_state(settings: Settings) -> AppState:
    db = Database(settings.database_url)
    crm_engine = make_engine(settings.crm_database_url)
    catalogues = Catalogues()
    env = make_environment(settings.templates_dir)
    signer = LinkSigner(settings.secret_key)
    composer = MailComposer(env=env, catalogues=catalogues, base_url=settings.base_url)
    state = AppState(
        settings=settings,
        db=db,
        crm_engine=crm_engine,
        catalogues=catalogues,
        templates=Jinja2Templates(env=env),
        signer=signer,
        mailing=Mailing(composer=composer, signer=signer),
        transport=transport_for(settings.mail_url, settings.maildir),
    )

    def wake_sender(session: Session) -> None:
        if session.info.pop("mail_queued", False):
            state.mail_wakeup.set()

    db.on_commit(wake_sender)
    return state


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
        for name, engine in (("portal_db", state.db.engine), ("crm_db", state.crm_engine)):
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
    from portal.home import views as home_views
    from portal.kb import views as kb_views
    from portal.partner import views as partner_views
    from portal.staff import views as staff_views

    return [
        Route("/healthz", healthz, name="healthz"),
        Route("/readyz", readyz, name="readyz"),
        Route("/metrics", metrics.endpoint, name="metrics"),
        *home_views.routes,
        *account_views.routes,
        *sso_views.routes,
        *kb_views.routes,
        *partner_views.routes,
        *staff_views.routes,
    ]


def create_app(settings: Settings | None = None, *, background: bool | None = None) -> Starlette:
    """Build the app. `background` runs the mail sender in-process (default: ADAPTER_IN_PROCESS)."""
    settings = settings or load_settings()
    configure_logging(debug=settings.debug)
    state = build_state(settings)
    run_background = settings.adapter_in_process if background is None else background

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
        tasks = [asyncio.create_task(_mail_loop(state))] if run_background else []
        try:
            yield {}
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            state.db.dispose()
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
        routes=[*routes(), Mount("/static", app=StaticFiles(directory=str(settings.static_dir)), name="static")],
        middleware=[
            Middleware(SecurityHeadersMiddleware, https=settings.https),
            Middleware(metrics.MetricsMiddleware),
            Middleware(GZipMiddleware, minimum_size=1000),
        ],
        exception_handlers={404: not_found, 405: method_not_allowed, 500: server_error},
        lifespan=lifespan,
    )
    app.state.portal = state
    return app
