"""Per-caller roll-up (来电号码汇总) for the repeat-callers report; the controller follows hotline_account.

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30

`call_caller`: calls per (hotline, caller) in all (dim 'hotline', key '') and per (hotline, department,
caller) (dim 'department', key = the department path, '' = the switchboard), counted from the fact rows that
have a hotline and a caller and are not `unknown_number`, kept current by ivr400.cdr.fact_store as calls end.
The upgrade fills it from the existing facts; nothing refers to it, so going down drops it alone.

`hotline_account` gets the `config_generation` triggers of 0003: the controller caches each hotline's
zero-balance choice (话费余额: keep or prompt), so a change of it reaches the next call without a deploy.

`clicktocall_attempt` gets `ended_at` and `final` (the originated channel's end and CDR disposition, set by
the CDR listener): an accepted callback without `ended_at` is in flight, which the per-hotline concurrency
limit counts. Existing accepted attempts are closed at their own time (`final` 'unknown'): nothing followed
them. Going down drops the two columns.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
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


    op.add_column("clicktocall_attempt", sa.Column("ended_at", sa.DateTime))
    op.add_column("clicktocall_attempt", sa.Column("final", sa.String(16)))
    op.execute("UPDATE clicktocall_attempt SET ended_at = at, final = 'unknown' WHERE outcome = 'accepted'")
    op.create_index("ix_clicktocall_attempt_channel", "clicktocall_attempt", ["channel_id"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE TRIGGER trg_gen_hotline_account AFTER INSERT OR UPDATE OR DELETE ON hotline_account "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ivr400_bump_generation()")
    else:
        for event in ("INSERT", "UPDATE", "DELETE"):
            op.execute(f"CREATE TRIGGER trg_gen_hotline_account_{event.lower()} AFTER {event} ON hotline_account "
                       "BEGIN UPDATE config_generation SET value = value + 1 WHERE id = 1; END")


def downgrade() -> None:
    op.drop_index("ix_clicktocall_attempt_channel", table_name="clicktocall_attempt")
    # SQLite >= 3.35 drops a plain column in place (no index or constraint names it).
    op.drop_column("clicktocall_attempt", "final")
    op.drop_column("clicktocall_attempt", "ended_at")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_gen_hotline_account ON hotline_account")
    else:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS trg_gen_hotline_account_{event}")
    op.drop_index("ix_call_caller_rank", table_name="call_caller")
    op.drop_table("call_caller")
