"""Enterprises, hotlines, destinations with evidence, seats, departments, tones; whitelist guards.

Revision ID: 0001
Revises:
Create Date: 2026-11-25

The guards are database triggers so that no path — ORM, CLI or raw SQL — can bind a seat to a
destination that is not approved for the hotline's own enterprise, bind a mobile where the hotline's
carrier forbids it (R1), or exceed the hotline's bound-number limit.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

CARRIERS = [
    ("telecom", False, "中国电信: landlines only unless the branch office agrees"),
    ("unicom", False, "中国联通: landlines only unless the branch office agrees"),
    ("mobile", False, "中国移动 (incl. ex-Tietong): landlines only unless the branch office agrees"),
]

# Shared text of the refusals so both databases say the same thing.
MSG_NOT_APPROVED = "whitelist: destination is not approved or its authorization has lapsed"
MSG_OTHER_ENTERPRISE = "whitelist: destination belongs to another enterprise than the hotline"
MSG_MOBILE = "whitelist: the carrier of the hotline does not allow binding a mobile number (R1)"
MSG_DEPARTMENT = "whitelist: department belongs to another hotline"
MSG_LIMIT = "limit: the hotline already has its maximum number of bound destinations"
MSG_MOVE_DEST = "whitelist: cannot move a destination with seats to another enterprise"
MSG_MOVE_HOTLINE = "whitelist: cannot move a hotline with seats to another enterprise"
MSG_MAX_BOUND = "limit: max_bound is lower than the destinations already bound"


def _ts() -> sa.DateTime:
    return sa.DateTime()


def upgrade() -> None:
    op.create_table(
        "enterprise",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("name_key", sa.String(200), nullable=False, unique=True),
        sa.Column("area_code", sa.String(5), nullable=False),
        sa.Column("province", sa.String(20)),
        sa.Column("city", sa.String(20)),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="Asia/Shanghai"),
        sa.Column("created_at", _ts(), nullable=False),
    )
    op.create_table(
        "carrier_policy",
        sa.Column("carrier", sa.String(16), primary_key=True),
        sa.Column("allow_mobile", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("note", sa.Text),
    )
    op.bulk_insert(
        sa.table("carrier_policy", sa.column("carrier"), sa.column("allow_mobile", sa.Boolean), sa.column("note")),
        [{"carrier": c, "allow_mobile": m, "note": n} for c, m, n in CARRIERS],
    )
    op.create_table(
        "trunk",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("dial_template", sa.String(255), nullable=False),
    )
    op.create_table(
        "tone",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("enterprise_id", sa.Integer, sa.ForeignKey("enterprise.id", ondelete="CASCADE")),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("original_name", sa.String(255), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_path", sa.String(255), nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("enterprise_id", "name"),
        sa.CheckConstraint("kind IN ('welcome','ringback','prompt')", name="ck_tone_kind"),
    )
    op.create_table(
        "hotline",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("number", sa.String(10), nullable=False, unique=True),
        sa.Column("carrier", sa.String(16), sa.ForeignKey("carrier_policy.carrier"), nullable=False),
        sa.Column("enterprise_id", sa.Integer, sa.ForeignKey("enterprise.id"), nullable=False),
        sa.Column("name", sa.String(100)),
        sa.Column("max_bound", sa.Integer, nullable=False, server_default="20"),
        sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("hunt_strategy", sa.String(16), nullable=False, server_default="sequential"),
        sa.Column("max_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("welcome_tone_id", sa.Integer, sa.ForeignKey("tone.id")),
        sa.Column("ringback_tone_id", sa.Integer, sa.ForeignKey("tone.id")),
        sa.Column("trunk_id", sa.Integer, sa.ForeignKey("trunk.id")),
        sa.Column("menu_timeout_s", sa.Integer, nullable=False, server_default="5"),
        sa.Column("menu_retries", sa.Integer, nullable=False, server_default="3"),
        sa.Column("voicemail", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("record_calls", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", _ts(), nullable=False),
        sa.CheckConstraint("max_bound BETWEEN 1 AND 200", name="ck_hotline_max_bound"),
        sa.CheckConstraint("number LIKE '400%'", name="ck_hotline_number"),
        sa.CheckConstraint(
            "hunt_strategy IN ('sequential','simultaneous','round_robin')", name="ck_hotline_hunt_strategy"
        ),
    )
    op.create_table(
        "destination",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("enterprise_id", sa.Integer, sa.ForeignKey("enterprise.id"), nullable=False),
        sa.Column("number", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("area_code", sa.String(5)),
        sa.Column("province", sa.String(20)),
        sa.Column("city", sa.String(20)),
        sa.Column("owner_name", sa.String(200), nullable=False),
        sa.Column("owner_kind", sa.String(16), nullable=False),
        sa.Column("relationship_note", sa.Text),
        sa.Column("status", sa.String(16), nullable=False, server_default="pending"),
        sa.Column("status_reason", sa.Text),
        sa.Column("valid_from", _ts()),
        sa.Column("valid_until", _ts()),
        sa.Column("long_term", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("approved_at", _ts()),
        sa.Column("approved_by", sa.String(100)),
        sa.Column("trunk_id", sa.Integer, sa.ForeignKey("trunk.id")),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("enterprise_id", "number"),
        sa.CheckConstraint("kind IN ('landline','mobile')", name="ck_destination_kind"),
        sa.CheckConstraint("owner_kind IN ('company','person')", name="ck_destination_owner_kind"),
        sa.CheckConstraint(
            "status IN ('pending','approved','rejected','revoked')", name="ck_destination_status"
        ),
        sa.CheckConstraint(
            "status <> 'approved' OR (approved_at IS NOT NULL AND approved_by IS NOT NULL)",
            name="ck_destination_approval_recorded",
        ),
    )
    op.create_table(
        "evidence",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "destination_id", sa.Integer, sa.ForeignKey("destination.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("original_name", sa.String(255), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("stored_path", sa.String(255), nullable=False),
        sa.Column("attributes", sa.JSON, nullable=False),
        sa.Column("valid_from", sa.Date),
        sa.Column("valid_until", sa.Date),
        sa.Column("long_term", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("created_at", _ts(), nullable=False),
    )
    op.create_index("ix_evidence_destination", "evidence", ["destination_id"])
    op.create_table(
        "whitelist_event",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("destination_id", sa.Integer, sa.ForeignKey("destination.id", ondelete="SET NULL")),
        sa.Column("enterprise_id", sa.Integer, sa.ForeignKey("enterprise.id", ondelete="SET NULL")),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("at", _ts(), nullable=False),
    )
    op.create_index("ix_whitelist_event_destination", "whitelist_event", ["destination_id"])
    op.create_table(
        "department",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hotline_id", sa.Integer, sa.ForeignKey("hotline.id", ondelete="CASCADE"), nullable=False),
        sa.Column("parent_id", sa.Integer, sa.ForeignKey("department.id", ondelete="CASCADE")),
        sa.Column("key", sa.String(1), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("hunt_strategy", sa.String(16), nullable=False, server_default="sequential"),
        sa.Column("max_attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("ringback_tone_id", sa.Integer, sa.ForeignKey("tone.id")),
        sa.Column("prompt_tone_id", sa.Integer, sa.ForeignKey("tone.id")),
        sa.UniqueConstraint("hotline_id", "parent_id", "key"),
        sa.CheckConstraint("key IN ('0','1','2','3','4','5','6','7','8','9')", name="ck_department_key"),
        sa.CheckConstraint(
            "hunt_strategy IN ('sequential','simultaneous','round_robin')", name="ck_department_hunt_strategy"
        ),
    )
    op.create_table(
        "seat",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("hotline_id", sa.Integer, sa.ForeignKey("hotline.id", ondelete="CASCADE"), nullable=False),
        sa.Column("department_id", sa.Integer, sa.ForeignKey("department.id", ondelete="CASCADE")),
        sa.Column("destination_id", sa.Integer, sa.ForeignKey("destination.id"), nullable=False),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("ring_timeout_s", sa.Integer, nullable=False, server_default="15"),
        sa.Column("created_at", _ts(), nullable=False),
        sa.UniqueConstraint("hotline_id", "department_id", "destination_id"),
        sa.CheckConstraint("ring_timeout_s BETWEEN 5 AND 120", name="ck_seat_ring_timeout"),
        sa.CheckConstraint("position >= 1", name="ck_seat_position"),
    )
    op.create_index("ix_seat_hotline", "seat", ["hotline_id"])
    op.create_index("ix_seat_destination", "seat", ["destination_id"])

    if op.get_bind().dialect.name == "postgresql":
        _postgresql_guards()
    else:
        _sqlite_guards()


def _sqlite_guards() -> None:
    now = "strftime('%Y-%m-%d %H:%M:%f','now')"
    for event, self_filter in (
        ("INSERT", ""),
        ("UPDATE OF destination_id, hotline_id, department_id", " AND s.id <> OLD.id"),
    ):
        name = "trg_seat_guard_insert" if event == "INSERT" else "trg_seat_guard_update"
        op.execute(
            f"""
CREATE TRIGGER {name} BEFORE {event} ON seat
BEGIN
  SELECT RAISE(ABORT, '{MSG_NOT_APPROVED}')
   WHERE NOT EXISTS (SELECT 1 FROM destination d WHERE d.id = NEW.destination_id AND d.status = 'approved'
                     AND (d.valid_until IS NULL OR d.valid_until > {now}));
  SELECT RAISE(ABORT, '{MSG_OTHER_ENTERPRISE}')
   WHERE (SELECT enterprise_id FROM destination WHERE id = NEW.destination_id)
         IS NOT (SELECT enterprise_id FROM hotline WHERE id = NEW.hotline_id);
  SELECT RAISE(ABORT, '{MSG_MOBILE}')
   WHERE (SELECT kind FROM destination WHERE id = NEW.destination_id) = 'mobile'
     AND NOT COALESCE((SELECT cp.allow_mobile FROM carrier_policy cp JOIN hotline h ON h.carrier = cp.carrier
                       WHERE h.id = NEW.hotline_id), 0);
  SELECT RAISE(ABORT, '{MSG_DEPARTMENT}')
   WHERE NEW.department_id IS NOT NULL
     AND (SELECT hotline_id FROM department WHERE id = NEW.department_id) IS NOT NEW.hotline_id;
  SELECT RAISE(ABORT, '{MSG_LIMIT}')
   WHERE NOT EXISTS (SELECT 1 FROM seat s WHERE s.hotline_id = NEW.hotline_id
                     AND s.destination_id = NEW.destination_id{self_filter})
     AND (SELECT COUNT(DISTINCT s.destination_id) FROM seat s WHERE s.hotline_id = NEW.hotline_id{self_filter})
         >= (SELECT max_bound FROM hotline WHERE id = NEW.hotline_id);
END"""
        )
    op.execute(
        f"""
CREATE TRIGGER trg_destination_enterprise_guard BEFORE UPDATE OF enterprise_id ON destination
WHEN OLD.enterprise_id IS NOT NEW.enterprise_id AND EXISTS (SELECT 1 FROM seat WHERE destination_id = OLD.id)
BEGIN SELECT RAISE(ABORT, '{MSG_MOVE_DEST}'); END"""
    )
    op.execute(
        f"""
CREATE TRIGGER trg_hotline_enterprise_guard BEFORE UPDATE OF enterprise_id ON hotline
WHEN OLD.enterprise_id IS NOT NEW.enterprise_id AND EXISTS (SELECT 1 FROM seat WHERE hotline_id = OLD.id)
BEGIN SELECT RAISE(ABORT, '{MSG_MOVE_HOTLINE}'); END"""
    )
    op.execute(
        f"""
CREATE TRIGGER trg_hotline_max_bound_guard BEFORE UPDATE OF max_bound ON hotline
WHEN NEW.max_bound < (SELECT COUNT(DISTINCT destination_id) FROM seat WHERE hotline_id = OLD.id)
BEGIN SELECT RAISE(ABORT, '{MSG_MAX_BOUND}'); END"""
    )


def _postgresql_guards() -> None:
    op.execute(
        f"""
CREATE FUNCTION ivr400_seat_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  h hotline%ROWTYPE;
  d destination%ROWTYPE;
  bound integer;
BEGIN
  -- Lock the hotline row: concurrent binds to one hotline serialize, so the limit cannot be raced.
  SELECT * INTO h FROM hotline WHERE id = NEW.hotline_id FOR UPDATE;
  SELECT * INTO d FROM destination WHERE id = NEW.destination_id FOR SHARE;
  IF d.id IS NULL OR d.status <> 'approved'
     OR (d.valid_until IS NOT NULL AND d.valid_until <= (now() AT TIME ZONE 'UTC')) THEN
    RAISE EXCEPTION '{MSG_NOT_APPROVED}' USING ERRCODE = 'check_violation';
  END IF;
  IF d.enterprise_id IS DISTINCT FROM h.enterprise_id THEN
    RAISE EXCEPTION '{MSG_OTHER_ENTERPRISE}' USING ERRCODE = 'check_violation';
  END IF;
  IF d.kind = 'mobile' AND NOT COALESCE(
       (SELECT allow_mobile FROM carrier_policy WHERE carrier = h.carrier), false) THEN
    RAISE EXCEPTION '{MSG_MOBILE}' USING ERRCODE = 'check_violation';
  END IF;
  IF NEW.department_id IS NOT NULL AND
     (SELECT hotline_id FROM department WHERE id = NEW.department_id) IS DISTINCT FROM NEW.hotline_id THEN
    RAISE EXCEPTION '{MSG_DEPARTMENT}' USING ERRCODE = 'check_violation';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM seat s WHERE s.hotline_id = NEW.hotline_id AND s.destination_id = NEW.destination_id
                 AND (TG_OP = 'INSERT' OR s.id <> OLD.id)) THEN
    SELECT COUNT(DISTINCT s.destination_id) INTO bound FROM seat s
     WHERE s.hotline_id = NEW.hotline_id AND (TG_OP = 'INSERT' OR s.id <> OLD.id);
    IF bound >= h.max_bound THEN
      RAISE EXCEPTION '{MSG_LIMIT}' USING ERRCODE = 'check_violation';
    END IF;
  END IF;
  RETURN NEW;
END $$"""
    )
    op.execute(
        """CREATE TRIGGER trg_seat_guard BEFORE INSERT OR UPDATE OF destination_id, hotline_id, department_id
           ON seat FOR EACH ROW EXECUTE FUNCTION ivr400_seat_guard()"""
    )
    op.execute(
        f"""
CREATE FUNCTION ivr400_owner_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'destination' AND OLD.enterprise_id IS DISTINCT FROM NEW.enterprise_id
     AND EXISTS (SELECT 1 FROM seat WHERE destination_id = OLD.id) THEN
    RAISE EXCEPTION '{MSG_MOVE_DEST}' USING ERRCODE = 'check_violation';
  END IF;
  IF TG_TABLE_NAME = 'hotline' THEN
    IF OLD.enterprise_id IS DISTINCT FROM NEW.enterprise_id AND EXISTS (SELECT 1 FROM seat WHERE hotline_id = OLD.id) THEN
      RAISE EXCEPTION '{MSG_MOVE_HOTLINE}' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.max_bound < (SELECT COUNT(DISTINCT destination_id) FROM seat WHERE hotline_id = OLD.id) THEN
      RAISE EXCEPTION '{MSG_MAX_BOUND}' USING ERRCODE = 'check_violation';
    END IF;
  END IF;
  RETURN NEW;
END $$"""
    )
    op.execute(
        """CREATE TRIGGER trg_destination_enterprise_guard BEFORE UPDATE OF enterprise_id ON destination
           FOR EACH ROW EXECUTE FUNCTION ivr400_owner_guard()"""
    )
    op.execute(
        """CREATE TRIGGER trg_hotline_owner_guard BEFORE UPDATE OF enterprise_id, max_bound ON hotline
           FOR EACH ROW EXECUTE FUNCTION ivr400_owner_guard()"""
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_hotline_owner_guard ON hotline")
        op.execute("DROP TRIGGER IF EXISTS trg_destination_enterprise_guard ON destination")
        op.execute("DROP TRIGGER IF EXISTS trg_seat_guard ON seat")
        op.execute("DROP FUNCTION IF EXISTS ivr400_owner_guard()")
        op.execute("DROP FUNCTION IF EXISTS ivr400_seat_guard()")
    for table in (
        "seat", "department", "whitelist_event", "evidence", "destination", "hotline", "tone", "trunk",
        "carrier_policy", "enterprise",
    ):
        op.drop_table(table)
