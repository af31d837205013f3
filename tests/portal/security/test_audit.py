"""The audit log answers who did what, when and from where, for security-relevant events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from portal.db import utcnow
from portal.security.models import AuditEvent
from tests.conftest import PASSWORD, WebClient, link_in
from tests.portal.security import matrix
from tests.portal.security.conftest import World
from tests.portal.security.helpers import sign_in, totp_code

IP = "198.51.100.20"
NEW_PASSWORD = "a brand new passphrase"


def events(world: World, action: str) -> list[AuditEvent]:
    with world.state.db.unit_of_work(write=False) as db:
        rows = list(db.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))
        db.expunge_all()
        return rows


def only_event(world: World, action: str) -> AuditEvent:
    rows = events(world, action)
    assert len(rows) == 1, f"{action}: {len(rows)} rows"
    row = rows[0]
    assert utcnow() - timedelta(minutes=1) < row.at <= utcnow(), "when"
    return row


def test_sign_in_failed_sign_in_and_sign_out_are_recorded(world: World, from_address: Callable[[str], WebClient]) -> None:
    web = from_address(IP)
    email = world.email(matrix.CUSTOMER_A)
    assert web.submit("/login", {"email": email, "password": "wrong"}).status_code == 400
    failed = only_event(world, "login.failed")
    assert (failed.actor_user_id, failed.actor_email, failed.ip) == (world.user_id(matrix.CUSTOMER_A), email, IP)
    web.login(email)
    login = only_event(world, "login")
    assert (login.actor_user_id, login.actor_email, login.ip, login.detail["method"]) == (
        world.user_id(matrix.CUSTOMER_A),
        email,
        IP,
        "password",
    )
    web.submit("/logout")
    logout = only_event(world, "logout")
    assert (logout.actor_user_id, logout.ip) == (world.user_id(matrix.CUSTOMER_A), IP)


def test_a_failed_sign_in_for_an_unknown_address_is_recorded_too(world: World, from_address: Callable[[str], WebClient]) -> None:
    from_address(IP).submit("/login", {"email": "Nobody@Example.com", "password": "guess"})
    row = only_event(world, "login.failed")
    assert (row.actor_user_id, row.actor_email, row.ip) == (None, "nobody@example.com", IP)


def test_second_factor_sign_in_and_failures_are_recorded(world: World, from_address: Callable[[str], WebClient]) -> None:
    web = from_address(IP)
    email = world.email(matrix.STAFF)
    web.login(email)
    assert web.submit("/login/2fa", {"code": "000000"}).status_code == 400
    assert only_event(world, "mfa.failed").actor_user_id == world.user_id(matrix.STAFF)
    web.submit("/login/2fa", {"code": totp_code(world.state, email)})
    assert only_event(world, "login").detail["method"] == "password+totp"


def test_password_change_and_reset_are_recorded(
    world: World, from_address: Callable[[str], WebClient], outbox_mail: Callable[[], list[Any]]
) -> None:
    web = from_address(IP)
    email = world.email(matrix.CUSTOMER_A)
    sign_in(web, world.state, email)
    web.submit(
        "/account/password",
        {"current_password": PASSWORD, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD},
        form_page="/account/password",
    )
    changed = only_event(world, "password.changed")
    assert (changed.actor_user_id, changed.ip) == (world.user_id(matrix.CUSTOMER_A), IP)

    web.submit("/password/forgot", {"email": email})
    assert only_event(world, "password.reset_requested").actor_user_id == world.user_id(matrix.CUSTOMER_A)
    web.submit(link_in(outbox_mail()[-1], "/password/reset"), {"password": PASSWORD, "password_confirm": PASSWORD})
    reset = only_event(world, "password.reset")
    assert (reset.actor_user_id, reset.ip) == (world.user_id(matrix.CUSTOMER_A), IP)


def test_staff_decisions_on_partner_applications_are_recorded(world: World) -> None:
    staff = world.client(matrix.STAFF)
    application_id = world.ids["application"]
    response = staff.post(f"/staff/applications/{application_id}", data={"csrf_token": world.token(matrix.STAFF), "decision": "approve"})
    assert response.status_code == 200
    row = only_event(world, "partner_application.approved")
    assert (row.actor_user_id, row.actor_email, row.target) == (world.user_id(matrix.STAFF), world.email(matrix.STAFF), str(application_id))


def test_deactivating_a_user_is_recorded(world: World) -> None:
    admin = world.client(matrix.ADMIN)
    target = world.user_id(matrix.CUSTOMER_B)
    admin.post(f"/staff/users/{target}/active", data={"csrf_token": world.token(matrix.ADMIN), "active": "0"})
    row = only_event(world, "user.deactivated")
    assert (row.actor_user_id, row.target) == (world.user_id(matrix.ADMIN), world.email(matrix.CUSTOMER_B))


def test_inviting_and_removing_colleagues_are_recorded(world: World) -> None:
    admin = world.client(matrix.COLLEAGUE_A)
    token = world.token(matrix.COLLEAGUE_A)
    admin.post("/account/colleagues", data={"csrf_token": token, "email": "newbie@alpha.example", "role": "customer"})
    sent = only_event(world, "invitation.sent")
    assert (sent.actor_user_id, sent.target, sent.detail["role"]) == (world.user_id(matrix.COLLEAGUE_A), "newbie@alpha.example", "customer")
    admin.post(f"/account/colleagues/{world.user_id(matrix.CUSTOMER_A)}/remove", data={"csrf_token": token})
    removed = only_event(world, "colleague.removed")
    assert (removed.actor_user_id, removed.target) == (world.user_id(matrix.COLLEAGUE_A), world.email(matrix.CUSTOMER_A))


def test_refused_actions_leave_no_misleading_success_events(world: World) -> None:
    """A foreign removal (404) records no removal: the log shows only what happened."""
    partner = world.client(matrix.PARTNER_X)
    response = partner.post(f"/account/colleagues/{world.ids['user:P-Y']}/remove", data={"csrf_token": world.token(matrix.PARTNER_X)})
    assert response.status_code == 404
    assert events(world, "colleague.removed") == []


def test_denials_and_refused_forms_are_audited(client: Any, make_user: Any, make_account: Any, uow: Any) -> None:
    from sqlalchemy import select

    from portal.accounts.models import Role
    from portal.security.models import AuditEvent

    make_account("C-1")
    make_user("member@one.example", Role.CUSTOMER, account_id="C-1")
    client.login("member@one.example")
    assert client.get("/staff").status_code == 404
    assert client.post("/account/profile", data={"name": "x", "locale": "en"}).status_code == 403
    with uow() as session:
        rows = [(r.action, r.actor_email, r.target) for r in session.scalars(select(AuditEvent).order_by(AuditEvent.id))]
    assert ("access.denied", "member@one.example", "GET /staff") in rows
    assert ("csrf.rejected", "member@one.example", "POST /account/profile") in rows
