"""The database itself refuses bad bindings: raw SQL, bypassing the ORM and the services."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import JSON, Boolean, bindparam, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from ivr400.provisioning import destinations
from tests.conftest import NOW
from tests.factories import ACTOR, approved, pending, world


def raw_seat(session: Session, hotline_id: int, destination_id: int, position: int = 1,
             department_id: int | None = None) -> None:
    session.execute(
        text("INSERT INTO seat (hotline_id, department_id, destination_id, position, ring_timeout_s, created_at) "
             "VALUES (:h, :dep, :d, :p, 15, :now)"),
        {"h": hotline_id, "dep": department_id, "d": destination_id, "p": position, "now": NOW.replace(tzinfo=None)},
    )


#: A carrier bill as R3 wants it (issuer, full number and owner shown, a scan).
BILL = {"issuer": "telecom", "shows_number": True, "shows_owner": True}


def raw_evidence(session: Session, destination_id: int, kind: str = "carrier_bill",
                 attributes: dict | None = None, media_type: str = "image/png") -> int:
    """Insert an evidence row with raw SQL; returns its id."""
    stmt = text(
        "INSERT INTO evidence (destination_id, kind, original_name, media_type, size, sha256, stored_path, "
        "attributes, long_term, created_at) VALUES (:d, :kind, 'doc', :media, 1, :sha, 'evidence/x', :attrs, "
        ":lt, :now)"
    ).bindparams(bindparam("attrs", type_=JSON), bindparam("lt", type_=Boolean))
    session.execute(stmt, {"d": destination_id, "kind": kind, "media": media_type, "sha": "0" * 64,
                           "attrs": BILL if attributes is None else attributes, "lt": False,
                           "now": NOW.replace(tzinfo=None)})
    return session.execute(text("SELECT MAX(id) FROM evidence")).scalar_one()


def raw_approve(session: Session, destination_id: int) -> None:
    session.execute(text("UPDATE destination SET status='approved', approved_at=:t, approved_by='sql' WHERE id=:id"),
                    {"t": NOW.replace(tzinfo=None), "id": destination_id})


def refused(session: Session, fragment: str, fn) -> None:  # noqa: ANN001
    with pytest.raises(DBAPIError) as info:
        with session.begin_nested():
            fn()
    assert fragment in str(info.value.orig)


def test_raw_insert_of_an_approved_destination_works(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    raw_seat(session, w.hotline.id, d.id)
    assert session.execute(text("SELECT COUNT(*) FROM seat")).scalar() == 1


@pytest.mark.parametrize("status", ["pending", "rejected", "revoked"])
def test_raw_insert_of_a_destination_not_approved_is_refused(session: Session, tmp_path, status: str) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = pending(session, w, "010-62345678", NOW)
    session.execute(text("UPDATE destination SET status = :s WHERE id = :id"), {"s": status, "id": d.id})
    refused(session, "not approved", lambda: raw_seat(session, w.hotline.id, d.id))
    assert session.execute(text("SELECT COUNT(*) FROM seat")).scalar() == 0


def test_raw_update_forging_approval_without_approver_is_refused(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = pending(session, w, "010-62345678", NOW)
    with pytest.raises(DBAPIError):
        with session.begin_nested():
            session.execute(text("UPDATE destination SET status = 'approved' WHERE id = :id"), {"id": d.id})


def test_raw_insert_of_an_expired_destination_is_refused(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    session.execute(text("UPDATE destination SET valid_until = '2020-01-01 00:00:00' WHERE id = :id"), {"id": d.id})
    refused(session, "lapsed", lambda: raw_seat(session, w.hotline.id, d.id))


def test_raw_insert_of_another_enterprises_destination_is_refused(session: Session, tmp_path) -> None:  # noqa: ANN001
    a = world(session, tmp_path, NOW)
    b = world(session, tmp_path, NOW, name="上海乙贸易有限公司", area="021", hotline="4008000002")
    d_b = approved(session, b, "021-61234567", NOW, tmp=tmp_path)
    refused(session, "another enterprise", lambda: raw_seat(session, a.hotline.id, d_b.id))


def test_raw_update_moving_a_seat_to_another_enterprises_destination_is_refused(session: Session, tmp_path) -> None:  # noqa: ANN001
    a = world(session, tmp_path, NOW)
    b = world(session, tmp_path, NOW, name="上海乙贸易有限公司", area="021", hotline="4008000002")
    d_a = approved(session, a, "010-62345678", NOW, tmp=tmp_path)
    d_b = approved(session, b, "021-61234567", NOW, tmp=tmp_path)
    raw_seat(session, a.hotline.id, d_a.id)
    refused(session, "another enterprise",
            lambda: session.execute(text("UPDATE seat SET destination_id = :d"), {"d": d_b.id}))


def test_raw_update_moving_a_bound_destination_to_another_enterprise_is_refused(session: Session, tmp_path) -> None:  # noqa: ANN001
    a = world(session, tmp_path, NOW)
    b = world(session, tmp_path, NOW, name="上海乙贸易有限公司", area="021", hotline="4008000002")
    d_a = approved(session, a, "010-62345678", NOW, tmp=tmp_path)
    raw_seat(session, a.hotline.id, d_a.id)
    # Revoked first: while approved the identity guard (0008) refuses any move before this one is asked.
    session.execute(text("UPDATE destination SET status = 'revoked' WHERE id = :d"), {"d": d_a.id})
    refused(session, "another enterprise", lambda: session.execute(
        text("UPDATE destination SET enterprise_id = :e WHERE id = :d"), {"e": b.enterprise.id, "d": d_a.id}))


def test_raw_insert_of_a_mobile_is_refused_unless_the_carrier_allows_it(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = pending(session, w, "13800138000", NOW)
    # Forge an approval (with approver and a carrier bill) straight in SQL: the R1 guard still holds at bind time.
    raw_evidence(session, d.id)
    raw_approve(session, d.id)
    refused(session, "mobile", lambda: raw_seat(session, w.hotline.id, d.id))
    session.execute(text("UPDATE carrier_policy SET allow_mobile = :t WHERE carrier = 'telecom'"), {"t": True})
    raw_seat(session, w.hotline.id, d.id)


def test_bound_number_limit_holds_in_raw_sql(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW, max_bound=2)
    ds = [approved(session, w, f"010-6234567{i}", NOW, tmp=tmp_path) for i in range(3)]
    raw_seat(session, w.hotline.id, ds[0].id, 1)
    raw_seat(session, w.hotline.id, ds[1].id, 2)
    refused(session, "maximum number", lambda: raw_seat(session, w.hotline.id, ds[2].id, 3))
    # The same destination in a department does not count twice.
    session.execute(text("INSERT INTO department (hotline_id, key, name, hunt_strategy, max_attempts) "
                         "VALUES (:h, '1', 'sales', 'sequential', 0)"), {"h": w.hotline.id})
    dept = session.execute(text("SELECT id FROM department")).scalar()
    raw_seat(session, w.hotline.id, ds[0].id, 1, department_id=dept)
    refused(session, "max_bound is lower",
            lambda: session.execute(text("UPDATE hotline SET max_bound = 1 WHERE id = :h"), {"h": w.hotline.id}))


def test_department_of_another_hotline_is_refused(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    from ivr400.provisioning.hotlines import add_hotline
    other = add_hotline(session, "4008000003", w.enterprise, now=NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    session.execute(text("INSERT INTO department (hotline_id, key, name, hunt_strategy, max_attempts) "
                         "VALUES (:h, '1', 'x', 'sequential', 0)"), {"h": other.id})
    dept = session.execute(text("SELECT id FROM department")).scalar()
    refused(session, "another hotline", lambda: raw_seat(session, w.hotline.id, d.id, department_id=dept))


def test_revocation_keeps_seats_but_they_stop_routing(session: Session, tmp_path) -> None:  # noqa: ANN001
    from ivr400.db.routable import routable_seats
    w = world(session, tmp_path, NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    raw_seat(session, w.hotline.id, d.id)
    assert [r.number for r in routable_seats(session, NOW)] == ["01062345678"]
    destinations.revoke(session, d, reason="number returned to the carrier", now=NOW, actor=ACTOR)
    assert routable_seats(session, NOW) == []
    assert session.execute(text("SELECT COUNT(*) FROM seat")).scalar() == 1


# Approval needs carrier-issued evidence (R3) on file: migration 0004. --------------------------------
NOT_R3 = {
    "no evidence at all": None,
    "only an authorization letter": ("authorization_letter", {"sealed_by_owner": True, "sealed_by_enterprise": True,
                                                              "relationship": "关联公司"}, "image/png"),
    "only branch proof": ("branch_licence", BILL, "application/pdf"),
    "bill without issuer": ("carrier_bill", {"shows_number": True, "shows_owner": True}, "image/png"),
    "bill from no carrier": ("carrier_bill", {**BILL, "issuer": "landlord"}, "image/png"),
    "bill not showing the number": ("carrier_bill", {**BILL, "shows_number": False}, "image/png"),
    "bill not showing the owner": ("invoice", {"issuer": "unicom", "shows_number": True}, "image/png"),
    "flag written as a string": ("invoice", {**BILL, "shows_owner": "yes"}, "image/png"),
    "not a photo or scan": ("carrier_bill", BILL, "text/plain"),
}
R3 = {
    "carrier bill, Telecom, png": ("carrier_bill", BILL, "image/png"),
    "invoice, Unicom, pdf": ("invoice", {**BILL, "issuer": "unicom"}, "application/pdf"),
    "acceptance form, Mobile, jpeg": ("acceptance_form", {**BILL, "issuer": "mobile"}, "image/jpeg"),
    "certificate, Tietong, tiff": ("carrier_certificate", {**BILL, "issuer": "tietong"}, "image/tiff"),
}


@pytest.mark.parametrize("case", list(NOT_R3))
def test_raw_approval_without_r3_evidence_is_refused(session: Session, tmp_path, case: str) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = pending(session, w, "010-62345678", NOW)
    if NOT_R3[case] is not None:
        kind, attrs, media = NOT_R3[case]
        raw_evidence(session, d.id, kind, attrs, media)
    refused(session, "no carrier-issued real-name evidence (R3)", lambda: raw_approve(session, d.id))
    assert session.execute(text("SELECT status FROM destination WHERE id = :id"), {"id": d.id}).scalar() == "pending"
    refused(session, "not approved", lambda: raw_seat(session, w.hotline.id, d.id))


@pytest.mark.parametrize("case", list(R3))
def test_raw_approval_with_r3_evidence_is_accepted(session: Session, tmp_path, case: str) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = pending(session, w, "010-62345678", NOW)
    kind, attrs, media = R3[case]
    raw_evidence(session, d.id, kind, attrs, media)
    raw_approve(session, d.id)
    raw_seat(session, w.hotline.id, d.id)
    assert session.execute(text("SELECT COUNT(*) FROM seat")).scalar() == 1


def test_raw_insert_of_an_approved_destination_is_refused(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    refused(session, "no carrier-issued real-name evidence (R3)", lambda: session.execute(text(
        "INSERT INTO destination (enterprise_id, number, kind, owner_name, owner_kind, status, approved_at, "
        "approved_by, long_term, created_at) VALUES (:e, '01062345678', 'landline', :o, 'company', 'approved', "
        ":t, 'sql', :lt, :t)").bindparams(bindparam("lt", type_=Boolean)),
        {"e": w.enterprise.id, "o": w.enterprise.name, "t": NOW.replace(tzinfo=None), "lt": True}))
    assert session.execute(text("SELECT COUNT(*) FROM destination")).scalar() == 0


def test_the_services_approval_passes_the_database_check(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    assert session.execute(text("SELECT status FROM destination WHERE id = :id"), {"id": d.id}).scalar() == "approved"


def test_the_last_r3_evidence_of_an_approved_destination_cannot_be_deleted(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)  # its carrier bill through the services
    second = raw_evidence(session, d.id, "invoice", {**BILL, "issuer": "unicom"}, "application/pdf")
    letter = raw_evidence(session, d.id, "authorization_letter", {"relationship": "x"})
    session.execute(text("DELETE FROM evidence WHERE id = :id"), {"id": letter})  # not R3: free to go
    session.execute(text("DELETE FROM evidence WHERE id = :id"), {"id": second})  # another R3 stays
    refused(session, "last carrier-issued real-name evidence",
            lambda: session.execute(text("DELETE FROM evidence WHERE destination_id = :d"), {"d": d.id}))
    assert session.execute(text("SELECT COUNT(*) FROM evidence")).scalar() == 1
    # Revoked first, the document may go.
    destinations.revoke(session, d, reason="number returned to the carrier", now=NOW, actor=ACTOR)
    session.execute(text("DELETE FROM evidence WHERE destination_id = :d"), {"d": d.id})
    assert session.execute(text("SELECT COUNT(*) FROM evidence")).scalar() == 0


def test_deleting_both_r3_documents_in_one_statement_is_refused(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    raw_evidence(session, d.id, "invoice", {**BILL, "issuer": "unicom"}, "application/pdf")
    refused(session, "last carrier-issued real-name evidence",
            lambda: session.execute(text("DELETE FROM evidence WHERE destination_id = :d"), {"d": d.id}))
    assert session.execute(text("SELECT COUNT(*) FROM evidence")).scalar() == 2


@pytest.mark.parametrize(("column", "value"), [
    ("kind", "'office_lease'"),
    ("media_type", "'text/plain'"),
    ("attributes", "'{\"issuer\": \"telecom\", \"shows_number\": true}'"),
    ("destination_id", "NULL"),  # replaced below by another destination's id
])
def test_the_last_r3_evidence_cannot_be_changed_into_something_else(session: Session, tmp_path, column: str,
                                                                   value: str) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    if column == "destination_id":
        value = str(pending(session, w, "010-62345679", NOW).id)
    refused(session, "last carrier-issued real-name evidence", lambda: session.execute(
        text(f"UPDATE evidence SET {column} = {value} WHERE destination_id = :d"), {"d": d.id}))


def test_a_destination_can_still_be_deleted_with_its_evidence(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    session.execute(text("DELETE FROM destination WHERE id = :d"), {"d": d.id})
    assert session.execute(text("SELECT COUNT(*) FROM evidence")).scalar() == 0


@pytest.mark.postgres
def test_truncating_evidence_is_refused_while_a_destination_is_approved(pg_engine, tmp_path) -> None:  # noqa: ANN001
    """PostgreSQL's TRUNCATE skips row triggers (SQLite has none: its DELETE without WHERE runs them)."""
    with Session(pg_engine) as session:
        w = world(session, tmp_path, NOW)
        approved(session, w, "010-62345678", NOW, tmp=tmp_path)
        refused(session, "cannot truncate evidence", lambda: session.execute(text("TRUNCATE evidence")))


# Every status change is in the audit trail, written by the database itself. --------------------------
def _events(session: Session, destination_id: int) -> list[tuple]:
    return [tuple(r) for r in session.execute(text(
        "SELECT action, actor, from_status, to_status FROM whitelist_event WHERE destination_id = :d ORDER BY id"),
        {"d": destination_id})]


def test_raw_status_changes_leave_a_trace_from_the_database(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = pending(session, w, "010-62345678", NOW)
    raw_evidence(session, d.id)
    raw_approve(session, d.id)
    session.execute(text("UPDATE destination SET approved_by = 'someone else' WHERE id = :d"), {"d": d.id})
    session.execute(text("UPDATE destination SET status = 'revoked', status_reason = 'raw' WHERE id = :d"),
                    {"d": d.id})
    session.execute(text("UPDATE destination SET status = 'revoked' WHERE id = :d"), {"d": d.id})  # no change
    session.execute(text("UPDATE destination SET status = 'pending' WHERE id = :d"), {"d": d.id})
    assert _events(session, d.id) == [
        ("register", ACTOR, None, "pending"),
        ("approve", "database", "pending", "approved"),
        ("revoke", "database", "approved", "revoked"),
        ("status_change", "database", "revoked", "pending"),
    ]
    row = session.execute(text("SELECT reason, detail FROM whitelist_event WHERE destination_id = :d AND "
                               "to_status = 'revoked'"), {"d": d.id}).one()
    assert row.reason == "raw"
    detail = row.detail if isinstance(row.detail, dict) else json.loads(row.detail)  # SQLite: JSON as text
    assert detail == {"approved_by": "someone else"}


def test_a_raw_insert_is_registered_by_the_database(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    session.execute(text(
        "INSERT INTO destination (enterprise_id, number, kind, owner_name, owner_kind, status, long_term, "
        "created_at) VALUES (:e, '01062345678', 'landline', :o, 'company', 'rejected', :lt, :t)"
    ).bindparams(bindparam("lt", type_=Boolean)),
        {"e": w.enterprise.id, "o": w.enterprise.name, "t": NOW.replace(tzinfo=None), "lt": False})
    d_id = session.execute(text("SELECT id FROM destination")).scalar_one()
    assert _events(session, d_id) == [("register", "database", None, "rejected")]


def test_the_services_write_one_row_per_status_change_with_their_actor(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    destinations.approve(session, d, now=NOW, actor="renewer")  # renewal: no status change
    destinations.revoke(session, d, reason="number returned", now=NOW, actor="alice")
    destinations.approve(session, d, now=NOW, actor="bob")
    e = pending(session, w, "010-62345679", NOW)
    destinations.reject(session, e, reason="no documents", now=NOW, actor="carol")
    destinations.reject(session, e, reason="still no documents", now=NOW, actor="carol")
    assert _events(session, d.id) == [
        ("register", ACTOR, None, "pending"),
        ("approve", ACTOR, "pending", "approved"),
        ("approve", "renewer", None, None),
        ("revoke", "alice", "approved", "revoked"),
        ("approve", "bob", "revoked", "approved"),
    ]
    assert _events(session, e.id) == [
        ("register", ACTOR, None, "pending"),
        ("reject", "carol", "pending", "rejected"),
        ("reject", "carol", None, None),
    ]
    reasons = session.execute(text("SELECT reason FROM whitelist_event WHERE actor = 'alice'")).scalars().all()
    assert reasons == ["number returned"]


# An approved destination keeps its identity; validity changes are audited (0008). ---------------------
@pytest.mark.parametrize(("column", "value"), [
    ("number", "'01087654321'"), ("owner_name", "'某某公司'"), ("owner_kind", "'person'"), ("kind", "'mobile'"),
    ("enterprise_id", "(SELECT MAX(id) FROM enterprise)"),
])
def test_raw_update_of_an_approved_destinations_identity_is_refused(session: Session, tmp_path, column: str,  # noqa: ANN001
                                                                     value: str) -> None:
    w = world(session, tmp_path, NOW)
    world(session, tmp_path, NOW, name="上海乙贸易有限公司", area="021", hotline="4008000002")
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    if column == "number":
        raw_seat(session, w.hotline.id, d.id)
    refused(session, "approved destination cannot change", lambda: session.execute(
        text(f"UPDATE destination SET {column} = {value} WHERE id = :d"), {"d": d.id}))
    row = session.execute(text("SELECT number, status FROM destination WHERE id = :d"), {"d": d.id}).one()
    assert tuple(row) == ("01062345678", "approved")


def test_identity_may_change_when_the_same_update_takes_the_destination_off_the_whitelist(session: Session,  # noqa: ANN001
                                                                                         tmp_path) -> None:
    w = world(session, tmp_path, NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    e = pending(session, w, "010-62345679", NOW)
    session.execute(text("UPDATE destination SET number = '01087654321', status = 'revoked' WHERE id = :d"),
                    {"d": d.id})
    session.execute(text("UPDATE destination SET number = '01087654322' WHERE id = :d"), {"d": e.id})
    assert _events(session, d.id)[-1] == ("revoke", "database", "approved", "revoked")


def test_raw_validity_change_of_an_approved_destination_leaves_a_trace(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    session.execute(text("UPDATE destination SET valid_until = '2099-01-01 00:00:00' WHERE id = :d"), {"d": d.id})
    assert _events(session, d.id)[-1] == ("validity_change", "database", "approved", "approved")
    session.expire_all()  # as a later `ivr400 destination approve` would read it
    # A renewal moving the window back completes the database's row instead of writing a second one.
    destinations.approve(session, d, now=NOW, actor="renewer")
    assert _events(session, d.id)[-2:] == [
        ("validity_change", "database", "approved", "approved"),
        ("approve", "renewer", "approved", "approved"),
    ]


# The audit trail is append-only (0008). -----------------------------------------------------------------
def test_audit_rows_cannot_be_deleted_or_rewritten(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    refused(session, "cannot be deleted", lambda: session.execute(text("DELETE FROM whitelist_event")))
    refused(session, "cannot be changed", lambda: session.execute(
        text("UPDATE whitelist_event SET actor = 'nobody' WHERE destination_id = :d"), {"d": d.id}))
    refused(session, "cannot be changed", lambda: session.execute(
        text("UPDATE whitelist_event SET reason = 'rewritten' WHERE destination_id = :d"), {"d": d.id}))
    assert [e[1] for e in _events(session, d.id)] == [ACTOR, ACTOR]


def test_a_row_written_by_the_database_can_be_completed_once_and_no_more(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    session.execute(text("UPDATE destination SET status = 'revoked' WHERE id = :d"), {"d": d.id})
    last = "(SELECT MAX(id) FROM whitelist_event)"
    refused(session, "cannot be changed", lambda: session.execute(
        text(f"UPDATE whitelist_event SET to_status = 'pending' WHERE id = {last}")))
    session.execute(text(f"UPDATE whitelist_event SET actor = 'alice', reason = 'why' WHERE id = {last}"))
    refused(session, "cannot be changed", lambda: session.execute(
        text(f"UPDATE whitelist_event SET actor = 'mallory' WHERE id = {last}")))
    assert _events(session, d.id)[-1] == ("revoke", "alice", "approved", "revoked")


def test_deleting_a_destination_keeps_its_audit_rows(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = approved(session, w, "010-62345678", NOW, tmp=tmp_path)
    session.execute(text("DELETE FROM destination WHERE id = :d"), {"d": d.id})
    orphans = session.execute(text("SELECT COUNT(*) FROM whitelist_event WHERE destination_id IS NULL")).scalar()
    assert orphans == 2
    refused(session, "cannot be deleted", lambda: session.execute(text("DELETE FROM whitelist_event")))


@pytest.mark.postgres
def test_truncating_the_audit_trail_is_refused(pg_engine, tmp_path) -> None:  # noqa: ANN001
    with Session(pg_engine) as session:
        w = world(session, tmp_path, NOW)
        approved(session, w, "010-62345678", NOW, tmp=tmp_path)
        refused(session, "cannot be truncated", lambda: session.execute(text("TRUNCATE whitelist_event")))


# PostgreSQL: the guards hold between concurrent transactions too. ---------------------------------------
APPROVE_SQL = "UPDATE destination SET status = 'approved', approved_at = now(), approved_by = 'sql' WHERE id = :d"
RACES = {
    # first transaction's statement, second transaction's statement (which must be refused)
    "two deletions": ("DELETE FROM evidence WHERE id = :ev1", "DELETE FROM evidence WHERE id = :ev2"),
    "deletion, then approval": ("DELETE FROM evidence WHERE id = :ev1", APPROVE_SQL),
    "approval, then deletion": (APPROVE_SQL, "DELETE FROM evidence WHERE id = :ev1"),
}


@pytest.mark.postgres
@pytest.mark.parametrize("race", list(RACES))
def test_concurrent_transactions_cannot_leave_an_approval_without_evidence(pg_engine, tmp_path, race: str) -> None:  # noqa: ANN001
    """The second transaction waits for the first (seen in pg_stat_activity), then sees its result and is refused.

    PostgreSQL only: SQLite has one writer at a time.
    """
    import threading
    import time

    engine = pg_engine
    with Session(engine) as s:
        w = world(s, tmp_path, NOW)
        d = pending(s, w, "010-62345678", NOW)
        ev1 = raw_evidence(s, d.id)
        ev2 = raw_evidence(s, d.id, "invoice", {**BILL, "issuer": "unicom"}) if race == "two deletions" else None
        if race == "two deletions":
            raw_approve(s, d.id)
        s.commit()
        ids = {"d": d.id, "ev1": ev1, "ev2": ev2}
    first_sql, second_sql = RACES[race]
    outcome: dict[str, BaseException | None] = {}
    with engine.connect() as first, engine.connect() as second, engine.connect() as watcher:
        second_pid = second.execute(text("SELECT pg_backend_pid()")).scalar_one()
        second.commit()
        first.execute(text(first_sql), ids)

        def run_second() -> None:
            try:
                second.execute(text(second_sql), ids)
                second.commit()
                outcome["error"] = None
            except DBAPIError as exc:
                second.rollback()
                outcome["error"] = exc

        thread = threading.Thread(target=run_second)
        thread.start()
        for _ in range(2000):  # bounded: the second statement must come to wait on the first's lock
            waiting = watcher.execute(text("SELECT wait_event_type FROM pg_stat_activity WHERE pid = :p"),
                                      {"p": second_pid}).scalar()
            watcher.commit()
            if waiting == "Lock" or not thread.is_alive():
                break
            time.sleep(0.005)
        assert waiting == "Lock", "the second transaction did not wait for the first"
        first.commit()
        thread.join(60)
    assert not thread.is_alive()
    assert outcome["error"] is not None, f"{race}: both transactions committed"
    assert "R3" in str(outcome["error"].orig)
    with engine.connect() as conn:
        status = conn.execute(text("SELECT status FROM destination WHERE id = :d"), ids).scalar_one()
        left = conn.execute(text("SELECT COUNT(*) FROM evidence WHERE destination_id = :d"), ids).scalar_one()
    assert status != "approved" or left > 0
