"""`ivr400 deploy --follow` on the real Asterisk: edits reach the static plan (AstDB) without a deploy.

With no controller listening, every call below takes the static plan, so what it dials is exactly what the
follower wrote into Asterisk's database: a revoked seat is no longer dialled, a new hotline answers, and
no `dialplan reload` happens for any of it.
"""
from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from ivr400.deploy.follow import DataFollower, FollowStep
from ivr400.lab import Lab
from ivr400.lab.sipp import call
from ivr400.lab.targets import lab_target
from ivr400.pbx.asterisk.ami import Ami

from .world import HOTLINE, fastagi_listening
from .world import start_seat as _seat

pytestmark = pytest.mark.pbx

RING_S = 5
NEW = "4008000002"


@pytest.fixture
def follower(lab: Lab, world):  # noqa: ANN001, ANN201
    """A world with two seats (5081 first, then 5082), deployed by a follower running in a thread."""
    if fastagi_listening():
        pytest.fail("something listens on 127.0.0.1:4573: these tests need the controller stopped")
    w = world()
    w.seat("01062345001", 5081, ring_timeout=RING_S)
    w.seat("01062345002", 5082, ring_timeout=RING_S)
    target = lab_target(lab)
    assert target.ami is not None
    conn = Ami.connect(target.ami)
    f = DataFollower(w.engine, target, conn, now=lambda: datetime.now(timezone.utc), data_root=w.data_dir)
    f.start()
    steps: list[tuple[float, FollowStep]] = []
    done = threading.Event()
    thread = threading.Thread(target=f.run, args=(done.is_set, 0.1, lambda s: steps.append((time.monotonic(), s))),
                              daemon=True)
    thread.start()
    try:
        yield w, f, steps
    finally:
        done.set()
        thread.join(10)
        conn.close()


def _until(predicate, timeout: float = 5.0) -> float:  # noqa: ANN001
    """Seconds until predicate() held (fails the test after `timeout`)."""
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, "not applied in time"
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_revoked_seat_leaves_the_static_plan_within_a_poll(follower, lab: Lab, seats, tmp_path: Path) -> None:
    w, f, steps = follower
    reloads = lab.rx("dialplan show ivr400-inbound")
    w.revoke("01062345001")
    took = _until(lambda: "01062345001" not in lab.rx(f"database show ivr400 h/{HOTLINE}"))
    assert took < 1.0, f"the revocation took {took:.2f} s to reach AstDB"
    kind = [s.kind for _, s in steps]
    assert "incremental" in kind and "full" not in kind, kind  # ("saved" follows at the first quiet poll)
    assert lab.rx("dialplan show ivr400-inbound") == reloads
    revoked = _seat(seats, tmp_path, 5081, "answer", answer_after_s=0.2)
    other = _seat(seats, tmp_path, 5082, "answer", answer_after_s=0.2)
    result = call(HOTLINE, hold_s=0.5, workdir=tmp_path / "carrier", timeout_s=30)
    assert result.answered, result
    other.wait_for_invites(1, timeout=3)
    time.sleep(0.3)
    assert revoked.invite_count == 0 and other.invite_count == 1
    # once the follower saw a quiet poll, the installed file and AstDB's marker say the same thing: a later
    # deploy writes only differences
    _until(lambda: not f.dirty)
    report = w.deploy()
    assert report.astdb is not None and not report.astdb["full"] and report.reloads == [], report.astdb


def test_a_new_hotline_answers_without_a_deploy(follower, lab: Lab, seats, tmp_path: Path) -> None:
    w, f, steps = follower
    hotline = w.add_hotline(NEW)
    w.seat("01062345002", 5082, ring_timeout=RING_S, hotline=hotline)
    _until(lambda: f"/ivr400/h/{NEW}/s" in lab.rx(f"database show ivr400 h/{NEW}"))
    seat = _seat(seats, tmp_path, 5082, "answer", answer_after_s=0.2)
    result = call(NEW, hold_s=0.5, workdir=tmp_path / "carrier", timeout_s=30)
    assert result.answered, result
    assert seat.wait_for_invites(1, timeout=3)
    w.set_hotline(hotline, active=False)  # and gone again: the number is unknown at once
    _until(lambda: f"/ivr400/h/{NEW}/s" not in lab.rx(f"database show ivr400 h/{NEW}"))
    _until(lambda: f"h/{NEW}" not in (lab.config_dir / "ivr400/astdb.txt").read_text())  # saved when quiet
