"""The test world of the security suite: two customer companies, two partner organisations,
staff, and a user of every role (the roles of the authorization matrix), each with records
that belong to their tenant."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import pyotp
import pytest

from portal.accounts.models import Invitation, Role, User
from portal.app import AppState
from portal.db import utcnow
from portal.partner.models import ApplicationStatus, PartnerApplication
from portal.security import sessions
from portal.security.tokens import random_token, sha256_hex
from portal.web import CSRF_COOKIE, csrf_for
from tests.conftest import WebClient
from tests.portal.security import (
    matrix,
    world_api,
    world_customer,
    world_dashboard,
    world_desk,
    world_kb,
    world_repairs,
    world_report_form,
    world_reports,
)
from tests.portal.security.helpers import sign_in

ACCOUNTS = {
    "C-A": ("customer", "Alpha Appliances Ltd"),
    "C-B": ("customer", "Bravo Builders plc"),
    "P-X": ("partner", "Xenon Distribution"),
    "P-Y": ("partner", "Yonder Resellers"),
}

# role name -> (e-mail, role, account, TOTP on)
USERS: dict[str, tuple[str, Role, str | None, bool]] = {
    matrix.CUSTOMER_A: ("ann@alpha.example", Role.CUSTOMER, "C-A", False),
    matrix.CUSTOMER_B: ("bob@bravo.example", Role.CUSTOMER, "C-B", False),
    matrix.COLLEAGUE_A: ("cara@alpha.example", Role.CUSTOMER_ADMIN, "C-A", False),
    matrix.CONSUMER: ("dee@home.example", Role.CUSTOMER, None, False),
    matrix.PARTNER_X: ("xavi@xenon.example", Role.PARTNER_ADMIN, "P-X", True),
    matrix.PARTNER_Y: ("yuki@yonder.example", Role.PARTNER, "P-Y", False),
    matrix.STAFF: ("sam@northwind.example", Role.STAFF, None, True),
    matrix.ADMIN: ("ada@northwind.example", Role.ADMIN, None, True),
}

# Records of each tenant that the matrix acts on: users (not signed in) and open invitations.
MEMBERS = {
    "C-A": ("al@alpha.example", Role.CUSTOMER),
    "C-B": ("bo@bravo.example", Role.CUSTOMER),
    "P-X": ("xu@xenon.example", Role.PARTNER),
    "P-Y": ("yan@yonder.example", Role.PARTNER),
    "staff": ("stu@northwind.example", Role.STAFF),
}
MISSING_ID = 987654
# Where the test client keeps cookies of http://testserver (a host without a dot).
COOKIE_DOMAIN = "testserver.local"


@dataclass
class World:
    state: AppState
    make_client: Callable[[], WebClient]
    ids: dict[str, int | str] = field(default_factory=dict)
    clients: dict[str, WebClient] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def email(self, role: str) -> str:
        return USERS[role][0]

    def user_id(self, role: str) -> int:
        return int(self.ids[f"role:{role}"])

    def client(self, role: str, *, real_sign_in: bool = False) -> WebClient:
        """A browser signed in as `role` (anonymous for the guest), made once per test.

        By default the session is started directly (as a completed sign-in, second factor
        included) and the CSRF token computed as the pages carry it, to keep the matrix
        fast; `real_sign_in` goes through the forms instead."""
        if role not in self.clients:
            web = self.make_client()
            row = None
            if role != matrix.GUEST and real_sign_in:
                sign_in(web, self.state, self.email(role))
                self.tokens[role] = web.csrf("/")
            else:
                if role != matrix.GUEST:
                    with self.state.db.unit_of_work() as db:
                        user = db.get(User, self.user_id(role))
                        token, row = sessions.start(db, user=user, absolute_s=self.state.settings.session_absolute_s)
                    web.cookies.set(sessions.COOKIE_NAME, token, domain=COOKIE_DOMAIN)
                seed = random_token()
                web.cookies.set(CSRF_COOKIE, seed, domain=COOKIE_DOMAIN)
                self.tokens[role] = csrf_for(self.state.settings.secret_key, seed, row)
            self.clients[role] = web
        return self.clients[role]

    def token(self, role: str) -> str:
        """The CSRF token of `role`'s browser (valid while its session lasts)."""
        self.client(role)
        return self.tokens[role]

    def resolve(self, value: matrix.Obj | str, role: str) -> str:
        if isinstance(value, str):
            return quote(value, safe="")
        if value.name == "self":
            return str(self.user_id(role)) if role != matrix.GUEST else str(MISSING_ID)
        if value.name == "missing":
            return str(MISSING_ID)
        return str(self.ids[value.name])

    def url(self, path: str, case: matrix.Case, role: str) -> str:
        url = path.format(**{name: self.resolve(value, role) for name, value in case.params.items()})
        return f"{url}?{case.query}" if case.query else url


def build_world(state: AppState, make_client: Callable[[], WebClient]) -> World:
    from portal.accounts import service

    world = World(state=state, make_client=make_client)
    now = utcnow()
    with state.db.unit_of_work() as db:
        for account_id, (kind, name) in ACCOUNTS.items():
            service.apply_crm_account(db, account_id=account_id, kind=kind, name=name, tier=None, country="GB")
        db.flush()
        for role, (email, user_role, account_id, mfa) in USERS.items():
            user = service.create_user(
                db, email=email, password="correct horse battery", role=user_role, name=role.title(), account_id=account_id, verified=True
            )
            if mfa:
                user.totp_secret, user.totp_enabled = pyotp.random_base32(), True
            world.ids[f"role:{role}"] = user.id
        for tenant, (email, user_role) in MEMBERS.items():
            account_id = None if tenant == "staff" else tenant
            member = service.create_user(
                db,
                email=email,
                password="correct horse battery",
                role=user_role,
                name=f"Member {tenant}",
                account_id=account_id,
                verified=True,
            )
            invitation = Invitation(
                account_id=account_id,
                email=f"invited-{tenant.lower()}@example.com",
                role=user_role,
                token_hash=sha256_hex(random_token()),
                created_at=now,
                expires_at=now + timedelta(days=7),
            )
            db.add(invitation)
            db.flush()
            world.ids[f"user:{tenant}"] = member.id
            world.ids[f"invitation:{tenant}"] = invitation.id
        application = PartnerApplication(
            company="Zephyr Trading",
            country="GB",
            contact_name="Zoe",
            contact_email="zoe@zephyr.example",
            status=ApplicationStatus.SUBMITTED,
            created_at=now,
            version=1,
        )
        db.add(application)
        db.flush()
        world.ids["application"] = application.id
        db.flush()
        for module in (world_customer, world_repairs, world_desk, world_kb, world_reports, world_dashboard, world_api, world_report_form):
            module.add(db, world, now)
    return world


@pytest.fixture
def world(state: AppState, app: Any, make_client: Callable[[], WebClient]) -> Iterator[World]:
    return build_world(state, make_client)


@pytest.fixture
def from_address(app: Any) -> Iterator[Callable[[str], WebClient]]:
    """A browser at a given IP address (the TestClient's ASGI `client`)."""
    made: list[WebClient] = []

    def factory(ip: str) -> WebClient:
        web = WebClient(app, client=(ip, 50000))
        web.__enter__()
        made.append(web)
        return web

    yield factory
    for web in made:
        web.__exit__(None, None, None)
