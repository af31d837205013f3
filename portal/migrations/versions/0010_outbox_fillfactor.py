"""outbox fillfactor (PostgreSQL)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 20:40:00

The relay writes each outbox row twice after its insert: the lease (locked_until, claimed_by,
attempts: columns no index covers) and the outcome. With free space left in every page the
lease update can be a HOT update — a new row version in the same page and no index entries —
instead of a new version elsewhere plus an entry in each of the three outbox indexes. The bulk
of an outbox is written in bursts that fill pages completely (fillfactor 100) otherwise.
docs/performance.md (backend adapter).
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE outbox_event SET (fillfactor = 60)")


def downgrade() -> None:
    if op.get_context().dialect.name == "postgresql":
        op.execute("ALTER TABLE outbox_event RESET (fillfactor)")
