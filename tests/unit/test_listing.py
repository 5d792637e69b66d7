"""The list commands' Core reads (ivr400.provisioning.listing) show exactly what the ORM views show."""
from __future__ import annotations

import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Base, Department, Destination, Enterprise, Hotline, Seat
from ivr400.provisioning import destinations, listing, seats
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.views import department_view, destination_view, enterprise_view, hotline_view, seat_view
from tests.factories import approved, pending, tone_row, world

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)
#: One authorization ends then (the database refuses a seat on a lapsed one, by its own clock).
EXPIRES = datetime(2030, 1, 1, tzinfo=timezone.utc)


def test_each_lightweight_table_names_columns_of_the_models_with_their_result_types() -> None:
    for name, light in listing.TABLES.items():
        model = Base.metadata.tables[name]
        for col in light.columns:
            assert col.name in model.c, f"{name}.{col.name} is not a column of the model"
            mapped = model.c[col.name].type
            # The type decides how a value comes back (bool, aware datetime): it must be the model's.
            assert type(col.type) is type(mapped) or isinstance(mapped, type(col.type)), (name, col.name, mapped)


@pytest.fixture
def rich(session: Session, tmp_path: Path) -> Session:
    """Two enterprises; seats on the switchboard and in nested departments; a revoked, an expired and a
    pending destination; tones on the hotline and a department; a hotline without seats."""
    w = world(session, tmp_path, NOW)
    other = world(session, tmp_path, NOW, name="上海乙贸易有限公司", area="021", hotline="4008000002")
    w.hotline.welcome_tone = tone_row(session, 21, "welcome", "welcome", w.enterprise, NOW)
    w.hotline.ringback_tone = tone_row(session, 22, "ringback", "ringback", w.enterprise, NOW)
    d1, d2, d3 = (approved(session, w, f"010-6234567{i}", NOW, tmp=tmp_path) for i in range(3))
    expiring = approved(session, w, "010-62345679", NOW, tmp=tmp_path, valid_until=EXPIRES.date())
    pending(session, w, "010-62345678", NOW)
    sales = seats.add_department(session, w.hotline, "1", "销售部")
    sales.ringback_tone = tone_row(session, 23, "sales", "ringback", None, NOW)
    service = seats.add_department(session, w.hotline, "2", "售后")
    phones = seats.add_department(session, w.hotline, "1", "手机", parent=service)
    seats.add_seat(session, w.hotline, d1, now=NOW)
    seats.add_seat(session, w.hotline, d2, now=NOW)
    seats.add_seat(session, w.hotline, d2, department=sales, ring_timeout=20, now=NOW)
    seats.add_seat(session, w.hotline, d3, department=phones, now=NOW)
    seats.add_seat(session, w.hotline, expiring, department=phones, now=NOW)
    destinations.revoke(session, d3, reason="left", now=NOW, actor="test")
    approved(session, other, "021-62345671", NOW, tmp=tmp_path)
    session.commit()
    return session


@pytest.mark.parametrize("later", [timedelta(0), EXPIRES - NOW])  # the second: one approval has expired
def test_core_lists_equal_the_orm_views(rich: Session, later: timedelta) -> None:
    now = NOW + later
    s = rich
    conn = s.connection()
    assert listing.enterprises(conn) == [
        enterprise_view(e) for e in s.scalars(select(Enterprise).order_by(Enterprise.id))]
    assert listing.hotlines(conn, now) == [
        hotline_view(h, now) for h in s.scalars(select(Hotline).order_by(Hotline.number))]
    assert listing.destinations(conn, now) == [
        destination_view(d, now) for d in s.scalars(select(Destination).order_by(Destination.id))]
    first = s.scalars(select(Enterprise).order_by(Enterprise.id)).first()
    assert first is not None
    assert listing.destinations(conn, now, enterprise=first.id) == [
        destination_view(d, now) for d in s.scalars(select(Destination).where(Destination.enterprise_id == first.id)
                                                    .order_by(Destination.id))]
    order = (Seat.hotline_id, Seat.department_id.is_not(None), Seat.department_id, Seat.position)
    def views(rows: list[dict]) -> list[dict]:  # the survey average is the listing's own column (checked below)
        return [{k: v for k, v in r.items() if k != "satisfaction"} for r in rows]

    assert views(listing.seats(conn, now)) == [seat_view(x, now) for x in s.scalars(select(Seat).order_by(*order))]
    for h in s.scalars(select(Hotline)):
        assert views(listing.seats(conn, now, hotline=h.id)) == [
            seat_view(x, now) for x in s.scalars(select(Seat).where(Seat.hotline_id == h.id).order_by(*order))]
        assert sorted(listing.departments(conn, h.id), key=lambda r: r["key"]) == sorted(
            (department_view(d) for d in s.scalars(select(Department).where(Department.hotline_id == h.id))),
            key=lambda r: r["key"])
    states = {r["destination"]: r["state"] for r in listing.seats(conn, now)}
    assert states["01062345672"] == "suspended (revoked)"
    assert states["01062345679"] == ("active" if not later else "suspended (expired)")
    main = s.scalars(select(Hotline).where(Hotline.number == "4008000001")).one()
    assert {r["key"] for r in listing.departments(conn, main.id)} == {"1", "2", "2.1"}


def test_references_are_found_and_refused_as_lookup_does(rich: Session) -> None:
    conn = rich.connection()
    h = rich.scalars(select(Hotline).where(Hotline.number == "4008000001")).one()
    assert listing.hotline_id(conn, "400-800-0001") == h.id
    assert listing.enterprise_id(conn, "上海乙贸易有限公司") == listing.enterprise_id(conn, "2")
    with pytest.raises(ProvisioningError, match="^hotline: no hotline 4008009999$"):
        listing.hotline_id(conn, "4008009999")
    with pytest.raises(ProvisioningError, match="^hotline: "):
        listing.hotline_id(conn, "12345")
    with pytest.raises(ProvisioningError, match="^enterprise: no enterprise '99'$"):
        listing.enterprise_id(conn, "99")
    with pytest.raises(ProvisioningError, match="^enterprise: no enterprise"):
        listing.enterprise_id(conn, str(2**64))


def test_a_list_command_loads_neither_the_orm_nor_the_models(tmp_path: Path) -> None:
    """What makes `ivr400 hotline list` fast; `ivr400 hotline --help` does not even load SQLAlchemy."""
    probe = (
        "import sys\n"
        "from ivr400.cli import main\n"
        "try:\n    main([*sys.argv[1:]])\nfinally:\n"
        "    print(*sorted(m for m in sys.modules\n"
        "                  if m.startswith(('sqlalchemy', 'ivr400.db.models', 'phonenumbers'))))\n"
    )
    env = {"IVR400_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    subprocess.run([sys.executable, "-c", probe, "enterprise", "list"], env=env, check=True,
                   capture_output=True)  # creates the database (that path loads Alembic and the ORM)
    for argv in (["hotline", "list"], ["seat", "list", "4008123456"], ["destination", "list"],
                 ["enterprise", "list"], ["hotline", "--help"]):
        done = subprocess.run([sys.executable, "-c", probe, *argv], env=env, capture_output=True, text=True)
        if argv[:2] == ["seat", "list"]:  # the empty database has no such hotline: refused, as lookup refuses
            assert done.returncode == 1 and "error: hotline: no hotline 4008123456" in done.stderr, done.stderr
        else:
            assert done.returncode == 0, done.stderr
        loaded = done.stdout.splitlines()[-1].split()
        assert "sqlalchemy.orm" not in loaded and "ivr400.db.models" not in loaded, (argv, loaded)
        assert not any(m.startswith("phonenumbers") for m in loaded), (argv, loaded)
        if "--help" in argv:
            assert not any(m.startswith("sqlalchemy") for m in loaded), loaded


def test_seat_list_shows_the_survey_average_of_each_seat(rich: Session) -> None:
    """满意度评价: the Core listing averages survey_response rows per seat as provisioning.survey does."""
    from ivr400.db.models import SurveyResponse
    from ivr400.provisioning.survey import seat_satisfaction

    s = rich
    first = s.scalars(select(Seat).order_by(Seat.id)).first()
    assert first is not None
    number, hotline = first.destination.number, first.hotline.number
    for i, score in enumerate((5, 4, 2)):
        s.add(SurveyResponse(uniqueid=f"9.{i}", hotline=hotline, seat=f"PJSIP/{number}@ivr400-out", score=score,
                             at=NOW))
    s.flush()
    rows = {r["id"]: r for r in listing.seats(s.connection(), NOW)}
    got = rows[first.id]["satisfaction"]
    assert got is not None and (got.average, got.count) == (11 / 3, 3)
    assert got == seat_satisfaction(s, hotline)[number]
    assert all(r["satisfaction"] is None for i, r in rows.items() if i != first.id and r["destination"] != number)
