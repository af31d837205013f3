"""CRM sales targets → the portal's read copies (upsert by partner, period and SKU)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from portal.events.pull import PullContext, pull_handler
from portal.partner.models import SalesTarget


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC))


@pull_handler("crm_sales_target")
def apply_sales_targets(session: Session, rows: list[dict[str, Any]], _context: PullContext) -> int:
    for row in rows:
        session.merge(
            SalesTarget(
                partner_account_id=row["partner_account_id"],
                period=row["period"],
                sku=row["sku"],
                target_units=row["target_units"],
                target_revenue_cents=row["target_revenue_cents"],
                updated_at=_aware(row.get("updated_at")),
            )
        )
    return len(rows)
