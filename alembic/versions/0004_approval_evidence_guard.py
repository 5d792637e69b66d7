"""The database refuses an approval without carrier-issued evidence (R3) and audits every status change.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Guards (SQLite and PostgreSQL triggers, so raw SQL is held to them as much as the application):

- **Approval needs R3 evidence.** A destination may be inserted as, or updated to, `approved` only when
  an `evidence` row of that destination is carrier-issued real-name evidence as R3 defines it in
  `ivr400.compliance.rules` (`_real_name_problems`): its kind is one of `REAL_NAME_KINDS`
  (`carrier_bill`, `invoice`, `acceptance_form`, `carrier_certificate`), its `issuer` attribute is one
  of the carriers of `Issuer` (`telecom`, `unicom`, `mobile`, `tietong`), its `shows_number` and
  `shows_owner` attributes are JSON `true`, and it is a photo or scan (media type `image/*` or
  `application/pdf`). The one R3 test left to the application is the optional owner name printed on
  the document (`owner_name` attribute): comparing registered names ignores full/half width, brackets
  and spaces (`compliance.names`), which SQL cannot mirror faithfully.
- **The last such evidence of an approved destination cannot go.** Deleting it, or updating it so it no
  longer qualifies (other kind, attributes, media type, or moved to another destination), is refused:
  the operator revokes the destination first (`ivr400 destination revoke`, with a reason in the audit
  trail), then removes the document. Refusing rather than demoting keeps the rule "routing changes only
  by an explicit, audited decision": a stray `DELETE` must not silently take a live seat off the air.
  On PostgreSQL `TRUNCATE evidence` is refused while any destination is approved. Deleting a
  destination (its evidence goes by cascade) stays possible.
- Destinations already approved without such evidence when this migration runs (possible only through
  raw SQL before it) are revoked by it, with the reason in `status_reason` and in the audit trail.

Audit trail written by the database (`whitelist_event`, new columns `from_status`/`to_status`):
every INSERT of a destination and every UPDATE that changes its `status` makes the trigger insert one
row — action `register` (insert), `approve`, `reject`, `revoke` or `status_change` (to pending), actor
`database`, the transition in `from_status`/`to_status`, `approved_by` and `status_reason` in `detail`.
So a raw-SQL change always leaves a trace. The application does not write a second row for the same
change: right after its UPDATE it *completes* the row the trigger wrote (same transaction, before
anyone else can see it) with its actor, reason and detail (`provisioning.audit.complete_status_event`).
Rule for readers: one row per status change; actor `database` means nobody told the database who
made the change — it was made outside ivr400's services. Decisions that change no status (a renewal
of an approved destination, a refused approval) are written by the application alone, as before.

Downgrade drops the guards and the two columns; the audit rows the triggers wrote are kept.
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: Snapshot of `ivr400.db.enums.REAL_NAME_KINDS` and `Issuer` (a test keeps them equal).
REAL_NAME_KINDS = ("acceptance_form", "carrier_bill", "carrier_certificate", "invoice")
ISSUERS = ("mobile", "telecom", "tietong", "unicom")
DATABASE_ACTOR = "database"

MSG_NO_EVIDENCE = (
    "whitelist: approval refused: no carrier-issued real-name evidence (R3) on file for this destination"
)
MSG_LAST_EVIDENCE = (
    "evidence: the last carrier-issued real-name evidence (R3) of an approved destination cannot be "
    "removed or changed; revoke the destination first"
)
MSG_TRUNCATE = "evidence: cannot truncate evidence while destinations are approved"
REVOKE_REASON = "no carrier-issued real-name evidence (R3) on file: revoked by database migration 0004"

_IN_KINDS = ", ".join(f"'{k}'" for k in REAL_NAME_KINDS)
_IN_ISSUERS = ", ".join(f"'{i}'" for i in ISSUERS)


def _r3_sqlite(dest_id: str) -> str:
    """SQL condition: destination `dest_id` has R3 evidence on file (SQLite JSON1)."""
    return f"""EXISTS (SELECT 1 FROM evidence e WHERE e.destination_id = {dest_id}
      AND e.kind IN ({_IN_KINDS})
      AND json_extract(e.attributes, '$.issuer') IN ({_IN_ISSUERS})
      AND json_type(e.attributes, '$.shows_number') = 'true'
      AND json_type(e.attributes, '$.shows_owner') = 'true'
      AND (e.media_type LIKE 'image/%' OR e.media_type LIKE 'application/pdf%'))"""


def _r3_postgresql(dest_id: str) -> str:
    """SQL condition: destination `dest_id` has R3 evidence on file (`attributes` is a json column)."""
    return f"""EXISTS (SELECT 1 FROM evidence e WHERE e.destination_id = {dest_id}
      AND e.kind IN ({_IN_KINDS})
      AND e.attributes->>'issuer' IN ({_IN_ISSUERS})
      AND json_typeof(e.attributes->'shows_number') = 'boolean' AND e.attributes->>'shows_number' = 'true'
      AND json_typeof(e.attributes->'shows_owner') = 'boolean' AND e.attributes->>'shows_owner' = 'true'
      AND (e.media_type LIKE 'image/%' OR e.media_type LIKE 'application/pdf%'))"""


def _action(new: str, op_kind: str) -> str:
    """SQL expression naming the audit action of a status change (same names as the application's)."""
    if op_kind == "INSERT":
        return "'register'"
    return (f"CASE {new}.status WHEN 'approved' THEN 'approve' WHEN 'rejected' THEN 'reject' "
            f"WHEN 'revoked' THEN 'revoke' ELSE 'status_change' END")


def upgrade() -> None:
    op.add_column("whitelist_event", sa.Column("from_status", sa.String(16)))
    op.add_column("whitelist_event", sa.Column("to_status", sa.String(16)))
    if op.get_bind().dialect.name == "postgresql":
        _postgresql()
    else:
        _sqlite()
    # Approvals that slipped in through raw SQL before these guards: off the whitelist, audited by
    # the trigger just created (seats stay, suspended, as after any revocation).
    r3 = _r3_postgresql("destination.id") if op.get_bind().dialect.name == "postgresql" else _r3_sqlite("destination.id")
    op.execute(sa.text(f"UPDATE destination SET status = 'revoked', status_reason = :reason "
                       f"WHERE status = 'approved' AND NOT {r3}").bindparams(reason=REVOKE_REASON))


def _sqlite() -> None:
    now = "strftime('%Y-%m-%d %H:%M:%f','now')"
    for event, name in (("INSERT", "insert"), ("UPDATE OF status", "update")):
        op.execute(f"""
CREATE TRIGGER trg_destination_approval_{name} BEFORE {event} ON destination
WHEN NEW.status = 'approved' AND NOT {_r3_sqlite('NEW.id')}
BEGIN SELECT RAISE(ABORT, '{MSG_NO_EVIDENCE}'); END""")
    for event, name, old, when in (
        ("INSERT", "insert", "NULL", ""),
        ("UPDATE OF status", "update", "OLD.status", "WHEN OLD.status IS NOT NEW.status"),
    ):
        op.execute(f"""
CREATE TRIGGER trg_destination_status_audit_{name} AFTER {event} ON destination {when}
BEGIN
  INSERT INTO whitelist_event (destination_id, enterprise_id, action, actor, reason, detail, at,
                               from_status, to_status)
  VALUES (NEW.id, NEW.enterprise_id, {_action('NEW', event.split()[0])}, '{DATABASE_ACTOR}', NEW.status_reason,
          json_object('approved_by', NEW.approved_by), {now}, {old}, NEW.status);
END""")
    # After the change, so "the last one" is simply "none left"; a destination deleted with its
    # evidence (cascade) is gone by then and passes.
    for event, name in (("DELETE", "delete"),
                        ("UPDATE OF destination_id, kind, attributes, media_type", "update")):
        op.execute(f"""
CREATE TRIGGER trg_evidence_last_r3_{name} AFTER {event} ON evidence
WHEN EXISTS (SELECT 1 FROM destination d WHERE d.id = OLD.destination_id AND d.status = 'approved')
 AND NOT {_r3_sqlite('OLD.destination_id')}
BEGIN SELECT RAISE(ABORT, '{MSG_LAST_EVIDENCE}'); END""")


def _postgresql() -> None:
    op.execute(f"""
CREATE FUNCTION ivr400_approval_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'approved' AND NOT {_r3_postgresql('NEW.id')} THEN
    RAISE EXCEPTION '{MSG_NO_EVIDENCE}' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$""")
    op.execute("""CREATE TRIGGER trg_destination_approval_guard BEFORE INSERT OR UPDATE OF status ON destination
                  FOR EACH ROW EXECUTE FUNCTION ivr400_approval_guard()""")
    op.execute(f"""
CREATE FUNCTION ivr400_status_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  before_status text;
BEGIN
  IF TG_OP = 'UPDATE' THEN
    IF OLD.status IS NOT DISTINCT FROM NEW.status THEN
      RETURN NULL;
    END IF;
    before_status := OLD.status;
  END IF;
  INSERT INTO whitelist_event (destination_id, enterprise_id, action, actor, reason, detail, at,
                               from_status, to_status)
  VALUES (NEW.id, NEW.enterprise_id,
          CASE WHEN TG_OP = 'INSERT' THEN 'register' ELSE {_action('NEW', 'UPDATE')} END,
          '{DATABASE_ACTOR}', NEW.status_reason, json_build_object('approved_by', NEW.approved_by),
          now() AT TIME ZONE 'UTC', before_status, NEW.status);
  RETURN NULL;
END $$""")
    op.execute("""CREATE TRIGGER trg_destination_status_audit AFTER INSERT OR UPDATE OF status ON destination
                  FOR EACH ROW EXECUTE FUNCTION ivr400_status_audit()""")
    # The destination row is locked before "is any R3 evidence left?" is asked, so two transactions
    # removing two documents of one destination, or one approving while another removes, serialize:
    # the second sees the first's committed result (READ COMMITTED takes a new snapshot per statement).
    op.execute(f"""
CREATE FUNCTION ivr400_evidence_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  dest_status text;
BEGIN
  SELECT status INTO dest_status FROM destination WHERE id = OLD.destination_id FOR UPDATE;
  IF dest_status = 'approved' AND NOT {_r3_postgresql('OLD.destination_id')} THEN
    RAISE EXCEPTION '{MSG_LAST_EVIDENCE}' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$""")
    op.execute("""CREATE TRIGGER trg_evidence_last_r3 AFTER DELETE OR UPDATE OF destination_id, kind, attributes,
                  media_type ON evidence FOR EACH ROW EXECUTE FUNCTION ivr400_evidence_guard()""")
    op.execute(f"""
CREATE FUNCTION ivr400_evidence_truncate_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM destination WHERE status = 'approved') THEN
    RAISE EXCEPTION '{MSG_TRUNCATE}' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END $$""")
    op.execute("""CREATE TRIGGER trg_evidence_truncate_guard BEFORE TRUNCATE ON evidence
                  FOR EACH STATEMENT EXECUTE FUNCTION ivr400_evidence_truncate_guard()""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS trg_evidence_truncate_guard ON evidence")
        op.execute("DROP TRIGGER IF EXISTS trg_evidence_last_r3 ON evidence")
        op.execute("DROP TRIGGER IF EXISTS trg_destination_status_audit ON destination")
        op.execute("DROP TRIGGER IF EXISTS trg_destination_approval_guard ON destination")
        for function in ("ivr400_evidence_truncate_guard", "ivr400_evidence_guard", "ivr400_status_audit",
                         "ivr400_approval_guard"):
            op.execute(f"DROP FUNCTION IF EXISTS {function}()")
    else:
        for name in ("trg_evidence_last_r3_update", "trg_evidence_last_r3_delete",
                     "trg_destination_status_audit_update", "trg_destination_status_audit_insert",
                     "trg_destination_approval_update", "trg_destination_approval_insert"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    # SQLite >= 3.35 drops a plain column in place (no table rebuild, other triggers kept).
    op.execute("ALTER TABLE whitelist_event DROP COLUMN to_status")
    op.execute("ALTER TABLE whitelist_event DROP COLUMN from_status")
