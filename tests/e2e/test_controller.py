"""Calls through the real Asterisk with the FastAGI controller deciding (issue #4): time rules with the
holiday calendar, region rules, call blocking, a revoke seen without any redeploy, the fail-safe when
the controller dies under load, and call records that match the calls one for one.

The controller runs as `ivr400 --db URL serve --port 4573 --fixed-now ISO --asterisk-root ROOT`, a
subprocess per fixed instant, always stopped (by PID) at teardown: the issue-#3 tests in test_calls.py
want nothing on 127.0.0.1:4573. Assertions are on what the seats (sipp UAS) received.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session

from bench.sipp_load import start_load
from ivr400.cdr.cdr_listener import AmiSettings, CdrListener
from ivr400.db.models import CallRecord, Voicemail
from ivr400.lab import Lab
from ivr400.lab.config import LabConfig, atomic_write, render_base_config
from ivr400.lab.sipp import CallResult, SeatUas, call
from ivr400.pbx.asterisk.dialplan_variables import RECORDING_SPOOL, VOICEMAIL_SPOOL
from ivr400.provisioning import blocking, calendar, region_rules, time_rules
from ivr400.provisioning.hotlines import add_hotline
from tests.scrape import delta, key, scrape

from .world import HOTLINE, World
from .world import start_seat as _seat

pytestmark = pytest.mark.pbx

LEAVE_MESSAGE_S = 7.14  # sounds/ivr400-leave-message.wav
BEIJING, SHANGHAI, GUANGZHOU, HANGZHOU = "01062345678", "02161234567", "02012345678", "057112345678"
BLOCKED = "13912345678"
STATIC_CALLER = "13800138009"
#: A controller decision lets the first seat ring at once; the static plan's menu would take seconds.
DIRECT_S = 1.5


def _place(tmp: Path, caller: str, name: str, to: str = HOTLINE, **kw: object) -> CallResult:
    kw.setdefault("hold_s", 0.5)
    return call(to, caller, workdir=tmp / f"carrier-{name}", timeout_s=40, **kw)  # type: ignore[arg-type]


def _first_invite_after(seat: SeatUas, result: CallResult, count: int) -> float:
    """Seconds from the carrier's INVITE to the seat's `count`-th INVITE."""
    invites = seat.wait_for_invites(count, timeout=5)
    assert len(invites) >= count, f"seat {seat.port} got {len(invites)} INVITE(s), wanted {count}: {result}"
    return invites[count - 1].time - result.invite_time  # type: ignore[operator]


def _rules(w: World, fn: Callable[[Session, object], object]) -> None:
    with w.session() as s:
        fn(s, w.hotline(s))


# -- 1. after hours: voicemail; working hours: the seats -------------------------------------------
def test_after_hours_call_goes_to_voicemail_and_a_working_hours_call_to_the_seats(
        world, seats, controller, lab: Lab, tmp_path: Path) -> None:
    w = world()
    sales = w.department("1", "销售部")
    w.seat("01062345001", 5081, department=sales)

    def rules(s, h) -> None:  # noqa: ANN001
        time_rules.add_time_rule(s, h, action="department:1", days="workday", segments="09:00-18:00")
        time_rules.set_after_hours(s, h, "voicemail")
        calendar.seed_calendar(s, [2025])

    _rules(w, rules)
    w.deploy()
    seat = _seat(seats, tmp_path, 5081, "answer", answer_after_s=0.2)

    # Monday 29 September 2025, 20:00 in Shanghai: a working day, after 18:00.
    ctl = controller(w, "2025-09-29T20:00:00+08:00")
    result = _place(tmp_path, "13812345678", "after-hours", audio="g711a.pcap", audio_delay_s=LEAVE_MESSAGE_S + 1.0,
                    hold_s=2.5)
    assert result.answered, result  # by the voicemail
    time.sleep(0.5)
    assert seat.invite_count == 0, "a seat rang after hours"
    spool = lab.host_path(f"{VOICEMAIL_SPOOL}/{HOTLINE}")
    files = [f for f in spool.glob("*.wav") if f.stat().st_mtime >= result.invite_time - 1]  # type: ignore[operator]
    assert len(files) == 1, f"expected one new message in {spool}: {files}"
    assert files[0].stat().st_size > 44
    # The controller decided (not the static plan, which would have played the menu) and its
    # voicemail_saved hook recorded the message.
    assert "no time rule in force: after hours -> voicemail" in ctl.log()
    deadline = time.monotonic() + 5
    row = None
    while row is None and time.monotonic() < deadline:
        with w.session() as s:
            row = s.scalar(sql_select(Voicemail).where(Voicemail.uniqueid == files[0].stem))
        time.sleep(0.2)
    assert row is not None and row.caller == "13812345678" and row.size == files[0].stat().st_size

    # The same Monday at 10:00: straight to department 1's seat.
    controller(w, "2025-09-29T10:00:00+08:00")
    result = _place(tmp_path, "13812345678", "working-hours")
    assert result.answered, result
    assert _first_invite_after(seat, result, 1) < DIRECT_S
    assert "01062345001" in (seat.invites()[0].request_uri or "")


# -- 2. a statutory holiday routes as after hours, a make-up working day as working hours ----------
def test_holiday_routes_as_after_hours_and_a_make_up_working_day_as_working_hours(
        world, seats, controller, tmp_path: Path) -> None:
    w = world()
    day_dept = w.department("1", "白班")
    night_dept = w.department("2", "值班")
    w.seat("01062345001", 5081, department=day_dept)
    w.seat("01062345002", 5082, department=night_dept)

    def rules(s, h) -> None:  # noqa: ANN001
        time_rules.add_time_rule(s, h, action="department:1", days="workday", segments="09:00-18:00")
        time_rules.set_after_hours(s, h, "department:2")
        calendar.seed_calendar(s, [2025])

    _rules(w, rules)
    w.deploy()
    day = _seat(seats, tmp_path, 5081, "answer", answer_after_s=0.2)
    night = _seat(seats, tmp_path, 5082, "answer", answer_after_s=0.2)

    # Wednesday 1 October 2025, 10:00: National Day, a statutory holiday.
    controller(w, "2025-10-01T10:00:00+08:00")
    result = _place(tmp_path, "13812345678", "holiday")
    assert result.answered, result
    assert _first_invite_after(night, result, 1) < DIRECT_S
    time.sleep(0.3)
    assert day.invite_count == 0, "the working-hours seat rang on a holiday"

    # Sunday 28 September 2025, 10:00: a make-up working day (调休) for National Day.
    controller(w, "2025-09-28T10:00:00+08:00")
    result = _place(tmp_path, "13812345678", "make-up-day")
    assert result.answered, result
    assert _first_invite_after(day, result, 1) < DIRECT_S
    time.sleep(0.3)
    assert (day.invite_count, night.invite_count) == (1, 1)


# -- 3. region rules ---------------------------------------------------------------------------------
def test_callers_from_beijing_and_shanghai_reach_different_departments(
        world, seats, controller, tmp_path: Path) -> None:
    w = world()
    north = w.department("1", "北京办事处")
    east = w.department("2", "上海办事处")
    w.seat("01062345001", 5081, department=north)
    w.seat("01062345002", 5082, department=east)

    def rules(s, h) -> None:  # noqa: ANN001
        region_rules.add_region_rule(s, h, province="北京", department="1")
        region_rules.add_region_rule(s, h, province="上海", department="2")

    _rules(w, rules)
    w.deploy()
    bj = _seat(seats, tmp_path, 5081, "answer", answer_after_s=0.2)
    sh = _seat(seats, tmp_path, 5082, "answer", answer_after_s=0.2)
    controller(w, "2025-09-29T10:00:00+08:00")

    r1 = _place(tmp_path, BEIJING, "beijing")
    assert r1.answered, r1
    assert _first_invite_after(bj, r1, 1) < DIRECT_S  # no menu: the region rule decided
    r2 = _place(tmp_path, SHANGHAI, "shanghai")
    assert r2.answered, r2
    assert _first_invite_after(sh, r2, 1) < DIRECT_S
    time.sleep(0.3)
    assert (bj.invite_count, sh.invite_count) == (1, 1)


# -- 4. blacklist -----------------------------------------------------------------------------------
def test_a_blacklisted_caller_is_refused_busy_or_with_the_prompt(world, seats, controller, tmp_path: Path) -> None:
    w = world()
    w.seat("01062345001", 5081)

    def rules(s, h) -> None:  # noqa: ANN001
        blocking.set_block_mode(s, h, "blacklist", refuse_with="busy")
        blocking.add_block_entry(s, h, BLOCKED)

    _rules(w, rules)
    w.deploy()
    seat = _seat(seats, tmp_path, 5081, "answer", answer_after_s=0.2)
    controller(w, "2025-09-29T10:00:00+08:00")

    refused = _place(tmp_path, BLOCKED, "blocked-busy")
    assert refused.final_status == 486, refused
    allowed = _place(tmp_path, "13812345678", "allowed")
    assert allowed.answered, allowed
    seat.wait_for_invites(1, timeout=3)

    # Switch to the blocked prompt (committed; the controller sees it on its next poll, no redeploy).
    _rules(w, lambda s, h: blocking.set_block_mode(s, h, "blacklist", refuse_with="prompt"))
    time.sleep(1.0)
    prompted = _place(tmp_path, BLOCKED, "blocked-prompt")
    assert prompted.early_media and prompted.final_status == 403, prompted
    assert 2.0 <= prompted.duration_s, prompted  # the prompt played before the release
    time.sleep(0.3)
    assert seat.invite_count == 1, "a blocked caller reached the seat"


# -- 5. a revoke takes effect on the very next call, without a redeploy -------------------------------
def test_destination_revoked_in_the_database_gets_no_invite_on_the_next_call(
        world, seats, controller, lab: Lab, tmp_path: Path) -> None:
    w = world()
    w.seat("01062345001", 5081)
    w.seat("01062345002", 5082)
    w.deploy()
    first = _seat(seats, tmp_path, 5081, "answer", answer_after_s=0.2)
    second = _seat(seats, tmp_path, 5082, "answer", answer_after_s=0.2)
    controller(w, "2025-09-29T10:00:00+08:00")

    before = _place(tmp_path, "13812345678", "before")
    assert before.answered and first.wait_for_invites(1, timeout=3) and second.invite_count == 0, before

    w.revoke("01062345001")  # committed; no deploy
    time.sleep(1.0)  # the controller polls the configuration generation every 0.2 s
    after = _place(tmp_path, "13812345678", "after")
    assert after.answered, after
    assert _first_invite_after(second, after, 1) < DIRECT_S
    time.sleep(0.3)
    assert first.invite_count == 1, "the revoked destination got an INVITE"
    # The rendered (static) plan still names it: only the controller knew.
    assert "01062345001" in (lab.config_dir / "ivr400/astdb.txt").read_text()


# -- 6. fail-safe: the controller dies in the middle of a load run --------------------------------------
def test_controller_killed_under_load_drops_no_call_and_routing_is_dynamic_after_restart(
        world, seats, controller, tmp_path: Path) -> None:
    w = world()
    north = w.department("1", "北京办事处")
    w.seat("01062345001", 5081, department=north)
    _rules(w, lambda s, h: region_rules.add_region_rule(s, h, province="北京", department="1"))
    w.set_hotline(menu_timeout_s=5, menu_retries=1)
    w.deploy()
    seat = _seat(seats, tmp_path, 5081, "answer", answer_after_s=0.1)
    ctl = controller(w, log_level="warning")

    rate, calls = 5, 100
    load = start_load(HOTLINE, rate=rate, calls=calls, hold_s=0.5, from_number=BEIJING, workdir=tmp_path / "load")
    time.sleep(8.0)
    killed_at, kill_offset = time.time(), time.monotonic() - load.started
    ctl.kill()
    result = load.wait(timeout=calls / rate + 60)
    print(f"fail-safe: {result}; the seat took {seat.invite_count} call(s); controller killed "
          f"{kill_offset:.1f} s into the run")
    assert result.failed == 0 and result.successful == calls, result

    # While it ran, the region rule sent the calls to the department's seat; after the kill the static
    # plan (the menu) took them: no new INVITE at the seat from then on.
    times = seat.invite_times
    assert len([t for t in times if t < killed_at]) >= 25, times
    assert not [t for t in times if t > killed_at + 1.0], "calls reached the seat while the controller was down"

    # Restarted: the rule only the controller knows works again.
    controller(w, log_level="warning")
    seen = seat.invite_count
    again = _place(tmp_path, BEIJING, "after-restart")
    assert again.answered, again
    assert _first_invite_after(seat, again, seen + 1) < DIRECT_S


# -- 7. call records match the calls one for one -------------------------------------------------------
@pytest.fixture
def cdr_events(lab: Lab) -> None:
    """The lab running with the shipped cdr_manager mappings (what `lab up` renders)."""
    rendered = render_base_config(LabConfig(ami_secret=lab.ami_secret))
    for name in ("cdr_manager.conf", "cdr_custom.conf"):
        atomic_write(lab.config_dir / name, rendered[name])
    lab.rx("module reload cdr_manager.so")
    backends = lab.rx("cdr show status").split("Registered Backends", 1)[-1]
    assert "cdr_manager" in backends


def _records(w: World, since: datetime) -> list[CallRecord]:
    with Session(w.engine) as s:
        return list(s.scalars(sql_select(CallRecord).where(CallRecord.started_at >= since).order_by(CallRecord.id)))


def test_call_records_match_the_calls_one_for_one(world, seats, controller, cdr_events, lab: Lab,
                                                  tmp_path: Path) -> None:
    w = world()
    depts = {key: w.department(key, name) for key, name in (("1", "北京"), ("2", "上海"), ("3", "广州"))}
    a = "PJSIP/pstn/sip:01062345001@127.0.0.1:5081"
    w.seat("01062345001", 5081, department=depts["1"])
    w.seat("01062345002", 5082, department=depts["2"])
    w.seat("01062345003", 5083, department=depts["3"], ring_timeout=5)
    w.set_hotline(voicemail=False, record_calls=True, menu_timeout_s=3, menu_retries=1)

    def rules(s, h) -> None:  # noqa: ANN001
        for province, dept_key in (("北京", "1"), ("上海", "2"), ("广东", "3")):
            region_rules.add_region_rule(s, h, province=province, department=dept_key)
        blocking.set_block_mode(s, h, "blacklist", refuse_with="busy")
        blocking.add_block_entry(s, h, BLOCKED)
        add_hotline(s, "4008000002", h.enterprise, name="voicemail only", now=w.now)  # no seats: voicemail

    _rules(w, rules)
    w.deploy()
    _seat(seats, tmp_path, 5081, "answer", answer_after_s=0.2)
    _seat(seats, tmp_path, 5082, "busy")
    _seat(seats, tmp_path, 5083, "ring")
    ctl = controller(w, "2025-09-29T10:00:00+08:00", log_level="info")
    metrics_before = scrape(ctl.metrics_url)

    rec = f"{RECORDING_SPOOL}/{HOTLINE}/{{}}.wav"
    vm = f"{VOICEMAIL_SPOOL}/4008000002/{{}}.wav"
    # caller -> (to, call options, expected: hotline, disposition, seat, key path, department, recording)
    plan: dict[str, tuple[str, dict, tuple]] = {
        BEIJING: (HOTLINE, {"audio": "g711a.pcap", "hold_s": 1.5}, (HOTLINE, "answered", a, None, "1", rec)),
        SHANGHAI: (HOTLINE, {}, (HOTLINE, "busy", None, None, "2", None)),
        GUANGZHOU: (HOTLINE, {}, (HOTLINE, "noanswer", None, None, "3", None)),
        BLOCKED: (HOTLINE, {}, (HOTLINE, "blocked", None, None, None, None)),
        HANGZHOU: (HOTLINE, {"dtmf": "1", "dtmf_delay_s": 1.0, "hold_s": 1.0}, (HOTLINE, "answered", a, "1", "1", rec)),
        "057112345679": (HOTLINE, {"hold_s": 1.5}, (HOTLINE, "abandoned", None, None, None, None)),
        "13800138000": ("4009999999", {}, ("4009999999", "unknown_number", None, None, None, None)),
        "13800138001": ("4008000002", {"audio": "g711a.pcap", "audio_delay_s": LEAVE_MESSAGE_S + 1.0, "hold_s": 1.5},
                        ("4008000002", "voicemail", None, None, None, vm)),
    }
    since = datetime.now(timezone.utc).replace(microsecond=0)
    listener = CdrListener(w.engine, AmiSettings.from_mapping(lab.ami_credentials), csv_path=None, backfill=False,
                           flush_delay=0.3)

    metrics_after: dict = {}

    async def scenario() -> None:
        await listener.start()
        assert await listener.wait_logged_in(30), "AMI login"
        try:
            for caller, (to, options, _) in plan.items():
                result = await asyncio.to_thread(_place, tmp_path, caller, caller, to, **options)
                assert result.final_status is not None, result
            deadline = time.monotonic() + 20
            while len(_records(w, since)) < len(plan) and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            metrics_after.update(await asyncio.to_thread(scrape, ctl.metrics_url))
            # The controller stopped: the next call is routed by the static plan, and its record says so.
            await asyncio.to_thread(ctl.stop)
            result = await asyncio.to_thread(_place, tmp_path, STATIC_CALLER, "static", HOTLINE, hold_s=1.0)
            assert result.final_status is not None, result
            deadline = time.monotonic() + 20
            while len(_records(w, since)) < len(plan) + 1 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            await asyncio.sleep(1.0)  # anything extra would be stored by now
        finally:
            await listener.stop()

    asyncio.run(scenario())

    rows = _records(w, since)
    for r in rows:
        print(f"cdr: {r.caller} -> {r.hotline} {r.disposition:14} seat={r.seat} keys={r.key_path} "
              f"dept={r.department} rec={r.recording_path} {r.duration_s}s/{r.billsec}s")
    assert listener.stats.parse_errors == 0 and listener.stats.store_errors == 0, listener.stats
    assert sorted(r.caller for r in rows) == sorted([*plan, STATIC_CALLER]), "exactly one record per call placed"
    static = next(r for r in rows if r.caller == STATIC_CALLER)
    assert (static.decided_by, static.disposition) == ("static", "abandoned")  # hung up in the static menu
    rows = [r for r in rows if r.caller != STATIC_CALLER]
    # Who decided, read from each call: the controller, except the unknown number nobody had to route.
    assert {r.caller: r.decided_by for r in rows} == {
        c: (None if to == "4009999999" else "controller") for c, (to, _, _) in plan.items()}
    for row in rows:
        hotline, disposition, seat_, keys, dept, recording = plan[row.caller][2]
        if recording is not None:
            recording = recording.format(row.uniqueid)
        got = (row.hotline, row.disposition, row.seat, row.key_path, row.department, row.recording_path)
        assert got == (hotline, disposition, seat_, keys, dept, recording), row.caller
        assert row.uniqueid == row.linkedid and row.started_at <= row.ended_at  # type: ignore[operator]
        assert (row.answered_at is not None) == (disposition == "answered"), row.caller

    # The recordings of the answered calls exist on the PBX and are not world-readable; the Beijing
    # caller spoke (sip-tester's g711a.pcap), so that one holds audio.
    for row in rows:
        if row.disposition == "answered":
            path = lab.host_path(row.recording_path)  # type: ignore[arg-type]
            deadline = time.monotonic() + 5
            while (not path.exists() or path.stat().st_mode & 0o777 != 0o640) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert path.stat().st_mode & 0o777 == 0o640, oct(path.stat().st_mode)
            if row.caller == BEIJING:
                assert path.stat().st_size > 8000, path  # > 0.5 s of 8 kHz 16-bit audio

    # The controller's metrics moved by exactly these calls' hooks: an entry decision for each call to an
    # active hotline (the unknown number never reaches it), one department hook after the key press, the
    # voicemail hook; no static-plan handoff.
    decisions = {("route", "department"): 3, ("route", "refuse"): 1, ("route", "menu"): 2, ("route", "voicemail"): 1,
                 ("department", "department"): 1}
    expected = {key("ivr400_decisions_total", route=r, outcome=o): n for (r, o), n in decisions.items()}
    expected.update({key("ivr400_decision_latency_seconds_count", route="route"): 7,
                     key("ivr400_decision_latency_seconds_count", route="department"): 1,
                     key("ivr400_agi_sessions_total", route="route", outcome="ok"): 7,
                     key("ivr400_agi_sessions_total", route="department", outcome="ok"): 1,
                     key("ivr400_agi_sessions_total", route="voicemail_saved", outcome="ok"): 1})
    assert delta(metrics_after, metrics_before) == expected
    assert metrics_after[key("ivr400_agi_sessions_in_flight")] == 0
