from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, new_uuid


class ApplicationStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    APPROVED = "approved"
    REJECTED = "rejected"


class PartnerApplication(Base):
    """A public "become a partner" application (pushed as crm_partner_application)."""

    __tablename__ = "partner_application"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    version: Mapped[int] = mapped_column(Integer, default=1)
    company: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    contact_name: Mapped[str] = mapped_column(String(200))
    contact_email: Mapped[str] = mapped_column(String(254))
    website: Mapped[str] = mapped_column(String(300), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ApplicationStatus] = mapped_column(
        Enum(ApplicationStatus, native_enum=False, length=12, values_callable=lambda e: [m.value for m in e]),
        default=ApplicationStatus.SUBMITTED,
    )
    decision_note: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None]
    # The partner account created on approval.
    account_id: Mapped[str | None] = mapped_column(ForeignKey("account.account_id"))
    created_at: Mapped[datetime]


class SalesTarget(Base):
    """Read copy of crm_sales_target: a partner's target for one SKU in one month."""

    __tablename__ = "sales_target"

    partner_account_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    period: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM
    sku: Mapped[str] = mapped_column(String(40), primary_key=True)
    target_units: Mapped[int] = mapped_column(Integer)
    target_revenue_cents: Mapped[int] = mapped_column(Integer)
    # NULL in the CRM until its writer stamps it.
    updated_at: Mapped[datetime | None]


class ReportKind(enum.StrEnum):
    INVENTORY = "inventory"
    SELL_THROUGH = "sell_through"


class SubmissionStatus(enum.StrEnum):
    DRAFT = "draft"  # a web-form report being filled in
    SUBMITTED = "submitted"  # the current version of its period
    SUPERSEDED = "superseded"  # replaced by a later version of the same period


class ReportSource(enum.StrEnum):
    FORM = "form"
    UPLOAD = "upload"
    API = "api"
    CLI = "cli"


def _report_enum(cls: type[enum.Enum], length: int = 14) -> Enum:
    return Enum(cls, native_enum=False, length=length, values_callable=lambda e: [m.value for m in e])


class ReportSubmission(Base):
    """One version of a partner's report for one period and kind.

    Re-submitting a period adds a new version and marks the previous one superseded; every
    version and its lines are kept. A line's CRM identity (`external_id`) is derived from the
    partner and the line's key, so a corrected line is a new `version` of the same CRM row and a
    line missing from the new version reaches the CRM as withdrawn.
    """

    __tablename__ = "report_submission"
    __table_args__ = (
        UniqueConstraint("partner_account_id", "kind", "period", "version", name="uq_report_submission_version"),
        Index("ix_report_submission_partner_period", "partner_account_id", "kind", "period"),
        Index("ix_report_submission_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    external_id: Mapped[str] = mapped_column(String(36), unique=True, default=new_uuid)
    partner_account_id: Mapped[str] = mapped_column(ForeignKey("account.account_id"))
    kind: Mapped[ReportKind] = mapped_column(_report_enum(ReportKind))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM
    version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[SubmissionStatus] = mapped_column(_report_enum(SubmissionStatus), default=SubmissionStatus.DRAFT)
    source: Mapped[ReportSource] = mapped_column(_report_enum(ReportSource))
    filename: Mapped[str] = mapped_column(String(200), default="")
    file_sha256: Mapped[str | None] = mapped_column(String(64))
    data_fingerprint: Mapped[str | None] = mapped_column(String(64))
    accepted_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    quality_score: Mapped[int | None] = mapped_column(Integer)  # 0-100: accepted share, first try
    submitted_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]
    submitted_at: Mapped[datetime | None]


class InventoryReportLine(Base):
    """An accepted inventory line of one submission (pushed as crm_inventory_line)."""

    __tablename__ = "inventory_report_line"
    __table_args__ = (
        UniqueConstraint("submission_id", "line_key", name="uq_inventory_line_submission_key"),
        Index("ix_inventory_line_partner_key", "partner_account_id", "line_key"),
        Index("ix_inventory_line_partner_sku_asof", "partner_account_id", "sku", "as_of"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("report_submission.id"))
    partner_account_id: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(36))  # stable per (partner, line_key)
    line_key: Mapped[str] = mapped_column(String(32))
    row_number: Mapped[int] = mapped_column(Integer)
    as_of: Mapped[date]
    location: Mapped[str] = mapped_column(String(120))
    sku: Mapped[str] = mapped_column(String(40))
    quantity_on_hand: Mapped[int] = mapped_column(Integer)


class SellThroughReportLine(Base):
    """An accepted sell-through line of one submission (pushed as crm_sell_through_line)."""

    __tablename__ = "sell_through_report_line"
    __table_args__ = (
        UniqueConstraint("submission_id", "line_key", name="uq_sell_through_line_submission_key"),
        Index("ix_sell_through_line_partner_key", "partner_account_id", "line_key"),
        Index("ix_sell_through_line_partner_sku_sold", "partner_account_id", "sku", "sold_on"),
        Index("ix_sell_through_line_serial", "serial"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("report_submission.id"))
    partner_account_id: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(36))  # stable per (partner, line_key)
    line_key: Mapped[str] = mapped_column(String(32))
    row_number: Mapped[int] = mapped_column(Integer)
    sold_on: Mapped[date]
    sku: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_cents: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3))
    end_customer_name: Mapped[str] = mapped_column(String(200))
    end_customer_country: Mapped[str] = mapped_column(String(2))
    end_customer_postcode: Mapped[str] = mapped_column(String(20), default="")
    serial: Mapped[str | None] = mapped_column(String(60))
    invoice_ref: Mapped[str] = mapped_column(String(60), default="")


class UploadStatus(enum.StrEnum):
    DRAFT = "draft"  # a web-form report being filled in (rows in summary["form_rows"], no file yet)
    QUEUED = "queued"  # a large file waiting for the background validator
    VALIDATING = "validating"  # being validated in the background (progress_* below)
    PREVIEWED = "previewed"  # validated, waiting for the partner to commit
    COMMIT_QUEUED = "commit_queued"  # a large file's commit waiting for the background worker
    COMMITTING = "committing"
    COMMITTED = "committed"
    DISCARDED = "discarded"
    FAILED = "failed"  # the file could not be read (error_code says why)


class ReportUpload(Base):
    """An uploaded report file (or a web-form draft) between preview and commit.

    The bytes are kept as `ReportUploadChunk` rows (never one value: files of 100,000+ lines are
    streamed in and out), so the commit re-reads exactly what was previewed and the rejected
    lines can be exported after the commit too. Large files are validated and committed by the
    background worker (`portal.partner.reports.worker`), which reports progress here.
    """

    __tablename__ = "report_upload"
    __table_args__ = (
        Index("ix_report_upload_partner_created", "partner_account_id", "created_at"),
        Index("ix_report_upload_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_account_id: Mapped[str] = mapped_column(ForeignKey("account.account_id"))
    kind: Mapped[ReportKind] = mapped_column(_report_enum(ReportKind))
    period: Mapped[str] = mapped_column(String(7))
    filename: Mapped[str] = mapped_column(String(200))
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[ReportSource] = mapped_column(_report_enum(ReportSource), default=ReportSource.UPLOAD)
    status: Mapped[UploadStatus] = mapped_column(_report_enum(UploadStatus), default=UploadStatus.PREVIEWED)
    # Background work: lines read so far, bytes of the file read so far, last sign of life of
    # the worker holding it (a claim older than the worker's lease is taken over).
    progress_lines: Mapped[int] = mapped_column(Integer, default=0)
    progress_bytes: Mapped[int] = mapped_column(Integer, default=0)
    worker_seen_at: Mapped[datetime | None]
    accepted_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    error_code: Mapped[str | None] = mapped_column(String(40))
    summary: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]
    submission_id: Mapped[int | None] = mapped_column(ForeignKey("report_submission.id"))


class ReportUploadChunk(Base):
    """One piece (at most CHUNK_BYTES) of an uploaded report file, in order."""

    __tablename__ = "report_upload_chunk"

    upload_id: Mapped[int] = mapped_column(ForeignKey("report_upload.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary)


class ApiClient(Base):
    """An OAuth 2.0 client (client-credentials grant) of one partner's own system.

    Partner admins create, rotate and revoke them. Only a hash of the secret is stored; the
    secret is shown once, when created or rotated."""

    __tablename__ = "api_client"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(40), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    partner_account_id: Mapped[str] = mapped_column(ForeignKey("account.account_id"))
    name: Mapped[str] = mapped_column(String(100))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)  # reports:write, reports:read
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    created_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]


class ApiToken(Base):
    """A short-lived bearer token issued to a client (only its hash is stored)."""

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_client_expires", "client_id", "expires_at"),)

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("api_client.id"))
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class IdempotencyRecord(Base):
    """The answer given to one (client, Idempotency-Key): a retry gets the same answer, a
    different request under the same key is refused."""

    __tablename__ = "api_idempotency"
    __table_args__ = (UniqueConstraint("client_id", "key", name="uq_api_idempotency_client_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("api_client.id"))
    key: Mapped[str] = mapped_column(String(100))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime]
