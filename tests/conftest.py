"""Shared fixtures. The suite runs once per database: PORTAL_TEST_DB=sqlite (default) or
postgresql (a throwaway PostgreSQL 15 cluster started here). Each test starts from empty
tables (truncated, not re-created: fast on both databases)."""

from __future__ import annotations

import mailbox
import os
import re
from collections.abc import Callable, Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, text
from starlette.testclient import TestClient

from backend_adapter import crm_schema
from portal.accounts import service as accounts_service
from portal.accounts.models import Role, User
from portal.app import AppState, build_state, create_app
from portal.db import make_engine
from portal.migrate import migrate_all
from portal.models import metadata as portal_metadata
from portal.security import passwords
from portal.settings import Settings, load_settings
from tests.support.pg import ThrowawayPostgres

PASSWORD = "correct horse battery"
SECRET = "test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def pytest_report_header(config: pytest.Config) -> str:
    return f"portal test database: {os.environ.get('PORTAL_TEST_DB', 'sqlite')}"


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing() -> Iterator[None]:
    """argon2id with test-sized parameters: same algorithm and code path, 50x cheaper."""
    original = passwords._hasher
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    passwords._DUMMY_HASH = passwords._hasher.hash("dummy")
    yield
    passwords._hasher = original


@pytest.fixture(scope="session")
def backend() -> str:
    name = os.environ.get("PORTAL_TEST_DB", "sqlite")
    assert name in ("sqlite", "postgresql"), name
    return name


@pytest.fixture(scope="session")
def database_urls(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(portal URL, CRM URL), migrated once for the session."""
    if backend == "sqlite":
        root = tmp_path_factory.mktemp("db")
        urls = (f"sqlite:///{root / 'portal.db'}", f"sqlite:///{root / 'crm.db'}")
        cluster = None
    else:
        cluster = ThrowawayPostgres()
        cluster.start()
        urls = (cluster.create_database("portal_test"), cluster.create_database("crm_test"))
    portal_engine, crm_engine = make_engine(urls[0]), make_engine(urls[1])
    migrate_all(portal_engine, crm_engine)
    portal_engine.dispose()
    crm_engine.dispose()
    yield urls
    if cluster is not None:
        cluster.stop()


def _truncate(engine: Engine, table_names: list[str]) -> None:
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            names = ", ".join(f'"{n}"' for n in table_names)
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for name in table_names:
                conn.execute(text(f'DELETE FROM "{name}"'))
            conn.execute(text("DELETE FROM sqlite_sequence")) if conn.execute(
                text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")
            ).first() else None


@pytest.fixture
def settings(database_urls: tuple[str, str], tmp_path: Path) -> Settings:
    return load_settings(
        {},
        database_url=database_urls[0],
        crm_database_url=database_urls[1],
        data_dir=tmp_path / "data",
        secret_key=SECRET,
        base_url="http://testserver",
    )


@pytest.fixture
def state(settings: Settings) -> Iterator[AppState]:
    state = build_state(settings)
    portal_tables = [t.name for t in reversed(portal_metadata.sorted_tables)] + ["alembic_version"][:0]
    _truncate(state.db.engine, portal_tables)
    _truncate(state.crm_engine, [t.name for t in crm_schema.metadata.sorted_tables])
    yield state
    state.db.dispose()
    state.crm_engine.dispose()


@pytest.fixture
def uow(state: AppState) -> Callable[..., Any]:
    """`with uow() as session:` one committed unit of work, as a request would have."""
    return state.db.unit_of_work


@pytest.fixture
def app(settings: Settings, state: AppState) -> Any:
    application = create_app(settings, background=False)
    # Share the state (and its truncated databases) with the app under test.
    application.state.portal.db.dispose()
    application.state.portal = state
    return application


class WebClient(TestClient):
    """TestClient with helpers for forms: CSRF tokens come from the page, as in a browser."""

    def csrf(self, path: str = "/") -> str:
        response = self.get(path)
        match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
        assert match, f"no CSRF token on {path}"
        return match.group(1)

    def submit(self, path: str, data: dict[str, str] | None = None, *, form_page: str | None = None, **kwargs: Any) -> Any:
        payload = {"csrf_token": self.csrf(form_page or "/"), **(data or {})}
        kwargs.setdefault("follow_redirects", False)
        return self.post(path, data=payload, **kwargs)

    def login(self, email: str, password: str = PASSWORD) -> Any:
        response = self.submit("/login", {"email": email, "password": password})
        assert response.status_code == 303, response.text[:500]
        return response


@pytest.fixture
def client(app: Any) -> Iterator[WebClient]:
    with WebClient(app, base_url="http://testserver") as web:
        yield web


@pytest.fixture
def make_client(app: Any) -> Iterator[Callable[[], WebClient]]:
    """Several independent browsers against the same app (each its own cookies)."""
    made: list[WebClient] = []

    def factory() -> WebClient:
        web = WebClient(app, base_url="http://testserver")
        web.__enter__()
        made.append(web)
        return web

    yield factory
    for web in made:
        web.__exit__(None, None, None)


@pytest.fixture
def make_user(uow: Callable[..., Any]) -> Callable[..., User]:
    def factory(
        email: str,
        role: Role = Role.CUSTOMER,
        *,
        account_id: str | None = None,
        name: str = "Test User",
        password: str = PASSWORD,
        verified: bool = True,
        locale: str = "en",
    ) -> User:
        with uow() as session:
            user = accounts_service.create_user(
                session, email=email, password=password, role=role, name=name, account_id=account_id, verified=verified, locale=locale
            )
        return user

    return factory


@pytest.fixture
def make_account(uow: Callable[..., Any]) -> Callable[..., str]:
    def factory(account_id: str, kind: str = "customer", name: str | None = None, tier: str | None = None) -> str:
        with uow() as session:
            accounts_service.apply_crm_account(session, account_id=account_id, kind=kind, name=name or account_id, tier=tier, country="GB")
        return account_id

    return factory


@pytest.fixture
def outbox_mail(state: AppState) -> Callable[[], list[EmailMessage]]:
    """Deliver queued mail to the Maildir and return every message there, oldest first."""

    def read() -> list[EmailMessage]:
        state.deliver_mail()
        box = mailbox.Maildir(str(state.settings.maildir), create=True)
        messages = [message_from_bytes(box.get_bytes(key), policy=policy.default) for key in box.keys()]  # noqa: SIM118 - iterating a Mailbox yields messages, not keys
        return sorted(messages, key=lambda m: int(str(m["X-Portal-Message-Id"])))  # type: ignore[return-value]

    return read


def mail_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, path: str) -> str:
    """The path+query of the first link to `path` in a message's text body."""
    match = re.search(rf"http://testserver({re.escape(path)}\S*)", mail_text(message))
    assert match, f"no link to {path} in: {mail_text(message)}"
    return match.group(1)
