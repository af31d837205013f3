"""Read copies of CRM-owned customer data (products, orders, serials, invoices).

Keys are the CRM's; rows are upserted by the puller's handlers (portal.customer.sync) and
never edited by the portal. E-mail addresses are stored lower-cased for ownership matching.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import Boolean, Enum, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base


class Product(Base):
    """Read copy of crm_product."""

    __tablename__ = "product"

    sku: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(60))
    warranty_months: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime]


class Order(Base):
    """Read copy of crm_order; owned by `account_id`, or (no account) by `customer_email`."""

    __tablename__ = "customer_order"
    __table_args__ = (
        # The order number breaks ties in the list's order (newest first), so a deep page is an
        # index walk rather than a sort.
        Index("ix_customer_order_account_ordered_number", "account_id", "ordered_at", "order_number"),
        Index("ix_customer_order_email_ordered_number", "customer_email", "ordered_at", "order_number"),
    )

    order_number: Mapped[str] = mapped_column(String(40), primary_key=True)
    account_id: Mapped[str | None] = mapped_column(String(40))
    customer_email: Mapped[str | None] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(20))
    ordered_at: Mapped[datetime]
    currency: Mapped[str] = mapped_column(String(3))
    total_cents: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]

    # Lines are pulled as their own source (crm_order_line) and may arrive before their order:
    # the join is not a database constraint, so neither pull order nor an orphan line can fail.
    lines: Mapped[list[OrderLine]] = relationship(
        primaryjoin="Order.order_number == foreign(OrderLine.order_number)",
        order_by="OrderLine.line_no",
        viewonly=True,
    )


class OrderLine(Base):
    """Read copy of crm_order_line (key: order_number, line_no)."""

    __tablename__ = "customer_order_line"

    order_number: Mapped[str] = mapped_column(String(40), primary_key=True)
    line_no: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    sku: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime | None]


class Serial(Base):
    """Read copy of crm_serial: one shipped unit."""

    __tablename__ = "serial"
    __table_args__ = (Index("ix_serial_order", "order_number"),)

    serial: Mapped[str] = mapped_column(String(60), primary_key=True)
    sku: Mapped[str] = mapped_column(String(40))
    order_number: Mapped[str | None] = mapped_column(String(40))
    shipped_at: Mapped[datetime | None]
    sold_to_account_id: Mapped[str | None] = mapped_column(String(40))
    warranty_starts_on: Mapped[date | None]
    updated_at: Mapped[datetime]


class Invoice(Base):
    """Read copy of crm_invoice."""

    __tablename__ = "invoice"
    __table_args__ = (
        Index("ix_invoice_account", "account_id"),
        Index("ix_invoice_email", "customer_email"),
    )

    invoice_number: Mapped[str] = mapped_column(String(40), primary_key=True)
    order_number: Mapped[str | None] = mapped_column(String(40))
    account_id: Mapped[str | None] = mapped_column(String(40))
    customer_email: Mapped[str | None] = mapped_column(String(254))
    amount_due_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(10))
    issued_at: Mapped[datetime]
    due_on: Mapped[date | None]
    updated_at: Mapped[datetime]


class RegistrationStatus(enum.StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"


class UnitRegistration(Base):
    """A unit the customer bought through a reseller, registered with proof of purchase.

    Staff confirm it against the proof; once confirmed the unit is the customer's (and its
    account's) like one from their own orders, and its warranty runs from the purchase date
    when the CRM knows no start date.
    """

    __tablename__ = "unit_registration"
    __table_args__ = (
        Index("ix_unit_registration_serial", "serial"),
        Index("ix_unit_registration_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    account_id: Mapped[str | None] = mapped_column(String(40))
    serial: Mapped[str] = mapped_column(String(60))
    purchase_date: Mapped[date]
    reseller: Mapped[str] = mapped_column(String(200), default="")
    proof_filename: Mapped[str] = mapped_column(String(200))
    proof_content_type: Mapped[str] = mapped_column(String(60))
    proof_data: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[RegistrationStatus] = mapped_column(
        Enum(RegistrationStatus, native_enum=False, length=10, values_callable=lambda e: [m.value for m in e]),
        default=RegistrationStatus.PENDING,
    )
    decision_note: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
