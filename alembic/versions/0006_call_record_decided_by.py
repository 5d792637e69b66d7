"""Call records say who decided the call's routing: the controller, the static plan, or both (mixed).

Filled from the dialplan's CDR variable ivr400_decided_by; rows recorded before this revision stay NULL
(unknown). Downgrading drops the column and its values.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("call_record", sa.Column("decided_by", sa.String(16)))


def downgrade() -> None:
    # SQLite >= 3.35 drops a plain column in place (PostgreSQL always does).
    op.execute("ALTER TABLE call_record DROP COLUMN decided_by")
