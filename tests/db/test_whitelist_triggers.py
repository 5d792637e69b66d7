"""The database itself refuses bad bindings: raw SQL, bypassing the ORM and the services."""
from __future__ import annotations

import pytest
from sqlalchemy import text
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
    refused(session, "another enterprise", lambda: session.execute(
        text("UPDATE destination SET enterprise_id = :e WHERE id = :d"), {"e": b.enterprise.id, "d": d_a.id}))


def test_raw_insert_of_a_mobile_is_refused_unless_the_carrier_allows_it(session: Session, tmp_path) -> None:  # noqa: ANN001
    w = world(session, tmp_path, NOW)
    d = pending(session, w, "13800138000", NOW)
    # Forge an approval (with approver) straight in SQL: the R1 guard still holds at bind time.
    session.execute(text("UPDATE destination SET status='approved', approved_at=:t, approved_by='sql' WHERE id=:id"),
                    {"t": NOW.replace(tzinfo=None), "id": d.id})
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
