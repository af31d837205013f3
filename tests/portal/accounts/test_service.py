"""Account rules through the service layer, with the real database and outbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from sqlalchemy import func, select

from portal.accounts import service
from portal.accounts.models import Invitation, Role, User
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.events import OutboxEvent
from portal.mail.models import MailMessage
from portal.security import sessions
from tests.conftest import PASSWORD


def _events(session: Any, aggregate_id: str) -> list[OutboxEvent]:
    return list(session.scalars(select(OutboxEvent).where(OutboxEvent.aggregate_id == aggregate_id).order_by(OutboxEvent.seq)))


def _register(state: Any, uow: Callable[..., Any], email: str = "new@example.com", **overrides: str) -> None:
    values = {"email": email, "password": PASSWORD, "password_confirm": PASSWORD, "name": "New Person", "locale": "en", "ip": "127.0.0.1"}
    values.update(overrides)
    with uow() as session:
        service.register_customer(session, state.mailing, **values)


def test_registration_creates_an_unverified_customer_with_a_contact_event(state: Any, uow: Callable[..., Any]) -> None:
    _register(state, uow, "New@Example.com")
    with uow() as session:
        user = service.find_by_email(session, "new@example.com")
        assert user is not None
        assert user.role is Role.CUSTOMER
        assert user.email_verified_at is None
        events = _events(session, user.external_id)
        assert [(e.type, e.seq) for e in events] == [("contact.upserted", 1)]
        assert events[0].payload["email"] == "new@example.com"
        assert events[0].payload["role"] == "customer"


def test_registration_reports_every_bad_field_at_once(state: Any, uow: Callable[..., Any]) -> None:
    with pytest.raises(Invalid) as caught:
        _register(state, uow, "not-an-email", name="", password="short", password_confirm="short")
    assert set(caught.value.errors) == {"email", "name", "password"}


def test_registering_a_known_email_tells_the_owner_instead(state: Any, uow: Callable[..., Any], outbox_mail: Any) -> None:
    _register(state, uow, "twice@example.com")
    _register(state, uow, "twice@example.com")
    with uow() as session:
        assert session.scalar(select(func.count()).select_from(User)) == 1
    subjects = [m["Subject"] for m in outbox_mail()]
    assert subjects == ["Verify your e-mail address", "Someone tried to register with your e-mail address"]


def test_verification_link_verifies_once_and_bumps_the_contact_version(state: Any, uow: Callable[..., Any]) -> None:
    _register(state, uow, "verify@example.com")
    with uow() as session:
        user = service.find_by_email(session, "verify@example.com")
        assert user is not None
        token = state.signer.sign("verify-email", {"u": user.id, "e": user.email})
    with uow() as session:
        verified = service.verify_email(session, state.signer, token=token)
        assert verified.email_verified_at is not None
    with uow() as session:
        service.verify_email(session, state.signer, token=token)  # a second click is harmless
        assert [e.seq for e in _events(session, verified.external_id)] == [1, 2]


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c"])
def test_bad_verification_links_are_refused(state: Any, uow: Callable[..., Any], token: str) -> None:
    with uow() as session, pytest.raises(Invalid):
        service.verify_email(session, state.signer, token=token)


def test_a_verification_link_for_another_purpose_is_refused(state: Any, uow: Callable[..., Any], make_user: Any) -> None:
    user = make_user("purpose@example.com", verified=False)
    token = state.signer.sign("reset-password", {"u": user.id, "e": user.email})
    with uow() as session, pytest.raises(Invalid):
        service.verify_email(session, state.signer, token=token)


def test_unverified_user_cannot_sign_in(uow: Callable[..., Any], make_user: Any) -> None:
    make_user("pending@example.com", verified=False)
    with uow() as session, pytest.raises(service.EmailNotVerified):
        service.authenticate(session, email="pending@example.com", password=PASSWORD, ip="127.0.0.1")


def test_wrong_password_and_unknown_email_fail_the_same_way(uow: Callable[..., Any], make_user: Any) -> None:
    make_user("known@example.com")
    messages = []
    for email in ("known@example.com", "unknown@example.com"):
        with uow() as session, pytest.raises(service.LoginFailed) as caught:
            service.authenticate(session, email=email, password="wrong password here", ip="127.0.0.1")
        messages.append(caught.value.errors)
    assert messages[0] == messages[1]


def test_deactivated_user_cannot_sign_in(uow: Callable[..., Any], make_user: Any) -> None:
    user = make_user("gone@example.com")
    with uow() as session:
        session.get(User, user.id).is_active = False
    with uow() as session, pytest.raises(service.LoginFailed):
        service.authenticate(session, email="gone@example.com", password=PASSWORD, ip="127.0.0.1")


def test_password_reset_link_works_once_and_ends_sessions(state: Any, uow: Callable[..., Any], make_user: Any, outbox_mail: Any) -> None:
    user = make_user("reset@example.com")
    with uow() as session:
        sessions.start(session, user=session.get(User, user.id), absolute_s=3600)
        service.request_password_reset(session, state.mailing, email="reset@example.com", ip="127.0.0.1")
    body = outbox_mail()[-1].get_body(preferencelist=("plain",)).get_content()
    token = body.split("/password/reset?token=")[1].split()[0]
    with uow() as session:
        service.reset_password(
            session, state.signer, token=token, password="a brand new secret", password_confirm="a brand new secret", ip="x"
        )
        assert sessions.count_for_user(session, user.id) == 0
    with uow() as session, pytest.raises(Invalid):
        service.user_for_reset_token(session, state.signer, token=token)
    with uow() as session:
        assert service.authenticate(session, email="reset@example.com", password="a brand new secret", ip="x").id == user.id


def test_reset_request_for_unknown_email_sends_nothing(state: Any, uow: Callable[..., Any], outbox_mail: Any) -> None:
    with uow() as session:
        service.request_password_reset(session, state.mailing, email="nobody@example.com", ip="127.0.0.1")
    assert outbox_mail() == []


def test_change_password_needs_the_current_one(uow: Callable[..., Any], make_user: Any) -> None:
    user = make_user("change@example.com")
    with uow() as session, pytest.raises(Invalid) as caught:
        service.change_password(
            session, actor=session.get(User, user.id), current="wrong", password="another secret", password_confirm="another secret", ip="x"
        )
    assert "current_password" in caught.value.errors


def test_profile_update_changes_language_and_records_the_contact(uow: Callable[..., Any], make_user: Any) -> None:
    user = make_user("profile@example.com")
    with uow() as session:
        service.update_profile(session, actor=session.get(User, user.id), name="Zhang Wei", locale="zh")
    with uow() as session:
        events = _events(session, user.external_id)
        assert events[-1].payload["locale"] == "zh"
        assert events[-1].payload["name"] == "Zhang Wei"
        assert events[-1].seq == 2


def test_profile_rejects_an_unknown_language(uow: Callable[..., Any], make_user: Any) -> None:
    user = make_user("lang@example.com")
    with uow() as session, pytest.raises(Invalid):
        service.update_profile(session, actor=session.get(User, user.id), name="X", locale="fr")


def test_customer_admin_invites_a_colleague_who_joins_the_company(
    state: Any, uow: Callable[..., Any], make_user: Any, make_account: Any, outbox_mail: Any
) -> None:
    make_account("C-1")
    admin = make_user("admin@company.example", Role.CUSTOMER_ADMIN, account_id="C-1")
    with uow() as session:
        service.invite(
            session,
            state.mailing,
            actor=session.get(User, admin.id),
            email="colleague@company.example",
            role=Role.CUSTOMER,
            account_id=None,
        )
    message = outbox_mail()[-1]
    token = message.get_body(preferencelist=("plain",)).get_content().split("token=")[1].split()[0]
    with uow() as session:
        joined = service.accept_invitation(
            session, token=token, name="Colleague", password="colleague secret", password_confirm="colleague secret", signed_in=None, ip="x"
        )
        assert (joined.account_id, joined.role, joined.email_verified_at is not None) == ("C-1", Role.CUSTOMER, True)
    with uow() as session, pytest.raises(Invalid):
        service.invitation_for_token(session, token=token)  # used up


def test_customer_admin_cannot_invite_staff(state: Any, uow: Callable[..., Any], make_user: Any, make_account: Any) -> None:
    make_account("C-1")
    admin = make_user("admin@company.example", Role.CUSTOMER_ADMIN, account_id="C-1")
    with uow() as session, pytest.raises(Invalid):
        service.invite(session, state.mailing, actor=session.get(User, admin.id), email="x@example.com", role=Role.STAFF, account_id=None)


def test_plain_customer_cannot_invite(state: Any, uow: Callable[..., Any], make_user: Any, make_account: Any) -> None:
    make_account("C-1")
    member = make_user("member@company.example", Role.CUSTOMER, account_id="C-1")
    with uow() as session, pytest.raises(Forbidden):
        service.invite(
            session, state.mailing, actor=session.get(User, member.id), email="x@example.com", role=Role.CUSTOMER, account_id=None
        )


def test_inviting_an_existing_member_is_a_conflict(state: Any, uow: Callable[..., Any], make_user: Any, make_account: Any) -> None:
    make_account("C-1")
    admin = make_user("admin@company.example", Role.CUSTOMER_ADMIN, account_id="C-1")
    make_user("member@company.example", Role.CUSTOMER, account_id="C-1")
    with uow() as session, pytest.raises(Conflict):
        service.invite(
            session, state.mailing, actor=session.get(User, admin.id), email="member@company.example", role=Role.CUSTOMER, account_id=None
        )


def test_existing_consumer_joins_a_company_only_when_signed_in(
    state: Any, uow: Callable[..., Any], make_user: Any, make_account: Any
) -> None:
    make_account("C-1")
    admin = make_user("admin@company.example", Role.CUSTOMER_ADMIN, account_id="C-1")
    consumer = make_user("consumer@example.com")
    with uow() as session:
        service.invite(
            session, state.mailing, actor=session.get(User, admin.id), email="consumer@example.com", role=Role.CUSTOMER, account_id=None
        )
        invitation = session.scalar(select(Invitation))
        assert invitation is not None
    # The raw token is only in the e-mail; re-issue a known one for the test.
    from portal.security.tokens import sha256_hex

    with uow() as session:
        session.get(Invitation, invitation.id).token_hash = sha256_hex("known-token")
    with uow() as session, pytest.raises(Invalid):
        service.accept_invitation(session, token="known-token", name="", password="", password_confirm="", signed_in=None, ip="x")
    with uow() as session:
        joined = service.accept_invitation(
            session, token="known-token", name="", password="", password_confirm="", signed_in=session.get(User, consumer.id), ip="x"
        )
        assert joined.account_id == "C-1"


def test_customer_admin_removes_a_colleague_who_keeps_a_personal_sign_in(
    uow: Callable[..., Any], make_user: Any, make_account: Any
) -> None:
    make_account("C-1")
    admin = make_user("admin@company.example", Role.CUSTOMER_ADMIN, account_id="C-1")
    member = make_user("member@company.example", Role.CUSTOMER, account_id="C-1")
    with uow() as session:
        service.remove_colleague(session, actor=session.get(User, admin.id), user_id=member.id)
    with uow() as session:
        removed = session.get(User, member.id)
        assert (removed.account_id, removed.is_active) == (None, True)


def test_partner_admin_deactivates_colleagues_of_their_organisation_only(
    uow: Callable[..., Any], make_user: Any, make_account: Any
) -> None:
    make_account("P-X", "partner")
    make_account("P-Y", "partner")
    admin = make_user("admin@x.example", Role.PARTNER_ADMIN, account_id="P-X")
    mine = make_user("user@x.example", Role.PARTNER, account_id="P-X")
    theirs = make_user("user@y.example", Role.PARTNER, account_id="P-Y")
    with uow() as session:
        service.remove_colleague(session, actor=session.get(User, admin.id), user_id=mine.id)
    with uow() as session, pytest.raises(NotFound):
        service.remove_colleague(session, actor=session.get(User, admin.id), user_id=theirs.id)
    with uow() as session:
        assert session.get(User, mine.id).is_active is False
        assert session.get(User, theirs.id).is_active is True


def test_nobody_removes_themselves(uow: Callable[..., Any], make_user: Any, make_account: Any) -> None:
    make_account("C-1")
    admin = make_user("admin@company.example", Role.CUSTOMER_ADMIN, account_id="C-1")
    with uow() as session, pytest.raises(NotFound):
        service.remove_colleague(session, actor=session.get(User, admin.id), user_id=admin.id)


def test_colleague_lists_never_cross_accounts(uow: Callable[..., Any], make_user: Any, make_account: Any) -> None:
    make_account("C-1")
    make_account("C-2")
    admin = make_user("admin@one.example", Role.CUSTOMER_ADMIN, account_id="C-1")
    make_user("member@one.example", Role.CUSTOMER, account_id="C-1")
    make_user("member@two.example", Role.CUSTOMER, account_id="C-2")
    with uow() as session:
        emails = {u.email for u in service.list_colleagues(session, actor=session.get(User, admin.id))}
    assert emails == {"admin@one.example", "member@one.example"}


def test_admin_deactivates_staff_and_their_sessions_end(uow: Callable[..., Any], make_user: Any) -> None:
    admin = make_user("admin@northwind.example", Role.ADMIN)
    staff = make_user("staff@northwind.example", Role.STAFF)
    with uow() as session:
        sessions.start(session, user=session.get(User, staff.id), absolute_s=3600)
    with uow() as session:
        service.set_active(session, actor=session.get(User, admin.id), user_id=staff.id, active=False)
    with uow() as session:
        assert sessions.count_for_user(session, staff.id) == 0
        assert session.get(User, staff.id).is_active is False
    with uow() as session, pytest.raises(Forbidden):
        service.set_active(session, actor=session.get(User, staff.id), user_id=admin.id, active=False)


def test_totp_needs_a_valid_code_and_never_accepts_the_same_code_twice(uow: Callable[..., Any], make_user: Any) -> None:
    user = make_user("mfa@example.com")
    secret = pyotp.random_base32()
    with uow() as session, pytest.raises(Invalid):
        service.confirm_totp(session, actor=session.get(User, user.id), secret=secret, code="000000")
    code = pyotp.TOTP(secret).now()
    with uow() as session:
        recovery = service.confirm_totp(session, actor=session.get(User, user.id), secret=secret, code=code)
    assert len(recovery) == 10
    with uow() as session, pytest.raises(Invalid):
        service.verify_second_factor(session, user=session.get(User, user.id), code=code, ip="x")


def test_recovery_codes_work_once(uow: Callable[..., Any], make_user: Any) -> None:
    user = make_user("recovery@example.com")
    secret = pyotp.random_base32()
    with uow() as session:
        codes = service.confirm_totp(session, actor=session.get(User, user.id), secret=secret, code=pyotp.TOTP(secret).now())
    with uow() as session:
        service.verify_second_factor(session, user=session.get(User, user.id), code=codes[0].upper(), ip="x")
    with uow() as session, pytest.raises(Invalid):
        service.verify_second_factor(session, user=session.get(User, user.id), code=codes[0], ip="x")
    with uow() as session:
        assert len(session.get(User, user.id).recovery_code_hashes) == 9


def test_staff_cannot_turn_two_factor_off(uow: Callable[..., Any], make_user: Any) -> None:
    staff = make_user("staff@northwind.example", Role.STAFF)
    with uow() as session, pytest.raises(Forbidden):
        service.disable_totp(session, actor=session.get(User, staff.id), password=PASSWORD)


def test_create_user_rejects_duplicates_and_unknown_accounts(uow: Callable[..., Any], make_user: Any) -> None:
    make_user("dup@example.com")
    with uow() as session, pytest.raises(Conflict):
        service.create_user(session, email="DUP@example.com", password=PASSWORD, role=Role.CUSTOMER)
    with uow() as session, pytest.raises(NotFound):
        service.create_user(session, email="x@example.com", password=PASSWORD, role=Role.CUSTOMER_ADMIN, account_id="NOPE")


def test_mail_is_queued_in_the_recipients_language(state: Any, uow: Callable[..., Any]) -> None:
    _register(state, uow, "zh@example.com", locale="zh")
    with uow() as session:
        message = session.scalar(select(MailMessage))
        assert message is not None
        assert message.locale == "zh"
