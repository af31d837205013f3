"""CRM products, orders, order lines, serials and invoices → the portal's read copies.

Each handler upserts by the CRM key (`session.merge`): re-applying a row it already has
changes nothing. CRM timestamps arrive naive UTC and are stored aware; e-mails lower-cased.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from portal.customer.models import Invoice, Order, OrderLine, Product, Serial
from portal.events.pull import PullContext, pull_handler


def aware(value: datetime | None) -> datetime | None:
    """A CRM timestamp (naive UTC) as the aware UTC datetime the portal stores."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _required(value: datetime | None) -> datetime:
    stamp = aware(value)
    if stamp is None:
        raise ValueError("a CRM timestamp required here is missing")
    return stamp


def _email(value: str | None) -> str | None:
    return None if value is None else value.strip().lower()


@pull_handler("crm_product")
def apply_products(session: Session, rows: list[dict[str, Any]], _context: PullContext) -> int:
    for row in rows:
        session.merge(
            Product(
                sku=row["sku"],
                name=row["name"],
                category=row["category"],
                warranty_months=row["warranty_months"],
                active=bool(row["active"]),
                updated_at=_required(row["updated_at"]),
            )
        )
    return len(rows)


@pull_handler("crm_order")
def apply_orders(session: Session, rows: list[dict[str, Any]], _context: PullContext) -> int:
    for row in rows:
        session.merge(
            Order(
                order_number=row["order_number"],
                account_id=row.get("account_id"),
                customer_email=_email(row.get("customer_email")),
                status=row["status"],
                ordered_at=_required(row["ordered_at"]),
                currency=row["currency"],
                total_cents=row["total_cents"],
                updated_at=_required(row["updated_at"]),
            )
        )
    return len(rows)


@pull_handler("crm_order_line")
def apply_order_lines(session: Session, rows: list[dict[str, Any]], _context: PullContext) -> int:
    for row in rows:
        session.merge(
            OrderLine(
                order_number=row["order_number"],
                line_no=row["line_no"],
                sku=row["sku"],
                quantity=row["quantity"],
                unit_price_cents=row["unit_price_cents"],
                updated_at=aware(row.get("updated_at")),
            )
        )
    return len(rows)


@pull_handler("crm_serial")
def apply_serials(session: Session, rows: list[dict[str, Any]], _context: PullContext) -> int:
    for row in rows:
        session.merge(
            Serial(
                serial=row["serial"],
                sku=row["sku"],
                order_number=row.get("order_number"),
                shipped_at=aware(row.get("shipped_at")),
                sold_to_account_id=row.get("sold_to_account_id"),
                warranty_starts_on=row.get("warranty_starts_on"),
                updated_at=_required(row["updated_at"]),
            )
        )
    return len(rows)


@pull_handler("crm_invoice")
def apply_invoices(session: Session, rows: list[dict[str, Any]], _context: PullContext) -> int:
    for row in rows:
        session.merge(
            Invoice(
                invoice_number=row["invoice_number"],
                order_number=row.get("order_number"),
                account_id=row.get("account_id"),
                customer_email=_email(row.get("customer_email")),
                amount_due_cents=row["amount_due_cents"],
                currency=row["currency"],
                status=row["status"],
                issued_at=_required(row["issued_at"]),
                due_on=row.get("due_on"),
                updated_at=_required(row["updated_at"]),
            )
        )
    return len(rows)
