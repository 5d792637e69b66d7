"""Reports: one fact row per inbound call, hourly roll-ups, the callback list, per-hotline report and billing
settings, balance top-ups (issue 10: items 1, 4, 8).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30

`call_fact`: one row per call record (same uniqueid), with the seat's answer time and talk time, where an
abandoned call was abandoned, the seats rung, the charge, and a survey score others fill. `call_hour`: the
facts summed per UTC hour, hotline and dimension (hotline, department, seat, region, department × region), kept
current in the
transaction that writes the fact. `callback_entry`: missed callers (待回拨 / 已回拨 / 无需回拨).
`hotline_account`: service-level T and short-abandon A, tariff, reminder, zero-balance behaviour.
`balance_topup`: top-ups. Existing call records get their facts with `ivr400 report rebuild`; nothing is
derived here, so the migration stays independent of the application code. Downgrade drops the five tables.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hotline_account",
        sa.Column("hotline_id", sa.Integer, sa.ForeignKey("hotline.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("service_level_s", sa.Integer, nullable=False, server_default="20"),
        sa.Column("abandon_ignore_s", sa.Integer, nullable=False, server_default="5"),
        sa.Column("tariff_fen_per_min", sa.Integer, nullable=False, server_default="0"),
        sa.Column("reminder_fen", sa.Integer, nullable=False, server_default="0"),
        sa.Column("zero_balance", sa.String(8), nullable=False, server_default="keep"),
        sa.CheckConstraint("service_level_s > 0 AND abandon_ignore_s >= 0", name="ck_hotline_account_times"),
        sa.CheckConstraint("tariff_fen_per_min >= 0 AND reminder_fen >= 0", name="ck_hotline_account_money"),
        sa.CheckConstraint("zero_balance IN ('keep', 'prompt')", name="ck_hotline_account_zero"),
    )
    op.create_table(
        "balance_topup",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hotline_id", sa.Integer, sa.ForeignKey("hotline.id", ondelete="CASCADE"), nullable=False),
        sa.Column("amount_fen", sa.BigInteger, nullable=False),
        sa.Column("at", sa.DateTime, nullable=False),
        sa.Column("by", sa.String(100), nullable=False),
        sa.Column("note", sa.String(200)),
        sa.CheckConstraint("amount_fen > 0", name="ck_balance_topup_positive"),
    )
    op.create_index("ix_balance_topup_hotline", "balance_topup", ["hotline_id"])
    op.create_table(
        "call_fact",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uniqueid", sa.String(64), nullable=False, unique=True),
        sa.Column("hotline", sa.String(10)),
        sa.Column("caller", sa.String(32)),
        sa.Column("caller_province", sa.String(20)),
        sa.Column("caller_city", sa.String(20)),
        sa.Column("arrived_at", sa.DateTime, nullable=False),
        sa.Column("ivr_done_at", sa.DateTime),
        sa.Column("first_rung_at", sa.DateTime),
        sa.Column("answered_at", sa.DateTime),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("disposition", sa.String(16), nullable=False),
        sa.Column("abandoned_in", sa.String(8)),
        sa.Column("seat", sa.String(255)),
        sa.Column("seats_rung", sa.Text),
        sa.Column("department", sa.String(32)),
        sa.Column("key_path", sa.String(64)),
        sa.Column("wait_s", sa.Float),
        sa.Column("talk_s", sa.Float),
        sa.Column("billed_min", sa.Integer, nullable=False, server_default="0"),
        sa.Column("charge_fen", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("survey_score", sa.Integer),
        sa.CheckConstraint("abandoned_in IS NULL OR abandoned_in IN ('menu', 'ringing')",
                           name="ck_call_fact_abandoned_in"),
        sa.CheckConstraint("survey_score IS NULL OR survey_score BETWEEN 1 AND 5", name="ck_call_fact_survey"),
    )
    op.create_index("ix_call_fact_hotline_arrived", "call_fact", ["hotline", "arrived_at"])
    # covers the repeat-caller report (grouped by hotline and caller within a time range)
    op.create_index("ix_call_fact_caller", "call_fact", ["hotline", "caller", "arrived_at", "disposition"])
    op.create_table(
        "call_hour",
        sa.Column("hour", sa.DateTime, primary_key=True),
        sa.Column("hotline", sa.String(10), primary_key=True),
        sa.Column("dim", sa.String(12), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        *[sa.Column(name, sa.Integer, nullable=False, server_default="0") for name in (
            "offered", "answered", "answered_in_t", "abandoned", "abandoned_short", "abandoned_menu", "missed",
            "billed_min", "survey_sum", "survey_count")],
        sa.Column("wait_sum_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("talk_sum_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("charge_fen", sa.BigInteger, nullable=False, server_default="0"),
        sa.CheckConstraint("dim IN ('hotline', 'department', 'seat', 'region', 'dept_region')",
                           name="ck_call_hour_dim"),
    )
    op.create_index("ix_call_hour_dim", "call_hour", ["dim", "hotline", "hour"])
    op.create_table(
        "callback_entry",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hotline", sa.String(10), nullable=False),
        sa.Column("caller", sa.String(32), nullable=False),
        sa.Column("first_missed_at", sa.DateTime, nullable=False),
        sa.Column("last_missed_at", sa.DateTime, nullable=False),
        sa.Column("missed", sa.Integer, nullable=False, server_default="1"),
        sa.Column("last_uniqueid", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False, server_default="pending"),
        sa.Column("handled_by", sa.String(100)),
        sa.Column("handled_at", sa.DateTime),
        sa.Column("note", sa.String(200)),
        sa.CheckConstraint("status IN ('pending', 'called_back', 'not_needed')", name="ck_callback_entry_status"),
    )
    op.create_index("ix_callback_entry_open", "callback_entry", ["hotline", "caller", "status"])


def downgrade() -> None:
    op.drop_index("ix_callback_entry_open", table_name="callback_entry")
    op.drop_table("callback_entry")
    op.drop_index("ix_call_hour_dim", table_name="call_hour")
    op.drop_table("call_hour")
    op.drop_index("ix_call_fact_caller", table_name="call_fact")
    op.drop_index("ix_call_fact_hotline_arrived", table_name="call_fact")
    op.drop_table("call_fact")
    op.drop_index("ix_balance_topup_hotline", table_name="balance_topup")
    op.drop_table("balance_topup")
    op.drop_table("hotline_account")
