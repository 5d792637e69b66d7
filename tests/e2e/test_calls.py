"""Calls through the real Asterisk with sipp, on the dialplan `ivr400 deploy` installs from the database.

The FastAGI controller is deliberately NOT running: every hook fails at once (connection refused on
127.0.0.1:4573, AGISTATUS=FAILURE) and the static fallback plan routes the call, which is the
fail-safe path these tests pin down. Seats ring for 5 s (the model's minimum) to keep them short.
The exception is the README's demo (last test): `ivr400 demo --call` starts its own controller and call-record
listener for its call and stops them.
"""
from __future__ import annotations

import re
import time
import urllib.request
import wave
from pathlib import Path

import pytest
from sqlalchemy import select

from ivr400.db.models import Voicemail
from ivr400.lab import Lab
from ivr400.lab.sipp import SeatUas, call
from ivr400.pbx.asterisk.dialplan_variables import VOICEMAIL_SPOOL
from ivr400.provisioning.voicemail import sync_voicemail

from .world import HOTLINE, World, fastagi_listening
from .world import start_seat as _seat

pytestmark = pytest.mark.pbx

RING_S = 5
#: Shipped prompt lengths (sounds/*.wav), seconds.
INVALID_PROMPT_S = 3.59
LEAVE_MESSAGE_S = 7.14


@pytest.fixture(autouse=True)
def _no_controller() -> None:
    if fastagi_listening():
        pytest.fail("something listens on 127.0.0.1:4573: these tests need the FastAGI controller stopped "
                    "(they exercise the static fail-safe plan)")




def _quiet(seat: SeatUas, seconds: float = 0.3) -> None:
    time.sleep(seconds)  # a late INVITE would have arrived by now


# -- a. sequential hunting -------------------------------------------------------------------------
def test_sequential_hunt_busy_then_no_answer_then_answer(world, seats, tmp_path: Path) -> None:
    w = world()
    w.seat("01062345001", 5081, ring_timeout=RING_S)
    w.seat("01062345002", 5082, ring_timeout=RING_S)
    w.seat("01062345003", 5083, ring_timeout=RING_S)
    w.deploy()
    busy = _seat(seats, tmp_path, 5081, "busy")
    ringing = _seat(seats, tmp_path, 5082, "ring")
    answering = _seat(seats, tmp_path, 5083, "answer", answer_after_s=0.5)

    result = call(HOTLINE, hold_s=1.0, workdir=tmp_path / "carrier", timeout_s=30)

    assert result.answered, result
    _quiet(answering)
    assert (busy.invite_count, ringing.invite_count, answering.invite_count) == (1, 1, 1)
    assert busy.invite_times[0] <= ringing.invite_times[0]
    gap = answering.invite_times[0] - ringing.invite_times[0]
    assert RING_S - 0.2 <= gap <= RING_S + 1.5, gap  # seat 2 rang its full timeout, then seat 3
    assert ringing.requests("CANCEL"), "seat 2 was not cancelled after its ring timeout"
    assert "01062345003" in (answering.invites()[0].request_uri or "")
    # The failed AGI hook (nothing on 4573) must not add seconds: the first seat is dialled right
    # after the 0.5 s welcome tone.
    first_dial = busy.invite_times[0] - result.invite_time  # type: ignore[operator]
    assert first_dial < 1.5, f"first seat dialled {first_dial:.2f} s after the INVITE"
    print(f"hunt: first seat after {first_dial:.2f} s, seat 3 {gap:.2f} s after seat 2, "
          f"answered after {result.answer_delay_s:.2f} s")


# -- b. simultaneous ring (全通达) -------------------------------------------------------------------
def test_simultaneous_ring_first_answer_wins_other_cancelled(world, seats, tmp_path: Path) -> None:
    w = world(hunt="simultaneous")
    w.seat("01062345001", 5081, ring_timeout=RING_S + 5)
    w.seat("01062345002", 5082, ring_timeout=RING_S + 5)
    w.deploy()
    fast = _seat(seats, tmp_path, 5081, "answer", answer_after_s=1.0)
    slow = _seat(seats, tmp_path, 5082, "answer", answer_after_s=4.0)

    result = call(HOTLINE, hold_s=1.0, workdir=tmp_path / "carrier", timeout_s=30)

    assert result.answered, result
    slow.wait_for_invites(1, timeout=2)
    assert fast.invite_count == 1 and slow.invite_count == 1
    assert abs(fast.invite_times[0] - slow.invite_times[0]) < 1.0
    deadline = time.monotonic() + 5
    while not slow.requests("CANCEL") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert slow.requests("CANCEL"), "the seat that lost the race was not cancelled"
    assert not fast.requests("CANCEL")
    assert fast.requests("ACK"), "the winner's 200 OK was not acknowledged"
    assert 0.8 <= result.answer_delay_s < 3.5, result.answer_delay_s  # type: ignore[operator]


# -- c. IVR navigation ---------------------------------------------------------------------------
def _ivr(world, menu_timeout: int, retries: int) -> World:
    w = world()
    sales = w.department("1", "销售部")
    service = w.department("2", "售后服务部")
    w.seat("01062345001", 5081, department=sales)
    w.seat("01062345002", 5082, department=service)
    w.seat("01062345009", 5089)  # the switchboard: where a silent caller ends up
    w.set_hotline(menu_timeout_s=menu_timeout, menu_retries=retries)
    w.deploy()
    return w


@pytest.mark.parametrize("dtmf_mode", ["rfc4733", "info"])
def test_ivr_key_2_reaches_department_2_only(world, seats, tmp_path: Path, dtmf_mode: str) -> None:
    _ivr(world, menu_timeout=3, retries=2)
    dept1 = _seat(seats, tmp_path, 5081, "answer", answer_after_s=0.2)
    dept2 = _seat(seats, tmp_path, 5082, "answer", answer_after_s=0.2)
    board = _seat(seats, tmp_path, 5089, "answer", answer_after_s=0.2)

    result = call(HOTLINE, dtmf="2", dtmf_mode=dtmf_mode, dtmf_delay_s=1.0, hold_s=3.0,
                  workdir=tmp_path / "carrier", timeout_s=30)

    assert result.answered, result
    dept2.wait_for_invites(1, timeout=5)
    _quiet(dept2)
    assert dept2.invite_count == 1, result
    assert dept1.invite_count == 0 and board.invite_count == 0
    assert "01062345002" in (dept2.invites()[0].request_uri or "")


@pytest.mark.parametrize("dtmf_mode", ["info", "rfc4733"])
def test_ivr_invalid_key_plays_the_retry_prompt_then_a_valid_key_works(world, seats, tmp_path: Path,
                                                                         dtmf_mode: str) -> None:
    _ivr(world, menu_timeout=3, retries=2)
    dept1 = _seat(seats, tmp_path, 5081, "answer", answer_after_s=0.2)
    dept2 = _seat(seats, tmp_path, 5082, "answer", answer_after_s=0.2)
    board = _seat(seats, tmp_path, 5089, "answer", answer_after_s=0.2)

    # 9 is no menu key: the invalid prompt (3.6 s, not interruptible), the menu again (0.5 s welcome),
    # then WaitExten(3): key 2 is sent 5 s after the 9, inside that window.
    result = call(HOTLINE, dtmf="9" + "," * 9 + "2", dtmf_mode=dtmf_mode, dtmf_delay_s=1.0, dtmf_gap_s=0.5, hold_s=3.0,
                  workdir=tmp_path / "carrier", timeout_s=40)

    assert result.answered, result
    invites = dept2.wait_for_invites(1, timeout=5)
    _quiet(dept2)
    assert len(invites) == 1, f"a second key after an invalid one did not work: {result}"
    assert dept1.invite_count == 0 and board.invite_count == 0
    answered_at = next(m.time for m in result.messages if m.status == 200 and m.method == "INVITE")
    waited = invites[0].time - answered_at
    # The key 2 went out 1 + 5 s after the answer: the call stayed in the menu through the retry prompt.
    assert waited >= 1.0 + INVALID_PROMPT_S, waited
    assert result.hangup_by == "carrier", "the PBX dropped the call after the invalid key"


def test_ivr_no_key_reaches_the_switchboard_after_the_retries(world, seats, tmp_path: Path) -> None:
    _ivr(world, menu_timeout=2, retries=1)
    dept1 = _seat(seats, tmp_path, 5081, "answer", answer_after_s=0.2)
    dept2 = _seat(seats, tmp_path, 5082, "answer", answer_after_s=0.2)
    board = _seat(seats, tmp_path, 5089, "answer", answer_after_s=0.2)

    # welcome 0.5 s + WaitExten(2) + no-input prompt 4.4 s, then the switchboard.
    result = call(HOTLINE, hold_s=12.0, workdir=tmp_path / "carrier", timeout_s=40)

    assert result.answered, result
    invites = board.wait_for_invites(1, timeout=5)
    assert len(invites) == 1, result
    assert dept1.invite_count == 0 and dept2.invite_count == 0
    waited = invites[0].time - result.invite_time  # type: ignore[operator]
    assert 6.0 <= waited <= 10.0, waited


# -- d. ringback / early media -------------------------------------------------------------------
def test_caller_gets_183_with_sdp_before_the_seat_answers(world, seats, tmp_path: Path) -> None:
    w = world()
    w.seat("01062345001", 5081, ring_timeout=RING_S)
    w.deploy()
    seat = _seat(seats, tmp_path, 5081, "answer", answer_after_s=2.0)

    result = call(HOTLINE, expect_early_media=True, hold_s=1.0, workdir=tmp_path / "carrier", timeout_s=30)

    assert result.answered and result.early_media, result
    early = next(m for m in result.invite_responses if m.status == 183 and m.has_sdp)
    ok = next(m for m in result.invite_responses if m.status == 200)
    seat_200 = next(m for m in seat.messages() if m.direction == "sent" and m.status == 200 and m.method == "INVITE")
    assert early.time < seat.invite_times[0] <= seat_200.time <= ok.time + 0.05
    assert ok.time - early.time >= 2.0  # the caller had early media while the seat rang
    assert result.responses.index(183) < result.responses.index(200)


# -- e. a revoked destination is never dialled -----------------------------------------------------
def test_revoked_destination_never_receives_an_invite_after_redeploy(world, seats, tmp_path: Path) -> None:
    w = world()
    w.seat("01062345001", 5081, ring_timeout=RING_S)
    w.seat("01062345002", 5082, ring_timeout=RING_S)
    w.deploy()
    revoked = _seat(seats, tmp_path, 5081, "answer", answer_after_s=0.2)
    other = _seat(seats, tmp_path, 5082, "answer", answer_after_s=0.2)

    before = call(HOTLINE, hold_s=0.5, workdir=tmp_path / "carrier-1", timeout_s=30)
    assert before.answered and revoked.invite_count == 1 and other.invite_count == 0  # it did ring first

    w.revoke("01062345001")
    report = w.deploy()
    assert report.reloaded == [] and report.astdb is not None and not report.astdb["full"]  # AstDB writes only
    assert "01062345001" not in (w.lab.config_dir / "ivr400/astdb.txt").read_text()
    assert "01062345001" not in w.lab.rx(f"database show ivr400 h/{HOTLINE}")

    after = call(HOTLINE, hold_s=0.5, workdir=tmp_path / "carrier-2", timeout_s=30)
    assert after.answered, after
    other.wait_for_invites(1, timeout=3)
    _quiet(other, 0.5)
    assert revoked.invite_count == 1, "the revoked destination got an INVITE after the redeploy"
    assert other.invite_count == 1


def test_the_static_plan_routes_from_astdb_after_a_restart_with_controller_and_database_gone(
        world, seats, tmp_path: Path, lab: Lab) -> None:
    """The fail-safe lives in Asterisk's own database: with no controller listening, ivr400's SQL database
    deleted and Asterisk restarted, a call to the hotline still reaches its (routable) seat, and a revoked
    one is still never dialled."""
    w = world()
    w.seat("01062345001", 5081, ring_timeout=RING_S)
    w.seat("01062345002", 5082, ring_timeout=RING_S)
    w.revoke("01062345001")
    w.deploy()
    assert not fastagi_listening()
    w.engine.dispose()
    database = Path(str(w.engine.url.database))
    database.rename(database.with_name("gone.db"))  # ivr400's database is gone too
    lab.restart_in_place()
    assert "ivr400-inbound" in lab.rx("dialplan show ivr400-inbound")
    revoked = _seat(seats, tmp_path, 5081, "answer", answer_after_s=0.2)
    other = _seat(seats, tmp_path, 5082, "answer", answer_after_s=0.2)
    result = call(HOTLINE, hold_s=0.5, workdir=tmp_path / "carrier", timeout_s=30)
    assert result.answered, result
    other.wait_for_invites(1, timeout=3)
    _quiet(other, 0.5)
    assert other.invite_count == 1 and revoked.invite_count == 0


# -- f. every seat fails: voicemail ------------------------------------------------------------------
def test_every_seat_fails_the_message_is_recorded_and_synced(world, seats, tmp_path: Path, lab: Lab) -> None:
    w = world()
    w.seat("01062345001", 5081)
    w.seat("01062345002", 5082)
    w.deploy()
    _seat(seats, tmp_path, 5081, "busy")
    _seat(seats, tmp_path, 5082, "busy")

    # Answered by the voicemail: 7.1 s prompt and a beep, then the caller speaks (sip-tester's
    # 7 s g711a.pcap) and hangs up.
    result = call(HOTLINE, "13912345678", audio="g711a.pcap", audio_delay_s=LEAVE_MESSAGE_S + 1.0,
                  hold_s=7.5, workdir=tmp_path / "carrier", timeout_s=40)
    assert result.answered, result

    spool = lab.host_path(f"{VOICEMAIL_SPOOL}/{HOTLINE}")
    deadline = time.monotonic() + 5
    files: list[Path] = []
    while time.monotonic() < deadline and not files:
        files = sorted(spool.glob("*.wav"), key=lambda p: p.stat().st_mtime)
        files = [f for f in files if f.stat().st_mtime >= result.invite_time - 1]  # type: ignore[operator]
        time.sleep(0.2)
    assert files, f"no recording in {spool}"
    recording = files[-1]
    with wave.open(str(recording)) as wav:
        seconds = wav.getnframes() / wav.getframerate()
    assert recording.stat().st_size > 44 and seconds >= 3.0, (recording, seconds)

    with w.session() as s:
        first = sync_voicemail(s, spool.parent, cdr_csv=lab.host_path("/var/log/asterisk/cdr-csv/Master.csv"))
        again = sync_voicemail(s, spool.parent, cdr_csv=lab.host_path("/var/log/asterisk/cdr-csv/Master.csv"))
        row = s.scalar(select(Voicemail).where(Voicemail.uniqueid == recording.stem))
        assert row is not None, first
        assert row.hotline_id == w.hotline_id and row.caller == "13912345678"
        assert row.size == recording.stat().st_size and row.duration_s and row.duration_s >= 3.0
        assert recording.stem in first.added and recording.stem not in again.added  # idempotent


# -- the README's main job -----------------------------------------------------------------------------
def test_demo_call_reaches_the_sales_seat(lab: Lab, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ivr400 demo --call` on a fresh data directory, then again reusing the sample."""
    import json
    import shutil

    from click.testing import CliRunner

    from ivr400.cli import main
    from ivr400.lab import state_path

    if fastagi_listening():
        pytest.fail("something listens on 127.0.0.1:4573: stop the FastAGI controller for these tests")
    # This test already holds the lab lock (autouse fixture): give the demo's lab_up and its own
    # locking private lock files, and a copy of the state file to read the running lab from.
    state = tmp_path / "state" / "lab-state.json"
    state.parent.mkdir()
    shutil.copy2(state_path(), state)
    monkeypatch.setenv("IVR400_LAB_STATE", str(state))
    monkeypatch.setenv("IVR400_CALLS_LOCK", str(tmp_path / "state" / "demo.lock"))
    monkeypatch.setenv("IVR400_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("IVR400_DATABASE_URL", raising=False)
    monkeypatch.setenv("IVR400_WEB_PORT", "0")  # the back office on a free port (8400 may be taken)

    for attempt in ("fresh", "reused"):
        # stdin is not a terminal here: the demo's non-interactive path (one call, then everything stopped).
        args = ["demo", "--call", "--json"] if attempt == "fresh" else ["demo", "--call"]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.stderr
        if attempt == "reused":
            # The text report: the back office was served during the call, at the URL printed, and stopped.
            started = re.search(r"back office: ivr400 web, pid (\d+), (http://127\.0\.0\.1:\d+/) \(GET /login: 200\)",
                                result.stdout)
            assert started, result.stdout
            pid, url = int(started[1]), started[2]
            assert f"back office (pid {pid}, exit 0)" in result.stdout
            assert f"back office: {url} (it was served during the call and is stopped now" in result.stdout
            assert "  login: demo" in result.stdout and not Path(f"/proc/{pid}").exists()
            with pytest.raises(OSError):
                urllib.request.urlopen(f"{url}login", timeout=2)
            assert "OK: answered by the expected seat 010-62345678" in result.stdout
            continue
        report = json.loads(result.stdout)
        assert report["ok"] and report["reused_sample"] == (attempt == "reused"), report
        assert report["answered_by"] == report["expected_seat"] == "01062345678"
        assert report["department"] == "销售部"
        assert [s["number"] for s in report["seats"] if s["invite_at"] is not None] == ["01062345678"]
        assert "ivr400 lab down" in result.stderr
        # Decided by the controller the demo started, read from the call: its record and its log lines.
        record = report["record"]
        assert (record["decided_by"], record["disposition"], record["key_path"], record["department"]) == (
            "controller", "answered", "1", "1")
        assert "01062345678" in record["seat"] and record["source"] == "ami"
        route, department = report["decisions"]
        assert route.startswith("route: 4008123456 -> menu: caller 13800138000")
        assert department.startswith("department: 4008123456 dept '1' -> sequential 01062345678")
        assert report["metrics"] == {
            "ivr400_decisions_total{outcome=department,route=department}": 1,
            "ivr400_decisions_total{outcome=menu,route=route}": 1,
        }
        # The back office was started as a child too and answered GET /login before its URL was given.
        web = report["web"]
        assert web["login_status"] == 200 and web["url"].startswith("http://127.0.0.1:"), web
        assert "Uvicorn running" in Path(web["log"]).read_text() or "Application startup complete" in Path(
            web["log"]).read_text()
        # All three were stopped by their PID (SIGTERM: a clean exit), nothing left on the ports.
        assert report["controller"]["exit"] == 0 and report["listener"]["exit"] == 0 and web["exit"] == 0
        for pid in (report["controller"]["pid"], report["listener"]["pid"], web["pid"]):
            assert not Path(f"/proc/{pid}").exists()  # exited and reaped
        with pytest.raises(OSError):
            urllib.request.urlopen(f"{web['url']}login", timeout=2)
    assert not fastagi_listening()
