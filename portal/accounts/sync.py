"""CRM accounts → the portal's read copies."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from portal.accounts import service
from portal.events.pull import PullContext, pull_handler


@pull_handler("crm_account")
def apply_accounts(session: Session, rows: list[dict[str, Any]], _context: PullContext) -> int:
    for row in rows:
        service.apply_crm_account(
            session, account_id=row["account_id"], kind=row["kind"], name=row["name"], tier=row.get("tier"), country=row.get("country")
        )
    return len(rows)
