"""The staff repair desk: queues by state and age, receiving parcels, moves, notes and quotes.

Every change goes through `portal.repairs.workflow` (timeline, CRM outbox, customer e-mail);
this module decides who may make it (staff and admins only) and which moves are allowed.
Each staff action is written to the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session, contains_eager

from portal.accounts.models import Account, User
from portal.db import utcnow
from portal.errors import Forbidden, Invalid, NotFound
from portal.i18n import N_
from portal.mail.service import Mailing
from portal.repairs import lifecycle, workflow
from portal.repairs.lifecycle import RANK, RECEIVABLE, TERMINAL, TRANSITIONS, RmaStatus
from portal.repairs.models import Rma, RmaEvent, RmaPhoto, RmaUnit
from portal.security.audit import audit

S = RmaStatus
# The customer's words for each state, but the desk's own for waiting on the customer.
LABELS: dict[RmaStatus, str] = {**lifecycle.LABELS, S.AWAITING_UNIT: N_("Awaiting the customer's unit")}
PAGE_SIZE = 25
MAX_BULK_CODES = 200
MAX_NOTE = 4000
CURRENCIES = ("USD", "EUR", "GBP", "CNY", "CAD", "SGD")
MAX_QUOTE_CENTS = 100_000_000  # 1,000,000.00 in major units
QUOTE_MAX_DAYS = 365
RECEIVED_NOTE = "Received at the repair centre"

# How long a unit may stay in a state before it is overdue; over twice this it is escalated
# to a supervisor. Ended states (rejected, cancelled, closed) are never overdue.
LIMITS: dict[RmaStatus, timedelta] = {
    S.REQUESTED: timedelta(days=1),
    S.APPROVED: timedelta(days=2),
    S.AWAITING_UNIT: timedelta(days=14),
    S.REPLACEMENT_SHIPPED: timedelta(days=14),
    S.RECEIVED: timedelta(days=1),
    S.DIAGNOSING: timedelta(days=3),
    S.QUOTE_SENT: timedelta(days=10),
    S.QUOTE_ACCEPTED: timedelta(days=1),
    S.QUOTE_DECLINED: timedelta(days=2),
    S.REPAIRING: timedelta(days=5),
    S.REPAIRED: timedelta(days=2),
    S.REPLACED: timedelta(days=2),
    S.SHIPPED: timedelta(days=10),
    S.DELIVERED: timedelta(days=7),
}
ESCALATE_FACTOR = 2
OPEN_STATES: tuple[RmaStatus, ...] = tuple(sorted((s for s in RmaStatus if s not in TERMINAL), key=RANK.__getitem__))

# Queue names besides the status values.
QUEUE_OPEN = "open"
QUEUE_OVERDUE = "overdue"
QUEUE_ESCALATED = "escalated"


def _require_staff(actor: User) -> None:
    if not actor.role.is_staff:
        raise Forbidden()


def _audit(db: Session, action: str, actor: User, target: str, **detail: Any) -> None:
    audit(db, action, actor_user_id=actor.id, actor_email=actor.email, target=target, **detail)


# -- age and flags --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Age:
    """How long a unit has been in its state, and whether that is too long."""

    since: datetime
    elapsed: timedelta
    limit: timedelta | None

    @property
    def overdue(self) -> bool:
        return self.limit is not None and self.elapsed > self.limit

    @property
    def escalated(self) -> bool:
        return self.limit is not None and self.elapsed > self.limit * ESCALATE_FACTOR


def age_of(unit: RmaUnit, now: datetime) -> Age:
    return Age(since=unit.status_changed_at, elapsed=max(now - unit.status_changed_at, timedelta(0)), limit=LIMITS.get(unit.status))


def _over_limit(now: datetime, factor: int) -> ColumnElement[bool]:
    """Units in a timed state for longer than `factor` x its limit: one (status, changed) range
    per state, which ix_rma_unit_status_changed answers."""
    return or_(*(and_(RmaUnit.status == status, RmaUnit.status_changed_at < now - limit * factor) for status, limit in LIMITS.items()))


# -- the queues ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class QueueRow:
    unit: RmaUnit
    account_name: str | None
    age: Age


@dataclass(frozen=True)
class Queue:
    queue: str
    search: str
    rows: list[QueueRow]
    total: int
    page: int
    pages: int
    counts: dict[RmaStatus, int]  # open states only, zero included
    open_total: int
    overdue_total: int
    escalated_total: int


def queue_names() -> set[str]:
    return {QUEUE_OPEN, QUEUE_OVERDUE, QUEUE_ESCALATED} | {s.value for s in RmaStatus}


def work_queue(db: Session, *, actor: User, queue: str = QUEUE_OPEN, search: str = "", page: int = 1, now: datetime | None = None) -> Queue:
    """One row per unit (units of one RMA may be at different steps), oldest in its state first.

    `queue`: "open" (every unit not ended), "overdue", "escalated" or a status value; a search
    (RMA number, unit number or serial, exact, any case) looks in every state."""
    _require_staff(actor)
    now = now or utcnow()
    queue = queue if queue in queue_names() else QUEUE_OPEN
    search = search.strip()[:60]
    page = max(page, 1)

    condition: ColumnElement[bool]
    if search:
        code = "".join(search.split()).upper()
        condition = or_(Rma.number == code, RmaUnit.unit_number == code, RmaUnit.serial == code)
    elif queue == QUEUE_OVERDUE:
        condition = _over_limit(now, 1)
    elif queue == QUEUE_ESCALATED:
        condition = _over_limit(now, ESCALATE_FACTOR)
    elif queue == QUEUE_OPEN:
        condition = RmaUnit.status.in_(OPEN_STATES)
    else:
        condition = RmaUnit.status == RmaStatus(queue)

    base = select(RmaUnit).join(Rma, Rma.id == RmaUnit.rma_id).where(condition)
    total = int(db.scalar(select(func.count()).select_from(base.subquery())) or 0)
    pages = max(1, -(-total // PAGE_SIZE))
    result = db.execute(
        base.add_columns(Account.name)
        .outerjoin(Account, Account.account_id == Rma.account_id)
        .options(contains_eager(RmaUnit.rma))
        .order_by(RmaUnit.status_changed_at, RmaUnit.id)
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    ).all()
    rows = [QueueRow(unit=unit, account_name=name, age=age_of(unit, now)) for unit, name in result]

    counts = dict.fromkeys(OPEN_STATES, 0)
    for status, count in db.execute(
        select(RmaUnit.status, func.count()).where(RmaUnit.status.in_(OPEN_STATES)).group_by(RmaUnit.status)
    ).all():
        counts[RmaStatus(status)] = int(count)
    overdue_total = int(db.scalar(select(func.count()).select_from(RmaUnit).where(_over_limit(now, 1))) or 0)
    escalated_total = int(db.scalar(select(func.count()).select_from(RmaUnit).where(_over_limit(now, ESCALATE_FACTOR))) or 0)
    return Queue(
        queue=queue,
        search=search,
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        counts=counts,
        open_total=sum(counts.values()),
        overdue_total=overdue_total,
        escalated_total=escalated_total,
    )


# -- one RMA -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class UnitState:
    unit: RmaUnit
    age: Age


@dataclass(frozen=True)
class TimelineEntry:
    event: RmaEvent
    unit_number: str
    author_name: str | None


@dataclass(frozen=True)
class MoveGroup:
    """Units at the same status: the moves offered are exactly the ones allowed for all of them."""

    status: RmaStatus
    units: list[RmaUnit]
    targets: tuple[RmaStatus, ...]


@dataclass
class RmaDetail:
    rma: Rma
    account_name: str | None
    photo_count: int
    units: list[UnitState]
    timeline: list[TimelineEntry]
    move_groups: list[MoveGroup] = field(default_factory=list)
    quotable: list[RmaUnit] = field(default_factory=list)


def _rma_by_number(db: Session, number: str) -> Rma:
    code = "".join(number.split()).upper()
    rma = db.scalar(select(Rma).where(Rma.number == code)) if 0 < len(code) <= 20 else None
    if rma is None:
        raise NotFound()
    return rma


def _locked_units(db: Session, rma: Rma) -> list[RmaUnit]:
    """The RMA's units, re-read under a row lock: two desks acting at once serialise here."""
    stmt = select(RmaUnit).where(RmaUnit.rma_id == rma.id).order_by(RmaUnit.line_no).with_for_update(of=RmaUnit)
    return list(db.scalars(stmt.execution_options(populate_existing=True)).all())


def get_rma(db: Session, *, actor: User, number: str, now: datetime | None = None) -> RmaDetail:
    """Raises NotFound."""
    _require_staff(actor)
    now = now or utcnow()
    rma = _rma_by_number(db, number)
    units = list(rma.units)
    unit_numbers = {u.id: u.unit_number for u in units}
    events = db.scalars(select(RmaEvent).where(RmaEvent.unit_id.in_(list(unit_numbers))).order_by(RmaEvent.occurred_at, RmaEvent.id)).all()
    author_ids = {e.author_id for e in events if e.author_id is not None}
    authors = {row.id: row.name for row in db.execute(select(User.id, User.name).where(User.id.in_(author_ids)))} if author_ids else {}
    timeline = [
        TimelineEntry(event=e, unit_number=unit_numbers[e.unit_id], author_name=authors.get(e.author_id) if e.author_id else None)
        for e in events
    ]
    photo_count = int(db.scalar(select(func.count()).select_from(RmaPhoto).where(RmaPhoto.rma_id == rma.id)) or 0)
    account_name = db.scalar(select(Account.name).where(Account.account_id == rma.account_id)) if rma.account_id else None
    groups: dict[RmaStatus, list[RmaUnit]] = {}
    for unit in units:
        if TRANSITIONS[unit.status]:
            groups.setdefault(unit.status, []).append(unit)
    return RmaDetail(
        rma=rma,
        account_name=account_name,
        photo_count=photo_count,
        units=[UnitState(unit=u, age=age_of(u, now)) for u in units],
        timeline=timeline,
        move_groups=[MoveGroup(status=s, units=us, targets=TRANSITIONS[s]) for s, us in sorted(groups.items(), key=lambda i: RANK[i[0]])],
        quotable=[u for u in units if u.status is S.DIAGNOSING],
    )


# -- receiving parcels ---------------------------------------------------------------------------
RECEIVED = "received"
ALREADY = "already"
UNKNOWN = "unknown"
NOT_RECEIVABLE = "not_receivable"


@dataclass(frozen=True)
class ReceiveResult:
    code: str
    outcome: str  # RECEIVED, ALREADY, UNKNOWN, NOT_RECEIVABLE
    count: int = 0
    rma_number: str | None = None
    state: RmaStatus | None = None  # for NOT_RECEIVABLE: the state that prevents it


def parse_codes(single: str, bulk: str) -> list[str]:
    """The scanned or typed codes: the single field, then one per line of the bulk field."""
    codes = []
    for line in [single, *bulk.splitlines()]:
        code = "".join(line.split()).upper()
        if code:
            codes.append(code)
    return codes


def _was_received(status: RmaStatus) -> bool:
    return RANK[status] >= RANK[S.RECEIVED] and status not in (S.REJECTED, S.CANCELLED)


def receive(db: Session, mailing: Mailing | None, *, actor: User, codes: Sequence[str]) -> list[ReceiveResult]:
    """Receive parcels by RMA number (every receivable unit) or unit number (that unit).

    Unknown or unreceivable codes give a result line; they never stop the others. Raises
    Invalid when there is no code at all or too many."""
    _require_staff(actor)
    codes = [c for c in ("".join(code.split()).upper() for code in codes) if c]
    if not codes:
        raise Invalid("code", N_("Type or scan an RMA number or a unit number."))
    if len(codes) > MAX_BULK_CODES:
        raise Invalid("codes", N_("Receive at most 200 codes at a time."))
    results = []
    for code in codes:
        results.append(_receive_one(db, mailing, actor, code))
    return results


def _receive_one(db: Session, mailing: Mailing | None, actor: User, code: str) -> ReceiveResult:
    if len(code) > 30:
        return ReceiveResult(code=code, outcome=UNKNOWN)
    unit = db.scalar(select(RmaUnit).where(RmaUnit.unit_number == code))
    if unit is not None:
        rma = unit.rma
        units = [u for u in _locked_units(db, rma) if u.unit_number == code]
    else:
        found = db.scalar(select(Rma).where(Rma.number == code))
        if found is None:
            return ReceiveResult(code=code, outcome=UNKNOWN)
        rma = found
        units = _locked_units(db, rma)
    receivable = [u for u in units if u.status in RECEIVABLE]
    if receivable:
        workflow.move(db, mailing, receivable, S.RECEIVED, note=RECEIVED_NOTE, customer_visible=True, actor=actor, check=False)
        _audit(db, "rma.received", actor, code, units=[u.unit_number for u in receivable])
        return ReceiveResult(code=code, outcome=RECEIVED, count=len(receivable), rma_number=rma.number)
    if units and all(_was_received(u.status) for u in units):
        return ReceiveResult(code=code, outcome=ALREADY, rma_number=rma.number)
    blocking = next((u.status for u in units if not _was_received(u.status)), units[0].status if units else S.REQUESTED)
    return ReceiveResult(code=code, outcome=NOT_RECEIVABLE, rma_number=rma.number, state=blocking)


# -- moves, notes, quotes ------------------------------------------------------------------------
class MoveRefused(Invalid):
    """A move lifecycle.TRANSITIONS does not allow; `params` fill in the message."""

    def __init__(self, unit: RmaUnit, to: RmaStatus) -> None:
        super().__init__("move", N_("%(unit)s cannot move from “%(current)s” to “%(target)s”."))
        self.params = {"unit": unit.unit_number, "current": LABELS[unit.status], "target": LABELS[to]}


def _selected(units: Iterable[RmaUnit], unit_numbers: Sequence[str], field_name: str) -> list[RmaUnit]:
    wanted = {n.strip().upper() for n in unit_numbers if n.strip()}
    if not wanted:
        raise Invalid(field_name, N_("Select at least one unit."))
    chosen = [u for u in units if u.unit_number in wanted]
    if len(chosen) != len(wanted):
        raise Invalid(field_name, N_("Select units of this RMA only."))
    return chosen


def _clean_note(note: str, *, required: bool, field_name: str = "note") -> str:
    note = note.strip()
    if required and not note:
        raise Invalid(field_name, N_("Write the note."))
    if len(note) > MAX_NOTE:
        raise Invalid(field_name, N_("Use at most 4000 characters."))
    return note


def move_units(
    db: Session,
    mailing: Mailing | None,
    *,
    actor: User,
    number: str,
    unit_numbers: Sequence[str],
    to: str,
    note: str = "",
    customer_visible: bool = True,
) -> list[RmaUnit]:
    """Move the selected units of an RMA to `to`. Raises NotFound, Invalid, MoveRefused."""
    _require_staff(actor)
    rma = _rma_by_number(db, number)
    try:
        target = RmaStatus(to)
    except ValueError:
        raise Invalid("move", N_("Choose the next step.")) from None
    units = _selected(_locked_units(db, rma), unit_numbers, "move")
    note = _clean_note(note, required=False, field_name="move")
    for unit in units:
        if target not in TRANSITIONS[unit.status]:
            raise MoveRefused(unit, target)
    workflow.move(db, mailing, units, target, note=note, customer_visible=customer_visible, actor=actor)
    _audit(db, "rma.moved", actor, rma.number, units=[u.unit_number for u in units], to=target.value, customer_visible=customer_visible)
    return units


def add_note(
    db: Session, *, actor: User, number: str, unit_numbers: Sequence[str] | None, note: str, customer_visible: bool = False
) -> list[RmaEvent]:
    """A note on the timeline of the selected units (None: every unit), internal unless
    `customer_visible`. No e-mail. Raises NotFound, Invalid."""
    _require_staff(actor)
    rma = _rma_by_number(db, number)
    units = list(rma.units) if unit_numbers is None else _selected(rma.units, unit_numbers, "note_unit")
    note = _clean_note(note, required=True)
    added = [workflow.add_note(db, unit, note, customer_visible=customer_visible, actor=actor) for unit in units]
    _audit(db, "rma.note", actor, rma.number, units=[u.unit_number for u in units], customer_visible=customer_visible)
    return added


def parse_amount(raw: str) -> int:
    """Major units as typed ("120", "120.5", "1,200.00") to cents. Raises Invalid."""
    text = raw.strip().replace(",", "")
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise Invalid("amount", N_("Enter the amount as a number, for example 120.00.")) from None
    if not amount.is_finite() or amount <= 0:
        raise Invalid("amount", N_("Enter an amount greater than zero."))
    if amount != amount.quantize(Decimal("0.01")):
        raise Invalid("amount", N_("Use at most two decimal places."))
    cents = int(amount * 100)
    if cents > MAX_QUOTE_CENTS:
        raise Invalid("amount", N_("This amount is too large."))
    return cents


def send_quote(
    db: Session,
    mailing: Mailing | None,
    *,
    actor: User,
    number: str,
    unit_number: str,
    amount: str,
    currency: str,
    valid_until: str,
    today: date | None = None,
) -> RmaUnit:
    """Quote an out-of-warranty repair for one unit being diagnosed; moves it to quote_sent
    with a customer-visible note stating the amount. Raises NotFound, Invalid."""
    _require_staff(actor)
    rma = _rma_by_number(db, number)
    today = today or utcnow().date()
    errors: dict[str, str] = {}
    units = [u for u in _locked_units(db, rma) if u.unit_number == unit_number.strip().upper()]
    if not units:
        errors["quote_unit"] = N_("Choose a unit of this RMA.")
    elif units[0].status is not S.DIAGNOSING:
        errors["quote_unit"] = N_("Only a unit being diagnosed can get a quote.")
    cents = 0
    try:
        cents = parse_amount(amount)
    except Invalid as exc:
        errors.update(exc.errors)
    code = currency.strip().upper()
    if code not in CURRENCIES:
        errors["currency"] = N_("Choose a currency from the list.")
    until: date | None = None
    try:
        until = date.fromisoformat(valid_until.strip())
    except ValueError:
        errors["valid_until"] = N_("Enter the date as YYYY-MM-DD.")
    if until is not None and until <= today:
        errors["valid_until"] = N_("Choose a date in the future.")
    elif until is not None and until > today + timedelta(days=QUOTE_MAX_DAYS):
        errors["valid_until"] = N_("Choose a date within a year.")
    if errors:
        raise Invalid(errors)
    assert until is not None
    unit = units[0]
    unit.quote_amount_cents, unit.quote_currency, unit.quote_valid_until = cents, code, until
    unit.quote_decision, unit.quote_decided_at = None, None
    note = f"Repair quote: {Decimal(cents) / 100:.2f} {code}, valid until {until.isoformat()}."
    workflow.move(db, mailing, [unit], S.QUOTE_SENT, note=note, customer_visible=True, actor=actor)
    _audit(db, "rma.quoted", actor, unit.unit_number, amount_cents=cents, currency=code, valid_until=until.isoformat())
    return unit


__all__ = [
    "CURRENCIES",
    "LIMITS",
    "OPEN_STATES",
    "PAGE_SIZE",
    "Age",
    "MoveRefused",
    "Queue",
    "ReceiveResult",
    "RmaDetail",
    "add_note",
    "get_rma",
    "move_units",
    "parse_codes",
    "receive",
    "send_quote",
    "work_queue",
]
