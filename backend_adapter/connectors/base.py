"""The connector interface, shaped like real CRMs' write APIs.

A connector upserts a batch of rows of one table by `external_id`, returning one result per
item (created / updated / unchanged / retry-after / permanent error), and reads the rows of a
CRM-owned table changed since a cursor.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # the CRM already had this version or a later one
    RETRY = "retry"  # try again later (rate limit, timeout, 5xx, store unreachable)
    PERMANENT = "permanent"  # this item will never be accepted as it is


class UpsertItem(NamedTuple):
    # A tuple, not a dataclass: one is built per event, and a frozen dataclass costs a
    # microsecond or two to construct (the relay makes four such objects per event).
    external_id: str
    version: int
    row: dict[str, Any]


@dataclass(frozen=True)
class ItemResult:
    outcome: Outcome
    error: str = ""
    retry_after_s: float | None = None

    @property
    def delivered(self) -> bool:
        return self.outcome in (Outcome.CREATED, Outcome.UPDATED, Outcome.UNCHANGED)


@dataclass(frozen=True)
class Cursor:
    """Position in a CRM table's change stream: (updated_at, key) of the last row read."""

    updated_at: datetime | None = None
    key: str = ""


@dataclass(frozen=True)
class ChangePage:
    rows: list[dict[str, Any]]
    cursor: Cursor


@dataclass(frozen=True)
class Capabilities:
    max_batch: int = 500
    max_requests_per_s: float | None = None
    tables: frozenset[str] = field(default_factory=frozenset)


class CrmUnavailable(Exception):
    """The whole store cannot be reached: every item of the batch is to be retried."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class CrmConnector(Protocol):
    capabilities: Capabilities

    def upsert(self, table: str, items: list[UpsertItem]) -> list[ItemResult]:
        """Upsert by external_id, never letting a lower version overwrite a higher one."""
        ...

    def changes_since(self, table: str, cursor: Cursor, *, limit: int) -> ChangePage:
        """Rows of a CRM-owned table with (updated_at, key) after the cursor, oldest first."""
        ...

    def close(self) -> None: ...
