"""An RMA is one repair request: one parcel, one return label, one or more units.

Each unit is its own case in the CRM store (`crm_rma` holds one serial per row), numbered
`<RMA number>-<n>`, with its own status and timeline: two boards in one parcel may end one
repaired and one replaced. The RMA's own status is its least advanced open unit's.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, new_uuid
from portal.repairs.lifecycle import RANK, TERMINAL, RmaStatus


def _enum(cls: type[enum.Enum], length: int = 20) -> Enum:
    return Enum(cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class WarrantyStatus(enum.StrEnum):
    IN_WARRANTY = "in_warranty"
    OUT_OF_WARRANTY = "out_of_warranty"
    UNKNOWN = "unknown"


class Outcome(enum.StrEnum):
    """What the customer would like: repair, a replacement, or a replacement sent first."""

    REPAIR = "repair"
    REPLACEMENT = "replacement"
    ADVANCE_REPLACEMENT = "advance_replacement"


class QuoteDecision(enum.StrEnum):
    ACCEPTED = "accepted"
    DECLINED = "declined"


class EventSource(enum.StrEnum):
    PORTAL = "portal"
    CRM = "crm"


class Rma(Base):
    __tablename__ = "rma"
    __table_args__ = (
        Index("ix_rma_account_created", "account_id", "created_at"),
        Index("ix_rma_email_created", "contact_email", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)  # RMA-XXXXXX
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    # Colleagues of a company account see its RMAs; a consumer's are matched by e-mail.
    account_id: Mapped[str | None] = mapped_column(String(40))
    contact_email: Mapped[str] = mapped_column(String(254))  # lower-cased
    contact_name: Mapped[str] = mapped_column(String(200), default="")
    locale: Mapped[str] = mapped_column(String(10), default="en")  # of the e-mails
    fault_category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text)
    return_address: Mapped[str] = mapped_column(Text)
    preferred_outcome: Mapped[Outcome] = mapped_column(_enum(Outcome))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    units: Mapped[list[RmaUnit]] = relationship(back_populates="rma", order_by="RmaUnit.line_no", lazy="selectin")
    photos: Mapped[list[RmaPhoto]] = relationship(back_populates="rma", order_by="RmaPhoto.id", lazy="raise")

    @property
    def status(self) -> RmaStatus:
        """The least advanced open unit's status (or, all ended, the most advanced one's)."""
        statuses = [unit.status for unit in self.units]
        if not statuses:
            return RmaStatus.REQUESTED
        open_ = [s for s in statuses if s not in TERMINAL]
        return min(open_, key=RANK.__getitem__) if open_ else max(statuses, key=RANK.__getitem__)


class RmaUnit(Base):
    """One unit of an RMA; pushed as one `crm_rma` row."""

    __tablename__ = "rma_unit"
    __table_args__ = (
        Index("ix_rma_unit_status_changed", "status", "status_changed_at"),
        Index("ix_rma_unit_serial", "serial"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    # Grows with every change pushed to the CRM (crm_rma.version); kept above the CRM's own.
    version: Mapped[int] = mapped_column(Integer, default=1)
    rma_id: Mapped[int] = mapped_column(ForeignKey("rma.id"))
    line_no: Mapped[int] = mapped_column(Integer)
    unit_number: Mapped[str] = mapped_column(String(30), unique=True)  # RMA-XXXXXX-1
    serial: Mapped[str] = mapped_column(String(60))
    sku: Mapped[str | None] = mapped_column(String(40))
    order_number: Mapped[str | None] = mapped_column(String(40))
    warranty_status: Mapped[WarrantyStatus] = mapped_column(_enum(WarrantyStatus))
    warranty_until: Mapped[date | None]
    status: Mapped[RmaStatus] = mapped_column(_enum(RmaStatus, 30))
    status_changed_at: Mapped[datetime]
    created_at: Mapped[datetime]
    # A quote for an out-of-warranty repair, and the customer's answer.
    quote_amount_cents: Mapped[int | None] = mapped_column(Integer)
    quote_currency: Mapped[str | None] = mapped_column(String(3))
    quote_valid_until: Mapped[date | None]
    quote_decision: Mapped[QuoteDecision | None] = mapped_column(_enum(QuoteDecision, 10))
    quote_decided_at: Mapped[datetime | None]

    rma: Mapped[Rma] = relationship(back_populates="units", lazy="joined", innerjoin=True)
    events: Mapped[list[RmaEvent]] = relationship(back_populates="unit", order_by="(RmaEvent.occurred_at, RmaEvent.id)", lazy="raise")


class RmaEvent(Base):
    """One entry of a unit's timeline, from the portal or the CRM; pushed as `crm_rma_event`."""

    __tablename__ = "rma_event"
    __table_args__ = (Index("ix_rma_event_unit_occurred", "unit_id", "occurred_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    unit_id: Mapped[int] = mapped_column(ForeignKey("rma_unit.id"))
    status: Mapped[RmaStatus] = mapped_column(_enum(RmaStatus, 30))
    note: Mapped[str] = mapped_column(Text, default="")
    customer_visible: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[EventSource] = mapped_column(_enum(EventSource, 10))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    occurred_at: Mapped[datetime]

    unit: Mapped[RmaUnit] = relationship(back_populates="events", lazy="raise")


class RmaPhoto(Base):
    """A photo of the fault (validated image bytes, kept in the database: every worker sees it)."""

    __tablename__ = "rma_photo"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    rma_id: Mapped[int] = mapped_column(ForeignKey("rma.id"))
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(40))
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime]

    rma: Mapped[Rma] = relationship(back_populates="photos", lazy="raise")
