from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Enum, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, new_uuid


def _enum(cls: type[enum.Enum], length: int = 20) -> Enum:
    return Enum(cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class Role(enum.StrEnum):
    CUSTOMER = "customer"
    CUSTOMER_ADMIN = "customer_admin"
    PARTNER = "partner"
    PARTNER_ADMIN = "partner_admin"
    STAFF = "staff"
    ADMIN = "admin"

    @property
    def is_customer(self) -> bool:
        return self in (Role.CUSTOMER, Role.CUSTOMER_ADMIN)

    @property
    def is_partner(self) -> bool:
        return self in (Role.PARTNER, Role.PARTNER_ADMIN)

    @property
    def is_staff(self) -> bool:
        return self in (Role.STAFF, Role.ADMIN)

    @property
    def requires_mfa(self) -> bool:
        return self in (Role.STAFF, Role.ADMIN, Role.PARTNER_ADMIN)


class AccountKind(enum.StrEnum):
    CUSTOMER = "customer"
    PARTNER = "partner"


class Account(Base):
    """Read copy of a CRM account (crm_account); partner accounts may be created by approval."""

    __tablename__ = "account"

    account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[AccountKind] = mapped_column(_enum(AccountKind))
    name: Mapped[str] = mapped_column(String(200))
    tier: Mapped[str | None] = mapped_column(String(20))
    country: Mapped[str | None] = mapped_column(String(2))
    updated_at: Mapped[datetime]


class User(Base):
    __tablename__ = "user_account"
    __table_args__ = (Index("ix_user_account_account", "account_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    # Grows with every change pushed to the CRM (crm_contact.version).
    version: Mapped[int] = mapped_column(Integer, default=1)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role))
    account_id: Mapped[str | None] = mapped_column(ForeignKey("account.account_id"))
    locale: Mapped[str] = mapped_column(String(10), default="en")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    email_verified_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime | None]
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Last accepted TOTP time step: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    recovery_code_hashes: Mapped[list[str]] = mapped_column(JSON, default=list)

    account: Mapped[Account | None] = relationship(lazy="joined")

    @property
    def display_name(self) -> str:
        return self.name or self.email


class Invitation(Base):
    """An e-mailed invitation to join a company or partner account with a role."""

    __tablename__ = "invitation"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    # None for staff invitations.
    account_id: Mapped[str | None] = mapped_column(ForeignKey("account.account_id"))
    email: Mapped[str] = mapped_column(String(254))
    role: Mapped[Role] = mapped_column(_enum(Role))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    accepted_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class OidcIdentity(Base):
    """A user's identity at an OpenID provider (`iss` + `sub`)."""

    __tablename__ = "oidc_identity"
    __table_args__ = (Index("uq_oidc_identity_provider_subject", "provider", "subject", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    provider: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    claims: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
