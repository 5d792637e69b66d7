"""An approved destination keeps its identity; the whitelist audit trail cannot be erased or rewritten.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30

Guards (SQLite and PostgreSQL triggers, so raw SQL is held to them as much as the application):

- **Identity frozen while approved.** An UPDATE that changes `number`, `owner_name`, `owner_kind`,
  `enterprise_id` or `kind` of a destination that is `approved` and stays `approved` is refused: the
  approval (R2-R7) was given for that number and owner, and its seats would otherwise ring another
  line with no audit row. The operator revokes the destination first (or the same UPDATE moves it out
  of `approved`, which the 0004 trigger audits), then changes it and has it approved again.
- **Validity changes while approved are audited.** `valid_from`, `valid_until` and `long_term` may
  change while approved — a renewal (`provisioning.destinations.approve` on an approved destination)
  does exactly that — but the database writes an audit row for every such change: action
  `validity_change`, actor `database`, `from_status` = `to_status` = `approved`, the old and new values
  in `detail`. The application completes that row with its actor and decision
  (`provisioning.audit.complete_or_record`), as it does for status changes (0004).
- **Audit rows are append-only.** DELETE of a `whitelist_event` row is refused unless its destination
  no longer exists; on PostgreSQL TRUNCATE of the table is refused. UPDATE is refused except two:
  the application completing a row the database wrote (OLD.actor = `database`; `destination_id`,
  `enterprise_id`, `from_status` and `to_status` unchanged — action, actor, reason, detail and time are
  what it fills in), and the `ON DELETE SET NULL` of a deleted destination or enterprise (that column
  becomes NULL because its row is gone, nothing else changes).

Downgrade drops the guards; the audit rows written by the validity trigger are kept.
"""
from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

DATABASE_ACTOR = "database"
MSG_FROZEN = ("whitelist: number, owner, enterprise and kind of an approved destination cannot change; "
              "revoke it first")
MSG_AUDIT_DELETE = "audit: whitelist audit rows cannot be deleted"
MSG_AUDIT_UPDATE = "audit: whitelist audit rows cannot be changed"
MSG_AUDIT_TRUNCATE = "audit: the whitelist audit trail cannot be truncated"

IDENTITY = ("number", "owner_name", "owner_kind", "enterprise_id", "kind")
VALIDITY = ("valid_from", "valid_until", "long_term")
#: Columns of whitelist_event the application's completion must leave as the database wrote them.
EVENT_KEPT = ("from_status", "to_status")
EVENT_ALL = ("id", "action", "actor", "reason", "detail", "at", "from_status", "to_status")


def _changed(cols: tuple[str, ...], distinct: str) -> str:
    return " OR ".join(f"OLD.{c} {distinct} NEW.{c}" for c in cols)


def _same(cols: tuple[str, ...], not_distinct: str) -> str:
    return " AND ".join(f"NEW.{c} {not_distinct} OLD.{c}" for c in cols)


def _update_allowed(same: str, detail_same: str) -> str:
    """SQL condition: this UPDATE of a whitelist_event row is the completion or a SET NULL."""
    keys = (f"{_same(('destination_id', 'enterprise_id'), same)}")
    completion = f"(OLD.actor = '{DATABASE_ACTOR}' AND {keys} AND {_same(EVENT_KEPT, same)})"
    dest_gone = ("(OLD.destination_id IS NOT NULL AND NEW.destination_id IS NULL "
                 "AND NOT EXISTS (SELECT 1 FROM destination WHERE id = OLD.destination_id))")
    ent_gone = ("(OLD.enterprise_id IS NOT NULL AND NEW.enterprise_id IS NULL "
                "AND NOT EXISTS (SELECT 1 FROM enterprise WHERE id = OLD.enterprise_id))")
    rest = " AND ".join(f"NEW.{c} {same} OLD.{c}" for c in EVENT_ALL if c != "detail") + f" AND {detail_same}"
    set_null = (f"({rest} AND (NEW.destination_id {same} OLD.destination_id OR {dest_gone}) "
                f"AND (NEW.enterprise_id {same} OLD.enterprise_id OR {ent_gone}))")
    return f"({completion} OR {set_null})"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _postgresql()
    else:
        _sqlite()


def _sqlite() -> None:
    now = "strftime('%Y-%m-%d %H:%M:%f','now')"
    op.execute(f"""
CREATE TRIGGER trg_destination_frozen BEFORE UPDATE OF {', '.join(IDENTITY)} ON destination
WHEN OLD.status = 'approved' AND NEW.status = 'approved' AND ({_changed(IDENTITY, 'IS NOT')})
BEGIN SELECT RAISE(ABORT, '{MSG_FROZEN}'); END""")
    detail = ", ".join(f"'old_{c}', OLD.{c}, 'new_{c}', NEW.{c}" for c in VALIDITY)
    op.execute(f"""
CREATE TRIGGER trg_destination_validity_audit AFTER UPDATE OF {', '.join(VALIDITY)} ON destination
WHEN OLD.status = 'approved' AND NEW.status = 'approved' AND ({_changed(VALIDITY, 'IS NOT')})
BEGIN
  INSERT INTO whitelist_event (destination_id, enterprise_id, action, actor, reason, detail, at,
                               from_status, to_status)
  VALUES (NEW.id, NEW.enterprise_id, 'validity_change', '{DATABASE_ACTOR}', NULL, json_object({detail}), {now},
          'approved', 'approved');
END""")
    op.execute(f"""
CREATE TRIGGER trg_whitelist_event_no_delete BEFORE DELETE ON whitelist_event
WHEN OLD.destination_id IS NULL OR EXISTS (SELECT 1 FROM destination WHERE id = OLD.destination_id)
BEGIN SELECT RAISE(ABORT, '{MSG_AUDIT_DELETE}'); END""")
    op.execute(f"""
CREATE TRIGGER trg_whitelist_event_no_update BEFORE UPDATE ON whitelist_event
WHEN NOT {_update_allowed('IS', 'NEW.detail IS OLD.detail')}
BEGIN SELECT RAISE(ABORT, '{MSG_AUDIT_UPDATE}'); END""")


def _postgresql() -> None:
    op.execute(f"""
CREATE FUNCTION ivr400_destination_frozen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'approved' AND NEW.status = 'approved' AND ({_changed(IDENTITY, 'IS DISTINCT FROM')}) THEN
    RAISE EXCEPTION '{MSG_FROZEN}' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$""")
    op.execute(f"""CREATE TRIGGER trg_destination_frozen BEFORE UPDATE OF {', '.join(IDENTITY)} ON destination
                  FOR EACH ROW EXECUTE FUNCTION ivr400_destination_frozen()""")
    detail = ", ".join(f"'old_{c}', OLD.{c}, 'new_{c}', NEW.{c}" for c in VALIDITY)
    op.execute(f"""
CREATE FUNCTION ivr400_validity_audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.status = 'approved' AND NEW.status = 'approved' AND ({_changed(VALIDITY, 'IS DISTINCT FROM')}) THEN
    INSERT INTO whitelist_event (destination_id, enterprise_id, action, actor, reason, detail, at,
                                 from_status, to_status)
    VALUES (NEW.id, NEW.enterprise_id, 'validity_change', '{DATABASE_ACTOR}', NULL, json_build_object({detail}),
            now() AT TIME ZONE 'UTC', 'approved', 'approved');
  END IF;
  RETURN NULL;
END $$""")
    op.execute(f"""CREATE TRIGGER trg_destination_validity_audit AFTER UPDATE OF {', '.join(VALIDITY)}
                  ON destination FOR EACH ROW EXECUTE FUNCTION ivr400_validity_audit()""")
    allowed = _update_allowed("IS NOT DISTINCT FROM", "NEW.detail::text IS NOT DISTINCT FROM OLD.detail::text")
    op.execute(f"""
CREATE FUNCTION ivr400_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    RAISE EXCEPTION '{MSG_AUDIT_TRUNCATE}' USING ERRCODE = 'check_violation';
  END IF;
  IF TG_OP = 'DELETE' THEN
    IF OLD.destination_id IS NULL OR EXISTS (SELECT 1 FROM destination WHERE id = OLD.destination_id) THEN
      RAISE EXCEPTION '{MSG_AUDIT_DELETE}' USING ERRCODE = 'check_violation';
    END IF;
    RETURN OLD;
  END IF;
  IF NOT {allowed} THEN
    RAISE EXCEPTION '{MSG_AUDIT_UPDATE}' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$""")
    op.execute("""CREATE TRIGGER trg_whitelist_event_guard BEFORE UPDATE OR DELETE ON whitelist_event
                  FOR EACH ROW EXECUTE FUNCTION ivr400_audit_guard()""")
    op.execute("""CREATE TRIGGER trg_whitelist_event_truncate_guard BEFORE TRUNCATE ON whitelist_event
                  FOR EACH STATEMENT EXECUTE FUNCTION ivr400_audit_guard()""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_whitelist_event_truncate_guard ON whitelist_event")
        op.execute("DROP TRIGGER IF EXISTS trg_whitelist_event_guard ON whitelist_event")
        op.execute("DROP TRIGGER IF EXISTS trg_destination_validity_audit ON destination")
        op.execute("DROP TRIGGER IF EXISTS trg_destination_frozen ON destination")
        for function in ("ivr400_audit_guard", "ivr400_validity_audit", "ivr400_destination_frozen"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    else:
        for name in ("trg_whitelist_event_no_update", "trg_whitelist_event_no_delete",
                     "trg_destination_validity_audit", "trg_destination_frozen"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
