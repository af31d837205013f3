"""Customer repairs: request an RMA, follow its units, answer a quote, cancel, guest lookup.

Every customer query of RMAs goes through `owned_rmas` (one filter: colleagues of a company
account share its RMAs; a consumer sees theirs by verified e-mail or as their creator). Status
changes go through `portal.repairs.workflow` (timeline, outbox, e-mail). Nothing commits.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any, cast

from sqlalchemy import ColumnElement, and_, bindparam, exists, false, func, not_, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from portal.accounts.models import User
from portal.customer import ownership, warranty
from portal.customer.models import Order, Product, Serial
from portal.db import utcnow
from portal.errors import Conflict, Invalid, NotFound
from portal.i18n import N_
from portal.mail.service import Mailing, queue_email
from portal.prepared import EntityReader, PerDialect, list_value, listed
from portal.repairs import workflow
from portal.repairs.lifecycle import CUSTOMER_CANCELLABLE, RANK, TERMINAL, RmaStatus
from portal.repairs.models import Outcome, QuoteDecision, Rma, RmaEvent, RmaPhoto, RmaUnit, WarrantyStatus
from portal.security import ratelimit
from portal.uploads import BadUpload, Upload, clean_image

PAGE_SIZE = 20
MAX_UNITS = 20
MAX_PHOTOS = 5
NUMBER_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
NUMBER_RE = re.compile(r"^(RMA-[A-Z0-9]{6})(?:-(\d{1,3}))?$")
ADVANCE_TIERS = frozenset({"gold", "silver"})
REPAIR_CENTRE = ("Northwind Devices Repair Centre", "18 Harbour Road", "Singapore 117438")

FAULT_CATEGORIES: dict[str, str] = {
    "no_power": N_("Does not power on"),
    "no_boot": N_("Powers on but does not start"),
    "hardware_fault": N_("Hardware fault"),
    "network": N_("Network or connection problem"),
    "noise_or_heat": N_("Noise or overheating"),
    "physical_damage": N_("Physical damage"),
    "other": N_("Something else"),
}
OUTCOMES: dict[Outcome, str] = {
    Outcome.REPAIR: N_("Repair my unit"),
    Outcome.REPLACEMENT: N_("Replace my unit"),
    Outcome.ADVANCE_REPLACEMENT: N_("Send a replacement first (advance replacement)"),
}
WARRANTY_LABELS: dict[str, str] = {
    "in_warranty": N_("In warranty"),
    "out_of_warranty": N_("Out of warranty"),
    "unknown": N_("Warranty unknown"),
}
PACKING = (
    N_("Back up your data and remove any personal storage, SIM cards and accessories we did not ask for."),
    N_("Pack each unit in its original box, or in a sturdy box with at least 5 cm of padding on every side."),
    N_("Print the return label and put one copy inside the parcel; tape the other to the outside."),
    N_("Write the RMA number on the outside of the parcel."),
    N_("Send the parcel with a tracked service and keep the receipt."),
)
# The main path a unit travels (the progress indicator); side exits are shown as text.
MAIN_PATH = (
    RmaStatus.REQUESTED,
    RmaStatus.RECEIVED,
    RmaStatus.DIAGNOSING,
    RmaStatus.REPAIRING,
    RmaStatus.SHIPPED,
    RmaStatus.DELIVERED,
    RmaStatus.CLOSED,
)
NOT_FOUND_SERIAL = N_("We could not find serial %(serial)s among your units. Check the label, or register the unit first.")
LOOKUP_FAILED = N_("We could not find a repair with that number and e-mail address.")


Problem = tuple[str, dict[str, str]]  # an English message and its parameters


class FormInvalid(Invalid):
    """Invalid whose messages carry parameters: field -> [(English message, params), ...]."""

    def __init__(self, problems: dict[str, list[Problem]]) -> None:
        self.problems = problems
        super().__init__({name: " ".join(m % p if p else m for m, p in items) for name, items in problems.items()})


def error_messages(exc: Invalid, gettext: Callable[..., str]) -> dict[str, str]:
    """The form's messages in the user's language (templates translate them again: a no-op)."""
    if isinstance(exc, FormInvalid):
        return {name: " ".join(gettext(m, **p) for m, p in items) for name, items in exc.problems.items()}
    return {name: gettext(message) for name, message in exc.errors.items()}


# -- who sees which RMAs ----------------------------------------------------------------------
def owned_rmas(owner: ownership.Owner | None) -> ColumnElement[bool]:
    """WHERE clause on Rma: the RMAs `owner` may see (the one filter every customer query uses)."""
    if owner is None:
        return false()
    if owner.account_id is not None:
        return Rma.account_id == owner.account_id
    mine = Rma.user_id == owner.user_id
    if owner.email is not None:
        mine = or_(mine, Rma.contact_email == owner.email)
    return and_(Rma.account_id.is_(None), mine)


def _owner(actor: User) -> ownership.Owner | None:
    return ownership.Owner.of(actor)


# An RMA page's reads, compiled once and read as plain rows (`portal.prepared`): through the ORM
# they were most of a timeline request (≈ 0.7 ms of ≈ 1.9 ms CPU; docs/decisions/0012). Quick
# reads keep the rows while the database is unchanged (`fetch_kept`; decision 0014).
_RMA = EntityReader(Rma)
_UNIT = EntityReader(RmaUnit)
_EVENT = EntityReader(RmaEvent)
_UNIT_AT = _RMA.width
_NAME_AT = _UNIT_AT + _UNIT.width


def _rma_with_units(where: ColumnElement[bool]) -> PerDialect:
    return PerDialect(
        select(*_RMA.columns(), *_UNIT.columns(), Product.name)
        .select_from(Rma)
        .outerjoin(RmaUnit, RmaUnit.rma_id == Rma.id)
        .outerjoin(Product, Product.sku == RmaUnit.sku)
        .where(Rma.number == bindparam("number"), where)
        .order_by(RmaUnit.line_no)
    )


def _parameter(name: str) -> Any:
    return cast(Any, bindparam(name))


# The owner's RMA: `owned_rmas` itself, given parameters instead of an owner's values, so the
# rule is written once. A consumer's `email` parameter is None when not verified: `contact_email =
# NULL` matches nothing, as leaving the condition out does.
_OWNED_BY_ACCOUNT = _rma_with_units(owned_rmas(ownership.Owner(account_id=_parameter("account_id"), email=None, user_id=0)))
_OWNED_BY_CONSUMER = _rma_with_units(owned_rmas(ownership.Owner(account_id=None, email=_parameter("email"), user_id=_parameter("user_id"))))
_BY_CONTACT = _rma_with_units(Rma.contact_email == bindparam("email"))


def _load_rma(db: Session, statement: PerDialect, values: dict[str, Any]) -> tuple[Rma, dict[str, str]] | None:
    """The RMA `statement` finds with its units (in line order) and their product names, in one
    query. The model's own loading takes two (units by `selectin`, each joining its RMA again)
    and the product names a third."""
    rows = statement.fetch_kept(db, values)
    if not rows:
        return None
    rma = _RMA.attach(db, rows[0][:_UNIT_AT], shared=True)
    units: list[RmaUnit] = []
    names: dict[str, str] = {}
    for row in rows:
        unit = _UNIT.optional(db, row[_UNIT_AT:_NAME_AT], shared=True)
        if unit is None:
            continue
        set_committed_value(unit, "rma", rma)
        units.append(unit)
        if unit.sku and row[_NAME_AT] is not None:
            names[unit.sku] = row[_NAME_AT]
    set_committed_value(rma, "units", units)
    return rma, names


def get_rma(db: Session, *, actor: User, number: str) -> Rma:
    """The actor's RMA by number; NotFound for a missing one and for someone else's."""
    return _get_rma(db, actor=actor, number=number)[0]


def _get_rma(db: Session, *, actor: User, number: str) -> tuple[Rma, dict[str, str]]:
    owner = _owner(actor)
    loaded = None
    if owner is not None and owner.account_id is not None:
        loaded = _load_rma(db, _OWNED_BY_ACCOUNT, {"number": number.strip().upper(), "account_id": owner.account_id})
    elif owner is not None:
        loaded = _load_rma(db, _OWNED_BY_CONSUMER, {"number": number.strip().upper(), "user_id": owner.user_id, "email": owner.email})
    if loaded is None:
        raise NotFound()
    return loaded


@dataclass(frozen=True)
class RmaPage:
    rows: list[Rma]
    total: int
    page: int
    pages: int


def _open_clause() -> ColumnElement[bool]:
    return exists().where(RmaUnit.rma_id == Rma.id, RmaUnit.status.not_in(list(TERMINAL)))


def list_rmas(db: Session, *, actor: User, state: str = "", page: int = 1) -> RmaPage:
    """The actor's RMAs, newest first; `state` "open" (a unit still in progress) or "closed"."""
    where = [owned_rmas(_owner(actor))]
    if state == "open":
        where.append(_open_clause())
    elif state == "closed":
        where.append(not_(_open_clause()))
    total = int(db.scalar(select(func.count()).select_from(Rma).where(*where)) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(max(page, 1), pages)
    rows = db.scalars(
        select(Rma).where(*where).order_by(Rma.created_at.desc(), Rma.id.desc()).limit(PAGE_SIZE).offset((page - 1) * PAGE_SIZE)
    ).all()
    return RmaPage(rows=list(rows), total=total, page=page, pages=pages)


# -- the request form ------------------------------------------------------------------------------
@dataclass(frozen=True)
class OwnedUnit:
    serial: str
    sku: str
    product_name: str
    order_number: str | None
    warranty_status: str
    warranty_until: date | None


def owned_units(db: Session, *, actor: User) -> list[OwnedUnit]:
    """The units the actor may request a repair for (their orders' and confirmed registrations')."""
    rows = db.execute(
        select(Serial, Product.name)
        .outerjoin(Product, Product.sku == Serial.sku)
        .where(ownership.owned_serials_query(_owner(actor)))
        .order_by(Serial.shipped_at.desc(), Serial.serial)
        .limit(500)
    ).all()
    units = []
    for serial, product_name in rows:
        cover = warranty.warranty_of(db, serial.serial)
        units.append(
            OwnedUnit(
                serial=serial.serial,
                sku=serial.sku,
                product_name=product_name or serial.sku,
                order_number=serial.order_number,
                warranty_status=cover.status if cover else "unknown",
                warranty_until=cover.ends_on if cover else None,
            )
        )
    return units


def preselected_serials(db: Session, *, actor: User, serials: Sequence[str], order_number: str) -> list[str]:
    """`?serial=` values and the units of `?order=` (only the actor's own order)."""
    chosen = [warranty.normalise_serial(s) for s in serials if s.strip()]
    if order_number.strip():
        owned = db.scalar(
            select(Order.order_number).where(Order.order_number == order_number.strip(), ownership.owned_orders(_owner(actor)))
        )
        if owned is not None:
            chosen += list(db.scalars(select(Serial.serial).where(Serial.order_number == owned).order_by(Serial.serial)))
    return list(dict.fromkeys(chosen))


def last_return_address(db: Session, *, actor: User) -> str:
    return (
        db.scalar(select(Rma.return_address).where(owned_rmas(_owner(actor))).order_by(Rma.created_at.desc(), Rma.id.desc()).limit(1)) or ""
    )


def advance_replacement_allowed(actor: User) -> bool:
    return actor.account is not None and (actor.account.tier or "").lower() in ADVANCE_TIERS


@dataclass
class RepairRequest:
    serials: list[str] = field(default_factory=list)  # as typed or ticked, in order
    fault_category: str = ""
    description: str = ""
    return_address: str = ""
    preferred_outcome: str = ""
    photos: list[Upload] = field(default_factory=list)


def split_serials(text: str) -> list[str]:
    return [line for line in (warranty.normalise_serial(part) for part in re.split(r"[\n,;]+", text)) if line]


def _open_rma_for(db: Session, serial: str) -> RmaUnit | None:
    return db.scalars(select(RmaUnit).where(RmaUnit.serial == serial, RmaUnit.status.not_in(list(TERMINAL))).limit(1)).first()


def _check_serials(db: Session, actor: User, serials: Sequence[str]) -> tuple[list[Serial], list[Problem]]:
    owner = _owner(actor)
    problems: list[Problem] = []
    found: list[Serial] = []
    seen: set[str] = set()
    for raw in serials:
        serial = warranty.normalise_serial(raw)
        if not serial:
            continue
        if serial in seen:
            problems.append((N_("Serial %(serial)s is listed twice."), {"serial": serial}))
            continue
        seen.add(serial)
        unit = ownership.owns_serial(db, owner, serial)
        if unit is None:
            known = db.get(Serial, serial)
            unit = known if known is not None and known.order_number is None else None
        if unit is None:
            problems.append((NOT_FOUND_SERIAL, {"serial": serial}))
            continue
        open_unit = _open_rma_for(db, serial)
        if open_unit is not None:
            visible = db.scalar(select(Rma.id).where(Rma.id == open_unit.rma_id, owned_rmas(owner))) is not None
            if visible:
                problems.append(
                    (N_("Serial %(serial)s already has an open repair: %(number)s."), {"serial": serial, "number": open_unit.rma.number})
                )
            else:
                problems.append((N_("Serial %(serial)s already has an open repair."), {"serial": serial}))
            continue
        found.append(unit)
    if not problems and not found:
        problems.append((N_("Choose at least one unit, or type its serial number."), {}))
    elif not problems and len(found) > MAX_UNITS:
        problems.append((N_("Send at most %(max)s units in one request."), {"max": str(MAX_UNITS)}))
    return found, problems


def request_repair(db: Session, mailing: Mailing, *, actor: User, form: RepairRequest) -> Rma:
    """Create an RMA with one unit per serial (status requested) and confirm it by e-mail.

    Raises FormInvalid (an Invalid) with every problem of the form at once."""
    problems: dict[str, list[Problem]] = {}
    found, serial_problems = _check_serials(db, actor, form.serials)
    if serial_problems:
        problems["serials"] = serial_problems
    if form.fault_category not in FAULT_CATEGORIES:
        problems["fault_category"] = [(N_("Choose what is wrong from the list."), {})]
    description = form.description.strip()
    if len(description) < 10:
        problems["description"] = [(N_("Describe the fault in at least 10 characters."), {})]
    elif len(description) > 4000:
        problems["description"] = [(N_("Use at most 4000 characters."), {})]
    address = form.return_address.strip()
    if not address:
        problems["return_address"] = [(N_("Enter the address we should send the unit back to."), {})]
    elif len(address) > 1000:
        problems["return_address"] = [(N_("Use at most 1000 characters."), {})]
    try:
        outcome = Outcome(form.preferred_outcome)
    except ValueError:
        outcome = None
        problems["preferred_outcome"] = [(N_("Choose what you would like us to do."), {})]
    if outcome is Outcome.ADVANCE_REPLACEMENT and not advance_replacement_allowed(actor):
        problems["preferred_outcome"] = [(N_("Advance replacement is available to Gold and Silver accounts only."), {})]
    photos: list[Upload] = []
    if len(form.photos) > MAX_PHOTOS:
        problems["photos"] = [(N_("Attach at most 5 photos."), {})]
    else:
        for upload in form.photos:
            try:
                photos.append(clean_image(upload))
            except BadUpload as exc:
                problems["photos"] = [(N_("We cannot use the file %(file)s."), {"file": upload.filename[:100]}), (str(exc), {})]
                break
    if problems or outcome is None:
        raise FormInvalid(problems)

    now = utcnow()
    rma = Rma(
        number=_new_number(db),
        user_id=actor.id,
        account_id=actor.account_id,
        contact_email=actor.email.lower(),
        contact_name=actor.name,
        locale=actor.locale,
        fault_category=form.fault_category,
        description=description,
        return_address=address,
        preferred_outcome=outcome,
        created_at=now,
        updated_at=now,
    )
    db.add(rma)
    for line_no, serial in enumerate(found, start=1):
        cover = warranty.warranty_of(db, serial.serial)
        rma.units.append(
            RmaUnit(
                line_no=line_no,
                unit_number=f"{rma.number}-{line_no}",
                serial=serial.serial,
                sku=serial.sku,
                order_number=serial.order_number,
                warranty_status=WarrantyStatus(cover.status if cover else "unknown"),
                warranty_until=cover.ends_on if cover else None,
                status=RmaStatus.REQUESTED,
                status_changed_at=now,
                created_at=now,
            )
        )
    db.flush()
    for photo in photos:
        db.add(
            RmaPhoto(
                rma_id=rma.id, filename=photo.filename, content_type=photo.content_type, size=photo.size, data=photo.data, created_at=now
            )
        )
    for unit in rma.units:
        workflow.append_event(db, unit, RmaStatus.REQUESTED, author=actor, occurred_at=now)
        workflow.record_unit(db, unit)
    _confirm(db, mailing, rma)
    return rma


def _new_number(db: Session) -> str:
    while True:
        candidate = "RMA-" + "".join(secrets.choice(NUMBER_ALPHABET) for _ in range(6))
        if db.scalar(select(Rma.id).where(Rma.number == candidate)) is None:
            return candidate


def _product_names(db: Session, rma: Rma) -> dict[str, str]:
    skus = [u.sku for u in rma.units if u.sku]
    return dict(db.execute(select(Product.sku, Product.name).where(Product.sku.in_(skus))).all())


def _confirm(db: Session, mailing: Mailing, rma: Rma) -> None:
    names = _product_names(db, rma)
    queue_email(
        db,
        mailing.composer,
        to=rma.contact_email,
        template="rma_requested",
        locale=rma.locale,
        context={
            "name": rma.contact_name or rma.contact_email,
            "number": rma.number,
            "units": [{"number": u.unit_number, "serial": u.serial, "product": names.get(u.sku or "", u.sku or "")} for u in rma.units],
            "packing": PACKING,
            "label_link": mailing.link(f"/repairs/{rma.number}/label"),
            "page_link": mailing.link(f"/repairs/{rma.number}"),
            "track_link": workflow.track_link(mailing, rma),
        },
    )


# -- the timeline ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class UnitView:
    unit: RmaUnit
    product_name: str
    events: list[RmaEvent]
    quote_open: bool  # a quote waits for the customer's answer
    quote_expired: bool
    cancellable: bool
    progress: list[tuple[RmaStatus, str]]  # the main path: (step, "done" | "current" | "todo"); empty after a side exit


def progress(status: RmaStatus) -> list[tuple[RmaStatus, str]]:
    """Where a unit is on the main path. A rejected or cancelled unit left it (no steps)."""
    if status in (RmaStatus.REJECTED, RmaStatus.CANCELLED):
        return []
    current = max((step for step in MAIN_PATH if RANK[step] <= RANK[status]), key=RANK.__getitem__)
    return [(step, "current" if step == current else "done" if RANK[step] < RANK[current] else "todo") for step in MAIN_PATH]


@dataclass(frozen=True)
class Timeline:
    rma: Rma
    units: list[UnitView]
    photos: list[tuple[int, str]]  # (id, filename): thumbnails for the owner only
    cancellable: bool


def timeline(db: Session, rma: Rma, *, with_photos: bool) -> Timeline:
    """The RMA's units with their customer-visible events (portal and CRM, oldest first)."""
    return _timeline(db, rma, _product_names(db, rma), with_photos=with_photos)


def rma_timeline(db: Session, *, actor: User, number: str) -> Timeline:
    """The actor's RMA by number and its timeline with photos (the owner's page); NotFound for
    a missing one and for someone else's. Two queries: the RMA with units, then the events."""
    rma, names = _get_rma(db, actor=actor, number=number)
    return _timeline(db, rma, names, with_photos=True)


_VISIBLE_EVENTS = {
    dialect: PerDialect(
        select(*_EVENT.columns())
        .where(listed(RmaEvent.__table__.c.unit_id, "unit_ids", dialect), RmaEvent.customer_visible.is_(true()))
        .order_by(RmaEvent.occurred_at, RmaEvent.id)
    )
    for dialect in ("sqlite", "postgresql")
}
_PHOTOS = PerDialect(select(RmaPhoto.id, RmaPhoto.filename).where(RmaPhoto.rma_id == bindparam("rma_id")).order_by(RmaPhoto.id))


def _timeline(db: Session, rma: Rma, names: dict[str, str], *, with_photos: bool) -> Timeline:
    unit_ids = [u.id for u in rma.units]
    dialect = db.get_bind().dialect.name
    rows = _VISIBLE_EVENTS[dialect].fetch_kept(db, {"unit_ids": list_value(unit_ids, dialect)})
    by_unit: dict[int, list[RmaEvent]] = {uid: [] for uid in unit_ids}
    for row in rows:
        event = _EVENT.attach(db, row, shared=True)
        by_unit[event.unit_id].append(event)
    today = utcnow().date()
    views = []
    for unit in rma.units:
        expired = unit.quote_valid_until is not None and unit.quote_valid_until < today
        views.append(
            UnitView(
                unit=unit,
                product_name=names.get(unit.sku or "", unit.sku or ""),
                events=by_unit[unit.id],
                quote_open=unit.status is RmaStatus.QUOTE_SENT and unit.quote_amount_cents is not None,
                quote_expired=expired,
                cancellable=unit.status in CUSTOMER_CANCELLABLE,
                progress=progress(unit.status),
            )
        )
    photos: list[tuple[int, str]] = []
    if with_photos:
        photos = [(int(pid), str(name)) for pid, name in _PHOTOS.fetch_kept(db, {"rma_id": rma.id})]
    return Timeline(rma=rma, units=views, photos=photos, cancellable=any(v.cancellable for v in views))


def get_photo(db: Session, *, actor: User, number: str, photo_id: int) -> RmaPhoto:
    rma = get_rma(db, actor=actor, number=number)
    photo = db.scalar(select(RmaPhoto).where(RmaPhoto.id == photo_id, RmaPhoto.rma_id == rma.id))
    if photo is None:
        raise NotFound()
    return photo


# -- the customer's own moves ------------------------------------------------------------------------
def answer_quote(db: Session, mailing: Mailing, *, actor: User, number: str, unit_number: str, accept: bool) -> RmaUnit:
    """Accept or decline a unit's quote. Raises NotFound, Conflict (no open quote, or expired)."""
    rma = get_rma(db, actor=actor, number=number)
    unit = next((u for u in rma.units if u.unit_number == unit_number.strip().upper()), None)
    if unit is None:
        raise NotFound()
    if unit.status is not RmaStatus.QUOTE_SENT:
        raise Conflict(N_("This quote has already been answered."))
    if unit.quote_valid_until is not None and unit.quote_valid_until < utcnow().date():
        raise Conflict(N_("This quote has expired. Contact us and we will send you a new one."))
    unit.quote_decision = QuoteDecision.ACCEPTED if accept else QuoteDecision.DECLINED
    unit.quote_decided_at = utcnow()
    workflow.move(db, mailing, [unit], RmaStatus.QUOTE_ACCEPTED if accept else RmaStatus.QUOTE_DECLINED, actor=actor)
    return unit


def cancel(db: Session, mailing: Mailing, *, actor: User, number: str) -> list[RmaUnit]:
    """Cancel every unit not yet received. Raises NotFound, Conflict (nothing to cancel)."""
    rma = get_rma(db, actor=actor, number=number)
    units = [u for u in rma.units if u.status in CUSTOMER_CANCELLABLE]
    if not units:
        raise Conflict(N_("Nothing left to cancel: every unit has arrived at our repair centre or the repair has ended."))
    workflow.move(db, mailing, units, RmaStatus.CANCELLED, actor=actor)
    return units


# -- guests ------------------------------------------------------------------------------------------
def guest_lookup(db: Session, number: str, email: str, ip: str) -> Rma | None:
    """The RMA with this number (or one of its unit numbers) and contact e-mail; None for every
    failure alike. Rate limited per address first (raises RateLimited)."""
    ratelimit.hit(db, ratelimit.LOOKUP_IP, f"repair-status:{ip}")
    match = NUMBER_RE.match("".join(number.split()).upper()[:40])
    address = email.strip().lower()
    if match is None or not address or len(address) > 254:
        return None
    loaded = _load_rma(db, _BY_CONTACT, {"number": match.group(1), "email": address})
    return loaded[0] if loaded else None


def rma_for_link(db: Session, number: str, email: str) -> Rma | None:
    """The RMA a signed tracking link names (its e-mail must still be the RMA's)."""
    loaded = _load_rma(db, _BY_CONTACT, {"number": number, "email": email})
    return loaded[0] if loaded else None


__all__ = [
    "FAULT_CATEGORIES",
    "LOOKUP_FAILED",
    "MAIN_PATH",
    "OUTCOMES",
    "PACKING",
    "REPAIR_CENTRE",
    "FormInvalid",
    "RepairRequest",
    "answer_quote",
    "cancel",
    "error_messages",
    "guest_lookup",
    "list_rmas",
    "owned_rmas",
    "request_repair",
    "rma_timeline",
    "timeline",
]
