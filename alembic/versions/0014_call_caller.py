"""Per-caller roll-up (来电号码汇总) for the repeat-callers report.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30

`call_caller`: calls per (hotline, caller) in all (dim 'hotline', key '') and per (hotline, department,
caller) (dim 'department', key = the department path, '' = the switchboard), counted from the fact rows that
have a hotline and a caller and are not `unknown_number`, kept current by ivr400.cdr.fact_store as calls end.
The upgrade fills it from the existing facts; nothing refers to it, so going down drops it alone.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

_COUNTED = "hotline IS NOT NULL AND caller IS NOT NULL AND disposition <> 'unknown_number'"


def upgrade() -> None:
    op.create_table(
        "call_caller",
        sa.Column("hotline", sa.String(10), primary_key=True),
        sa.Column("dim", sa.String(12), primary_key=True),
        sa.Column("key", sa.String(32), primary_key=True),
        sa.Column("caller", sa.String(32), primary_key=True),
        sa.Column("calls", sa.Integer, nullable=False, server_default="0"),
    )
    # The report walks callers from the most calls down, per dim and key.
    op.create_index("ix_call_caller_rank", "call_caller", ["dim", "key", "calls"])
    op.execute("INSERT INTO call_caller (hotline, dim, key, caller, calls) "
               f"SELECT hotline, 'hotline', '', caller, COUNT(*) FROM call_fact WHERE {_COUNTED} "
               "GROUP BY hotline, caller")
    op.execute("INSERT INTO call_caller (hotline, dim, key, caller, calls) "
               "SELECT hotline, 'department', COALESCE(department, ''), caller, COUNT(*) FROM call_fact "
               f"WHERE {_COUNTED} GROUP BY hotline, COALESCE(department, ''), caller")


def downgrade() -> None:
    op.drop_index("ix_call_caller_rank", table_name="call_caller")
    op.drop_table("call_caller")
