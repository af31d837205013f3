"""Portal ↔ CRM reconciliation: does the CRM store hold what the portal says it should?

What the portal says the CRM should hold is the latest *delivered or pending* outbox event of
each aggregate, mapped through `backend_adapter.mapping.to_crm` exactly as the relay would
push it (a dead event is excluded: `adapter status` reports it, and a later pending event of
the same record still counts). The adapter never reads domain tables, only the outbox.

Per CRM table (an "entity") the report gives both counts, a content hash of each side and the
drift: external ids the CRM lacks (`missing`), rows the portal never sent (`extra`), and rows
whose version or pushed fields differ (`mismatched`). The hash covers the sorted
(external_id, version, field…) tuples of the fields the mapping pushes, datetimes as naive UTC.

Rows the CRM writes itself into a pushed table are left out of both sides: the repair
centre's own `crm_rma_event` entries (`source = 'crm'`) join the portal's timeline through the
puller and never come back through the outbox.

The two stores are read one after the other, not in one snapshot: with a relay running, a
record changed in between can show as drift once. Re-run, or compare while the relay is idle.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import structlog
from sqlalchemy import ColumnElement, Engine, Table, and_, func, select, true

from backend_adapter import crm_schema
from backend_adapter.mapping import CrmWrite, MappingError, to_crm
from portal.db import Database
from portal.events.models import OutboxEvent, OutboxStatus

log = structlog.get_logger(__name__)

# Always reported, even when one side is empty (the tables the mapping fills today).
DEFAULT_ENTITIES = ("crm_contact", "crm_partner_application", "crm_rma", "crm_rma_event", "crm_inventory_line", "crm_sell_through_line")
LIVE = (OutboxStatus.DELIVERED, OutboxStatus.PENDING)
RowKey = tuple[Any, ...]  # (version, field values…), normalised


@dataclass(frozen=True)
class EntityReport:
    table: str
    portal: int
    crm: int
    portal_hash: str
    crm_hash: str
    missing: list[str]  # the first `limit` of each, sorted
    extra: list[str]
    mismatched: list[str]
    drift: int  # how many external ids differ in all (the lists may be cut short)

    @property
    def in_sync(self) -> bool:
        return self.drift == 0 and self.portal_hash == self.crm_hash

    def as_dict(self) -> dict[str, Any]:
        return {
            "portal": self.portal,
            "crm": self.crm,
            "portal_hash": self.portal_hash,
            "crm_hash": self.crm_hash,
            "missing": self.missing,
            "extra": self.extra,
            "mismatched": self.mismatched,
        }


@dataclass(frozen=True)
class Report:
    entities: dict[str, EntityReport]

    @property
    def in_sync(self) -> bool:
        return all(entity.in_sync for entity in self.entities.values())

    def as_dict(self) -> dict[str, Any]:
        return {"entities": {name: entity.as_dict() for name, entity in self.entities.items()}, "in_sync": self.in_sync}


def normalise(value: Any) -> Any:
    """One spelling per value, whichever database it came from."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def content_hash(rows: dict[str, RowKey]) -> str:
    """sha256 of the (external_id, version, fields…) tuples sorted by external_id."""
    digest = hashlib.sha256()
    for external_id in sorted(rows):
        digest.update(json.dumps([external_id, *rows[external_id]], separators=(",", ":")).encode())
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass(frozen=True)
class _Event:
    id: int
    aggregate_type: str
    aggregate_id: str
    seq: int
    type: str
    version: int
    payload: dict[str, Any]
    created_at: datetime

    @classmethod
    def of(cls, row: OutboxEvent) -> _Event:
        return cls(row.id, row.aggregate_type, row.aggregate_id, row.seq, row.type, row.version, dict(row.payload), row.created_at)

    def write(self) -> CrmWrite:
        return to_crm(self.type, self.version, self.payload, self.created_at)


def _latest_events(db: Database) -> list[_Event]:
    """The highest-seq delivered-or-pending event of each aggregate."""
    latest = (
        select(OutboxEvent.aggregate_type, OutboxEvent.aggregate_id, func.max(OutboxEvent.seq).label("seq"))
        .where(OutboxEvent.status.in_(LIVE))
        .group_by(OutboxEvent.aggregate_type, OutboxEvent.aggregate_id)
        .subquery()
    )
    stmt = select(OutboxEvent).join(
        latest,
        and_(
            OutboxEvent.aggregate_type == latest.c.aggregate_type,
            OutboxEvent.aggregate_id == latest.c.aggregate_id,
            OutboxEvent.seq == latest.c.seq,
        ),
    )
    with db.unit_of_work(write=False) as session:
        return [_Event.of(row) for row in session.scalars(stmt)]


def _earlier_mappable(db: Database, event: _Event) -> tuple[_Event, CrmWrite] | None:
    """The latest live event of the aggregate that the mapping accepts (rare: the newest did not)."""
    stmt = (
        select(OutboxEvent)
        .where(
            OutboxEvent.aggregate_type == event.aggregate_type,
            OutboxEvent.aggregate_id == event.aggregate_id,
            OutboxEvent.status.in_(LIVE),
            OutboxEvent.seq < event.seq,
        )
        .order_by(OutboxEvent.seq.desc())
    )
    with db.unit_of_work(write=False) as session:
        earlier = [_Event.of(row) for row in session.scalars(stmt)]
    for candidate in earlier:
        try:
            return candidate, candidate.write()
        except MappingError:
            continue
    return None


def expected_rows(db: Database) -> dict[str, dict[str, tuple[int, dict[str, Any]]]]:
    """table → external_id → (version, row) as the relay would push the portal's latest state."""
    expected: dict[str, dict[str, tuple[int, dict[str, Any]]]] = {name: {} for name in DEFAULT_ENTITIES}
    for event in _latest_events(db):
        try:
            chosen, write = event, event.write()
        except MappingError as exc:
            # The relay will park it dead; until then the CRM should hold the previous state.
            log.warning("reconcile.unmappable", event_id=event.id, type=event.type, error=str(exc))
            found = _earlier_mappable(db, event)
            if found is None:
                continue
            chosen, write = found
        expected.setdefault(write.table, {})[write.external_id] = (chosen.seq, write.row)
    return expected


def _fields(table: Table, rows: Iterable[tuple[int, dict[str, Any]]]) -> list[str]:
    names: set[str] = set()
    for _version, row in rows:
        names.update(row)
    if not names:
        names = {c.name for c in table.columns}
    return sorted(names - {"external_id", "version"})


def _portal_written(table: Table) -> ColumnElement[bool]:
    """Rows of a pushed table that the portal wrote. The repair centre adds its own timeline
    entries to `crm_rma_event` (`source = 'crm'`): they are the CRM's, not drift."""
    if table.name == "crm_rma_event":
        return table.c.source != "crm"
    return true()


def _compare(table: Table, expected: dict[str, tuple[int, dict[str, Any]]], crm_engine: Engine, limit: int) -> EntityReport:
    fields = [name for name in _fields(table, expected.values()) if name in table.c]
    portal_rows: dict[str, RowKey] = {
        external_id: (version, *(normalise(row.get(name)) for name in fields)) for external_id, (version, row) in expected.items()
    }
    stmt = select(table.c.external_id, table.c.version, *(table.c[name] for name in fields)).where(_portal_written(table))
    with crm_engine.connect() as conn:
        crm_rows: dict[str, RowKey] = {str(r[0]): (int(r[1]), *(normalise(v) for v in r[2:])) for r in conn.execute(stmt)}
    missing = sorted(portal_rows.keys() - crm_rows.keys())
    extra = sorted(crm_rows.keys() - portal_rows.keys())
    mismatched = sorted(k for k in portal_rows.keys() & crm_rows.keys() if portal_rows[k] != crm_rows[k])
    return EntityReport(
        table=table.name,
        portal=len(portal_rows),
        crm=len(crm_rows),
        portal_hash=content_hash(portal_rows),
        crm_hash=content_hash(crm_rows),
        missing=missing[:limit],
        extra=extra[:limit],
        mismatched=mismatched[:limit],
        drift=len(missing) + len(extra) + len(mismatched),
    )


def reconcile(db: Database, crm_engine: Engine, *, limit: int = 20) -> Report:
    """Compare every entity the portal pushes with the CRM store's rows."""
    expected = expected_rows(db)
    entities: dict[str, EntityReport] = {}
    for name in sorted(expected):
        table = crm_schema.metadata.tables.get(name)
        if table is None or "external_id" not in table.c:  # a mapping to a table we cannot read
            raise ValueError(f"cannot reconcile unknown CRM table {name}")
        entities[name] = _compare(table, expected[name], crm_engine, limit)
    return Report(entities=entities)


__all__ = ["DEFAULT_ENTITIES", "EntityReport", "Report", "content_hash", "expected_rows", "normalise", "reconcile"]
