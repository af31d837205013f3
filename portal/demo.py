"""Demo data: a realistic CRM store and one demo user per role. Idempotent: rows are
inserted only where their key is missing, so a second run changes nothing."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Table, select

from backend_adapter import crm_schema as crm
from portal.accounts import service as accounts_service
from portal.accounts.models import Role
from portal.db import Database, make_engine
from portal.kb.search import seed_demo_synonyms
from portal.kb.service import import_folder
from portal.migrate import migrate_all
from portal.partner.dashboard import seed_demo_reports
from portal.settings import Settings

KB_CONTENT = Path(__file__).parent / "kb" / "content"  # the demo help articles (Markdown)
DEMO_PASSWORD = "northwind-demo-2026"  # noqa: S105 - published demo logins (README)

ACCOUNTS = [
    ("C-1001", "customer", "Harbor Robotics Ltd", "gold", "GB"),  # service tier: advance replacement
    ("C-1002", "customer", "Shenzhen Lianhua Automation Co.", None, "CN"),
    ("C-1003", "customer", "Maple Leaf Clinics", None, "CA"),
    ("P-2001", "partner", "Pacific Distribution Pte Ltd", "gold", "SG"),
    ("P-2002", "partner", "Rhein IT Handel GmbH", "silver", "DE"),
    ("P-2003", "partner", "Taipei Components Trading", "registered", "TW"),
]

PRODUCTS = [
    ("NW-MB-X570", "X570 Pro motherboard", "motherboards", 36),
    ("NW-MB-B650", "B650 Gaming motherboard", "motherboards", 24),
    ("NW-MB-H610", "H610 Office motherboard", "motherboards", 12),
    ("NW-SW-24G", "24-port gigabit switch", "networking", 60),
    ("NW-SW-8P", "8-port PoE switch", "networking", 36),
    ("NW-AP-AX6", "AX6000 Wi-Fi 6 access point", "networking", 24),
    ("NW-RT-5G", "5G business router", "networking", 24),
    ("NW-PR-L300", "L300 laser printer", "printers", 12),
    ("NW-PR-L500", "L500 colour laser printer", "printers", 24),
    ("NW-PR-INK9", "INK9 photo printer", "printers", 12),
    ("NW-NAS-4B", "4-bay NAS", "storage", 36),
    ("NW-MB-Z390", "Z390 motherboard (discontinued)", "motherboards", 12),
]

USERS = [
    ("alice@example.com", "Alice Chen", Role.CUSTOMER, None, "en"),
    ("carol@harbor-robotics.example", "Carol Hughes", Role.CUSTOMER_ADMIN, "C-1001", "en"),
    ("dave@harbor-robotics.example", "Dave Patel", Role.CUSTOMER, "C-1001", "en"),
    ("li.wei@lianhua.example", "李伟", Role.CUSTOMER_ADMIN, "C-1002", "zh"),
    ("paula@pacific-dist.example", "Paula Tan", Role.PARTNER_ADMIN, "P-2001", "en"),
    ("peter@pacific-dist.example", "Peter Lim", Role.PARTNER, "P-2001", "en"),
    ("sam@northwind.example", "Sam Rivera", Role.STAFF, None, "en"),
    ("ada@northwind.example", "Ada Okafor", Role.ADMIN, None, "en"),
]

CONSUMER_EMAILS = ["alice@example.com", "bob@example.net", "zhang.min@example.cn"]


def _sql_ts(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None)


def build_crm_rows(now: datetime) -> dict[Table, list[dict[str, Any]]]:
    """The demo CRM content, the same every time (seeded random)."""
    rng = random.Random(2026)
    updated = _sql_ts(now)
    rows: dict[Table, list[dict[str, Any]]] = {
        t: []
        for t in (
            crm.crm_account,
            crm.crm_product,
            crm.crm_order,
            crm.crm_order_line,
            crm.crm_serial,
            crm.crm_invoice,
            crm.crm_sales_target,
        )
    }
    for account_id, kind, name, tier, country in ACCOUNTS:
        rows[crm.crm_account].append(
            {"account_id": account_id, "kind": kind, "name": name, "tier": tier, "country": country, "updated_at": updated}
        )
    for sku, name, category, months in PRODUCTS:
        rows[crm.crm_product].append(
            {
                "sku": sku,
                "name": name,
                "category": category,
                "warranty_months": months,
                "active": sku != "NW-MB-Z390",
                "updated_at": updated,
            }
        )
    prices = {sku: rng.randrange(4_900, 89_900, 100) for sku, *_ in PRODUCTS}
    active_skus = [p[0] for p in PRODUCTS if p[0] != "NW-MB-Z390"]
    company_buyers: list[tuple[str | None, str]] = [
        *[("C-1001", "purchasing@harbor-robotics.example")] * 14,
        *[("C-1002", "caigou@lianhua.example")] * 8,
        *[("C-1003", "it@mapleleaf.example")] * 4,
    ]
    buyers = company_buyers + [(None, buyer) for buyer in CONSUMER_EMAILS for _ in range(3)]
    serial_no = 100000
    for index, (buyer_account, buyer_email) in enumerate(buyers, start=1):
        order_number = f"SO-{26000 + index}"
        ordered = now - timedelta(days=rng.randrange(5, 700), hours=rng.randrange(0, 23))
        status = "delivered" if ordered < now - timedelta(days=14) else rng.choice(["paid", "shipped", "delivered"])
        currency = "CNY" if buyer_account == "C-1002" else ("CAD" if buyer_account == "C-1003" else "USD")
        total = 0
        for line_no in range(1, rng.randrange(2, 5)):
            sku = rng.choice(active_skus)
            quantity = rng.randrange(1, 4) if buyer_account is None else rng.randrange(1, 12)
            unit = prices[sku]
            total += unit * quantity
            rows[crm.crm_order_line].append(
                {
                    "order_number": order_number,
                    "line_no": line_no,
                    "sku": sku,
                    "quantity": quantity,
                    "unit_price_cents": unit,
                    "updated_at": updated,
                }
            )
            if status in ("shipped", "delivered"):
                shipped = ordered + timedelta(days=2)
                for _ in range(quantity):
                    serial_no += 1
                    rows[crm.crm_serial].append(
                        {
                            "serial": f"NW{sku.split('-')[1]}{serial_no}",
                            "sku": sku,
                            "order_number": order_number,
                            "shipped_at": _sql_ts(shipped),
                            "sold_to_account_id": None,
                            "warranty_starts_on": (shipped + timedelta(days=3)).date(),
                            "updated_at": updated,
                        }
                    )
        rows[crm.crm_order].append(
            {
                "order_number": order_number,
                "account_id": buyer_account,
                "customer_email": buyer_email,
                "status": status,
                "ordered_at": _sql_ts(ordered),
                "currency": currency,
                "total_cents": total,
                "updated_at": updated,
            }
        )
        rows[crm.crm_invoice].append(
            {
                "invoice_number": f"INV-{26000 + index}",
                "order_number": order_number,
                "account_id": buyer_account,
                "customer_email": buyer_email,
                "amount_due_cents": 0 if status == "delivered" else total,
                "currency": currency,
                "status": "paid" if status == "delivered" else "open",
                "issued_at": _sql_ts(ordered + timedelta(hours=1)),
                "due_on": (ordered + timedelta(days=30)).date(),
                "updated_at": updated,
            }
        )
    # Units sold to partners (no order of ours; warranty start unknown until sell-through).
    for partner in ("P-2001", "P-2002", "P-2003"):
        for _ in range(25):
            serial_no += 1
            sku = rng.choice(active_skus)
            rows[crm.crm_serial].append(
                {
                    "serial": f"NW{sku.split('-')[1]}{serial_no}",
                    "sku": sku,
                    "order_number": None,
                    "shipped_at": _sql_ts(now - timedelta(days=rng.randrange(10, 200))),
                    "sold_to_account_id": partner,
                    "warranty_starts_on": None,
                    "updated_at": updated,
                }
            )
    month = date(now.year, now.month, 1)
    for partner in ("P-2001", "P-2002", "P-2003"):
        for back in range(6):
            first = (month - timedelta(days=back * 28)).replace(day=1)
            for sku in active_skus[:6]:
                units = rng.randrange(20, 200)
                rows[crm.crm_sales_target].append(
                    {
                        "partner_account_id": partner,
                        "period": first.strftime("%Y-%m"),
                        "sku": sku,
                        "target_units": units,
                        "target_revenue_cents": units * prices[sku],
                        "updated_at": updated,
                    }
                )
    return rows


def _insert_missing(conn: Any, table: Table, rows: list[dict[str, Any]]) -> int:
    keys = [c.name for c in table.primary_key.columns]
    existing = {tuple(r) for r in conn.execute(select(*[table.c[k] for k in keys]))}
    fresh = [r for r in rows if tuple(r[k] for k in keys) not in existing]
    # Duplicate keys within the generated set (same period twice) keep the first.
    seen: set[tuple[Any, ...]] = set()
    unique = []
    for row in fresh:
        key = tuple(row[k] for k in keys)
        if key not in seen:
            seen.add(key)
            unique.append(row)
    if unique:
        conn.execute(table.insert(), unique)
    return len(unique)


def seed(settings: Settings, *, echo: Callable[[str], Any] = print, now: datetime | None = None) -> dict[str, int]:
    """Fill the CRM store and the portal with demo data; returns rows added per table."""
    now = now or datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    crm_engine = make_engine(settings.crm_database_url)
    db = Database(settings.database_url)
    migrate_all(db.engine, crm_engine)
    report: dict[str, int] = {}
    try:
        crm_rows = build_crm_rows(now)
        with crm_engine.begin() as conn:
            for table, rows in crm_rows.items():
                added = _insert_missing(conn, table, rows)
                report[table.name] = added
                echo(f"  {table.name}: {added} added, {len(rows) - added} already present")
        with db.unit_of_work() as session:
            for account_id, kind, name, tier, country in ACCOUNTS:
                accounts_service.apply_crm_account(session, account_id=account_id, kind=kind, name=name, tier=tier, country=country)
            session.flush()
            added_users = 0
            for email, name, role, user_account, locale in USERS:
                if accounts_service.find_by_email(session, email) is None:
                    accounts_service.create_user(
                        session,
                        email=email,
                        password=DEMO_PASSWORD,
                        role=role,
                        name=name,
                        account_id=user_account,
                        locale=locale,
                        verified=True,
                    )
                    added_users += 1
            report["users"] = added_users
            echo(f"  users: {added_users} added, {len(USERS) - added_users} already present")
        with db.unit_of_work() as session:
            reports = seed_demo_reports(session)
            report["report_submission"] = reports
            echo(f"  partner reports: {reports} added")
        with db.unit_of_work() as session:
            articles = import_folder(session, KB_CONTENT)
            synonyms = seed_demo_synonyms(session)
            echo(f"  search synonyms: {synonyms} groups added")
            report["kb_article"] = articles.created
            echo(f"  help articles: {articles.created} added, {articles.updated} updated, {articles.unchanged} unchanged")
    finally:
        crm_engine.dispose()
        db.dispose()
    return report
