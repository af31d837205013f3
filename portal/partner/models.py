from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Enum, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, new_uuid


class ApplicationStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class PartnerApplication(Base):
    """A public "become a partner" application (pushed as crm_partner_application)."""

    __tablename__ = "partner_application"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    version: Mapped[int] = mapped_column(Integer, default=1)
    company: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254))
    website: Mapped[str] = mapped_column(String(300), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ApplicationStatus] = mapped_column(
        Enum(ApplicationStatus, native_enum=False, length=12, values_callable=lambda e: [m.value for m in e]),
        default=ApplicationStatus.SUBMITTED,
    )
    decision_note: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None]
    # The partner account created on approval.
    account_id: Mapped[str | None] = mapped_column(ForeignKey("account.account_id"))
    created_at: Mapped[datetime]


class SalesTarget(Base):
    """Read copy of crm_sales_target: a partner's target for one SKU in one month."""

    __tablename__ = "sales_target"

    partner_account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    sku: Mapped[str] = mapped_column(String(40), primary_key=True)
    target_units: Mapped[int] = mapped_column(Integer)
    target_revenue_cents: Mapped[int] = mapped_column(Integer)
    # NULL in the CRM until its writer stamps it.
    updated_at: Mapped[datetime | None]
