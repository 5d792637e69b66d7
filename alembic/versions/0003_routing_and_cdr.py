"""Per-call routing (time rules, holidays, caller region, call blocking), call records, config generation.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26

`config_generation` is bumped by triggers on every table the controller caches, so a running
controller sees any edit (CLI, web or raw SQL) by polling one row; call records and the round-robin
position change per call and deliberately do not bump it.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: Tables whose changes must reach a running controller.
WATCHED = ("enterprise", "hotline", "destination", "seat", "department", "tone", "trunk", "carrier_policy",
           "time_rule", "region_rule", "region_override", "block_entry", "calendar_day")

def _hotline_columns() -> list[sa.Column]:
    return [
        sa.Column("block_mode", sa.String(16), nullable=False, server_default="off"),
        sa.Column("anonymous_policy", sa.String(8), nullable=False, server_default="allow"),
        sa.Column("refuse_with", sa.String(8), nullable=False, server_default="busy"),
        sa.Column("refuse_prompt", sa.String(120)),
        sa.Column("after_hours_kind", sa.String(16), nullable=False, server_default="voicemail"),
        sa.Column("after_hours_department_id", sa.Integer),
        sa.Column("after_hours_prompt", sa.String(120)),
    ]


def upgrade() -> None:
    # Plain ALTER TABLE (no batch copy): a table rebuild on SQLite would drop the hotline guards of 0001.
    for column in _hotline_columns():
        op.add_column("hotline", column)
    op.create_table(
        "time_rule",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hotline_id", sa.Integer, sa.ForeignKey("hotline.id", ondelete="CASCADE"), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, server_default="100"),
        sa.Column("name", sa.String(100)),
        sa.Column("days", sa.JSON, nullable=False),
        sa.Column("weekdays", sa.JSON, nullable=False),
        sa.Column("segments", sa.JSON, nullable=False),
        sa.Column("action_kind", sa.String(16), nullable=False),
        sa.Column("action_department_id", sa.Integer, sa.ForeignKey("department.id", ondelete="CASCADE")),
        sa.Column("action_prompt", sa.String(120)),
    )
    op.create_index("ix_time_rule_hotline", "time_rule", ["hotline_id"])
    op.create_table(
        "region_rule",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hotline_id", sa.Integer, sa.ForeignKey("hotline.id", ondelete="CASCADE"), nullable=False),
        sa.Column("priority", sa.Integer, nullable=False, server_default="100"),
        sa.Column("province", sa.String(20), nullable=False),
        sa.Column("city", sa.String(20)),
        sa.Column("department_id", sa.Integer, sa.ForeignKey("department.id", ondelete="CASCADE"), nullable=False),
    )
    op.create_index("ix_region_rule_hotline", "region_rule", ["hotline_id"])
    op.create_table(
        "region_override",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("prefix", sa.String(20), nullable=False, unique=True),
        sa.Column("province", sa.String(20), nullable=False),
        sa.Column("city", sa.String(20)),
    )
    op.create_table(
        "block_entry",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hotline_id", sa.Integer, sa.ForeignKey("hotline.id", ondelete="CASCADE"), nullable=False),
        sa.Column("number", sa.String(20), nullable=False),
        sa.Column("prefix", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("note", sa.String(200)),
        sa.UniqueConstraint("hotline_id", "number", "prefix", name="uq_block_entry"),
    )
    op.create_table(
        "calendar_day",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("enterprise_id", sa.Integer, sa.ForeignKey("enterprise.id", ondelete="CASCADE")),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("name", sa.String(64)),
    )
    op.create_index("uq_calendar_national", "calendar_day", ["day"], unique=True,
                    sqlite_where=sa.text("enterprise_id IS NULL"), postgresql_where=sa.text("enterprise_id IS NULL"))
    op.create_index("uq_calendar_enterprise", "calendar_day", ["enterprise_id", "day"], unique=True,
                    sqlite_where=sa.text("enterprise_id IS NOT NULL"),
                    postgresql_where=sa.text("enterprise_id IS NOT NULL"))
    op.create_table(
        "hunt_rotation",
        sa.Column("hotline_id", sa.Integer, sa.ForeignKey("hotline.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("department_key", sa.String(32), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False, server_default="0"),
    )
    op.create_table(
        "call_record",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("uniqueid", sa.String(64), nullable=False, unique=True),
        sa.Column("linkedid", sa.String(64)),
        sa.Column("hotline", sa.String(10)),
        sa.Column("caller", sa.String(32)),
        sa.Column("caller_province", sa.String(20)),
        sa.Column("caller_city", sa.String(20)),
        sa.Column("started_at", sa.DateTime, nullable=False),
        sa.Column("answered_at", sa.DateTime),
        sa.Column("ended_at", sa.DateTime),
        sa.Column("duration_s", sa.Integer),
        sa.Column("billsec", sa.Integer),
        sa.Column("key_path", sa.String(64)),
        sa.Column("department", sa.String(32)),
        sa.Column("seat", sa.String(255)),
        sa.Column("disposition", sa.String(16), nullable=False),
        sa.Column("recording_path", sa.String(255)),
        sa.Column("source", sa.String(8), nullable=False),
    )
    op.create_index("ix_call_record_hotline_started", "call_record", ["hotline", "started_at"])
    op.create_table("config_generation", sa.Column("id", sa.Integer, primary_key=True),
                    sa.Column("value", sa.BigInteger, nullable=False),
                    # PostgreSQL: the transaction that bumped last, so a bulk change bumps once, not
                    # once per statement (each bump of one row in one transaction is a new row version).
                    sa.Column("txid", sa.BigInteger))
    op.execute("INSERT INTO config_generation (id, value) VALUES (1, 1)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""CREATE FUNCTION ivr400_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE config_generation SET value = value + 1, txid = txid_current()
   WHERE id = 1 AND txid IS DISTINCT FROM txid_current();
  RETURN NULL;
END $$""")
        for table in WATCHED:
            op.execute(f"CREATE TRIGGER trg_gen_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION ivr400_bump_generation()")
    else:
        for table in WATCHED:
            for event in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER trg_gen_{table}_{event.lower()} AFTER {event} ON {table} "
                           "BEGIN UPDATE config_generation SET value = value + 1 WHERE id = 1; END")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in WATCHED:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS trg_gen_{table} ON {table}")
        else:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_gen_{table}_{event}")
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS ivr400_bump_generation()")
    op.drop_table("config_generation")
    op.drop_index("ix_call_record_hotline_started", table_name="call_record")
    op.drop_table("call_record")
    op.drop_table("hunt_rotation")
    op.drop_index("uq_calendar_enterprise", table_name="calendar_day")
    op.drop_index("uq_calendar_national", table_name="calendar_day")
    op.drop_table("calendar_day")
    op.drop_table("block_entry")
    op.drop_table("region_override")
    op.drop_index("ix_region_rule_hotline", table_name="region_rule")
    op.drop_table("region_rule")
    op.drop_index("ix_time_rule_hotline", table_name="time_rule")
    op.drop_table("time_rule")
    for column in reversed(_hotline_columns()):
        # SQLite >= 3.35 drops a plain column in place, keeping the table's triggers.
        op.execute(f"ALTER TABLE hotline DROP COLUMN {column.name}")
