"""Storing accepted report lines as the next version of a partner's period — the one commit path
of the upload, the web form, the API and the command line.

    version = NewVersion(db, partner=..., kind=..., period="2026-03", replace=False, source=..., ...)
    for result in run:                       # validated lines, streamed
        version.add(result)                  # accepted ones are inserted in batches
    submission = version.finish(accepted=..., rejected=..., fingerprint=...)

Lines are written with batched Core INSERTs (with their outbox events) as they arrive, so a
1,000,000-line file never sits in memory. Until `finish` the new version is a DRAFT: the
validation's "already accepted" lookups (which read SUBMITTED versions only) do not see it, and
nothing of it is visible anywhere; everything happens in the caller's transaction, which either
stores the whole version or nothing.

- add mode (`replace=False`): the new version holds the current version's lines (copied with one
  INSERT … SELECT, unchanged, no events) plus the new accepted ones.
- replace mode: the new version holds only the new lines; lines of the replaced version whose key
  is absent reach the CRM as withdrawn (quantity 0).

CRM: one `<kind>_line.upserted` event per new or withdrawn line, aggregate id = the line's
external id (uuid5 of partner, kind, key), seq = the submission's id (ever growing).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from typing import Any, cast

from sqlalchemy import Table, func, insert, literal, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import events
from portal.db import insert_many, utcnow
from portal.errors import Conflict
from portal.i18n import N_
from portal.partner.models import (
    InventoryReportLine,
    ReportKind,
    ReportSource,
    ReportSubmission,
    SellThroughReportLine,
    SubmissionStatus,
)
from portal.partner.reports.validation import InventoryLine, LineResult

BATCH = 2000
LOOKUP_CHUNK = 500
LINE_NAMESPACE = uuid.UUID("6f1d3c2a-5b7e-4c1f-9a1e-2d6b8f0c4e71")  # fixed: line external ids depend on it

LINE_MODELS: dict[ReportKind, type[InventoryReportLine] | type[SellThroughReportLine]] = {
    ReportKind.INVENTORY: InventoryReportLine,
    ReportKind.SELL_THROUGH: SellThroughReportLine,
}
AGGREGATES = {ReportKind.INVENTORY: "inventory_line", ReportKind.SELL_THROUGH: "sell_through_line"}

NOTHING_ACCEPTED = N_("No line of this file was accepted: there is nothing to submit.")
RACED = N_("Another report for this period was stored at the same moment. Nothing was added; please try again.")


def line_external_id(partner: str, kind: ReportKind | str, key: str) -> str:
    return str(uuid.uuid5(LINE_NAMESPACE, f"{partner}:{ReportKind(kind).value}:{key}"))


def chunks(values: Collection[str], size: int = LOOKUP_CHUNK) -> Iterable[list[str]]:
    items = sorted(values)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def current_submission(db: Session, partner: str, kind: ReportKind, period: str) -> ReportSubmission | None:
    return db.scalars(
        select(ReportSubmission)
        .where(
            ReportSubmission.partner_account_id == partner,
            ReportSubmission.kind == kind,
            ReportSubmission.period == period,
            ReportSubmission.status == SubmissionStatus.SUBMITTED,
        )
        .order_by(ReportSubmission.version.desc())
        .limit(1)
    ).first()


def line_row(kind: ReportKind, submission_id: int, partner: str, result: LineResult) -> dict[str, Any]:
    """The column values of an accepted line (for a batched INSERT)."""
    assert result.key is not None
    assert result.line is not None
    common: dict[str, Any] = {
        "submission_id": submission_id,
        "partner_account_id": partner,
        "external_id": line_external_id(partner, kind, result.key),
        "line_key": result.key,
        "row_number": result.row,
    }
    line = result.line
    if isinstance(line, InventoryLine):
        return {**common, "as_of": line.as_of, "location": line.location, "sku": line.sku, "quantity_on_hand": line.quantity}
    return {
        **common,
        "sold_on": line.sold_on,
        "sku": line.sku,
        "quantity": line.quantity,
        "unit_price_cents": line.unit_price_cents,
        "currency": line.currency,
        "end_customer_name": line.customer_name,
        "end_customer_country": line.country,
        "end_customer_postcode": line.postcode,
        "serial": line.serial,
        "invoice_ref": line.invoice_ref,
    }


def payload(kind: ReportKind, row: dict[str, Any], report_external_id: str, withdrawn: bool) -> dict[str, Any]:
    """The outbox payload of a line (CRM_STORE.md crm_inventory_line / crm_sell_through_line)."""
    base: dict[str, Any] = {
        "external_id": row["external_id"],
        "partner_account_id": row["partner_account_id"],
        "report_external_id": report_external_id,
        "line_key": row["line_key"],
        "sku": row["sku"],
        "withdrawn": withdrawn,
    }
    if kind is ReportKind.INVENTORY:
        return {
            **base,
            "as_of": row["as_of"].isoformat(),
            "location": row["location"],
            "quantity_on_hand": 0 if withdrawn else row["quantity_on_hand"],
        }
    return {
        **base,
        "sold_on": row["sold_on"].isoformat(),
        "quantity": 0 if withdrawn else row["quantity"],
        "unit_price_cents": row["unit_price_cents"],
        "currency": row["currency"],
        "end_customer_name": row["end_customer_name"],
        "end_customer_country": row["end_customer_country"],
        "end_customer_postcode": row["end_customer_postcode"],
        "serial": row["serial"],
        "invoice_ref": row["invoice_ref"],
    }


class NewVersion:
    """The next version of (partner, kind, period), filled line by line; see the module docstring."""

    def __init__(
        self,
        db: Session,
        *,
        partner: str,
        kind: ReportKind,
        period: str,
        replace: bool,
        source: ReportSource,
        submitted_by_id: int | None,
        filename: str = "",
        file_sha256: str | None = None,
    ) -> None:
        self.db = db
        self.partner = partner
        self.kind = kind
        self.replace = replace
        self.model = LINE_MODELS[kind]
        self.table = cast(Table, self.model.__table__)
        self.aggregate_type = AGGREGATES[kind]
        self.current = current_submission(db, partner, kind, period)
        last_version = db.scalar(
            select(func.max(ReportSubmission.version)).where(
                ReportSubmission.partner_account_id == partner, ReportSubmission.kind == kind, ReportSubmission.period == period
            )
        )
        now = utcnow()
        self.submission = ReportSubmission(
            partner_account_id=partner,
            kind=kind,
            period=period,
            version=(last_version or 0) + 1,
            status=SubmissionStatus.DRAFT,
            source=source,
            filename=filename[:200],
            file_sha256=file_sha256,
            submitted_by_id=submitted_by_id,
            created_at=now,
        )
        db.add(self.submission)
        try:
            # Two commits of the same period at once: the second one's version is taken.
            with db.begin_nested():
                db.flush()
        except IntegrityError:
            raise Conflict(RACED) from None
        self.added = 0
        self._pending: list[dict[str, Any]] = []

    def add(self, result: LineResult) -> None:
        """Take one validated line (rejected ones are ignored)."""
        if not result.accepted:
            return
        self._pending.append(line_row(self.kind, self.submission.id, self.partner, result))
        if len(self._pending) >= BATCH:
            self._flush()

    def add_all(self, results: Iterable[LineResult]) -> None:
        for result in results:
            self.add(result)

    def _flush(self) -> None:
        rows, self._pending = self._pending, []
        if not rows:
            return
        # One executemany on the session's connection (the ORM's bulk insert splits rows into
        # groups by which values are NULL: one statement per group, 7x slower here).
        insert_many(self.db.connection(), self.table, rows)
        self.added += len(rows)
        self._record(rows, withdrawn=False)

    def _record(self, rows: list[dict[str, Any]], *, withdrawn: bool) -> None:
        # seq = the submission's id: it grows with every submission of every period, so a line's
        # events are ordered without looking up its last seq (a serial's line can move between
        # periods, whose versions count separately). The relay needs order, not consecutive seqs.
        seq = self.submission.id
        report_id = self.submission.external_id
        events.record_many(
            self.db,
            self.aggregate_type,
            f"{self.aggregate_type}.upserted",
            [(row["external_id"], seq, payload(self.kind, row, report_id, withdrawn)) for row in rows],
        )

    def _carry_current(self) -> int:
        """add mode: copy the current version's lines into the new one, unchanged."""
        assert self.current is not None
        table = self.model.__table__
        names = [c.key for c in table.columns if c.key not in ("id", "submission_id")]
        source = select(*(table.c[name] for name in names), literal(self.submission.id)).where(table.c.submission_id == self.current.id)
        self.db.execute(insert(self.model).from_select([*names, "submission_id"], source))
        # Counted, not taken from rowcount (which an INSERT … SELECT may report as -1).
        counted = self.db.scalar(select(func.count()).select_from(table).where(table.c.submission_id == self.current.id))
        return int(counted or 0)

    def _withdraw_absent(self) -> None:
        """replace mode: the replaced version's lines whose key the new version lacks → withdrawn."""
        assert self.current is not None
        table = self.model.__table__
        kept = select(table.c.line_key).where(table.c.submission_id == self.submission.id)
        stmt = select(table).where(table.c.submission_id == self.current.id, table.c.line_key.not_in(kept))
        batch: list[dict[str, Any]] = []
        for row in self.db.execute(stmt).mappings():
            batch.append(dict(row))
            if len(batch) >= BATCH:
                self._record(batch, withdrawn=True)
                batch = []
        if batch:
            self._record(batch, withdrawn=True)

    def finish(self, *, rejected: int, fingerprint: str | None) -> ReportSubmission:
        """Make the new version the current one. Raises Conflict when no line was accepted (the
        caller's transaction must then be rolled back: nothing is kept)."""
        self._flush()
        if self.added == 0:
            raise Conflict(NOTHING_ACCEPTED)
        submission = self.submission
        carried = 0
        if self.current is not None:
            if self.replace:
                self._withdraw_absent()
            else:
                carried = self._carry_current()
            self.current.status = SubmissionStatus.SUPERSEDED
        total = self.added + rejected
        now = utcnow()
        submission.status = SubmissionStatus.SUBMITTED
        submission.data_fingerprint = fingerprint
        submission.accepted_count = self.added + carried
        submission.rejected_count = rejected
        submission.quality_score = round(100 * self.added / total) if total else None
        submission.submitted_at = now
        self.db.flush()
        return submission
