"""Partner applications: submit, staff decide, approval creates the organisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from portal.accounts.models import Account, Invitation, Role, User
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.events import OutboxEvent
from portal.partner import service
from portal.partner.models import ApplicationStatus, PartnerApplication

APPLICATION = {
    "company": "Mekong Networks Co., Ltd",
    "country": "VN",
    "contact_name": "Nguyen Van An",
    "contact_email": "an@mekong.example",
    "website": "https://mekong.example",
    "message": "We distribute networking gear to 300 resellers.",
}


def _submit(state: Any, uow: Callable[..., Any], ip: str = "127.0.0.1", **overrides: str) -> int:
    with uow() as session:
        application = service.submit_application(session, state.mailing, **{**APPLICATION, **overrides}, locale="en", ip=ip)
        session.flush()
        return application.id


def test_an_application_is_recorded_confirmed_and_sent_to_the_crm(state: Any, uow: Callable[..., Any], outbox_mail: Any) -> None:
    application_id = _submit(state, uow)
    with uow() as session:
        application = session.get(PartnerApplication, application_id)
        event = session.scalar(select(OutboxEvent).where(OutboxEvent.aggregate_id == application.external_id))
        assert event is not None
        assert (event.type, event.payload["status"], event.payload["company"]) == (
            "partner_application.upserted",
            "submitted",
            APPLICATION["company"],
        )
    assert [m["Subject"] for m in outbox_mail()] == ["We received your partner application"]


def test_an_application_with_bad_fields_names_each(state: Any, uow: Callable[..., Any]) -> None:
    with pytest.raises(Invalid) as caught:
        _submit(state, uow, company=" ", country="XX", contact_email="nope")
    assert set(caught.value.errors) == {"company", "country", "contact_email"}


def test_approval_creates_the_partner_organisation_and_invites_its_admin(
    state: Any, uow: Callable[..., Any], make_user: Any, outbox_mail: Any
) -> None:
    staff = make_user("staff@northwind.example", Role.STAFF)
    application_id = _submit(state, uow)
    with uow() as session:
        service.decide_application(
            session, state.mailing, actor=session.get(User, staff.id), application_id=application_id, approve=True, note=""
        )
    with uow() as session:
        application = session.get(PartnerApplication, application_id)
        assert application.status is ApplicationStatus.APPROVED
        account = session.get(Account, application.account_id)
        assert (account.kind.value, account.name, account.tier) == ("partner", APPLICATION["company"], "registered")
        invitation = session.scalar(select(Invitation))
        assert (invitation.email, invitation.role, invitation.account_id) == ("an@mekong.example", Role.PARTNER_ADMIN, account.account_id)
        statuses = [
            e.payload["status"]
            for e in session.scalars(
                select(OutboxEvent).where(OutboxEvent.aggregate_id == application.external_id).order_by(OutboxEvent.seq)
            )
        ]
        assert statuses == ["submitted", "approved"]
    assert outbox_mail()[-1]["Subject"] == f"You are invited to {APPLICATION['company']} on the Northwind Devices portal"


def test_rejection_tells_the_applicant_and_cannot_be_decided_twice(
    state: Any, uow: Callable[..., Any], make_user: Any, outbox_mail: Any
) -> None:
    staff = make_user("staff@northwind.example", Role.STAFF)
    application_id = _submit(state, uow)
    with uow() as session:
        service.decide_application(
            session,
            state.mailing,
            actor=session.get(User, staff.id),
            application_id=application_id,
            approve=False,
            note="Not in our regions yet.",
        )
    with uow() as session, pytest.raises(Conflict):
        service.decide_application(
            session, state.mailing, actor=session.get(User, staff.id), application_id=application_id, approve=True, note=""
        )
    last = outbox_mail()[-1]
    assert last["Subject"] == "About your partner application"
    assert "Not in our regions yet." in last.get_body(preferencelist=("plain",)).get_content()


def test_only_staff_see_applications(state: Any, uow: Callable[..., Any], make_user: Any, make_account: Any) -> None:
    make_account("P-1", "partner")
    partner = make_user("admin@p1.example", Role.PARTNER_ADMIN, account_id="P-1")
    application_id = _submit(state, uow)
    with uow() as session, pytest.raises(Forbidden):
        service.get_application(session, actor=session.get(User, partner.id), application_id=application_id)


def test_unknown_application_is_not_found(uow: Callable[..., Any], make_user: Any) -> None:
    staff = make_user("staff@northwind.example", Role.STAFF)
    with uow() as session, pytest.raises(NotFound):
        service.get_application(session, actor=session.get(User, staff.id), application_id=999)


def test_application_list_is_filtered_and_paginated(state: Any, uow: Callable[..., Any], make_user: Any) -> None:
    staff = make_user("staff@northwind.example", Role.STAFF)
    for n in range(service.PAGE_SIZE + 3):
        _submit(state, uow, ip=f"10.0.0.{n}", contact_email=f"c{n}@example.com")
    with uow() as session:
        actor = session.get(User, staff.id)
        first, total = service.list_applications(session, actor=actor, status=ApplicationStatus.SUBMITTED, page=1)
        second, _ = service.list_applications(session, actor=actor, status=ApplicationStatus.SUBMITTED, page=2)
        none, zero = service.list_applications(session, actor=actor, status=ApplicationStatus.APPROVED)
    assert (len(first), len(second), total) == (service.PAGE_SIZE, 3, service.PAGE_SIZE + 3)
    assert (none, zero) == ([], 0)
