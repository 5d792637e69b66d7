"""Each counted call notes its caller's previous call to the hotline (重复来电); calls routed at zero balance are
flagged on their call record and fact row (话费余额).

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01

`call_fact.prev_call_at`: the arrival of the same caller's previous counted call to the same hotline (a fact with
a hotline and a caller, not `unknown_number`; ties in arrival ordered by uniqueid), NULL for a caller's first
call and for facts that are not counted. A caller repeats within [a, b) exactly when one of its calls in the
range has prev_call_at >= a, and its calls there are the count of those + 1: the repeat-callers report reads
only the calls of returning callers through the partial index `ix_call_fact_repeat`. The upgrade fills it
from the existing facts (LAG over each hotline and caller); going down drops index and column.

`balance_flag`: one row per call the controller routed at a zero balance with the choice `keep` (uniqueid,
hotline, the balance read in fen, when), written at call entry; the call record writer copies it to
`call_record.balance_flagged` and `call_fact.balance_flagged`. The upgrade has nothing to fill (the flag was
only a log line before); going down drops the table and the two columns.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

_COUNTED = "hotline IS NOT NULL AND caller IS NOT NULL AND disposition <> 'unknown_number'"


def upgrade() -> None:
    op.add_column("call_fact", sa.Column("prev_call_at", sa.DateTime))
    # UPDATE .. FROM: PostgreSQL, and SQLite >= 3.33.
    op.execute("UPDATE call_fact SET prev_call_at = chain.prev FROM ("
               "SELECT id, LAG(arrived_at) OVER (PARTITION BY hotline, caller ORDER BY arrived_at, uniqueid) AS prev "
               f"FROM call_fact WHERE {_COUNTED}) AS chain "
               "WHERE call_fact.id = chain.id AND chain.prev IS NOT NULL")
    # Per hotline, by arrival: the report names the hotlines, so the planner needs no statistics to use it.
    op.create_index("ix_call_fact_repeat", "call_fact", ["hotline", "arrived_at", "prev_call_at", "caller"],
                    postgresql_where=sa.text("prev_call_at IS NOT NULL"),
                    sqlite_where=sa.text("prev_call_at IS NOT NULL"))
    false = sa.false()
    op.add_column("call_fact", sa.Column("balance_flagged", sa.Boolean, nullable=False, server_default=false))
    op.add_column("call_record", sa.Column("balance_flagged", sa.Boolean, nullable=False, server_default=false))
    op.create_table(
        "balance_flag",
        sa.Column("uniqueid", sa.String(64), primary_key=True),
        sa.Column("hotline", sa.String(10), nullable=False),
        sa.Column("balance_fen", sa.BigInteger),
        sa.Column("at", sa.DateTime, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("balance_flag")
    # SQLite >= 3.35 drops a plain column in place (no index or constraint names it).
    op.drop_column("call_record", "balance_flagged")
    op.drop_column("call_fact", "balance_flagged")
    op.drop_index("ix_call_fact_repeat", table_name="call_fact")
    op.drop_column("call_fact", "prev_call_at")
