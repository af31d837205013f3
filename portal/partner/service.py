"""Partner applications: a public form, staff decide, approval creates the organisation."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal import events
from portal.accounts import forms
from portal.accounts import service as accounts_service
from portal.accounts.models import Account, AccountKind, Role, User
from portal.db import utcnow
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.mail.service import Mailing, queue_email
from portal.partner.models import ApplicationStatus, PartnerApplication
from portal.security import ratelimit
from portal.security.audit import audit

COUNTRIES = (
    "AU", "CA", "CN", "DE", "ES", "FR", "GB", "HK", "ID", "IN", "IT", "JP", "KR", "MY", "NL",
    "PH", "PL", "SE", "SG", "TH", "TW", "US", "VN",
)  # fmt: skip
PAGE_SIZE = 20


def _application_event(db: Session, application: PartnerApplication) -> None:
    db.flush()
    events.record(
        db,
        events.Event(
            aggregate_type="partner_application",
            aggregate_id=application.external_id,
            seq=application.version,
            type="partner_application.upserted",
            payload={
                "external_id": application.external_id,
                "company": application.company,
                "country": application.country,
                "contact_email": application.contact_email,
                "status": application.status.value,
                "account_id": application.account_id,
                "created_at": application.created_at.isoformat(),
            },
        ),
    )


def submit_application(
    db: Session,
    mailing: Mailing,
    *,
    company: str,
    country: str,
    contact_name: str,
    contact_email: str,
    website: str,
    message: str,
    locale: str,
    ip: str,
) -> PartnerApplication:
    """Record a "become a partner" application and confirm it by e-mail. Raises Invalid."""

    def clean_company() -> str:
        value = " ".join(company.split())
        if not value:
            raise Invalid("company", "Enter your company's name.")
        if len(value) > 200:
            raise Invalid("company", "Use at most 200 characters.")
        return value

    def clean_country() -> str:
        value = country.strip().upper()
        if value not in COUNTRIES:
            raise Invalid("country", "Choose a country from the list.")
        return value

    def clean_text(value: str, limit: int, field: str) -> str:
        value = value.strip()
        if len(value) > limit:
            raise Invalid(field, "This is too long.")
        return value

    values = forms.validate(
        company=clean_company,
        country=clean_country,
        contact_name=lambda: forms.clean_name(contact_name, "contact_name"),
        contact_email=lambda: forms.clean_email(contact_email, "contact_email"),
        website=lambda: clean_text(website, 300, "website"),
        message=lambda: clean_text(message, 4000, "message"),
    )
    ratelimit.hit(db, ratelimit.EMAIL_ACTION_IP, f"apply:{ip}")
    application = PartnerApplication(**values, status=ApplicationStatus.SUBMITTED, created_at=utcnow(), version=1)
    db.add(application)
    _application_event(db, application)
    queue_email(
        db,
        mailing.composer,
        to=application.contact_email,
        template="application_received",
        locale=locale,
        context={"name": application.contact_name, "company": application.company},
    )
    return application


def _require_staff(actor: User) -> None:
    if not actor.role.is_staff:
        raise Forbidden()


def list_applications(db: Session, *, actor: User, status: ApplicationStatus | None, page: int = 1) -> tuple[list[PartnerApplication], int]:
    _require_staff(actor)
    stmt = select(PartnerApplication)
    count_stmt = select(func.count()).select_from(PartnerApplication)
    if status is not None:
        stmt = stmt.where(PartnerApplication.status == status)
        count_stmt = count_stmt.where(PartnerApplication.status == status)
    total = int(db.scalar(count_stmt) or 0)
    rows = db.scalars(
        stmt.order_by(PartnerApplication.created_at.desc(), PartnerApplication.id.desc())
        .limit(PAGE_SIZE)
        .offset((max(page, 1) - 1) * PAGE_SIZE)
    ).all()
    return list(rows), total


def get_application(db: Session, *, actor: User, application_id: int) -> PartnerApplication:
    _require_staff(actor)
    application = db.get(PartnerApplication, application_id)
    if application is None:
        raise NotFound()
    return application


def _new_partner_account_id(db: Session) -> str:
    while True:
        candidate = f"PA-{secrets.token_hex(4).upper()}"
        if db.get(Account, candidate) is None:
            return candidate


def decide_application(db: Session, mailing: Mailing, *, actor: User, application_id: int, approve: bool, note: str) -> PartnerApplication:
    """Approve (creates the partner organisation, invites its first partner admin) or reject.
    Raises NotFound, Conflict (already decided)."""
    application = get_application(db, actor=actor, application_id=application_id)
    if application.status is not ApplicationStatus.SUBMITTED:
        raise Conflict("This application has already been decided.")
    application.decision_note = note.strip()[:4000]
    application.decided_by_id = actor.id
    application.decided_at = utcnow()
    application.version += 1
    if approve:
        account = Account(
            account_id=_new_partner_account_id(db),
            kind=AccountKind.PARTNER,
            name=application.company,
            tier="registered",
            country=application.country,
            updated_at=utcnow(),
        )
        db.add(account)
        db.flush()
        application.account_id = account.account_id
        application.status = ApplicationStatus.APPROVED
        accounts_service.invite(
            db,
            mailing,
            actor=None,
            email=application.contact_email,
            role=Role.PARTNER_ADMIN,
            account_id=account.account_id,
            inviter_name=actor.display_name,
        )
    else:
        application.status = ApplicationStatus.REJECTED
        queue_email(
            db,
            mailing.composer,
            to=application.contact_email,
            template="application_rejected",
            locale="en",
            context={"name": application.contact_name, "company": application.company, "note": application.decision_note},
        )
    _application_event(db, application)
    audit(
        db, f"partner_application.{application.status.value}", actor_user_id=actor.id, actor_email=actor.email, target=str(application.id)
    )
    return application


def partner_account(db: Session, *, actor: User) -> Account:
    if not actor.role.is_partner or actor.account_id is None:
        raise NotFound()
    account = db.get(Account, actor.account_id)
    if account is None:
        raise NotFound()
    return account
