"""The list commands' Core reads (ivr400.provisioning.listing) show exactly what the ORM views show."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import Boolean, Engine, Enum, Float, Integer, String, Text, select, text
from sqlalchemy.orm import Session

from ivr400.db import lite
from ivr400.db.engine import make_engine
from ivr400.db.models import Base, Department, Destination, Enterprise, Hotline, Seat, Tone, Trunk
from ivr400.db.types import UTCDateTime
from ivr400.paths import sqlite_url
from ivr400.provisioning import destinations, listing, seats
from ivr400.provisioning.destinations import expiring
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.trunks import add_trunk
from ivr400.provisioning.views import (
    department_view,
    destination_view,
    enterprise_view,
    hotline_view,
    seat_view,
    tone_view,
)
from tests.factories import approved, pending, tone_row, world

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)
#: One authorization ends then (the database refuses a seat on a lapsed one, by its own clock).
EXPIRES = datetime(2030, 1, 1, tzinfo=timezone.utc)


#: The lite kind standing for each model column type (the kind decides what a value comes back as).
KINDS = {lite.INT: (Integer,), lite.FLOAT: (Float,), lite.STR: (String, Text, Enum), lite.BOOL: (Boolean,),
         lite.UTC: (UTCDateTime,)}


def test_each_lightweight_table_names_columns_of_the_models_with_their_result_kinds() -> None:
    for name, light in listing.TABLES.items():
        model = Base.metadata.tables[name]
        for column, kind in light.columns.items():
            assert column in model.c, f"{name}.{column} is not a column of the model"
            mapped = model.c[column].type
            assert isinstance(mapped, KINDS[kind]), (name, column, mapped, kind)


def reader(s: Session) -> lite.Reader:
    """A reader on the session's own DB-API connection (it sees the session's rows, in its transaction)."""
    conn = s.connection()
    return lite.Reader(conn.connection.dbapi_connection, conn.dialect.name)  # type: ignore[arg-type]


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
    conn = reader(s)
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
    assert listing.tones(conn) == [tone_view(t) for t in s.scalars(select(Tone).order_by(Tone.id))]
    for days in (0, 30, 365 * 10):
        for owner in (None, first):
            assert listing.expiring(conn, now, days=days, enterprise=owner.id if owner else None) == [
                destination_view(d, now) for d in expiring(s, days=days, now=now, enterprise=owner)]
    assert [r["number"] for r in listing.expiring(conn, now, days=365 * 10)] == ["01062345679"]


def test_references_are_found_and_refused_as_lookup_does(rich: Session) -> None:
    conn = reader(rich)
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
    with pytest.raises(ProvisioningError, match="^days: must be 0 or more$"):
        listing.expiring(conn, NOW, days=-1)


def test_trunks_are_listed_by_name(session: Session) -> None:
    add_trunk(session, "zeta", "PJSIP/{number}@zeta")
    add_trunk(session, "alpha", "PJSIP/{number}@alpha")
    session.commit()
    assert listing.trunks(reader(session)) == [
        {"id": t.id, "name": t.name, "template": t.dial_template}
        for t in session.scalars(select(Trunk).order_by(Trunk.name))]
    assert [t["name"] for t in listing.trunks(reader(session))] == ["alpha", "zeta"]


def test_a_list_command_loads_no_sqlalchemy(bare_engine: Engine, tmp_path: Path) -> None:
    """What makes `ivr400 hotline list` fast, on SQLite and PostgreSQL: a database at this ivr400's schema is
    read through the driver alone (ivr400.db.lite); only the command that finds it empty loads the ORM."""
    probe = (
        "import sys\n"
        "from ivr400.cli import main\n"
        "try:\n    main([*sys.argv[1:]])\nfinally:\n"
        "    print(*sorted(m for m in sys.modules\n"
        "                  if m.startswith(('sqlalchemy', 'alembic', 'ivr400.db.models', 'phonenumbers'))))\n"
    )
    url = bare_engine.url.render_as_string(hide_password=False)
    env = {"IVR400_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "IVR400_DATABASE_URL": url}
    first = subprocess.run([sys.executable, "-c", probe, "enterprise", "list"], env=env, capture_output=True,
                           text=True, check=True)  # finds the database empty: creates it (Alembic, the ORM)
    assert "alembic" in first.stdout.splitlines()[-1].split()
    for argv in (["hotline", "list"], ["seat", "list", "4008123456"], ["destination", "list"],
                 ["enterprise", "list"], ["department", "list", "4008123456"], ["hotline", "--help"],
                 ["tone", "list"], ["trunk", "list"], ["whitelist", "expiring", "--days", "30"], ["user", "list"],
                 ["voicemail", "list"], ["carrier", "list"]):
        done = subprocess.run([sys.executable, "-c", probe, *argv], env=env, capture_output=True, text=True)
        if argv[1:] == ["list", "4008123456"]:  # the empty database has no such hotline: refused as lookup does
            assert done.returncode == 1 and "error: hotline: no hotline 4008123456" in done.stderr, done.stderr
        else:
            assert done.returncode == 0, done.stderr
        loaded = done.stdout.splitlines()[-1].split() if done.stdout.strip() else []
        assert loaded == [], (argv, loaded)


def test_a_list_command_on_an_outdated_database_is_refused_as_every_command_refuses(engine: Engine,
                                                                                     tmp_path: Path) -> None:
    """The driver-only path checks the schema revision first; a database at another revision goes the
    ORM's way (ensure_schema), which names the problem instead of reading columns that may not exist."""
    from sqlalchemy import text

    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'ffff'"))
    url = engine.url.render_as_string(hide_password=False)
    env = {"IVR400_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "IVR400_DATABASE_URL": url}
    done = subprocess.run([sys.executable, "-c", "from ivr400.cli import main; main()", "hotline", "list"],
                          env=env, capture_output=True, text=True)
    assert done.returncode != 0 and "error: " in done.stderr and "ffff" in done.stderr, done.stderr


def test_a_list_command_names_a_database_it_cannot_open(tmp_path: Path) -> None:
    env = {"IVR400_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path),
           "IVR400_DATABASE_URL": f"sqlite:///{tmp_path}/missing-dir/ivr400.db"}
    done = subprocess.run([sys.executable, "-c", "from ivr400.cli import main; main()", "hotline", "list"],
                          env=env, capture_output=True, text=True)
    assert done.returncode == 1 and done.stderr.startswith("error: database: cannot open"), done.stderr
    assert "Traceback" not in done.stderr


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
    rows = {r["id"]: r for r in listing.seats(reader(s), NOW)}
    got = rows[first.id]["satisfaction"]
    assert got is not None and (got.average, got.count) == (11 / 3, 3)
    assert got == seat_satisfaction(s, hotline)[number]
    assert all(r["satisfaction"] is None for i, r in rows.items() if i != first.id and r["destination"] != number)


def test_accounts_messages_and_carriers_equal_the_orm_views(rich: Session) -> None:
    """`user list`, `voicemail list` and `carrier list` read through the driver what the ORM views show."""
    from ivr400.db.models import CarrierPolicy, Voicemail, WebUser
    from ivr400.provisioning import users
    from ivr400.provisioning.views import user_view, voicemail_view
    from ivr400.provisioning.voicemail import list_voicemail

    s = rich
    first, second = s.scalars(select(Enterprise).order_by(Enterprise.id)).all()
    users.add_user(s, "root1", "a long enough password 1", role="admin", enterprise=None, now=NOW, actor="t")
    locked = users.add_user(s, "op1", "a long enough password 2", role="operator", enterprise=first, now=NOW,
                            actor="t")
    users.add_user(s, "op2", "a long enough password 3", role="operator", enterprise=second, now=NOW, actor="t")
    locked.locked_until = NOW + timedelta(minutes=5)
    main = s.scalars(select(Hotline).where(Hotline.number == "4008000001")).one()
    for i, hotline in enumerate((main, None, main)):
        s.add(Voicemail(hotline_id=hotline.id if hotline else None, uniqueid=f"vm.{i}", caller=f"1380013800{i}",
                        file_path=f"msg{i}.wav", size=1000 + i, duration_s=2.5 if i else None,
                        recorded_at=NOW - timedelta(hours=i), heard=bool(i % 2)))
    s.commit()
    db = reader(s)
    for owner in (None, first, second):
        expected = [user_view(u, NOW) for u in users.list_users(s, owner)]
        assert listing.users(db, NOW, enterprise=owner.id if owner else None) == expected
    assert [u["locked"] for u in listing.users(db, NOW)] == [False, True, False]
    assert len(s.scalars(select(WebUser)).all()) == 3
    for number, limit in ((None, None), ("4008000001", None), (None, 2), ("4008000002", None)):
        hotline = listing.hotline_id(db, number) if number else None
        assert listing.voicemails(db, hotline=hotline, limit=limit) == [
            voicemail_view(v) for v in list_voicemail(s, hotline=number, limit=limit)]
    assert [v["hotline"] for v in listing.voicemails(db)] == ["4008000001", None, "4008000001"]
    assert listing.carriers(db) == [
        {"carrier": p.carrier, "allow_mobile": p.allow_mobile, "note": p.note}
        for p in s.scalars(select(CarrierPolicy).order_by(CarrierPolicy.carrier))]
    assert len(listing.carriers(db)) == 3


@pytest.mark.parametrize("folder", ["a#b", "e%41f", "plain"])
def test_the_reader_opens_the_file_every_other_command_opens(tmp_path: Path, folder: str) -> None:
    """The SQLite URL is read as SQLAlchemy's make_url reads it: no %-decoding, no "#" fragment."""
    from sqlalchemy.engine import make_url

    (tmp_path / folder).mkdir()
    url = f"sqlite:///{tmp_path / folder / 'ivr400.db'}"
    assert make_url(url).database == str(tmp_path / folder / "ivr400.db")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE marker (x INTEGER)"))
    engine.dispose()
    with lite.open_reader(url) as db:
        assert db.rows(("SELECT COUNT(*) AS n FROM marker", {}))[0].n == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [folder]  # no stray file beside it


def test_a_question_mark_in_the_data_directory_names_the_same_file_for_both_paths(tmp_path: Path) -> None:
    """A "?" in data.dir would start the URL's query: the default URL is then an SQLite URI filename, which
    the ORM (`enterprise add`) and the driver-only reader (`enterprise list`) both open as that one file."""
    data = tmp_path / "x?y" / "数据 #1 %41"
    env = {"IVR400_DATA_DIR": str(data), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    cli = [sys.executable, "-c", "from ivr400.cli import main; main()"]
    subprocess.run([*cli, "enterprise", "add", "北京甲科技有限公司", "--area-code", "010"], env=env,
                   capture_output=True, text=True, check=True)
    done = subprocess.run([*cli, "enterprise", "list", "--json"], env=env, capture_output=True, text=True,
                          check=True)
    assert [e["name"] for e in json.loads(done.stdout)] == ["北京甲科技有限公司"]
    assert (data / "ivr400.db").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x?y"]  # nothing named "x" beside it
    assert sorted(p.name for p in data.iterdir() if not p.name.startswith("ivr400.db")) == []
    url = sqlite_url(data / "ivr400.db")
    assert url.startswith("sqlite:///file:") and url.endswith("?uri=true")
    with lite.open_reader(url) as db:
        assert db.rows(("SELECT COUNT(*) AS n FROM enterprise", {}))[0].n == 1


@pytest.mark.parametrize("url", ["postgresql+psycopg2://u@127.0.0.1/x", "postgresql+asyncpg://u@127.0.0.1/x",
                                 "sqlite+aiosqlite:///x.db"])
def test_a_driver_ivr400_does_not_run_on_is_refused_by_both_paths(url: str) -> None:
    with pytest.raises(ValueError, match="^database url: driver '.*' is not supported"):
        lite.open_reader(url)
    with pytest.raises(ValueError, match="^database url: driver '.*' is not supported"):
        make_engine(url)


def test_expiring_refuses_a_look_ahead_dates_cannot_hold(rich: Session) -> None:
    with pytest.raises(ProvisioningError, match="^days: at most 36500"):
        listing.expiring(reader(rich), NOW, days=10**9)
    with pytest.raises(ProvisioningError, match="^days: at most 36500"):
        expiring(rich, days=10**9, now=NOW)
