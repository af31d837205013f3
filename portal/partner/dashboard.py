"""Partner dashboard: sell-through against target, weeks of inventory cover, report warnings,
submission quality history, and the staff overview of all partners with exception flags.

Figures are aggregated in SQL (GROUP BY); Python only merges the few grouped rows. Only the
lines of the CURRENT submission of a period count (status submitted), and a sell-through line
counts in its report's period (the month the partner reported it for).

Rules (also stated on the pages):
- Sell-through vs target: units sold / target units. Targets are set per product and month, so
  a region has actual units but no target.
- Weeks of inventory cover (per product): units on hand at the latest stock count (the latest
  `as_of` of the current inventory reports, within the chosen month if one is chosen, summed over
  locations) / average weekly units sold over the 4 weeks (28 days) up to that date.
  No sales in those 4 weeks: no figure ("no recent sales").
- A report is due on the 10th of the month after its period: a past month without a current
  report is "missing" once that day has passed; a report submitted after it is "late".
- Staff exception flags: behind target by more than BEHIND_TARGET_SHARE (actual < 80 % of
  target), missing period (no current report of a kind for the previous month after the due
  day), inventory anomaly (a product with negative stock, or more than MAX_COVER_WEEKS weeks of
  cover, counting stock without any sale in the last 4 weeks as more than MAX_COVER_WEEKS).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import ColumnElement, Select, and_, func, select
from sqlalchemy.orm import Session

from portal.accounts.models import Account, AccountKind, User
from portal.customer.models import Product
from portal.db import utcnow
from portal.errors import NotFound
from portal.i18n import N_
from portal.partner.models import (
    InventoryReportLine,
    ReportKind,
    ReportSource,
    ReportSubmission,
    SalesTarget,
    SellThroughReportLine,
    SubmissionStatus,
)

BEHIND_TARGET_SHARE = 0.20  # behind target by more than 20 % is an exception
MAX_COVER_WEEKS = 52  # more weeks of cover than this is an inventory anomaly
COVER_WINDOW_DAYS = 28  # average weekly sales over the last 4 weeks
REPORT_DUE_DAY = 10  # a month's reports are due on the 10th of the next month
WARNING_MONTHS = 6  # how many past months the warnings look back
HISTORY_LIMIT = 24
UNCATEGORISED = "—"
# Product categories are CRM keys; these are their names for readers (message ids, translated
# where shown). An unknown key is shown made readable.
CATEGORY_LABELS = {
    "motherboards": N_("Motherboards"),
    "networking": N_("Networking"),
    "printers": N_("Printers"),
    "storage": N_("Storage"),
}


def category_label(key: str) -> str:
    return CATEGORY_LABELS.get(key) or key.replace("-", " ").replace("_", " ").capitalize()


DIMENSIONS = ("month", "category", "product", "region")
DIMENSION_LABELS = {
    "month": N_("Month"),
    "category": N_("Category"),
    "product": N_("Product"),
    "region": N_("Region"),
}
KIND_LABELS = {ReportKind.SELL_THROUGH: N_("Sell-through"), ReportKind.INVENTORY: N_("Inventory")}


def today() -> date:
    """The current date (UTC); the tests move the clock here."""
    return utcnow().date()


# -- periods ---------------------------------------------------------------------------------------
def _month_start(value: date) -> date:
    return value.replace(day=1)


def _previous_month(first: date) -> date:
    return (first - timedelta(days=1)).replace(day=1)


def _next_month(first: date) -> date:
    return (first + timedelta(days=32)).replace(day=1)


def period_of(value: date) -> str:
    return value.strftime("%Y-%m")


def _parse_period(value: str) -> date | None:
    try:
        return datetime.strptime(value, "%Y-%m").replace(tzinfo=UTC).date() if len(value) == 7 else None
    except ValueError:
        return None


def due_date(period: str) -> date:
    first = _parse_period(period)
    assert first is not None
    return _next_month(first).replace(day=REPORT_DUE_DAY)


def previous_period(on: date) -> str:
    return period_of(_previous_month(_month_start(on)))


# -- scope and filters -----------------------------------------------------------------------------
def partner_account(db: Session, actor: User, account_id: str | None = None) -> Account:
    """The partner account whose figures `actor` may see: a partner user their own (asking for
    another is NotFound), staff any partner account they name."""
    if actor.role.is_partner:
        if actor.account_id is None or (account_id is not None and account_id != actor.account_id):
            raise NotFound()
        account_id = actor.account_id
    elif not actor.role.is_staff or account_id is None:
        raise NotFound()
    account = db.get(Account, account_id)
    if account is None or account.kind is not AccountKind.PARTNER:
        raise NotFound()
    return account


@dataclass(frozen=True)
class Filters:
    month: str = ""
    category: str = ""
    product: str = ""
    region: str = ""

    @classmethod
    def parse(cls, month: str = "", category: str = "", product: str = "", region: str = "") -> Filters:
        """Unknown or malformed values are dropped (a filter narrows; it never errors)."""
        month = month.strip() if _parse_period(month.strip()) else ""
        region = region.strip().upper()
        return cls(
            month=month,
            category=category.strip()[:60],
            product=product.strip().upper()[:40],
            region=region if len(region) == 2 and region.isalpha() else "",
        )

    def query(self, **changes: str) -> str:
        """The query string of these filters with `changes` applied ('' removes one)."""
        values = {"month": self.month, "category": self.category, "product": self.product, "region": self.region}
        values.update(changes)
        return urlencode({k: v for k, v in values.items() if v})

    @property
    def active(self) -> bool:
        return bool(self.month or self.category or self.product or self.region)


# -- sell-through vs target ------------------------------------------------------------------------
@dataclass
class Row:
    key: str
    label: str
    target_units: int | None
    actual_units: int

    @property
    def percent(self) -> int | None:
        if not self.target_units:
            return None
        return round(100 * self.actual_units / self.target_units)

    @property
    def behind(self) -> bool:
        return self.target_units is not None and self.actual_units < self.target_units * (1 - BEHIND_TARGET_SHARE)


def _current_sales(partners: Sequence[str]) -> ColumnElement[bool]:
    return and_(
        SellThroughReportLine.submission_id == ReportSubmission.id,
        ReportSubmission.partner_account_id.in_(partners),
        ReportSubmission.kind == ReportKind.SELL_THROUGH,
        ReportSubmission.status == SubmissionStatus.SUBMITTED,
    )


def _sales_query(partners: Sequence[str], filters: Filters, dim: Any) -> Select[Any]:
    query = (
        select(dim, func.sum(SellThroughReportLine.quantity))
        .select_from(SellThroughReportLine)
        .join(ReportSubmission, _current_sales(partners))
        .outerjoin(Product, Product.sku == SellThroughReportLine.sku)
    )
    if filters.month:
        query = query.where(ReportSubmission.period == filters.month)
    if filters.category:
        query = query.where(func.coalesce(Product.category, UNCATEGORISED) == filters.category)
    if filters.product:
        query = query.where(SellThroughReportLine.sku == filters.product)
    if filters.region:
        query = query.where(SellThroughReportLine.end_customer_country == filters.region)
    return query.group_by(dim)


def _target_query(partners: Sequence[str], filters: Filters, dim: Any) -> Select[Any]:
    query = (
        select(dim, func.sum(SalesTarget.target_units))
        .select_from(SalesTarget)
        .outerjoin(Product, Product.sku == SalesTarget.sku)
        .where(SalesTarget.partner_account_id.in_(partners))
    )
    if filters.month:
        query = query.where(SalesTarget.period == filters.month)
    if filters.category:
        query = query.where(func.coalesce(Product.category, UNCATEGORISED) == filters.category)
    if filters.product:
        query = query.where(SalesTarget.sku == filters.product)
    return query.group_by(dim)


def _names(db: Session, skus: Sequence[str]) -> dict[str, str]:
    if not skus:
        return {}
    return {str(sku): str(name) for sku, name in db.execute(select(Product.sku, Product.name).where(Product.sku.in_(skus)))}


def breakdown(db: Session, partners: Sequence[str], filters: Filters, dimension: str) -> list[Row]:
    """Target and actual units grouped by `dimension` (month, category, product or region)."""
    category = func.coalesce(Product.category, UNCATEGORISED)
    sales_dim: Any
    target_dim: Any
    if dimension == "month":
        sales_dim, target_dim = ReportSubmission.period, SalesTarget.period
    elif dimension == "category":
        sales_dim, target_dim = category, category
    elif dimension == "product":
        sales_dim, target_dim = SellThroughReportLine.sku, SalesTarget.sku
    elif dimension == "region":
        sales_dim, target_dim = SellThroughReportLine.end_customer_country, None
    else:
        raise ValueError(dimension)
    actual = {str(k): int(v or 0) for k, v in db.execute(_sales_query(partners, filters, sales_dim))}
    targets: dict[str, int] = {}
    # A region has no target; with a region filter the targets (per product) cannot be split.
    if target_dim is not None and not filters.region:
        targets = {str(k): int(v or 0) for k, v in db.execute(_target_query(partners, filters, target_dim))}
    names: dict[str, str] = {}
    if dimension == "product":
        keys = sorted(set(actual) | set(targets))
        names = _names(db, keys)
    elif dimension == "category":
        names = {key: category_label(key) for key in set(actual) | set(targets) if key != UNCATEGORISED}
    rows = [
        Row(key=key, label=names.get(key, key), target_units=targets.get(key), actual_units=actual.get(key, 0))
        for key in set(actual) | set(targets)
    ]
    if dimension == "month":
        rows.sort(key=lambda r: r.key)
    else:
        rows.sort(key=lambda r: (-r.actual_units, r.key))
    return rows


def totals(rows: Iterable[Row]) -> Row:
    rows = list(rows)
    targets = [r.target_units for r in rows if r.target_units is not None]
    return Row(key="", label="", target_units=sum(targets) if targets else None, actual_units=sum(r.actual_units for r in rows))


# -- inventory cover -------------------------------------------------------------------------------
@dataclass
class Cover:
    sku: str
    name: str
    as_of: date
    on_hand: int
    sold_4_weeks: int

    @property
    def weekly_units(self) -> float:
        return self.sold_4_weeks / (COVER_WINDOW_DAYS / 7)

    @property
    def weeks(self) -> float | None:
        return round(self.on_hand / self.weekly_units, 1) if self.sold_4_weeks else None

    @property
    def anomaly(self) -> bool:
        if self.on_hand < 0:
            return True
        weeks = self.weeks
        return (weeks is not None and weeks > MAX_COVER_WEEKS) or (weeks is None and self.on_hand > 0)


def cover(db: Session, partner: str, filters: Filters) -> list[Cover]:
    """Weeks of cover per product at the partner's latest stock count (see the module rules)."""
    current = and_(
        InventoryReportLine.submission_id == ReportSubmission.id,
        ReportSubmission.partner_account_id == partner,
        ReportSubmission.kind == ReportKind.INVENTORY,
        ReportSubmission.status == SubmissionStatus.SUBMITTED,
    )
    latest_query = select(func.max(InventoryReportLine.as_of)).select_from(InventoryReportLine).join(ReportSubmission, current)
    if filters.month:
        latest_query = latest_query.where(ReportSubmission.period == filters.month)
    as_of = db.scalar(latest_query)
    if as_of is None:
        return []
    stock = (
        select(InventoryReportLine.sku, func.sum(InventoryReportLine.quantity_on_hand))
        .select_from(InventoryReportLine)
        .join(ReportSubmission, current)
        .outerjoin(Product, Product.sku == InventoryReportLine.sku)
        .where(InventoryReportLine.as_of == as_of)
    )
    if filters.category:
        stock = stock.where(func.coalesce(Product.category, UNCATEGORISED) == filters.category)
    if filters.product:
        stock = stock.where(InventoryReportLine.sku == filters.product)
    on_hand = {str(sku): int(qty or 0) for sku, qty in db.execute(stock.group_by(InventoryReportLine.sku))}
    if not on_hand:
        return []
    since = as_of - timedelta(days=COVER_WINDOW_DAYS - 1)
    sold = {
        str(sku): int(qty or 0)
        for sku, qty in db.execute(
            select(SellThroughReportLine.sku, func.sum(SellThroughReportLine.quantity))
            .select_from(SellThroughReportLine)
            .join(ReportSubmission, _current_sales([partner]))
            .where(
                SellThroughReportLine.sku.in_(list(on_hand)),
                SellThroughReportLine.sold_on >= since,
                SellThroughReportLine.sold_on <= as_of,
            )
            .group_by(SellThroughReportLine.sku)
        )
    }
    names = _names(db, list(on_hand))
    return [
        Cover(sku=sku, name=names.get(sku, sku), as_of=as_of, on_hand=qty, sold_4_weeks=sold.get(sku, 0))
        for sku, qty in sorted(on_hand.items())
    ]


# -- warnings and history --------------------------------------------------------------------------
@dataclass
class ReportWarning:
    period: str
    kind: ReportKind
    late: bool  # False: missing
    due: date
    submitted_on: date | None = None


def _current_submissions(db: Session, partners: Sequence[str], periods: Sequence[str]) -> dict[tuple[str, ReportKind, str], date | None]:
    rows = db.execute(
        select(ReportSubmission.partner_account_id, ReportSubmission.kind, ReportSubmission.period, func.min(ReportSubmission.submitted_at))
        .where(
            ReportSubmission.partner_account_id.in_(partners),
            ReportSubmission.period.in_(periods),
            ReportSubmission.status != SubmissionStatus.DRAFT,
        )
        .group_by(ReportSubmission.partner_account_id, ReportSubmission.kind, ReportSubmission.period)
    )
    # First submission of the period (any version) decides lateness; only periods that still have a
    # current version count as reported (a superseded-only period cannot exist: a new version replaces it).
    return {(p, ReportKind(k), period): (at.date() if at else None) for p, k, period, at in rows}


def warnings(db: Session, partner: str, on: date) -> list[ReportWarning]:
    """Missing or late reports for the past WARNING_MONTHS months (from the partner's first target
    or report on), newest first."""
    first_known = min(
        (
            v
            for v in (
                db.scalar(select(func.min(SalesTarget.period)).where(SalesTarget.partner_account_id == partner)),
                db.scalar(select(func.min(ReportSubmission.period)).where(ReportSubmission.partner_account_id == partner)),
            )
            if v
        ),
        default=None,
    )
    if first_known is None:
        return []
    periods = []
    month = _previous_month(_month_start(on))
    for _ in range(WARNING_MONTHS):
        if period_of(month) < first_known:
            break
        periods.append(period_of(month))
        month = _previous_month(month)
    reported = _current_submissions(db, [partner], periods)
    found: list[ReportWarning] = []
    for period in periods:
        due = due_date(period)
        for kind in (ReportKind.SELL_THROUGH, ReportKind.INVENTORY):
            key = (partner, kind, period)
            if key not in reported:
                if on > due:
                    found.append(ReportWarning(period=period, kind=kind, late=False, due=due))
            else:
                submitted = reported[key]
                if submitted is not None and submitted > due:
                    found.append(ReportWarning(period=period, kind=kind, late=True, due=due, submitted_on=submitted))
    return found


def history(db: Session, partner: str, limit: int = HISTORY_LIMIT) -> list[ReportSubmission]:
    return list(
        db.scalars(
            select(ReportSubmission)
            .where(ReportSubmission.partner_account_id == partner, ReportSubmission.status != SubmissionStatus.DRAFT)
            .order_by(ReportSubmission.submitted_at.desc(), ReportSubmission.id.desc())
            .limit(limit)
        )
    )


# -- the dashboard ---------------------------------------------------------------------------------
@dataclass
class Dashboard:
    account: Account
    filters: Filters
    tables: dict[str, list[Row]]
    total: Row
    covers: list[Cover]
    warnings: list[ReportWarning]
    history: list[ReportSubmission]
    categories: list[str] = field(default_factory=list)


def dashboard(db: Session, actor: User, filters: Filters, *, account_id: str | None = None, on: date | None = None) -> Dashboard:
    account = partner_account(db, actor, account_id)
    partners = [account.account_id]
    tables = {dimension: breakdown(db, partners, filters, dimension) for dimension in DIMENSIONS}
    return Dashboard(
        account=account,
        filters=filters,
        tables=tables,
        total=totals(tables["month"]),
        covers=cover(db, account.account_id, filters),
        warnings=warnings(db, account.account_id, on or today()),
        history=history(db, account.account_id),
    )


CSV_HEADER = ("section", "key", "name", "target_units", "actual_units", "percent_of_target", "on_hand", "weekly_units", "weeks_of_cover")


def dashboard_csv(board: Dashboard) -> bytes:
    """The dashboard's figures as CSV (UTF-8 with BOM for spreadsheets), one header row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for dimension in DIMENSIONS:
        for row in board.tables[dimension]:
            target = "" if row.target_units is None else row.target_units
            percent = "" if row.percent is None else row.percent
            writer.writerow((dimension, row.key, _safe(row.label), target, row.actual_units, percent, "", "", ""))
    for item in board.covers:
        weeks = "" if item.weeks is None else item.weeks
        writer.writerow(("cover", item.sku, _safe(item.name), "", "", "", item.on_hand, round(item.weekly_units, 2), weeks))
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _safe(value: str) -> str:
    """No spreadsheet formulas from data (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


# -- staff overview --------------------------------------------------------------------------------
@dataclass
class PartnerSummary:
    account: Account
    last: dict[ReportKind, ReportSubmission | None]
    month: Row
    missing: list[ReportKind]
    anomalies: list[str]

    @property
    def behind(self) -> bool:
        return self.month.behind

    @property
    def flagged(self) -> bool:
        return self.behind or bool(self.missing) or bool(self.anomalies)


def staff_overview(db: Session, actor: User, month: str = "", *, on: date | None = None) -> tuple[str, list[PartnerSummary]]:
    """Every partner account with its last submission per kind, the chosen month's (default: the
    previous month's) sell-through vs target, and the exception flags."""
    if not actor.role.is_staff:
        raise NotFound()
    on = on or today()
    month = month if _parse_period(month) else previous_period(on)
    accounts = list(db.scalars(select(Account).where(Account.kind == AccountKind.PARTNER).order_by(Account.name, Account.account_id)))
    ids = [a.account_id for a in accounts]
    if not ids:
        return month, []
    latest = (
        select(ReportSubmission.partner_account_id, ReportSubmission.kind, func.max(ReportSubmission.id).label("last_id"))
        .where(ReportSubmission.partner_account_id.in_(ids), ReportSubmission.status != SubmissionStatus.DRAFT)
        .group_by(ReportSubmission.partner_account_id, ReportSubmission.kind)
        .subquery()
    )
    last: dict[tuple[str, ReportKind], ReportSubmission] = {
        (s.partner_account_id, s.kind): s
        for s in db.scalars(select(ReportSubmission).join(latest, ReportSubmission.id == latest.c.last_id))
    }
    partner_col = ReportSubmission.partner_account_id
    filters = Filters(month=month)
    actual = {str(k): int(v or 0) for k, v in db.execute(_sales_query(ids, filters, partner_col))}
    targets = {str(k): int(v or 0) for k, v in db.execute(_target_query(ids, filters, SalesTarget.partner_account_id))}
    due_period = previous_period(on)
    reported = _current_submissions(db, ids, [due_period]) if on > due_date(due_period) else None
    summaries = []
    for account in accounts:
        pid = account.account_id
        missing = (
            [] if reported is None else [k for k in (ReportKind.SELL_THROUGH, ReportKind.INVENTORY) if (pid, k, due_period) not in reported]
        )
        anomalies = [c.sku for c in cover(db, pid, Filters()) if c.anomaly]
        summaries.append(
            PartnerSummary(
                account=account,
                last={k: last.get((pid, k)) for k in (ReportKind.SELL_THROUGH, ReportKind.INVENTORY)},
                month=Row(key=pid, label=account.name, target_units=targets.get(pid), actual_units=actual.get(pid, 0)),
                missing=missing,
                anomalies=anomalies,
            )
        )
    return month, summaries


# -- demo data -------------------------------------------------------------------------------------
DEMO_PARTNER = "P-2001"
DEMO_COUNTRIES = ("SG", "MY", "TH", "ID", "VN")
DEMO_LOCATIONS = ("Singapore DC", "Kuala Lumpur DC")
DEMO_FALLBACK_SKUS = ("NW-MB-X570", "NW-MB-B650", "NW-MB-H610", "NW-SW-24G", "NW-SW-8P", "NW-AP-AX6")


def seed_demo_reports(db: Session, *, on: date | None = None) -> int:
    """Submitted sell-through and inventory reports (version 1) of the demo partner P-2001 for the
    last 3 months, over its targeted SKUs; some products sell well behind target. Idempotent:
    a period and kind that already has a submission is left alone. Returns submissions added."""
    import hashlib
    import uuid

    if db.get(Account, DEMO_PARTNER) is None:
        return 0
    on = on or today()
    added = 0
    month = _month_start(on)
    for back in range(1, 4):
        month = _previous_month(month)
        period = period_of(month)
        targets = dict(
            db.execute(
                select(SalesTarget.sku, SalesTarget.target_units).where(
                    SalesTarget.partner_account_id == DEMO_PARTNER, SalesTarget.period == period
                )
            ).all()
        ) or dict.fromkeys(DEMO_FALLBACK_SKUS, 60)
        prices = {sku: 9_900 + 1_000 * i for i, sku in enumerate(sorted(targets))}
        for kind in (ReportKind.SELL_THROUGH, ReportKind.INVENTORY):
            exists = db.scalar(
                select(func.count())
                .select_from(ReportSubmission)
                .where(
                    ReportSubmission.partner_account_id == DEMO_PARTNER, ReportSubmission.kind == kind, ReportSubmission.period == period
                )
            )
            if exists:
                continue
            due = _next_month(month).replace(day=REPORT_DUE_DAY)
            # The oldest month's reports came in late (after the due day) to show the warning.
            submitted = datetime.combine(due + timedelta(days=3 if back == 3 else -4), datetime.min.time(), tzinfo=UTC).replace(hour=9)
            submission = ReportSubmission(
                partner_account_id=DEMO_PARTNER,
                kind=kind,
                period=period,
                version=1,
                status=SubmissionStatus.SUBMITTED,
                source=ReportSource.CLI,
                filename=f"demo-{kind.value}-{period}.csv",
                created_at=submitted,
                submitted_at=submitted,
            )
            db.add(submission)
            db.flush()
            lines: list[InventoryReportLine | SellThroughReportLine] = []
            for index, (sku, target) in enumerate(sorted(targets.items())):
                # Every third product sells at about half its target; the others near or above it.
                share = 0.5 if index % 3 == 2 else 0.9 + 0.05 * ((index + back) % 4)
                if kind is ReportKind.SELL_THROUGH:
                    units = max(1, round(int(target) * share))
                    chunks = [units // 3, units // 3, units - 2 * (units // 3)]
                    for part, qty in enumerate(chunks):
                        if qty <= 0:
                            continue
                        key = hashlib.sha256(f"demo:{period}:{sku}:{part}".encode()).hexdigest()[:32]
                        lines.append(
                            SellThroughReportLine(
                                submission_id=submission.id,
                                partner_account_id=DEMO_PARTNER,
                                external_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo:{DEMO_PARTNER}:sell_through:{key}")),
                                line_key=key,
                                row_number=len(lines) + 2,
                                sold_on=month + timedelta(days=4 + 9 * part),
                                sku=sku,
                                quantity=qty,
                                unit_price_cents=prices[sku],
                                currency="USD",
                                end_customer_name=f"Demo customer {index + 1}",
                                end_customer_country=DEMO_COUNTRIES[(index + part) % len(DEMO_COUNTRIES)],
                            )
                        )
                else:
                    for loc_index, location in enumerate(DEMO_LOCATIONS):
                        key = hashlib.sha256(f"demo:{period}:{sku}:{location}".encode()).hexdigest()[:32]
                        # Slow sellers pile up stock (weeks of cover well above the others).
                        qty = round(int(target) * (1.5 if index % 3 == 2 else 0.4) / (loc_index + 1))
                        lines.append(
                            InventoryReportLine(
                                submission_id=submission.id,
                                partner_account_id=DEMO_PARTNER,
                                external_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"demo:{DEMO_PARTNER}:inventory:{key}")),
                                line_key=key,
                                row_number=len(lines) + 2,
                                as_of=_next_month(month) - timedelta(days=1),
                                location=location,
                                sku=sku,
                                quantity_on_hand=qty,
                            )
                        )
            db.add_all(lines)
            submission.accepted_count = len(lines)
            submission.rejected_count = 1 if back == 2 else 0
            submission.quality_score = round(100 * len(lines) / (len(lines) + submission.rejected_count))
            added += 1
    db.flush()
    return added
