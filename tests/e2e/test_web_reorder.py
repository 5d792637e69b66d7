"""Issue #9 end to end: a seat moved up in the back office (a real browser) rings first on the very next call
through the real Asterisk, with no deploy — the controller sees the edit through the configuration generation.
"""
from __future__ import annotations

import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ivr400.lab import Lab
from ivr400.provisioning import users
from ivr400.web.app import create_app
from ivr400.web.context import WebConfig
from tests.web.live import chromium, login, serve

from .test_controller import DIRECT_S, _first_invite_after, _place
from .world import start_seat as _seat

pytestmark = pytest.mark.pbx

FIRST, SECOND = "01062345101", "01062345102"
PASSWORD = "e2e operator password"


def test_seat_moved_up_in_the_browser_rings_first_on_the_next_call(
        world, seats, controller, lab: Lab, tmp_path: Path) -> None:
    w = world()
    w.seat(FIRST, 5091)
    w.seat(SECOND, 5092)
    w.deploy()
    first = _seat(seats, tmp_path, 5091, "answer", answer_after_s=0.2)
    second = _seat(seats, tmp_path, 5092, "answer", answer_after_s=0.2)
    controller(w, "2025-09-29T10:00:00+08:00")
    with Session(w.engine) as s:
        ent = w.hotline(s).enterprise
        users.add_user(s, "e2e-op", PASSWORD, role="operator", enterprise=ent, now=datetime.now(timezone.utc),
                       actor="e2e")
        s.commit()

    before = _place(tmp_path, "13812345678", "before")
    assert before.answered and first.wait_for_invites(1, timeout=3) and second.invite_count == 0, before

    config = WebConfig(engine=w.engine, store_root=w.data_dir / "evidence")
    with chromium() as browser, serve(create_app(config)) as base:
        page = login(browser, base, "e2e-op", PASSWORD)
        page.goto(f"{base}/hotlines/{w.hotline_id}/seats")
        page.get_by_role("button", name=f"上移 {SECOND}").click()
        page.wait_for_function(
            "n => document.querySelector(\"section[data-group='switchboard'] tr.seat\").dataset.number === n",
            arg=SECOND)
    time.sleep(1.0)  # the controller polls the configuration generation every 0.2 s; no deploy
    after = _place(tmp_path, "13812345678", "after")
    assert after.answered, after
    assert _first_invite_after(second, after, 1) < DIRECT_S
    time.sleep(0.3)
    assert first.invite_count == 1, "the seat moved down still rang first"
    # The rendered (static) plan still has the old order: only the controller knew.
    plan = (lab.config_dir / "ivr400/astdb.txt").read_text()
    assert plan.index(FIRST) < plan.index(SECOND)
