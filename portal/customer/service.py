"""Customer self-service: orders, "my products" with unit registrations, the public warranty check.

Every customer-facing query goes through portal.customer.ownership: another customer's
order or unit is NotFound (never Forbidden), and a serial on someone else's order is
answered exactly like an unknown one. Staff decide registrations here too.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Generic, TypeVar

from sqlalchemy import ColumnElement, case, exists, func, or_, select
from sqlalchemy.orm import Session, defer

from portal.accounts import forms
from portal.accounts.models import Account, User
from portal.customer.models import Invoice, Order, OrderLine, Product, RegistrationStatus, Serial, UnitRegistration
from portal.customer.ownership import Owner, owned_orders, owned_registrations, owned_serials_query, owns_serial
from portal.customer.warranty import Warranty, normalise_serial, warranties_of, warranty_of
from portal.db import utcnow
from portal.errors import Conflict, Forbidden, Invalid, NotFound
from portal.i18n import N_
from portal.mail.service import Mailing, queue_email
from portal.security import ratelimit
from portal.security.audit import audit
from portal.uploads import BadUpload, Upload, clean_document

PAGE_SIZE = 20
ORDER_STATUSES = ("placed", "paid", "shipped", "delivered", "cancelled")
MAX_SEARCH = 60
MAX_RESELLER = 200
MAX_NOTE = 4000
UNKNOWN_SERIAL = N_("We do not know this serial number. Check the label on the unit.")
ALREADY_YOURS = N_("This unit is already in your products.")
ALREADY_PENDING = N_("You have already registered this unit. We are checking your proof of purchase.")
ALREADY_DECIDED = N_("This registration has already been decided.")
TAKEN = N_("This unit is already registered to another customer.")


T = TypeVar("T")


@dataclass(frozen=True)
class Paged(Generic[T]):
    rows: list[T]
    total: int
    page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PAGE_SIZE))


def _page_number(page: int, total: int) -> int:
    """The requested page, clamped to the pages there are (a stale link shows the last one)."""
    return min(max(page, 1), max(1, -(-total // PAGE_SIZE)))


def _owner(actor: User) -> Owner:
    """The customer identity of `actor`; anyone else has no orders or units here (404)."""
    owner = Owner.of(actor)
    if owner is None:
        raise NotFound()
    return owner


# -- orders -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderRow:
    order: Order
    item_count: int  # order lines
    unit_count: int  # sum of quantities
    first_item: str  # product name (or SKU) of the first line, "" without lines


@dataclass(frozen=True)
class UnitView:
    unit: Serial
    warranty: Warranty


@dataclass(frozen=True)
class LineView:
    line: OrderLine
    product_name: str


@dataclass(frozen=True)
class OrderDetail:
    order: Order
    lines: list[LineView]
    units_by_sku: list[tuple[str, str, list[UnitView]]]  # (sku, product name, units)
    invoices: list[Invoice]


def _order_filters(owner: Owner, status: str | None, search: str) -> list[ColumnElement[bool]]:
    where = [owned_orders(owner)]
    if status in ORDER_STATUSES:
        where.append(Order.status == status)
    term = search.strip()[:MAX_SEARCH]
    if term:
        upper = term.upper()
        line_match = exists().where(
            OrderLine.order_number == Order.order_number, func.upper(OrderLine.sku).contains(upper, autoescape=True)
        )
        where.append(or_(func.upper(Order.order_number).contains(upper, autoescape=True), line_match))
    return where


def list_orders(db: Session, *, actor: User, status: str | None = None, search: str = "", page: int = 1) -> Paged[OrderRow]:
    """The actor's orders, newest first, PAGE_SIZE a page; filter by status, search by order
    number or a SKU of its lines. Three queries whatever the page size (count, page, lines)."""
    owner = _owner(actor)
    where = _order_filters(owner, status, search)
    total = int(db.scalar(select(func.count()).select_from(Order).where(*where)) or 0)
    page = _page_number(page, total)
    orders = list(
        db.scalars(
            select(Order)
            .where(*where)
            .order_by(Order.ordered_at.desc(), Order.order_number.desc())
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    summary: dict[str, tuple[int, int, str]] = {}
    if orders:
        lines = db.execute(
            select(OrderLine.order_number, OrderLine.sku, OrderLine.quantity, Product.name)
            .outerjoin(Product, Product.sku == OrderLine.sku)
            .where(OrderLine.order_number.in_([o.order_number for o in orders]))
            .order_by(OrderLine.order_number, OrderLine.line_no)
        )
        for number, sku, quantity, name in lines:
            items, units, first = summary.get(number, (0, 0, ""))
            summary[number] = (items + 1, units + quantity, first or name or sku)
    rows = [OrderRow(o, *summary.get(o.order_number, (0, 0, ""))) for o in orders]
    return Paged(rows=rows, total=total, page=page)


def _warranties(db: Session, units: Sequence[Serial], *, today: date | None = None) -> dict[str, Warranty]:
    """Warranty of many units: the rule of warranty.warranty_of, in at most three queries."""
    return warranties_of(db, units, today=today)


def get_order(db: Session, *, actor: User, order_number: str) -> OrderDetail:
    """One of the actor's orders with its lines, shipped units (by SKU, with warranty) and
    invoices. NotFound when unknown or not theirs."""
    owner = _owner(actor)
    order = db.scalar(select(Order).where(Order.order_number == order_number, owned_orders(owner)))
    if order is None:
        raise NotFound()
    line_rows = db.execute(
        select(OrderLine, Product.name)
        .outerjoin(Product, Product.sku == OrderLine.sku)
        .where(OrderLine.order_number == order.order_number)
        .order_by(OrderLine.line_no)
    ).all()
    lines = [LineView(line=line, product_name=name or line.sku) for line, name in line_rows]
    units = list(db.scalars(select(Serial).where(Serial.order_number == order.order_number).order_by(Serial.sku, Serial.serial)))
    warranties = _warranties(db, units)
    names = {view.line.sku: view.product_name for view in lines}
    grouped: dict[str, list[UnitView]] = {}
    for unit in units:
        grouped.setdefault(unit.sku, []).append(UnitView(unit=unit, warranty=warranties[unit.serial]))
        product = warranties[unit.serial].product
        if unit.sku not in names:
            names[unit.sku] = product.name if product is not None else unit.sku
    invoices = list(
        db.scalars(select(Invoice).where(Invoice.order_number == order.order_number).order_by(Invoice.issued_at, Invoice.invoice_number))
    )
    return OrderDetail(
        order=order,
        lines=lines,
        units_by_sku=[(sku, names[sku], grouped[sku]) for sku in sorted(grouped)],
        invoices=invoices,
    )


# -- my products and registrations --------------------------------------------------------------------


@dataclass(frozen=True)
class ProductRow:
    unit: Serial
    warranty: Warranty
    order_number: str | None  # only when the order is the customer's own


@dataclass(frozen=True)
class MyProducts:
    units: Paged[ProductRow]
    registrations: list[UnitRegistration] = field(default_factory=list)


def list_products(db: Session, *, actor: User, page: int = 1) -> MyProducts:
    """The units the actor (or their account) owns, PAGE_SIZE a page, and their registrations."""
    owner = _owner(actor)
    where = owned_serials_query(owner)
    total = int(db.scalar(select(func.count()).select_from(Serial).where(where)) or 0)
    page = _page_number(page, total)
    units = list(
        db.scalars(
            select(Serial)
            .where(where)
            .order_by(Serial.shipped_at.desc().nulls_last(), Serial.serial)
            .limit(PAGE_SIZE)
            .offset((page - 1) * PAGE_SIZE)
        )
    )
    warranties = _warranties(db, units)
    numbers = {u.order_number for u in units if u.order_number}
    own_numbers = (
        set(db.scalars(select(Order.order_number).where(Order.order_number.in_(numbers), owned_orders(owner)))) if numbers else set()
    )
    rows = [
        ProductRow(unit=u, warranty=warranties[u.serial], order_number=u.order_number if u.order_number in own_numbers else None)
        for u in units
    ]
    registrations = list(
        db.scalars(
            select(UnitRegistration)
            .options(defer(UnitRegistration.proof_data))
            .where(owned_registrations(owner))
            .order_by(
                case((UnitRegistration.status == RegistrationStatus.PENDING, 0), else_=1),
                UnitRegistration.created_at.desc(),
                UnitRegistration.id.desc(),
            )
            .limit(100)
        )
    )
    return MyProducts(units=Paged(rows=rows, total=total, page=page), registrations=registrations)


def _parse_date(value: str, field_name: str) -> date:
    value = value.strip()
    if not value:
        raise Invalid(field_name, "Enter the date you bought the unit.")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(field_name, "Enter the date as year-month-day, for example 2026-03-31.") from None


def register_unit(
    db: Session,
    *,
    actor: User,
    serial: str,
    purchase_date: str,
    reseller: str,
    proof: Upload | None,
    today: date | None = None,
) -> UnitRegistration:
    """Register a unit bought through a reseller, with proof of purchase, for staff to confirm.

    Raises Invalid (all fields' messages at once). A serial on another customer's order is
    answered like an unknown one: the form never tells who owns a unit."""
    owner = _owner(actor)
    today = today or utcnow().date()
    number = normalise_serial(serial)[:60]
    unit: Serial | None = None

    def clean_serial() -> str:
        nonlocal unit
        if not number:
            raise Invalid("serial", "Enter the serial number from the label on the unit.")
        found = db.get(Serial, number)
        if found is None:
            raise Invalid("serial", UNKNOWN_SERIAL)
        if owns_serial(db, owner, number) is not None:
            raise Invalid("serial", ALREADY_YOURS)
        if found.order_number is not None:
            # Shipped on an order that is not theirs (ownership was checked above).
            raise Invalid("serial", UNKNOWN_SERIAL)
        pending = db.scalar(
            select(UnitRegistration.id).where(
                UnitRegistration.serial == number, UnitRegistration.status == RegistrationStatus.PENDING, owned_registrations(owner)
            )
        )
        if pending is not None:
            raise Invalid("serial", ALREADY_PENDING)
        unit = found
        return number

    def clean_purchase_date() -> date:
        bought = _parse_date(purchase_date, "purchase_date")
        if bought > today:
            raise Invalid("purchase_date", "The purchase date cannot be in the future.")
        return bought

    def clean_reseller() -> str:
        value = " ".join(reseller.split())
        if len(value) > MAX_RESELLER:
            raise Invalid("reseller", "Use at most 200 characters.")
        return value

    def clean_proof() -> Upload:
        if proof is None:
            raise Invalid("proof", "Attach your proof of purchase: a PDF or a photo of the receipt.")
        try:
            return clean_document(proof)
        except BadUpload as exc:
            raise Invalid({"proof": str(exc)}) from None

    values = forms.validate(serial=clean_serial, purchase_date=clean_purchase_date, reseller=clean_reseller, proof=clean_proof)
    assert unit is not None
    if unit.shipped_at is not None and values["purchase_date"] < unit.shipped_at.date():
        raise Invalid("purchase_date", "The purchase date is before this unit left our warehouse. Check the date on your receipt.")
    document: Upload = values["proof"]
    registration = UnitRegistration(
        user_id=actor.id,
        account_id=owner.account_id,
        serial=values["serial"],
        purchase_date=values["purchase_date"],
        reseller=values["reseller"],
        proof_filename=document.filename,
        proof_content_type=document.content_type,
        proof_data=document.data,
        status=RegistrationStatus.PENDING,
        decision_note="",
        created_at=utcnow(),
    )
    db.add(registration)
    db.flush()
    audit(db, "unit_registration.submitted", actor_user_id=actor.id, actor_email=actor.email, target=str(registration.id))
    return registration


# -- staff: deciding registrations ---------------------------------------------------------------------


@dataclass(frozen=True)
class RegistrationRow:
    registration: UnitRegistration
    customer: User


@dataclass(frozen=True)
class RegistrationDetail:
    registration: UnitRegistration
    customer: User
    account: Account | None  # the customer's company account
    unit: Serial | None
    product: Product | None
    sold_to: Account | None  # the partner that bought the unit from us
    decided_by: User | None


def _require_staff(actor: User) -> None:
    if not actor.role.is_staff:
        raise Forbidden()


def list_registrations(db: Session, *, actor: User, status: RegistrationStatus | None = None, page: int = 1) -> Paged[RegistrationRow]:
    """Registrations for staff: waiting ones first, then newest first."""
    _require_staff(actor)
    where = [UnitRegistration.status == status] if status is not None else []
    total = int(db.scalar(select(func.count()).select_from(UnitRegistration).where(*where)) or 0)
    page = _page_number(page, total)
    rows = db.execute(
        select(UnitRegistration, User)
        .options(defer(UnitRegistration.proof_data))
        .join(User, User.id == UnitRegistration.user_id)
        .where(*where)
        .order_by(
            case((UnitRegistration.status == RegistrationStatus.PENDING, 0), else_=1),
            UnitRegistration.created_at.desc(),
            UnitRegistration.id.desc(),
        )
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    return Paged(rows=[RegistrationRow(registration=r, customer=u) for r, u in rows], total=total, page=page)


def _registration(db: Session, registration_id: int) -> UnitRegistration:
    registration = db.get(UnitRegistration, registration_id, options=[defer(UnitRegistration.proof_data)])
    if registration is None:
        raise NotFound()
    return registration


def get_registration(db: Session, *, actor: User, registration_id: int) -> RegistrationDetail:
    _require_staff(actor)
    registration = _registration(db, registration_id)
    customer = db.get(User, registration.user_id)
    assert customer is not None
    unit = db.get(Serial, registration.serial)
    return RegistrationDetail(
        registration=registration,
        customer=customer,
        account=db.get(Account, registration.account_id) if registration.account_id else None,
        unit=unit,
        product=db.get(Product, unit.sku) if unit is not None else None,
        sold_to=db.get(Account, unit.sold_to_account_id) if unit is not None and unit.sold_to_account_id else None,
        decided_by=db.get(User, registration.decided_by_id) if registration.decided_by_id else None,
    )


@dataclass(frozen=True)
class Proof:
    filename: str
    content_type: str
    data: bytes


def registration_proof(db: Session, *, actor: User, registration_id: int) -> Proof:
    _require_staff(actor)
    row = db.execute(
        select(UnitRegistration.proof_filename, UnitRegistration.proof_content_type, UnitRegistration.proof_data).where(
            UnitRegistration.id == registration_id
        )
    ).first()
    if row is None:
        raise NotFound()
    return Proof(filename=row[0], content_type=row[1], data=row[2])


def decide_registration(db: Session, mailing: Mailing, *, actor: User, registration_id: int, confirm: bool, note: str) -> UnitRegistration:
    """Confirm (the unit becomes the customer's) or reject (a note says why); the customer is
    told by e-mail in their language. Raises NotFound, Invalid, Conflict (decided already, or
    the unit is someone else's by now)."""
    _require_staff(actor)
    registration = _registration(db, registration_id)
    if registration.status is not RegistrationStatus.PENDING:
        raise Conflict(ALREADY_DECIDED)
    note = note.strip()[:MAX_NOTE]
    if not confirm and not note:
        raise Invalid("note", "Tell the customer why the registration is rejected.")
    if confirm:
        holders = db.execute(
            select(UnitRegistration.user_id, UnitRegistration.account_id).where(
                UnitRegistration.serial == registration.serial, UnitRegistration.status == RegistrationStatus.CONFIRMED
            )
        ).all()
        for user_id, account_id in holders:
            same = account_id == registration.account_id if registration.account_id else user_id == registration.user_id
            if not same:
                raise Conflict(TAKEN)
    registration.status = RegistrationStatus.CONFIRMED if confirm else RegistrationStatus.REJECTED
    registration.decision_note = note
    registration.decided_by_id = actor.id
    registration.decided_at = utcnow()
    db.flush()
    audit(
        db,
        f"unit_registration.{registration.status.value}",
        actor_user_id=actor.id,
        actor_email=actor.email,
        target=str(registration.id),
        serial=registration.serial,
    )
    customer = db.get(User, registration.user_id)
    if customer is not None and customer.is_active:
        unit = db.get(Serial, registration.serial)
        product = db.get(Product, unit.sku) if unit is not None else None
        warranty = warranty_of(db, registration.serial) if confirm else None
        queue_email(
            db,
            mailing.composer,
            to=customer.email,
            template="registration_decided",
            locale=customer.locale,
            context={
                "name": customer.display_name,
                "serial": registration.serial,
                "product": product.name if product is not None else registration.serial,
                "confirmed": confirm,
                "note": note,
                "warranty_ends_on": warranty.ends_on if warranty is not None else None,
                "link": mailing.link("/products"),
            },
        )
    return registration


# -- the public warranty check --------------------------------------------------------------------------


def check_warranty(db: Session, serial: str, ip: str) -> Warranty | None:
    """Count one lookup from `ip` (RateLimited over ratelimit.LOOKUP_IP), then the unit's
    warranty, or None for a serial we do not know. Carries no personal data."""
    ratelimit.hit(db, ratelimit.LOOKUP_IP, f"warranty:{ip}")
    number = normalise_serial(serial)[:60]
    if not number:
        return None
    return warranty_of(db, number)
