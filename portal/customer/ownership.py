"""Who owns what: the one filter every customer-facing query of orders, serials and RMAs uses.

A customer in a company account owns what belongs to the account (colleagues see the same
orders and units). A consumer owns orders with no account whose e-mail is their verified
e-mail (CRM_STORE.md). Anyone else (partners, staff, guests) owns nothing here: the staff
desk reads through its own service.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, and_, false, or_, select
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.customer.models import Order, RegistrationStatus, Serial, UnitRegistration


@dataclass(frozen=True)
class Owner:
    """The identity a customer's data is matched by."""

    account_id: str | None
    email: str | None  # verified e-mail, lower-cased; None when not verified
    user_id: int

    @classmethod
    def of(cls, user: User) -> Owner | None:
        """None for anyone who is not a customer (they own no orders or units)."""
        if user.role.value not in ("customer", "customer_admin"):
            return None
        email = user.email.lower() if user.email_verified_at is not None else None
        return cls(account_id=user.account_id, email=email, user_id=user.id)


def owned_orders(owner: Owner | None) -> ColumnElement[bool]:
    """WHERE clause: the orders `owner` may see."""
    if owner is None:
        return false()
    if owner.account_id is not None:
        return Order.account_id == owner.account_id
    if owner.email is None:
        return false()
    return and_(Order.account_id.is_(None), Order.customer_email == owner.email)


def owned_registrations(owner: Owner | None) -> ColumnElement[bool]:
    """WHERE clause: the unit registrations `owner` may see (their account's, or their own)."""
    if owner is None:
        return false()
    if owner.account_id is not None:
        return UnitRegistration.account_id == owner.account_id
    return UnitRegistration.user_id == owner.user_id


def owns_serial(db: Session, owner: Owner | None, serial: str) -> Serial | None:
    """The unit when `owner` owns it: shipped on one of their orders, or registered by them
    (or a colleague) and confirmed by staff. None otherwise, never saying which."""
    if owner is None:
        return None
    unit = db.get(Serial, serial)
    if unit is None:
        return None
    if unit.order_number is not None:
        order_owned = db.scalar(select(Order.order_number).where(Order.order_number == unit.order_number, owned_orders(owner)))
        if order_owned is not None:
            return unit
    registered = db.scalar(
        select(UnitRegistration.id).where(
            UnitRegistration.serial == serial,
            UnitRegistration.status == RegistrationStatus.CONFIRMED,
            owned_registrations(owner),
        )
    )
    return unit if registered is not None else None


def owned_serials_query(owner: Owner | None) -> ColumnElement[bool]:
    """WHERE clause on Serial: units from owned orders or confirmed registrations."""
    if owner is None:
        return false()
    from_orders = Serial.order_number.in_(select(Order.order_number).where(owned_orders(owner)))
    registered = Serial.serial.in_(
        select(UnitRegistration.serial).where(UnitRegistration.status == RegistrationStatus.CONFIRMED, owned_registrations(owner))
    )
    return or_(from_orders, registered)
