"""Call-path features: satisfaction survey, WEB呼叫 click-to-call, caller caps, percentage split.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30

* ``hotline.survey_enabled`` / ``survey_prompt`` (满意度评价, off by default) and ``survey_response``: one
  score (1-5) per call, keyed by the call's uniqueid, with the hotline and the seat as the call record
  writes it (``PJSIP/<dialled number>``).
* ``hotline.caller_cap_per_month`` (呼叫限制): at most N calls per caller per hotline per calendar month of
  the enterprise's zone (0 = no cap).
* ``hotline.hunt_weighted`` / ``department.hunt_weighted`` and ``seat.weight`` (按比例分配): a sequential
  hunt whose first seat the controller draws by weight. A flag beside ``hunt_strategy`` rather than a new
  value of it, because widening that column's CHECK would rebuild ``hotline`` and ``department`` on SQLite
  (dropping their guards and cascading deletes); the strategy the application shows is ``weighted``.
* ``clicktocall_setting`` (one row per hotline: public token, allowed origins, caller ID shown to the visitor,
  concurrency) and ``clicktocall_attempt`` (every request, accepted or refused, with its outcome).

Plain ALTER TABLE only (no batch copy). Downgrade drops the columns and tables: weighted groups hunt
sequentially again, caps and surveys are off, the scores and attempts are gone.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _hotline_columns() -> list[sa.Column]:
    return [
        sa.Column("survey_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("survey_prompt", sa.String(120)),
        sa.Column("caller_cap_per_month", sa.Integer, nullable=False, server_default="0"),
        sa.Column("hunt_weighted", sa.Boolean, nullable=False, server_default=sa.false()),
    ]


def upgrade() -> None:
    for column in _hotline_columns():
        op.add_column("hotline", column)
    op.add_column("department", sa.Column("hunt_weighted", sa.Boolean, nullable=False, server_default=sa.false()))
    op.add_column("seat", sa.Column("weight", sa.Integer, nullable=False, server_default="1"))
    op.create_table(
        "survey_response",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uniqueid", sa.String(64), nullable=False, unique=True),
        sa.Column("hotline", sa.String(10), nullable=False),
        sa.Column("seat", sa.String(255)),
        sa.Column("score", sa.Integer, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name="ck_survey_score"),
    )
    op.create_index("ix_survey_response_hotline_at", "survey_response", ["hotline", "at"])
    op.create_table(
        "clicktocall_setting",
        sa.Column("hotline_id", sa.Integer, sa.ForeignKey("hotline.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("token", sa.String(64), nullable=False, unique=True),
        sa.Column("origins", sa.Text, nullable=False, server_default=""),
        sa.Column("caller_id", sa.String(20)),
        sa.Column("max_concurrent", sa.Integer, nullable=False, server_default="2"),
        sa.CheckConstraint("max_concurrent BETWEEN 1 AND 100", name="ck_clicktocall_concurrent"),
    )
    op.create_table(
        "clicktocall_attempt",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hotline", sa.String(10), nullable=False),
        sa.Column("target", sa.String(32), nullable=False),
        sa.Column("client_ip", sa.String(64)),
        sa.Column("origin", sa.String(200)),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(100)),
        sa.Column("outcome", sa.String(24), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("channel_id", sa.String(64)),
        sa.Column("at", sa.DateTime, nullable=False),
    )
    op.create_index("ix_clicktocall_attempt_target_at", "clicktocall_attempt", ["target", "at"])
    op.create_index("ix_clicktocall_attempt_ip_at", "clicktocall_attempt", ["client_ip", "at"])
    op.create_index("ix_clicktocall_attempt_hotline_at", "clicktocall_attempt", ["hotline", "at"])
    # The caller cap counts a caller's calls to a hotline this month from the call records.
    op.create_index("ix_call_record_hotline_caller_started", "call_record", ["hotline", "caller", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_call_record_hotline_caller_started", table_name="call_record")
    for name in ("hotline_at", "ip_at", "target_at"):
        op.drop_index(f"ix_clicktocall_attempt_{name}", table_name="clicktocall_attempt")
    op.drop_table("clicktocall_attempt")
    op.drop_table("clicktocall_setting")
    op.drop_index("ix_survey_response_hotline_at", table_name="survey_response")
    op.drop_table("survey_response")
    # SQLite >= 3.35 drops a plain column in place, keeping the tables' triggers (PostgreSQL always does).
    op.execute("ALTER TABLE seat DROP COLUMN weight")
    op.execute("ALTER TABLE department DROP COLUMN hunt_weighted")
    for column in reversed(_hotline_columns()):
        op.execute(f"ALTER TABLE hotline DROP COLUMN {column.name}")
