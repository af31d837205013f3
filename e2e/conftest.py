"""Browser journeys against the real app.

One uvicorn server per session, in a background *thread* of this process (so coverage
measures the app), on a free 127.0.0.1 port, with fresh SQLite databases and DATA_DIR in a
tmp dir, the mail sender running in-process (e-mail lands in the Maildir DATA_DIR/mail/new)
and the demo data loaded. Chromium is Debian's (/usr/bin/chromium): Playwright's own
browsers cannot be downloaded here.

Every page a journey opens is checked with axe-core (serious/critical violations fail the
test); a guard fails a test that navigated to a page it never audited.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import threading
import time
import traceback
import urllib.error
import urllib.request
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import uvicorn
from argon2 import PasswordHasher
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from playwright.sync_api import BrowserContext, Page

from backend_adapter.runner import Adapter
from portal.accounts import service as accounts_service
from portal.accounts.models import Role
from portal.app import create_app
from portal.db import Database, make_engine
from portal.demo import seed
from portal.i18n import Catalogues, Translator
from portal.migrate import migrate_all
from portal.security import passwords
from portal.settings import Settings, load_settings

E2E_DIR = Path(__file__).parent
SCREENSHOTS = E2E_DIR / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SECRET = "e2e-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
PAGE_TIMEOUT_MS = 10_000
FAILING_IMPACTS = ("serious", "critical")

# The app's own catalogues: labels are looked up in the locale the page is shown in, so the
# journeys keep working while the Chinese translations are being filled in.
CATALOGUES = Catalogues()
EN: Translator = CATALOGUES.get("en")
ZH: Translator = CATALOGUES.get("zh")
# Whether the test body failed (set by the report hook; read by fixtures' teardown).
CALL_FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(E2E_DIR):
            item.add_marker(pytest.mark.e2e)


# -- the browser ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--disable-gpu",
            "--disable-quic",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    # English unless a journey switches: the Accept-Language of a fresh browser decides.
    return {**browser_context_args, "locale": "en-GB", "viewport": {"width": 1280, "height": 900}}


# -- the live server ------------------------------------------------------------------------------
OIDC_NAME = "test"
OIDC_LABEL = "Test ID"


@dataclass
class LiveServer:
    url: str
    settings: Settings
    # The local OpenID provider (tests/support/oidc_provider.py, built concurrently by the SSO
    # work): None, with the reason in `oidc_error`, when it is missing or did not start.
    oidc: Any = None
    oidc_error: str = ""


def _start_oidc_provider(portal_url: str) -> tuple[Any, str, str]:
    """(provider, OIDC_PROVIDERS value, error): a LocalOpenIdProvider that accepts only the
    portal's exact callback URI. Journeys pick the person it signs in with `reset(claims)`."""
    try:
        from tests.support.oidc_provider import LocalOpenIdProvider, oidc_providers_env
    except ImportError:
        return None, "", "tests/support/oidc_provider.py is not importable:\n" + traceback.format_exc(limit=2)
    try:
        provider = LocalOpenIdProvider(
            {"sub": "nobody-yet", "email": "nobody@e2e.example", "email_verified": True, "name": "Nobody"},
            redirect_uris=[f"{portal_url}/login/sso/{OIDC_NAME}/callback"],
        )
        issuer = provider.start()
    except Exception:
        return None, "", "the local OpenID provider did not start:\n" + traceback.format_exc(limit=3)
    return provider, oidc_providers_env(issuer, name=OIDC_NAME, label=OIDC_LABEL), ""


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("e2e")
    sock = _free_socket()
    port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    provider, oidc_env, oidc_error = _start_oidc_provider(url)
    env = {
        "DATABASE_URL": f"sqlite:///{root / 'portal.db'}",
        "CRM_DATABASE_URL": f"sqlite:///{root / 'crm.db'}",
        "DATA_DIR": str(root / "data"),
        "BASE_URL": url,
        "SECRET_KEY": SECRET,
    }
    if oidc_env:
        env["OIDC_PROVIDERS"] = oidc_env
    settings = load_settings(env, background_poll_s=0.5)

    # argon2id with test-sized parameters (same algorithm and code path), as tests/ does.
    original_hasher, original_dummy = passwords._hasher, passwords._DUMMY_HASH
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    passwords._DUMMY_HASH = passwords._hasher.hash("dummy")
    server: uvicorn.Server | None = None
    thread: threading.Thread | None = None
    try:
        portal_engine, crm_engine = make_engine(settings.database_url), make_engine(settings.crm_database_url)
        migrate_all(portal_engine, crm_engine)
        portal_engine.dispose()
        crm_engine.dispose()
        seed(settings, echo=lambda _line: None)  # idempotent; it would migrate too
        # One adapter cycle before serving: the demo orders and serials are in the read copies
        # from the first page on (the in-process adapter keeps them current afterwards).
        adapter = Adapter.for_urls(settings.database_url, settings.crm_database_url)
        try:
            adapter.run_once()
        finally:
            adapter.close()
            adapter.db.dispose()

        app = create_app(settings, background=True)
        # uvicorn leaves signal handlers alone outside the main thread; log_config=None keeps
        # it from reconfiguring logging for the whole test process.
        config = uvicorn.Config(app, log_config=None, log_level="warning", access_log=False, lifespan="on", ws="none", loop="asyncio")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="e2e-uvicorn", daemon=True)
        thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)
        _wait_for_search_index(url)
        yield LiveServer(url=url, settings=settings, oidc=provider, oidc_error=oidc_error)
    finally:
        if server is not None and thread is not None:
            server.should_exit = True
            thread.join(timeout=15)
        sock.close()
        if provider is not None:
            provider.stop()
        passwords._hasher, passwords._DUMMY_HASH = original_hasher, original_dummy
    assert thread is not None
    assert not thread.is_alive(), "the live server did not stop"


def _wait_for_search_index(url: str, timeout: float = 60.0) -> None:
    """The search index is built in the background at start-up (about a second for the demo
    articles, after jieba's start-up): wait until it answers, as a reader arriving later would."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/kb/search.json?q=warranty&limit=1") as response:  # noqa: S310 - our own test server
                if json.loads(response.read())["results"]:
                    return
        except urllib.error.HTTPError as exc:
            raise RuntimeError(f"the search endpoint failed while the index was being built: {exc}") from exc
        time.sleep(0.2)
    raise RuntimeError("the search index was not ready in time")


@pytest.fixture(scope="session")
def base_url(live_server: LiveServer) -> str:
    return live_server.url


# -- e-mail from the Maildir ------------------------------------------------------------------------
@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    base_url: str

    def link(self, path: str) -> str:
        """The first absolute link to `path` (e.g. "/verify-email") in the text body."""
        match = re.search(rf"{re.escape(self.base_url)}{re.escape(path)}[^\s<>\"']*", self.text)
        assert match, f"no link to {path} in the e-mail {self.subject!r}:\n{self.text}"
        return match.group(0)


class MailReader:
    def __init__(self, maildir: Path, base_url: str) -> None:
        self.new = maildir / "new"
        self.base_url = base_url

    def _messages(self) -> list[tuple[int, EmailMessage]]:
        if not self.new.is_dir():
            return []
        found = []
        for path in self.new.iterdir():
            try:
                stamp, raw = path.stat().st_mtime_ns, path.read_bytes()
            except FileNotFoundError:  # moved by someone reading the Maildir properly
                continue
            found.append((stamp, BytesParser(policy=policy.default).parsebytes(raw)))
        return found

    def wait_for(self, to: str, *, link: str | None = None, subject: str | None = None, timeout: float = 10.0) -> Mail:
        """The newest e-mail to `to` (optionally: that contains a link to `link`, whose subject
        contains `subject`), polling."""
        deadline = time.monotonic() + timeout
        while True:
            candidates = []
            for stamp, message in self._messages():
                if to.lower() not in str(message["To"]).lower():
                    continue
                text_part = message.get_body(preferencelist=("plain",))
                html_part = message.get_body(preferencelist=("html",))
                text = str(text_part.get_content()) if text_part else ""
                if link and f"{self.base_url}{link}" not in text:
                    continue
                if subject and subject not in str(message["Subject"]):
                    continue
                html = str(html_part.get_content()) if html_part else ""
                candidates.append((stamp, Mail(to=to, subject=str(message["Subject"]), text=text, html=html, base_url=self.base_url)))
            if candidates:
                return max(candidates, key=lambda item: item[0])[1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no e-mail to {to} (link {link!r}, subject {subject!r}) within {timeout:.0f} s")
            time.sleep(0.1)


@pytest.fixture(scope="session")
def mail(live_server: LiveServer) -> MailReader:
    return MailReader(live_server.settings.maildir, live_server.url)


# -- fresh people ---------------------------------------------------------------------------------
_counter = iter(range(1, 1_000_000))


@pytest.fixture
def unique_email(request: pytest.FixtureRequest) -> Callable[[str], str]:
    """A fresh address per call, so journeys never share state."""
    test = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:30]

    def make(who: str = "user") -> str:
        return f"{who}.{test}.{next(_counter)}.{int(time.time() * 1000) % 100000}@e2e.example"

    return make


@pytest.fixture
def make_user(live_server: LiveServer) -> Callable[..., str]:
    """Create a verified user directly (for journeys that are not about registering)."""

    def factory(email: str, password: str, *, name: str = "E2E Person", role: Role = Role.CUSTOMER) -> str:
        db = Database(live_server.settings.database_url)
        try:
            with db.unit_of_work() as session:
                accounts_service.create_user(session, email=email, password=password, role=role, name=name, verified=True, locale="en")
        finally:
            db.dispose()
        return email

    return factory


# -- accessibility and screenshots ----------------------------------------------------------------
@dataclass
class AxeLog:
    """Every audit of the session (all impacts), written to e2e/screenshots/axe-summary.json."""

    entries: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture(scope="session")
def axe_log() -> Iterator[AxeLog]:
    log = AxeLog()
    yield log
    SCREENSHOTS.mkdir(exist_ok=True)
    (SCREENSHOTS / "axe-summary.json").write_text(json.dumps(log.entries, indent=2, ensure_ascii=False))


def _format(violations: list[dict[str, Any]]) -> str:
    lines = []
    for v in violations:
        lines.append(f"- [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            lines.append(f"    at {', '.join(map(str, node['target']))}: {node.get('failureSummary', '').splitlines()[-1:]}")
    return "\n".join(lines)


class Auditor:
    """Runs axe-core in each page a journey opens; remembers which paths were audited."""

    def __init__(self, log: AxeLog, test: str, base_url: str) -> None:
        self.axe = Axe()
        self.base_url = base_url
        self.log = log
        self.test = test
        self.visited: dict[str, str] = {}  # path -> the full URL first seen
        self.audited: set[str] = set()

    def watch(self, page: Page) -> Page:
        page.set_default_timeout(PAGE_TIMEOUT_MS)

        def navigated(frame: Any) -> None:
            if frame == page.main_frame and frame.url.startswith(self.base_url + "/"):
                self.visited.setdefault(urlsplit(frame.url).path, frame.url)

        page.on("framenavigated", navigated)
        return page

    def check(self, page: Page) -> None:
        page.wait_for_load_state("load")
        results = self.axe.run(page).response
        violations = results["violations"]
        path = urlsplit(page.url).path
        self.audited.add(path)
        lang = page.locator("html").get_attribute("lang")
        self.log.entries.append(
            {
                "test": self.test,
                "url": page.url,
                "lang": lang,
                "title": page.title(),
                "violations": [{"id": v["id"], "impact": v["impact"], "nodes": len(v["nodes"])} for v in violations],
            }
        )
        bad = [v for v in violations if v["impact"] in FAILING_IMPACTS]
        assert not bad, f"axe-core found serious/critical problems on {page.url} (lang={lang}):\n{_format(bad)}"

    def unaudited(self) -> list[str]:
        return sorted(url for path, url in self.visited.items() if path not in self.audited)


@pytest.fixture
def a11y(axe_log: AxeLog, base_url: str, request: pytest.FixtureRequest) -> Iterator[Auditor]:
    """Our pages only: another site's (the OpenID provider's) are not ours to audit."""
    auditor = Auditor(axe_log, request.node.name, base_url)
    yield auditor
    if request.node.stash.get(CALL_FAILED, True):
        return  # the test's own failure says what went wrong
    missed = auditor.unaudited()
    assert not missed, f"pages visited but never checked with axe-core: {missed}"


@pytest.fixture
def page(page: Page, a11y: Auditor) -> Page:
    """pytest-playwright's page, watched by the auditor."""
    return a11y.watch(page)


@pytest.fixture
def new_page(new_context: Callable[..., BrowserContext], a11y: Auditor) -> Callable[[], Page]:
    """Another person's browser (own cookies), watched by the auditor; closed after the test."""

    def make() -> Page:
        return a11y.watch(new_context().new_page())

    return make


@pytest.fixture(scope="session")
def screenshot() -> Callable[[Page, str], Path]:
    SCREENSHOTS.mkdir(exist_ok=True)

    def shoot(page: Page, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return shoot
