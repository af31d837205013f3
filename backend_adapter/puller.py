"""The puller: CRM-side changes → the portal's read copies, by an (updated_at, key) cursor.

Each cycle starts a little before the stored cursor (`overlap_s`): a row committed late with
an earlier timestamp is still seen, and re-applying a row is harmless by contract.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select

from backend_adapter import metrics
from backend_adapter.connectors.base import CrmConnector, Cursor
from portal.db import Database, utcnow
from portal.events.models import PullCursor
from portal.events.pull import PullContext, handlers

log = structlog.get_logger(__name__)


def _aware(value: datetime | None) -> datetime | None:
    return None if value is None else (value if value.tzinfo else value.replace(tzinfo=UTC))


def _naive(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC).replace(tzinfo=None)


class Puller:
    def __init__(
        self, db: Database, connector: CrmConnector, *, overlap_s: float = 5.0, page_size: int = 500, context: PullContext | None = None
    ) -> None:
        self.db = db
        self.context = context or PullContext()
        self.connector = connector
        self.overlap = timedelta(seconds=overlap_s)
        self.page_size = page_size

    def pull_once(self) -> dict[str, int]:
        """Read every registered source to its end; returns rows applied per source."""
        applied: dict[str, int] = {}
        for source, handler in handlers().items():
            with self.db.unit_of_work(write=False) as session:
                stored = session.get(PullCursor, source)
                start = _naive(stored.updated_at) if stored else None
            cursor = Cursor(updated_at=start - self.overlap if start else None, key="")
            total = 0
            while True:
                page = self.connector.changes_since(source, cursor, limit=self.page_size)
                with self.db.unit_of_work() as session:
                    count = handler(session, page.rows, self.context) if page.rows else 0
                    row = session.get(PullCursor, source) or PullCursor(source=source, key="", rows_applied=0)
                    session.add(row)
                    if page.rows and (row.updated_at is None or _aware(page.cursor.updated_at) >= row.updated_at):  # type: ignore[operator]
                        row.updated_at = _aware(page.cursor.updated_at)
                        row.key = page.cursor.key
                    row.rows_applied = (row.rows_applied or 0) + count
                    row.last_pull_at = utcnow()
                total += count
                metrics.PULLED_ROWS.labels(source).inc(count)
                if len(page.rows) < self.page_size:
                    break
                cursor = page.cursor
            applied[source] = total
        return applied

    def last_pull_at(self) -> datetime | None:
        with self.db.unit_of_work(write=False) as session:
            return session.scalar(select(PullCursor.last_pull_at).order_by(PullCursor.last_pull_at.desc()).limit(1))
