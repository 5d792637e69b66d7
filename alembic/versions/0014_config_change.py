"""Which hotlines an edit touched (配置变更日志), so a controller reloads only those.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30

`config_change`: one row per changed row of a routing-relevant table, naming the hotline whose routing it
may change, written by triggers in the writer's transaction whoever writes (CLI, web, raw SQL), beside
the `config_generation` bump of 0003:

* `hotline` (its own id; both ids when an UPDATE moves nothing but is logged once per side), `seat`,
  `department`, `time_rule`, `region_rule`, `block_entry` (their `hotline_id`, old and new);
* `destination`: every hotline with a seat on it (a revoked or expired number leaves those hotlines);
* `enterprise`: its hotlines (name, time zone);
* `tone`, `trunk`, `carrier_policy`, `region_override`, `calendar_day`: NULL, "everything" (they are
  shared between hotlines and rarely change): the controller then reloads in full.

The controller (`ivr400.controller.cache`) reads the rows after the last id it applied; ids it has not
seen but that are lower than one it has (a writer still open, PostgreSQL) are waited for. Rows are pruned
by a trigger: every 1,000th row deletes those more than 100,000 ids older (a controller that far behind
reloads in full). Going down drops the table and its triggers; `config_generation` is untouched.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: Tables whose rows carry the hotline they belong to.
BY_HOTLINE_ID = ("seat", "department", "time_rule", "region_rule", "block_entry")
#: Tables shared between hotlines: a change means "reload everything".
SHARED = ("tone", "trunk", "carrier_policy", "region_override", "calendar_day")
TABLES = ("hotline", "destination", "enterprise", *BY_HOTLINE_ID, *SHARED)
#: Prune rows this many ids behind the newest, every PRUNE_EVERY-th row.
KEEP, PRUNE_EVERY = 100_000, 1_000


def _sqlite_statements(table: str, row: str) -> str:
    """The INSERT (or INSERTs) logging `row` (NEW or OLD) of `table`, in SQLite trigger syntax."""
    if table == "hotline":
        return f"INSERT INTO config_change (hotline_id) VALUES ({row}.id);"
    if table in BY_HOTLINE_ID:
        return f"INSERT INTO config_change (hotline_id) VALUES ({row}.hotline_id);"
    if table == "destination":
        return (f"INSERT INTO config_change (hotline_id) SELECT DISTINCT hotline_id FROM seat "
                f"WHERE destination_id = {row}.id;")
    if table == "enterprise":
        return f"INSERT INTO config_change (hotline_id) SELECT id FROM hotline WHERE enterprise_id = {row}.id;"
    return "INSERT INTO config_change (hotline_id) VALUES (NULL);"


POSTGRES_FUNCTION = """CREATE FUNCTION ivr400_config_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  FOR r IN SELECT * FROM (VALUES (1), (2)) AS side(n) LOOP
    CONTINUE WHEN (r.n = 1 AND TG_OP = 'INSERT') OR (r.n = 2 AND TG_OP = 'DELETE');
    IF TG_TABLE_NAME = 'hotline' THEN
      INSERT INTO config_change (hotline_id) VALUES (CASE WHEN r.n = 1 THEN OLD.id ELSE NEW.id END);
    ELSIF TG_TABLE_NAME IN ('seat', 'department', 'time_rule', 'region_rule', 'block_entry') THEN
      INSERT INTO config_change (hotline_id)
        VALUES (CASE WHEN r.n = 1 THEN OLD.hotline_id ELSE NEW.hotline_id END);
    ELSIF TG_TABLE_NAME = 'destination' THEN
      INSERT INTO config_change (hotline_id) SELECT DISTINCT hotline_id FROM seat
        WHERE destination_id = CASE WHEN r.n = 1 THEN OLD.id ELSE NEW.id END;
    ELSIF TG_TABLE_NAME = 'enterprise' THEN
      INSERT INTO config_change (hotline_id) SELECT id FROM hotline
        WHERE enterprise_id = CASE WHEN r.n = 1 THEN OLD.id ELSE NEW.id END;
    ELSE
      INSERT INTO config_change (hotline_id) VALUES (NULL);
    END IF;
    -- An UPDATE that keeps the hotline logs it once (the new side is enough when nothing moved).
    EXIT WHEN TG_OP = 'UPDATE' AND TG_TABLE_NAME IN ('hotline', 'destination', 'enterprise', 'tone', 'trunk',
      'carrier_policy', 'region_override', 'calendar_day');
  END LOOP;
  RETURN NULL;
END $$"""

POSTGRES_PRUNE = f"""CREATE FUNCTION ivr400_prune_config_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM config_change WHERE id < NEW.id - {KEEP};
  RETURN NULL;
END $$"""


def upgrade() -> None:
    op.create_table(
        "config_change",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("hotline_id", sa.Integer),  # no foreign key: the hotline may be gone (that is the change)
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_FUNCTION)
        op.execute(POSTGRES_PRUNE)
        for table in TABLES:
            op.execute(f"CREATE TRIGGER trg_chg_{table} AFTER INSERT OR UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION ivr400_config_change()")
        op.execute(f"CREATE TRIGGER trg_chg_prune AFTER INSERT ON config_change FOR EACH ROW "
                   f"WHEN (NEW.id % {PRUNE_EVERY} = 0) EXECUTE FUNCTION ivr400_prune_config_change()")
        return
    for table in TABLES:
        op.execute(f"CREATE TRIGGER trg_chg_{table}_insert AFTER INSERT ON {table} "
                   f"BEGIN {_sqlite_statements(table, 'NEW')} END")
        op.execute(f"CREATE TRIGGER trg_chg_{table}_delete AFTER DELETE ON {table} "
                   f"BEGIN {_sqlite_statements(table, 'OLD')} END")
        moved = table in BY_HOTLINE_ID  # an UPDATE may move the row to another hotline: log both sides
        body = (f"{_sqlite_statements(table, 'OLD')} " if moved else "") + _sqlite_statements(table, "NEW")
        op.execute(f"CREATE TRIGGER trg_chg_{table}_update AFTER UPDATE ON {table} BEGIN {body} END")
    op.execute(f"CREATE TRIGGER trg_chg_prune AFTER INSERT ON config_change WHEN NEW.id % {PRUNE_EVERY} = 0 "
               f"BEGIN DELETE FROM config_change WHERE id < NEW.id - {KEEP}; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS trg_chg_{table} ON {table}")
        op.execute("DROP TRIGGER IF EXISTS trg_chg_prune ON config_change")
        op.execute("DROP FUNCTION IF EXISTS ivr400_config_change()")
        op.execute("DROP FUNCTION IF EXISTS ivr400_prune_config_change()")
    else:
        for table in TABLES:
            for event in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS trg_chg_{table}_{event}")
        op.execute("DROP TRIGGER IF EXISTS trg_chg_prune")
    op.drop_table("config_change")
