"""Ringback tone review (彩铃审核): a tone is deployed only once the platform admin approved it.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

Carriers require a ringback tone to name the enterprise's registered company, so a tone an operator
uploads in the back office waits for review. `tone.status` is pending, approved or rejected (a CHECK
constraint), with `status_reason` (why it was rejected), `reviewed_by` and `reviewed_at`. New rows default
to pending; the tones that exist before this revision were added by root on the command line and stay in
use: they become approved, reviewed by `migration 0010`. The columns are added in place (no table
rebuild), so the generation triggers of 0003 on `tone` stay; setting the existing rows approved bumps the
generation once. Downgrading drops the columns (and with them every review decision; a rejected tone is
then a plain tone again, as it was before this revision).
"""
from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

STATUSES = ("pending", "approved", "rejected")


def upgrade() -> None:
    allowed = ", ".join(f"'{s}'" for s in STATUSES)
    # One ALTER per column, CHECK inline: SQLite adds a column with a CHECK in place (ALTER TABLE ADD
    # COLUMN), whereas a table-level constraint would need a rebuild that drops the triggers.
    op.add_column("tone", sa.Column("status", sa.String(16), sa.CheckConstraint(f"status IN ({allowed})",
                                                                                name="ck_tone_status"),
                                    nullable=False, server_default="pending"))
    op.add_column("tone", sa.Column("status_reason", sa.Text))
    op.add_column("tone", sa.Column("reviewed_by", sa.String(100)))
    op.add_column("tone", sa.Column("reviewed_at", sa.DateTime))
    op.get_bind().execute(
        sa.text("UPDATE tone SET status = 'approved', reviewed_by = 'migration 0010', reviewed_at = :t"),
        {"t": datetime.now(UTC).replace(tzinfo=None)})


def downgrade() -> None:
    # SQLite >= 3.35 drops a plain column in place (PostgreSQL always does); the CHECK goes with its column.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE tone DROP CONSTRAINT IF EXISTS ck_tone_status")
    for column in ("reviewed_at", "reviewed_by", "status_reason", "status"):
        op.execute(f"ALTER TABLE tone DROP COLUMN {column}")
