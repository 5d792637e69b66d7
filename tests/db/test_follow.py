"""The AstDB follower (ivr400.deploy.follow) against a real database and a fake AMI that keeps AstDB in a dict:
after any sequence of edits and polls, AstDB holds exactly what a full render of the database says, and it
got there by writing only the edited hotlines' keys. (The same on the real Asterisk: tests/e2e/test_follow.py.)
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ivr400.config import Settings
from ivr400.db.models import Destination, Hotline, Seat
from ivr400.deploy import astdb
from ivr400.deploy import asterisk as d
from ivr400.deploy.follow import DataFollower, hotline_of
from ivr400.pbx.asterisk.ami import AmiError
from ivr400.provisioning import destinations, seats, trunks
from ivr400.provisioning.hotlines import add_hotline
from ivr400.provisioning.sample import HOTLINE, provision_sample
from ivr400.render.asterisk import ASTDB_FILE, parse_astdb, render_asterisk
from tests.unit.test_deploy import FakeAmi

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)


@pytest.fixture
def setup(tmp_path: Path, engine):  # noqa: ANN001, ANN201
    """Both databases (tests/conftest.py's `engine`), the sample, a deploy target and a fake AMI."""
    with Session(engine) as s:
        provision_sample(s, store_root=tmp_path / "store", now=NOW, actor="test")
        s.commit()
    root = tmp_path / "root"
    (root / "etc" / "asterisk").mkdir(parents=True)
    for own in ("usr/share/asterisk", "var/lib/asterisk"):
        (root / own).mkdir(parents=True)
    target = d.DeployTarget.from_settings(Settings.load(environ={"IVR400_ASTERISK_ROOT": str(root)}))
    ami = FakeAmi(target.config_dir)
    clock = [NOW]
    follower = DataFollower(engine, target, ami, now=lambda: clock[0])
    return engine, follower, ami, clock


def _astdb(ami: FakeAmi) -> dict[str, str]:
    return {k.removeprefix("ivr400/"): v for k, v in ami.astdb.items()
            if k not in (f"ivr400/{astdb.MARKER}", f"ivr400/{astdb.FOLLOWER}")}


def astdb_file_data(text: str) -> dict[str, str]:
    return parse_astdb(text)


def _full_render(engine, now: datetime) -> dict[str, str]:  # noqa: ANN001
    with Session(engine) as s:
        return render_asterisk(s, now).astdb


def test_edits_are_followed_hotline_by_hotline(setup) -> None:  # noqa: ANN001
    engine, follower, ami, clock = setup
    report = follower.start()
    assert report.astdb is not None and report.astdb["full"]
    assert _astdb(ami) == _full_render(engine, NOW)
    assert follower.poll().kind == "none"

    # a revoked destination: only the sample hotline's keys change, marks first, settings last
    with Session(engine) as s:
        dest = s.scalar(select(Destination).where(Destination.number == "01062345678"))
        destinations.revoke(s, dest, reason="moved", now=NOW, actor="test")
        s.commit()
    ami.db_log.clear()
    step = follower.poll()
    assert step.kind == "incremental" and step.hotlines == 1 and step.put > 0
    written = [k for op, k in ami.db_log if op == "put"]
    assert ("del", astdb.MARKER) == ami.db_log[0] and astdb.MARKER not in written  # no marker until saved
    assert all(hotline_of(k) == HOTLINE for k in written)
    assert written[0].startswith(f"h/{HOTLINE}/b") and written[-1] == f"h/{HOTLINE}/s"
    assert follower.dirty and f"ivr400/{astdb.MARKER}" not in ami.astdb
    assert "01062345678" not in str(_astdb(ami))
    assert _astdb(ami) == _full_render(engine, NOW)

    # the first quiet poll writes astdb.txt and the marker naming it
    ami.db_log.clear()
    assert follower.poll().kind == "saved" and ami.db_log == [("put", astdb.MARKER)] and not follower.dirty
    installed = (follower.target.config_dir / ASTDB_FILE).read_text()
    assert ami.astdb[f"ivr400/{astdb.MARKER}"] == astdb.digest(installed)
    assert astdb_file_data(installed) == _astdb(ami)

    # a new hotline with a seat, then the hotline switched off
    with Session(engine) as s:
        h = add_hotline(s, "4008000777", s.scalar(select(Hotline).where(Hotline.number == HOTLINE)).enterprise,
                        name="new", now=NOW)
        dest = s.scalar(select(Destination).where(Destination.number == "01062345679"))
        seats.add_seat(s, h, dest, now=NOW)
        s.commit()
        new_id = h.id
    assert follower.poll().kind == "incremental"
    assert "h/4008000777/s" in _astdb(ami)
    assert _astdb(ami) == _full_render(engine, NOW)
    with Session(engine) as s:
        s.execute(update(Hotline).where(Hotline.id == new_id).values(active=False))
        s.commit()
    step = follower.poll()
    assert step.kind == "incremental" and step.deleted > 0
    assert not [k for k in _astdb(ami) if hotline_of(k) == "4008000777"]
    assert _astdb(ami) == _full_render(engine, NOW)

    # the installed file and the marker agree: a normal deploy afterwards writes nothing
    assert follower.poll().kind == "saved"
    with Session(engine) as s:
        again = d.deploy_from_db(s, NOW, follower.target, ami=ami)
    assert again.astdb is not None and not again.astdb["full"] and again.astdb["put"] == again.astdb["deleted"] == 0
    installed = (follower.target.config_dir / ASTDB_FILE).read_text()
    assert ami.astdb[f"ivr400/{astdb.MARKER}"] == astdb.digest(installed)


def test_a_shared_table_change_deploys_in_full(setup) -> None:  # noqa: ANN001
    engine, follower, ami, clock = setup
    follower.start()
    with Session(engine) as s:  # trunks are shared by every hotline: the change names none
        trunks.add_trunk(s, "carrier-b", "PJSIP/{number}@carrier-b")
        s.commit()
    assert follower.poll().kind == "full"
    assert follower.poll().kind == "none"


def test_a_validity_window_closing_takes_the_seat_out_without_any_row_changing(setup) -> None:  # noqa: ANN001
    engine, follower, ami, clock = setup
    with Session(engine) as s:
        s.execute(update(Destination).where(Destination.number == "01062345678")
                  .values(valid_until=NOW + timedelta(minutes=5)))
        s.commit()
    follower.start()
    assert follower.poll().kind in ("none", "incremental")
    assert "01062345678" in str(_astdb(ami))
    clock[0] = NOW + timedelta(minutes=6)
    step = follower.poll()
    assert step.kind == "incremental" and step.hotlines == 1
    assert "01062345678" not in str(_astdb(ami))
    assert _astdb(ami) == _full_render(engine, clock[0])


def test_a_failed_write_leaves_no_marker_and_the_next_poll_deploys_in_full(setup) -> None:  # noqa: ANN001
    engine, follower, ami, clock = setup
    follower.start()
    with Session(engine) as s:
        seat = s.scalars(select(Seat).order_by(Seat.id)).first()
        seats.move_seat(s, seat, ring_timeout=33)
        s.commit()
    real = ami.db_write
    calls = []

    def failing(family, puts, deletes=(), **kw):  # noqa: ANN001, ANN003, ANN202
        calls.append(1)
        if len(calls) == 2:
            raise AmiError("astdb", "connection lost")
        return real(family, puts, deletes, **kw)

    ami.db_write = failing  # type: ignore[method-assign]
    stopped = iter([False, True])
    follower.run(lambda: next(stopped), poll_interval=0)
    assert f"ivr400/{astdb.MARKER}" not in ami.astdb  # deleted before the writes, never written back
    assert follower.applied is None  # the next tick deploys in full (run()'s save on the way out failed too)
    ami.db_write = real  # type: ignore[method-assign]
    assert follower.poll().kind == "full"
    assert _astdb(ami) == _full_render(engine, NOW)


def test_astdb_wiped_under_the_follower_is_written_again_in_full(setup) -> None:  # noqa: ANN001
    """`database deltree ivr400` while the follower runs (or an astdb.sqlite3 restored from a backup): its token
    key is gone, so its next poll deploys in full instead of trusting what it wrote before."""
    engine, follower, ami, clock = setup
    follower.start()
    ami.astdb.clear()
    with Session(engine) as s:  # an edit arrives too: it must not be the only thing written back
        seat = s.scalars(select(Seat).order_by(Seat.id)).first()
        seats.move_seat(s, seat, ring_timeout=33)
        s.commit()
    assert follower.poll().kind == "full"
    assert _astdb(ami) == _full_render(engine, NOW)
    assert follower.poll().kind == "none"
