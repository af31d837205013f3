"""report upload chunks and background progress

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 19:21:28.934372

Uploaded report files move from one `report_upload.data` value to `report_upload_chunk` rows
(files of 100,000+ lines are streamed in and out, never held whole); uploads gain their source,
size and the background worker's progress.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import portal.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "report_upload_chunk",
        sa.Column("upload_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["upload_id"], ["report_upload.id"], name=op.f("fk_report_upload_chunk_upload_id_report_upload"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("upload_id", "seq", name=op.f("pk_report_upload_chunk")),
    )
    # Existing files become one chunk each (they were at most 8 MB).
    op.execute("INSERT INTO report_upload_chunk (upload_id, seq, data) SELECT id, 0, data FROM report_upload")
    with op.batch_alter_table("report_upload", schema=None) as batch_op:
        batch_op.add_column(sa.Column("size_bytes", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(
            sa.Column(
                "source",
                sa.Enum("form", "upload", "api", "cli", name="reportsource", native_enum=False, length=14),
                nullable=False,
                server_default="upload",
            )
        )
        batch_op.add_column(sa.Column("progress_lines", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("progress_bytes", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("worker_seen_at", portal.db.UTCDateTime(), nullable=True))
        batch_op.create_index("ix_report_upload_status", ["status"], unique=False)
        batch_op.drop_column("data")
    with op.batch_alter_table("report_upload", schema=None) as batch_op:
        for column in ("size_bytes", "source", "progress_lines", "progress_bytes"):
            batch_op.alter_column(column, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table("report_upload", schema=None) as batch_op:
        batch_op.add_column(sa.Column("data", sa.LargeBinary(), nullable=False, server_default=""))
        batch_op.drop_index("ix_report_upload_status")
        batch_op.drop_column("worker_seen_at")
        batch_op.drop_column("progress_bytes")
        batch_op.drop_column("progress_lines")
        batch_op.drop_column("source")
        batch_op.drop_column("size_bytes")
    op.execute("UPDATE report_upload SET data = (SELECT c.data FROM report_upload_chunk c WHERE c.upload_id = report_upload.id AND c.seq = 0)")
    op.drop_table("report_upload_chunk")
