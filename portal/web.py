"""The request pipeline shared by every HTML view.

`@view(...)` turns a plain synchronous function `fn(ctx) -> Response` into a Starlette
endpoint that: reads the form, opens one unit of work (commits when the view returns,
rolls back when it raises), loads the server-side session, enforces CSRF on unsafe
methods (on by default), checks the audience, and maps domain errors to pages.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hmac
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.templating import Jinja2Templates

from portal.accounts.models import Role, User
from portal.db import utcnow, without_database
from portal.errors import DomainError, Forbidden, LoginRequired, NotFound, RateLimited
from portal.i18n import HTML_LANG, LANGUAGE_NAMES, LOCALES, Translator, negotiate, normalise_locale
from portal.security import sessions
from portal.security.audit import audit
from portal.security.models import WebSession
from portal.security.tokens import random_token
from portal.templating import locale_environment
from portal.uploads import Upload

if TYPE_CHECKING:
    from portal.state import AppState

_T = TypeVar("_T")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
CSRF_COOKIE = "portal_csrf"
FLASH_COOKIE = "portal_flash"
LANG_COOKIE = "portal_lang"
CSRF_FIELD = "csrf_token"
_CSRF_SEED = re.compile(r"[A-Za-z0-9_\-]{20,80}")
# Uploads (repair photos, proofs of purchase): services check their own, smaller limits.
MAX_UPLOAD_FILES = 5
MAX_UPLOAD_BYTES = 8 * 1024 * 1024
# Whole request bodies: larger ones are answered 413 before they are read. Views that take big
# files (partner report uploads) raise their own limit with `view(max_body=...)`.
MAX_BODY_BYTES = 4 * MAX_UPLOAD_BYTES
MAX_FORM_FIELDS = 200  # a form with more (a table of inputs) raises it with `view(max_fields=...)`


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class FileStream:
    """An uploaded file not read into memory (Starlette spools it to disk beyond 1 MB)."""

    filename: str
    content_type: str
    file: IO[bytes]


CUSTOMER_ROLES = frozenset({Role.CUSTOMER, Role.CUSTOMER_ADMIN})
PARTNER_ROLES = frozenset({Role.PARTNER, Role.PARTNER_ADMIN})
STAFF_ROLES = frozenset({Role.STAFF, Role.ADMIN})
ANY_ROLE = frozenset(Role)
LANGUAGES = tuple((code, LANGUAGE_NAMES[code]) for code in LOCALES)


@dataclass(frozen=True)
class ViewSpec:
    """What a route requires; read by the route-table tests (CSRF walk, authorization matrix)."""

    methods: tuple[str, ...]
    roles: frozenset[Role] | None  # None: anyone, including guests
    csrf: bool
    allow_pending_mfa: bool = False
    max_body: int = MAX_BODY_BYTES
    max_fields: int = MAX_FORM_FIELDS
    # A quick read: its GET runs on the event loop where the database lets reads never wait
    # (SQLite in WAL mode), saving the hop to a view thread; it must not write (docs/decisions/0012).
    on_loop: bool = False
    # False: the view itself reads nothing from the database (a quick read's page made of
    # templates and settings). A request without a session cookie then has nothing to read at
    # all and runs on the event loop on every database, with no unit of work (decision 0017).
    uses_database: bool = True


READ_METHODS = frozenset({"GET", "HEAD"})


def safe_next(target: str | None, default: str = "/") -> str:
    """Only local absolute paths: never `//host`, `/\\host`, schemes or control characters."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    if re.search(r"[\x00-\x1f\\]", target):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return default
    return target


@dataclass
class Ctx:
    request: Request
    state: AppState
    db: Session
    form: FormData
    t: Translator
    ip: str
    session_row: WebSession | None = None
    user: User | None = None
    pending_user: User | None = None
    flashes: list[tuple[str, str]] = field(default_factory=list)
    _csrf_seed: str = ""
    _new_csrf_seed: bool = False
    _cookies: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _new_flashes: list[tuple[str, str]] = field(default_factory=list)
    # On the event loop (a quick read): writes are refused, and the pipeline's own (session touch,
    # audit of a refusal) are collected here and run on a view thread before the response is sent.
    _deferred: list[Callable[[], None]] | None = None

    # -- helpers for views ------------------------------------------------------------
    @property
    def locale(self) -> str:
        return self.t.locale

    def _(self, message: str, **params: Any) -> str:
        return self.t.gettext(message, **params)

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name, default)
        return value.strip() if isinstance(value, str) else default

    def raw_field(self, name: str) -> str:
        value = self.form.get(name, "")
        return value if isinstance(value, str) else ""

    def files(self, name: str) -> list[Upload]:
        """The files sent in field `name` (empty parts skipped), read into memory; the size
        is bounded by MAX_UPLOAD_BYTES per part and MAX_UPLOAD_FILES per request."""
        uploads = []
        for value in self.form.getlist(name):
            if isinstance(value, UploadFile) and value.filename:
                value.file.seek(0)
                uploads.append(Upload(filename=value.filename, content_type=value.content_type or "", data=value.file.read()))
        return uploads

    def file_streams(self, name: str) -> list[FileStream]:
        """The files sent in field `name` as open binary files, for views that stream them."""
        streams = []
        for value in self.form.getlist(name):
            if isinstance(value, UploadFile) and value.filename:
                value.file.seek(0)
                streams.append(FileStream(value.filename, value.content_type or "", value.file))
        return streams

    @property
    def csrf_token(self) -> str:
        return csrf_for(self.state.settings.secret_key, self._csrf_seed, self.session_row)

    def flash(self, message: str, category: str = "success") -> None:
        self._new_flashes.append((category, message))

    def url(self, name: str, **params: Any) -> str:
        return str(self.request.url_for(name, **params).path)

    def absolute_url(self, path: str) -> str:
        return f"{self.state.settings.base_url}{path}"

    def render(self, template: str, status: int = 200, **context: Any) -> Response:
        base = {
            "user": self.user,
            "locale": self.locale,
            "html_lang": HTML_LANG[self.locale],
            "languages": LANGUAGES,
            "_": self.t.gettext,
            "gettext": self.t.gettext,
            "ngettext": self.t.ngettext,
            "csrf_token": self.csrf_token,
            "csp_nonce": self.request.scope.get("state", {}).get("csp_nonce", ""),
            "flashes": self.flashes,
            "current_path": request_path(self.request),
            "oidc_providers": self.state.settings.oidc_providers,
        }
        base.update(context)
        base.setdefault("request", self.request)
        # The locale's environment: its templates have `_("literal")` translated at compile time.
        env = locale_environment(self.state.templates.env, self.locale, self.t.gettext)
        return HTMLResponse(env.get_template(template).render(base), status_code=status)

    def redirect(self, url: str, status: int = 303) -> Response:
        return RedirectResponse(url, status_code=status)

    def set_cookie(self, key: str, value: str, *, max_age: int | None = None, http_only: bool = True) -> None:
        self._cookies.append(
            (
                key,
                {
                    "value": value,
                    "max_age": max_age,
                    "httponly": http_only,
                    "samesite": "lax",
                    "secure": self.state.settings.https,
                    "path": "/",
                },
            )
        )

    def delete_cookie(self, key: str) -> None:
        self._cookies.append(
            (key, {"value": "", "max_age": 0, "httponly": True, "samesite": "lax", "secure": self.state.settings.https, "path": "/"})
        )

    # -- session transitions -----------------------------------------------------------
    def begin_session(self, *, user: User | None, pending_user: User | None = None, data: dict[str, object] | None = None) -> None:
        """Rotate: the old session row is deleted and a fresh token issued (fixation-proof)."""
        sessions.end(self.db, self.session_row)
        token, row = sessions.start(
            self.db, user=user, pending_user=pending_user, absolute_s=self.state.settings.session_absolute_s, data=data
        )
        self.session_row, self.user, self.pending_user = row, user, pending_user
        self.set_cookie(sessions.COOKIE_NAME, token, max_age=self.state.settings.session_absolute_s)

    def end_session(self) -> None:
        sessions.end(self.db, self.session_row)
        self.session_row, self.user, self.pending_user = None, None, None
        self.delete_cookie(sessions.COOKIE_NAME)

    def session_data(self) -> dict[str, Any]:
        return dict(self.session_row.data) if self.session_row else {}

    def update_session_data(self, **values: Any) -> None:
        """Merge values into the session's data, creating an anonymous session if needed.

        On a GET the request's transaction is read-only (and rolled back), so the change is
        written in its own short transaction; session state is not business state.
        """
        data = {**(self.session_row.data if self.session_row else {}), **values}
        self._refuse_on_loop()
        if self.db.info.get("writable"):
            if self.session_row is None:
                self.begin_session(user=None, data=data)
            else:
                self.session_row.data = data
            return
        with self.state.db.unit_of_work() as writer:
            if self.session_row is None:
                token, row = sessions.start(writer, user=None, absolute_s=self.state.settings.session_absolute_s, data=data)
                self.session_row = row
                self.set_cookie(sessions.COOKIE_NAME, token, max_age=self.state.settings.session_absolute_s)
            else:
                writer.execute(update(WebSession).where(WebSession.token_hash == self.session_row.token_hash).values(data=data))
                # Not marked dirty: the read-only transaction must never flush it.
                set_committed_value(self.session_row, "data", data)

    @contextmanager
    def committed(self) -> Iterator[Session]:
        """Run a block of a GET view in its own unit of work that commits.

        GET transactions are read-only and rolled back (docs/decisions/0001). A few GET flows
        must write by protocol (an SSO redirect and callback; rate-limit counters of public
        lookups): they do it here, with `ctx.db` pointing at the writing session and the
        session row re-read under a row lock, so two racing requests serialise on it.
        """
        self._refuse_on_loop()
        read_db, read_row = self.db, self.session_row
        with self.state.db.unit_of_work(write=True) as db:
            db.info["writable"] = True
            self.db = db
            self.session_row = db.get(WebSession, read_row.token_hash, with_for_update=True) if read_row is not None else None
            try:
                yield db
            finally:
                self.db = read_db

    def _refuse_on_loop(self) -> None:
        if self._deferred is not None:
            raise RuntimeError("a view declared on_loop=True must not write; declare it without on_loop")


def csrf_for(secret: str, seed: str, session_row: WebSession | None) -> str:
    bound = session_row.token_hash if session_row else ""
    return hmac.new(secret.encode(), f"{seed}|{bound}".encode(), "sha256").hexdigest()


def _flash_serializer(secret: str) -> URLSafeSerializer:
    return URLSafeSerializer(secret, salt="portal.flash")


def request_locale(request: Request, user: User | None) -> str:
    if user is not None and user.locale in LOCALES:
        return user.locale
    return normalise_locale(request.cookies.get(LANG_COOKIE)) or negotiate(request.headers.get("accept-language"))


def request_path(request: Request) -> str:
    """`request.url.path` without building the whole URL (host header, query string, parsing):
    the scope's path with the characters Starlette escapes there escaped the same way."""
    return str(request.scope["path"]).replace("?", "%3F").replace("#", "%23").replace("\\", "%5C")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def view(
    *,
    methods: Iterable[str] = ("GET",),
    roles: frozenset[Role] | None = None,
    csrf: bool = True,
    allow_pending_mfa: bool = False,
    max_body: int = MAX_BODY_BYTES,
    max_fields: int = MAX_FORM_FIELDS,
    on_loop: bool = False,
    uses_database: bool = True,
) -> Callable[[Callable[[Ctx], Response]], Callable[[Request], Any]]:
    if not uses_database and not on_loop:
        raise ValueError("uses_database=False is for quick reads (on_loop=True)")
    spec = ViewSpec(
        methods=tuple(methods),
        roles=roles,
        csrf=csrf,
        allow_pending_mfa=allow_pending_mfa,
        max_body=max_body,
        max_fields=max_fields,
        on_loop=on_loop,
        uses_database=uses_database,
    )

    def decorate(fn: Callable[[Ctx], Response]) -> Callable[[Request], Any]:
        async def endpoint(request: Request) -> Response:
            if request.method in UNSAFE_METHODS:
                declared = request.headers.get("content-length", "0")
                if not declared.isdigit() or int(declared) > spec.max_body:
                    return _too_large(spec.max_body)
                request = Request(request.scope, _capped_receive(request.receive, spec.max_body))
                try:
                    form = await request.form(max_files=MAX_UPLOAD_FILES, max_fields=spec.max_fields, max_part_size=MAX_UPLOAD_BYTES)
                except BodyTooLarge:
                    return _too_large(spec.max_body)
            else:
                form = FormData()
                if spec.on_loop and request.method in READ_METHODS:
                    reads_nothing = not spec.uses_database and sessions.COOKIE_NAME not in request.cookies
                    if not reads_nothing and not request.app.state.portal.db.reads_never_wait:
                        return await run_in_threadpool(_handle, fn, spec, request, form, None, True, quick=True)
                    deferred: list[Callable[[], None]] = []
                    response = _handle(fn, spec, request, form, deferred, database=not reads_nothing)
                    if deferred:
                        await run_in_threadpool(_run_all, deferred)
                    return response
            try:
                return await run_in_threadpool(_handle, fn, spec, request, form)
            finally:
                await form.close()

        endpoint.__name__ = fn.__name__
        endpoint.__qualname__ = fn.__qualname__
        endpoint.__doc__ = fn.__doc__
        endpoint.portal_view = spec  # type: ignore[attr-defined]
        endpoint.__wrapped_view__ = fn  # type: ignore[attr-defined]
        return endpoint

    return decorate


def _capped_receive(receive: Any, limit: int) -> Any:
    """`receive` that refuses a body growing past `limit` (chunked uploads declare no length)."""
    seen = 0

    async def capped() -> Any:
        nonlocal seen
        message = await receive()
        if message.get("type") == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge()
        return message

    return capped


def _too_large(limit: int) -> Response:
    megabytes = limit // (1024 * 1024)
    return HTMLResponse(
        f"<!doctype html><html lang=en><title>Too large</title><h1>The upload is too large</h1><p>At most {megabytes} MB.</p>",
        status_code=413,
    )


# Views run on worker threads (their database calls block), except quick reads declared
# `on_loop=True` on SQLite (see `ViewSpec.on_loop`). A plain executor, not anyio's
# `to_thread` (Starlette's `run_in_threadpool`): the hop costs ≈ 8 µs of CPU instead of ≈ 28 µs
# at 32 concurrent requests (docs/decisions/0009). As many threads as anyio's default limiter
# allowed, which the connection pool is sized for (portal/db.py).
VIEW_THREADS = 40
# Quick reads where a read waits for the network (PostgreSQL) run on a few threads of their own:
# with 32 requests at once, 40 threads contending for the GIL cost ≈ 300 µs of CPU per request
# beyond the view itself; two threads keep a local server busy (docs/decisions/0013), and a slow
# view elsewhere never holds up the quick ones.
QUICK_READ_THREADS = 2
_executors: dict[str, ThreadPoolExecutor] = {}
_executor_lock = threading.Lock()


def _executor(name: str, threads: int) -> ThreadPoolExecutor:
    found = _executors.get(name)
    if found is None:
        with _executor_lock:
            found = _executors.get(name)
            if found is None:
                found = _executors[name] = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
    return found


def _view_executor() -> ThreadPoolExecutor:
    return _executor("portal-view", VIEW_THREADS)


def _quick_read_executor() -> ThreadPoolExecutor:
    return _executor("portal-quick-read", QUICK_READ_THREADS)


async def run_in_threadpool(fn: Callable[..., _T], *args: Any, quick: bool = False) -> _T:
    """Run `fn(*args)` on a view thread (`quick`: a quick read's) with the caller's context
    variables. Like anyio's `to_thread.run_sync`, a cancelled caller still waits for the thread
    to finish (the view's form and unit of work must not be torn down under it)."""
    loop = asyncio.get_running_loop()
    executor = _quick_read_executor() if quick else _view_executor()
    future = loop.run_in_executor(executor, functools.partial(contextvars.copy_context().run, fn, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([future])
        raise


def _run_all(calls: list[Callable[[], None]]) -> None:
    for call in calls:
        call()


def _handle(
    fn: Callable[[Ctx], Response],
    spec: ViewSpec,
    request: Request,
    form: FormData,
    deferred: list[Callable[[], None]] | None = None,
    quick: bool = False,
    database: bool = True,
) -> Response:
    """Run a view in its unit of work; a quick read's (`Database.quick_read`) when `quick` or on
    the event loop; none (`without_database`) when not `database`. `deferred` is given on the
    event loop: the writes the pipeline itself would make are appended to it instead of made."""
    state: AppState = request.app.state.portal
    write = request.method in UNSAFE_METHODS
    if not database:
        unit = without_database()
    elif quick or deferred is not None:
        unit = state.db.quick_read()
    else:
        unit = state.db.unit_of_work(write=write)
    with unit as db:
        db.info["writable"] = write
        ctx = _build_ctx(state, request, db, form)
        ctx._deferred = deferred
        try:
            response = _dispatch(fn, spec, ctx)
        except DomainError as exc:
            db.rollback()
            # Whatever the view began (a new session, cookies) was rolled back with it.
            if ctx.session_row is not None and not sa_inspect(ctx.session_row).persistent:
                ctx.session_row, ctx.user = None, None
            ctx._cookies = [c for c in ctx._cookies if c[0] != sessions.COOKIE_NAME]
            _audit_denial(ctx, exc)
            response = error_response(ctx, exc)
        _touch_session(ctx, write)
        _finish(ctx, response)
        return response


def _build_ctx(state: AppState, request: Request, db: Session, form: FormData) -> Ctx:
    loaded = sessions.load(db, request.cookies.get(sessions.COOKIE_NAME), idle_s=state.settings.session_idle_s)
    user = loaded.user if loaded else None
    ctx = Ctx(
        request=request,
        state=state,
        db=db,
        form=form,
        t=state.catalogues.get(request_locale(request, user)),
        ip=client_ip(request),
        session_row=loaded.row if loaded else None,
        user=user,
        pending_user=loaded.pending_user if loaded else None,
    )
    seed = request.cookies.get(CSRF_COOKIE, "")
    if not _CSRF_SEED.fullmatch(seed):
        seed = random_token()
        ctx._new_csrf_seed = True
    ctx._csrf_seed = seed
    raw_flash = request.cookies.get(FLASH_COOKIE)
    if raw_flash:
        try:
            ctx.flashes = [tuple(item) for item in _flash_serializer(state.settings.secret_key).loads(raw_flash)][:5]  # type: ignore[misc]
        except BadSignature:
            ctx.flashes = []
        ctx.delete_cookie(FLASH_COOKIE)
    return ctx


def _dispatch(fn: Callable[[Ctx], Response], spec: ViewSpec, ctx: Ctx) -> Response:
    request = ctx.request
    if request.method in UNSAFE_METHODS and spec.csrf:
        submitted = ctx.raw_field(CSRF_FIELD) or request.headers.get("x-csrf-token", "")
        if ctx._new_csrf_seed or not hmac.compare_digest(submitted, ctx.csrf_token):
            raise Forbidden("csrf")
    if spec.roles is not None:
        if ctx.user is None:
            if request.method in UNSAFE_METHODS:
                raise LoginRequired()
            return ctx.redirect(f"/login?next={quote(str(request.url.path))}")
        if ctx.user.role not in spec.roles:
            raise NotFound()
        if ctx.user.role.requires_mfa and not ctx.user.totp_enabled and not spec.allow_pending_mfa:
            ctx.flash(ctx._("Set up two-factor sign-in to continue."), "info")
            return ctx.redirect("/account/2fa")
    return fn(ctx)


def _audit_denial(ctx: Ctx, exc: DomainError) -> None:
    """Refused forms (CSRF) and refused access go to the audit log: who, what, when, where."""
    if isinstance(exc, Forbidden) and str(exc) == "csrf":
        action = "csrf.rejected"
    elif isinstance(exc, NotFound) and ctx.user is not None:
        action = "access.denied"  # a foreign or missing record, or a page of another audience
    else:
        return
    user = ctx.user
    details = {
        "actor_user_id": user.id if user else None,
        "actor_email": user.email if user else None,
        "target": f"{ctx.request.method} {ctx.request.url.path}"[:200],
        "ip": ctx.ip,
    }
    if ctx.db.info.get("writable"):
        audit(ctx.db, action, **details)  # type: ignore[arg-type]
        return

    def write() -> None:
        with ctx.state.db.unit_of_work() as writer:  # a GET's own transaction is read-only
            audit(writer, action, **details)  # type: ignore[arg-type]

    if ctx._deferred is not None:
        ctx._deferred.append(write)
    else:
        write()


def error_response(ctx: Ctx, exc: DomainError) -> Response:
    if isinstance(exc, LoginRequired):
        return ctx.redirect("/login")
    if isinstance(exc, RateLimited):
        response = ctx.render("errors/429.html", status=429, retry_after=exc.retry_after)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, Forbidden):
        return ctx.render("errors/403.html", status=403)
    if isinstance(exc, NotFound):
        return ctx.render("errors/404.html", status=404)
    return ctx.render("errors/400.html", status=exc.status_code, message=str(exc))


def _touch_session(ctx: Ctx, write: bool) -> None:
    row = ctx.session_row
    if row is None:
        return
    now = utcnow()
    if now - row.last_seen_at < timedelta(seconds=ctx.state.settings.session_touch_s):
        return
    if write:
        row.last_seen_at = now
    elif ctx._deferred is not None:
        ctx._deferred.append(functools.partial(ctx.state.touch_session, row.token_hash, now))
    else:
        # Reads run in a deferred transaction; write the touch in its own short one.
        ctx.state.touch_session(row.token_hash, now)


def _finish(ctx: Ctx, response: Response) -> None:
    settings = ctx.state.settings
    if ctx._new_csrf_seed:
        response.set_cookie(CSRF_COOKIE, ctx._csrf_seed, httponly=True, samesite="lax", secure=settings.https, path="/")
    for key, opts in ctx._cookies:
        response.set_cookie(key, **opts)
    if ctx._new_flashes:
        value = _flash_serializer(settings.secret_key).dumps(ctx._new_flashes)
        response.set_cookie(FLASH_COOKIE, value, httponly=True, samesite="lax", secure=settings.https, path="/", max_age=120)


def form_values(form: Mapping[str, Any], *names: str) -> dict[str, str]:
    return {name: (form.get(name) or "").strip() if isinstance(form.get(name), str) else "" for name in names}


def page_render(state: AppState, request: Request, template: str, status: int) -> HTMLResponse:
    """Render an error page outside a view (unknown route, unhandled error): no database."""
    t = state.catalogues.get(request_locale(request, None))
    context = {
        "user": None,
        "locale": t.locale,
        "html_lang": HTML_LANG[t.locale],
        "languages": [(code, LANGUAGE_NAMES[code]) for code in LOCALES],
        "_": t.gettext,
        "gettext": t.gettext,
        "ngettext": t.ngettext,
        "csrf_token": "",
        "csp_nonce": request.scope.get("state", {}).get("csp_nonce", ""),
        "flashes": [],
        "current_path": request.url.path,
        "oidc_providers": (),
        "retry_after": 0,
        "message": "",
    }
    html = state.templates.env.get_template(template).render(context)
    return HTMLResponse(html, status_code=status)


__all__ = [
    "ANY_ROLE",
    "CUSTOMER_ROLES",
    "PARTNER_ROLES",
    "STAFF_ROLES",
    "Ctx",
    "Jinja2Templates",
    "ViewSpec",
    "safe_next",
    "view",
]
