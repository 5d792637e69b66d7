"""The list commands' Core reads (ivr400.provisioning.listing) show exactly what the ORM views show."""
from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import JSON, Boolean, Date, Engine, Enum, Float, Integer, String, Text, select, text
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
         lite.UTC: (UTCDateTime,), lite.DATE: (Date,), lite.JSON: (JSON,)}


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
    # The empty database has no such hotline or destination: refused as lookup does, still without the ORM.
    refused = {"hotline": "error: hotline: no hotline 4008123456", "destination": "error: destination: no destination"}
    for argv, error in ((["hotline", "list"], None), (["seat", "list", "4008123456"], "hotline"),
                        (["destination", "list"], None), (["enterprise", "list"], None),
                        (["department", "list", "4008123456"], "hotline"), (["hotline", "--help"], None),
                        (["tone", "list"], None), (["trunk", "list"], None),
                        (["whitelist", "expiring", "--days", "30"], None), (["user", "list"], None),
                        (["voicemail", "list"], None), (["carrier", "list"], None), (["block", "list"], None),
                        (["block", "list", "4008123456"], "hotline"), (["calendar", "list", "--year", "2026"], None),
                        (["fax", "list"], None), (["cluster", "node", "list"], None),
                        (["rule", "override", "list"], None), (["rule", "list", "4008123456"], "hotline"),
                        (["evidence", "list", "#1"], "destination"), (["callback", "list"], None),
                        (["cdr", "list", "--since", "2026-06-01", "--disposition", "answered"], None),
                        (["call", "attempts", "4008123456"], "hotline"), (["rule", "--help"], None)):
        done = subprocess.run([sys.executable, "-c", probe, *argv], env=env, capture_output=True, text=True)
        if error is not None:
            assert done.returncode == 1 and refused[error] in done.stderr, (argv, done.stderr)
        else:
            assert done.returncode == 0, (argv, done.stderr)
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


@pytest.fixture
def busy(rich: Session, tmp_path: Path) -> Session:
    """`rich` with what the other list commands show: block lists, calendar days, faxes, cluster nodes, region
    overrides, time and region rules, evidence with dates, callback entries, call records, click-to-call
    attempts; ties in the sort keys on purpose."""
    from datetime import date

    from ivr400.db.models import CallbackEntry, CallRecord, ClickToCallAttempt, Evidence, Fax
    from ivr400.provisioning import blocking, cluster, region_rules, time_rules
    from ivr400.provisioning import calendar as cal

    s = rich
    main, other = s.scalars(select(Hotline).order_by(Hotline.number)).all()
    first, second = s.scalars(select(Enterprise).order_by(Enterprise.id)).all()
    blocking.add_block_entry(s, main, "13800138000", note="骚扰")
    blocking.add_block_entry(s, main, "0755", prefix=True)
    blocking.add_block_entry(s, main, "010", prefix=True)
    blocking.add_block_entry(s, other, "010", prefix=True, note="x")
    blocking.set_block_mode(s, main, "blacklist", anonymous="refuse", refuse_with="prompt", refuse_prompt=None)
    for day, kind, owner, name in ((date(2026, 10, 1), "holiday", None, "国庆节"),
                                   (date(2026, 10, 1), "workday", first, "值班"),
                                   (date(2026, 10, 1), "holiday", second, None),
                                   (date(2025, 12, 31), "holiday", second, "年会"),
                                   (date(2027, 1, 1), "holiday", None, "元旦")):
        cal.add_calendar_day(s, day, kind, enterprise=owner, name=name)
    time_rules.add_time_rule(s, main, action="department:1", days="workday", segments="09:00-18:00", name="白天")
    time_rules.add_time_rule(s, main, action="announcement:ivr400-closed", weekdays="6,7", priority=5)
    time_rules.add_time_rule(s, main, action="voicemail:2.1", priority=5)
    time_rules.set_after_hours(s, main, "department:2")
    region_rules.add_region_rule(s, main, province="广东", department="1")
    region_rules.add_region_rule(s, main, province="广东", city="深圳", department="2.1")
    region_rules.add_region_override(s, "0755123", "广东", "深圳")
    region_rules.add_region_override(s, "138001", "北京")
    cluster.add_node(s, "node2", "127.0.0.2", priority=5, now=NOW)
    cluster.add_node(s, "node3", "127.0.0.3", now=NOW)
    cluster.add_node(s, "alpha", "127.0.0.4", priority=5, now=NOW)
    d = s.scalars(select(Destination).order_by(Destination.id)).first()
    assert d is not None
    s.add(Evidence(destination_id=d.id, kind="authorization_letter", original_name="授权书.pdf",
                   media_type="application/pdf", size=3, sha256="0" * 64, stored_path="x", attributes={"a": [1, "二"]},
                   valid_from=date(2026, 1, 1), valid_until=date(2027, 6, 30), long_term=False))
    t0 = datetime(2026, 6, 1, 1, 2, 3, 456789, tzinfo=timezone.utc)
    for i in range(6):
        s.add(CallRecord(uniqueid=f"17.{i}", hotline=main.number if i != 5 else other.number,
                         caller=f"1380013800{i % 3}", caller_province="北京", caller_city="北京" if i % 2 else None,
                         started_at=t0 + timedelta(hours=5 * (i // 2)), duration_s=10 + i, billsec=i,
                         answered_at=t0 + timedelta(hours=5 * i, seconds=3) if i % 3 else None,
                         key_path="1" if i % 2 else None, department="销售部" if i else None,
                         seat="PJSIP/01062345678@out" if i % 2 else None, source="ami",
                         disposition=["answered", "noanswer", "busy"][i % 3],
                         decided_by=["controller", "static", None][i % 3]))
        s.add(CallbackEntry(hotline=main.number if i != 5 else other.number, caller=f"1390013900{i}",
                            first_missed_at=t0 + timedelta(days=i), last_missed_at=t0 + timedelta(days=i // 2),
                            missed=i + 1, last_uniqueid=f"17.{i}",
                            status=["pending", "called_back", "not_needed"][i % 3],
                            handled_by="op" if i % 3 else None, note="已处理" if i % 3 == 1 else None,
                            handled_at=t0 + timedelta(days=i, hours=2) if i % 3 else None))
        s.add(Fax(hotline_id=(main.id, other.id, None)[i % 3], uniqueid=f"18.{i}", caller=f"010623456{i:02d}",
                  status=["received", "failed"][i % 2], pages=i, error="T.30 timeout" if i % 2 else None,
                  remote_station="ST 1" if i else None, file_path=f"/fax/{i}.tif",
                  received_at=t0 + timedelta(minutes=i // 2)))
        s.add(ClickToCallAttempt(hotline=main.number if i != 5 else other.number, target=f"1380013800{i}",
                                 client_ip="127.0.0.1" if i else None, source="web", outcome="accepted",
                                 reason="x" if i % 2 else None, at=t0 + timedelta(minutes=i // 2)))
    s.commit()
    return s


def test_blocks_calendar_faxes_nodes_overrides_and_rules_equal_the_orm_views(busy: Session) -> None:
    """`block list`, `calendar list`, `fax list`, `cluster node list`, `rule override list` and `rule list`
    read through the driver what the ORM code they replaced shows."""
    from ivr400.db.models import Enterprise as E
    from ivr400.provisioning import blocking, cluster, region_rules, rules
    from ivr400.provisioning import calendar as cal
    from ivr400.provisioning.fax import list_faxes
    from ivr400.provisioning.views import block_settings, fax_view, node_view

    s, db = busy, reader(busy)
    hotlines = s.scalars(select(Hotline).order_by(Hotline.number)).all()
    assert listing.block_entries(db) == blocking.list_block_entries(s)
    for h in hotlines:
        assert listing.block_entries(db, hotline=h.id) == blocking.list_block_entries(s, h)
        assert listing.block_settings_of(db, h.id) == block_settings(h)
        assert listing.rules(db, h.id) == rules.list_rules(s, h) | {"timezone": h.enterprise.timezone}
        assert listing.faxes(db, hotline=h.id) == [fax_view(f) for f in list_faxes(s, hotline=h.number)]
    assert [r["id"] for r in listing.block_entries(db, hotline=hotlines[0].id)] != []
    assert len(listing.rules(db, hotlines[0].id)["time_rules"]) == 3
    for year in (None, 2025, 2026, 2030):
        for owner in (None, *s.scalars(select(E).order_by(E.id))):
            assert listing.calendar_days(db, year=year, enterprise=owner.id if owner else None) == cal.list_calendar(
                s, year=year, enterprise=owner)
    assert len(listing.calendar_days(db, year=2026)) == 3
    with pytest.raises(ProvisioningError, match="^year: 1800 is not a year between 1900 and 2200$"):
        listing.calendar_days(db, year=1800)
    for limit in (1, 3, 100):
        assert listing.faxes(db, limit=limit) == [fax_view(f) for f in list_faxes(s, limit=limit)]
    assert listing.cluster_nodes(db) == [node_view(n) for n in cluster.list_nodes(s)]
    assert [n["name"] for n in listing.cluster_nodes(db)] == ["alpha", "node2", "node3"]
    assert listing.region_overrides(db) == region_rules.list_region_overrides(s)


def test_evidence_callbacks_call_records_and_attempts_equal_the_orm_views(busy: Session) -> None:
    """`evidence list`, `callback list`, `cdr list` and `call attempts` read through the driver what the ORM
    code they replaced shows, with every filter."""
    from ivr400.cdr.cdr_model import record_view
    from ivr400.cli.callback import entry_view
    from ivr400.db.models import CallbackEntry, CallRecord, ClickToCallAttempt
    from ivr400.provisioning import lookup
    from ivr400.provisioning.views import evidence_view

    s, db = busy, reader(busy)
    for d in s.scalars(select(Destination)):
        assert listing.evidence(db, d.id) == [evidence_view(ev) for ev in d.evidence]
    assert any(len(listing.evidence(db, d.id)) == 2 for d in s.scalars(select(Destination)))
    for ref, owner in (("01062345670", None), ("010-6234-5670", "1"), ("#1", None), ("3", None),
                       ("+86 10 6234 5671", None), ("021-62345671", "上海乙贸易有限公司")):
        assert listing.destination_id(db, ref, owner) == lookup.destination(s, ref, owner).id
    for ref, owner in (("#999", None), ("99999999999", None), ("01062345670", "2"), ("abc", None),
                       ("01062345670", ""), (f"#{2**40}", None), ("01062345670", "99")):
        with pytest.raises(ProvisioningError) as orm:
            lookup.destination(s, ref, owner)
        with pytest.raises(ProvisioningError) as lite_error:
            listing.destination_id(db, ref, owner)
        assert str(lite_error.value) == str(orm.value)
    zones = dict(s.execute(select(Hotline.number, Enterprise.timezone).join(Enterprise)).all())
    assert listing.hotline_zones(db) == zones
    order = (CallbackEntry.last_missed_at.desc(), CallbackEntry.id.desc())
    for number in (None, "4008000001", "4008000002"):
        for status in (None, "pending", "called_back"):
            for limit in (1, 200):
                stmt = select(CallbackEntry)
                stmt = stmt.where(CallbackEntry.hotline == number) if number else stmt
                stmt = stmt.where(CallbackEntry.status == status) if status else stmt
                assert [entry_view(e) for e in listing.callbacks(db, hotline=number, status=status, limit=limit)] == [
                    entry_view(e) for e in s.scalars(stmt.order_by(*order).limit(limit))]
    t0 = datetime(2026, 6, 1, 1, 2, 3, 456789, tzinfo=timezone.utc)
    cases = [{}, {"hotline": "4008000001"}, {"caller": "13800138001"}, {"start": t0}, {"end": t0},
             {"start": t0 + timedelta(microseconds=1), "end": t0 + timedelta(hours=5)},
             {"dispositions": ("answered", "busy")}, {"decided_by": ("controller",)}, {"limit": 2},
             {"start": t0 - timedelta(days=1), "end": t0 + timedelta(days=1), "dispositions": ("noanswer",),
              "hotline": "4008000001"}]
    for case in cases:
        stmt = select(CallRecord)
        for column, key in (("hotline", "hotline"), ("caller", "caller")):
            stmt = stmt.where(getattr(CallRecord, column) == case[key]) if key in case else stmt
        stmt = stmt.where(CallRecord.started_at >= case["start"]) if "start" in case else stmt
        stmt = stmt.where(CallRecord.started_at < case["end"]) if "end" in case else stmt
        if "dispositions" in case:
            stmt = stmt.where(CallRecord.disposition.in_(case["dispositions"]))
        if "decided_by" in case:
            stmt = stmt.where(CallRecord.decided_by.in_(case["decided_by"]))
        stmt = stmt.order_by(CallRecord.started_at.desc(), CallRecord.id.desc()).limit(case.get("limit", 100))
        expected = [record_view(r) for r in s.scalars(stmt)]
        assert [record_view(r) for r in listing.call_records(db, **case)] == expected, case
    assert len(listing.call_records(db, start=t0, end=t0 + timedelta(hours=5))) == 2
    for h in s.scalars(select(Hotline)):
        for limit in (1, 50):
            rows = s.scalars(select(ClickToCallAttempt).where(ClickToCallAttempt.hotline == h.number)
                             .order_by(ClickToCallAttempt.at.desc(), ClickToCallAttempt.id.desc()).limit(limit))
            assert listing.clicktocall_attempts(db, h.id, limit=limit) == [
                {"id": r.id, "at": r.at.isoformat(timespec="seconds"), "hotline": r.hotline, "target": r.target,
                 "source": r.source, "client_ip": r.client_ip, "outcome": r.outcome, "reason": r.reason}
                for r in rows]


def test_the_action_kinds_named_by_the_views_are_the_routing_models() -> None:
    from ivr400.provisioning.views import ACTIONS_WITH_PATH
    from ivr400.routing.model import ActionKind

    assert ACTIONS_WITH_PATH == (ActionKind.DEPARTMENT.value, ActionKind.VOICEMAIL.value)
