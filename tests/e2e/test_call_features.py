"""Issue 10's call-path features on the real Asterisk with sipp and the controller running: the post-call
satisfaction survey (满意度评价) and the WEB呼叫 callback (AMI Originate to the visitor, consent key 1, then the
hotline's seats). Kept short: the shared lab serializes e2e tests."""
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.controller.loader import load_config
from ivr400.db.models import ClickToCallAttempt, SurveyResponse, Trunk
from ivr400.lab import Lab
from ivr400.lab.sipp import call
from ivr400.pbx.asterisk.ami import Ami
from ivr400.provisioning.clicktocall import configure, place_callback

from .test_cdr import cdr_csv  # noqa: F401  (the fixture: the shipped CDR mappings loaded)
from .world import HOTLINE, World
from .world import start_seat as _seat

pytestmark = pytest.mark.pbx

SEAT = "01062345678"


def _scores(w: World) -> list[tuple[str | None, int]]:
    with Session(w.engine) as s:
        return [(r.seat, r.score) for r in s.scalars(select(SurveyResponse).order_by(SurveyResponse.id))]


def _until(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_survey_after_the_seat_hangs_up_and_none_when_the_caller_does(world, seats, controller,  # noqa: ANN001
                                                                       tmp_path: Path) -> None:
    w = world()
    w.set_hotline(survey_enabled=True)
    w.seat(SEAT, 5091)
    w.deploy()
    controller(w)
    seat = _seat(seats, tmp_path, 5091, "answer", hangup_after_s=1.0)
    # The seat hangs up 1 s after answering; the caller presses 4 two seconds into the survey prompt.
    scored = call(HOTLINE, "13800138000", dtmf="4", dtmf_delay_s=3.0, hold_s=12, timeout_s=40,
                  workdir=tmp_path / "caller-scores")
    assert scored.answered, scored
    assert _until(lambda: len(_scores(w)) == 1), scored
    [(seat_dial, score)] = _scores(w)
    assert score == 4 and seat_dial is not None and SEAT in seat_dial
    assert scored.hangup_by == "pbx", scored  # thanked and released by the PBX
    seat.stop()

    # The caller hangs up first: no survey, no score.
    seat = _seat(seats, tmp_path / "again", 5091, "answer")
    left = call(HOTLINE, "13800138001", hold_s=2, timeout_s=30, workdir=tmp_path / "caller-leaves")
    assert left.answered and left.hangup_by == "carrier", left
    time.sleep(1.0)
    assert len(_scores(w)) == 1
    seat.stop()


def test_click_to_call_rings_the_visitor_then_after_key_1_the_seat(world, seats, controller, lab: Lab,  # noqa: ANN001
                                                                   tmp_path: Path) -> None:
    w = world()
    w.seat(SEAT, 5093)
    with w.session() as s:
        h = w.hotline(s)
        visitor_trunk = Trunk(name="visitor", dial_template="PJSIP/pstn/sip:{number}@127.0.0.1:5094")
        s.add(visitor_trunk)
        s.flush()
        h.trunk_id = visitor_trunk.id
        configure(s, h, caller_id="010-62345670", enabled=True)
    w.deploy()
    controller(w)
    seat = _seat(seats, tmp_path, 5093, "answer", hangup_after_s=2.0)
    visitor = _seat(seats, tmp_path, 5094, "answer", dtmf="1", dtmf_after_s=2.0)
    with w.session() as s:
        h = w.hotline(s)
        now = w.now
        entry = load_config(s, now).get(HOTLINE)
        assert entry is not None
        with Ami.connect(**lab.ami_credentials) as ami:
            result = place_callback(s, ami, hotline=h, target="13800138000", now=now, block=entry.routing.block,
                                    time_rules=entry.routing.time_rules, calendar=entry.calendar,
                                    zone=entry.routing.zone, source="operator", actor="e2e")
    assert result.accepted, result
    # The visitor is rung first (by its own number, showing the enterprise's number), then the seat.
    visitor_invites = visitor.wait_for_invites(1, timeout=10)
    assert visitor_invites and "13800138000" in (visitor_invites[0].request_uri or "")
    assert "01062345670" in (visitor_invites[0].header("From") or "")
    seat_invites = seat.wait_for_invites(1, timeout=20)
    assert seat_invites, "the seat was never rung after the visitor pressed 1"
    assert seat_invites[0].time > visitor_invites[0].time + 2.0  # only after the consent key
    assert "13800138000" in (seat_invites[0].header("From") or "")  # the seat sees the visitor's number
    with Session(w.engine) as s:
        assert s.scalars(select(ClickToCallAttempt.outcome)).all() == ["accepted"]
    visitor.stop()
    seat.stop()


def test_zero_balance_prompt_plays_余额不足_and_keep_rings_the_seat_flagged(world, seats, controller, lab: Lab,  # noqa: ANN001
                                                                         cdr_csv: Path, tmp_path: Path) -> None:  # noqa: F811
    """话费余额 at zero (no top-up, a tariff): with the choice `prompt` the caller hears the 余额不足 prompt and no
    seat is rung; switched to `keep` (no redeploy: the controller follows hotline_account) the seat rings and
    the controller flags the call: its call record and fact row say so once its CDR is imported."""
    from ivr400.cdr import billing
    from ivr400.cdr.cdr_store import import_csv
    from ivr400.db.models import BalanceFlag, CallFact, CallRecord

    since = datetime.now(timezone.utc) - timedelta(seconds=1)  # the lab's CSV holds earlier runs' calls too

    from .ami_events import AmiEvents

    w = world()
    w.seat(SEAT, 5095)
    with w.session() as s:
        billing.set_account(s, HOTLINE, tariff_fen_per_min=12, zero_balance="prompt")
    w.deploy()
    ctl = controller(w)
    seat = _seat(seats, tmp_path, 5095, "answer", hangup_after_s=1.0)
    with AmiEvents(lab) as ami:
        stopped = call(HOTLINE, "13800138071", hold_s=2, timeout_s=40, workdir=tmp_path / "caller-zero-prompt")
        heard = ami.sounds("13800138071")
    assert "ivr400/ivr400-balance-low" in heard, heard
    assert not [h for h in heard if h.startswith("dial:")], heard
    assert not stopped.answered and stopped.duration_s >= 7.0, stopped  # the 7.8 s prompt, then released
    assert seat.invite_count == 0, "a seat rang at zero balance with the prompt choice"

    with w.session() as s:
        billing.set_account(s, HOTLINE, zero_balance="keep")
    time.sleep(1.5)  # the controller polls the generation every 200 ms, then reloads
    with AmiEvents(lab) as ami:
        kept = call(HOTLINE, "13800138072", hold_s=3, timeout_s=40, workdir=tmp_path / "caller-zero-keep")
        heard = ami.sounds("13800138072")
    assert kept.answered, kept
    assert seat.wait_for_invites(1, timeout=5), "the seat was not rung with the keep choice"
    assert "ivr400/ivr400-balance-low" not in heard, heard
    assert _until(lambda: "balance-zero flag" in ctl.log()), ctl.log()[-2000:]
    seat.stop()

    def flags() -> dict[str, tuple[bool, bool]] | None:
        """caller → (record flagged, fact flagged) of the two calls, once both records are imported."""
        import_csv(w.engine, cdr_csv, state_path=tmp_path / "state.json", from_start=True)
        with Session(w.engine) as s:
            rows = s.execute(select(CallRecord.caller, CallRecord.balance_flagged, CallFact.balance_flagged)
                             .join(CallFact, CallFact.uniqueid == CallRecord.uniqueid)
                             .where(CallRecord.caller.in_(["13800138071", "13800138072"]),
                                    CallRecord.started_at >= since)).all()
        found = {caller: (record, fact) for caller, record, fact in rows}
        return found if len(found) == 2 else None

    assert _until(lambda: flags() is not None), "the two calls' records were not imported"
    assert flags() == {"13800138071": (False, False), "13800138072": (True, True)}
    with Session(w.engine) as s:
        assert s.scalars(select(BalanceFlag.hotline)).all() == [HOTLINE]


def test_click_to_call_attempts_stay_in_flight_until_their_cdr_arrives(world, seats, controller, lab: Lab,  # noqa: ANN001
                                                                        tmp_path: Path) -> None:
    """N concurrent per hotline on the real Asterisk: a callback is in flight until the CDR of its originated
    channel reaches the CDR listener — a visitor who is busy closes it at once, an answered callback only when
    the call through the hotline is over."""
    import asyncio

    from ivr400.cdr.cdr_listener import AmiSettings, CdrListener
    from ivr400.routing.clicktocall import Limits

    w = world()
    w.seat(SEAT, 5096)
    with w.session() as s:
        h = w.hotline(s)
        visitor_trunk = Trunk(name="visitor", dial_template="PJSIP/pstn/sip:{number}@127.0.0.1:5097")
        s.add(visitor_trunk)
        s.flush()
        h.trunk_id = visitor_trunk.id
        configure(s, h, caller_id="010-62345670", enabled=True, max_concurrent=1)
    w.deploy()
    controller(w)
    listener = CdrListener(w.engine, AmiSettings.from_mapping(lab.ami_credentials), csv_path=None, backfill=False,
                           flush_delay=0.3)

    def attempt(target: str, limits: Limits | None = None):  # noqa: ANN202
        with w.session() as s:
            entry = load_config(s, w.now).get(HOTLINE)
            assert entry is not None
            with Ami.connect(**lab.ami_credentials) as ami:
                return place_callback(s, ami, hotline=w.hotline(s), target=target, now=w.now,
                                      block=entry.routing.block, time_rules=entry.routing.time_rules,
                                      calendar=entry.calendar, zone=entry.routing.zone, source="operator",
                                      actor="e2e", limits=limits)

    def final(channel_id: str | None) -> tuple[object, object]:
        with Session(w.engine) as s:
            row = s.scalars(select(ClickToCallAttempt).where(ClickToCallAttempt.channel_id == channel_id)).one()
            return row.ended_at, row.final

    async def scenario() -> None:
        await listener.start()
        assert await listener.wait_logged_in(30), "AMI login"
        try:
            busy_visitor = await asyncio.to_thread(_seat, seats, tmp_path / "busy", 5097, "busy")
            refused = await asyncio.to_thread(attempt, "13800138091")
            assert refused.accepted, refused
            assert await asyncio.to_thread(_until, lambda: final(refused.channel_id)[0] is not None, 15.0), \
                "the busy visitor's callback was never closed"
            assert final(refused.channel_id)[1] in ("busy", "failed", "no answer", "congestion")
            busy_visitor.stop()
            # An answered callback: the visitor presses 1, the seat talks 4 s; in flight until then.
            await asyncio.to_thread(_seat, seats, tmp_path / "seat", 5096, "answer", hangup_after_s=4.0)
            visitor = await asyncio.to_thread(_seat, seats, tmp_path / "visitor", 5097, "answer", dtmf="1",
                                              dtmf_after_s=2.0)
            placed = await asyncio.to_thread(attempt, "13800138092")
            assert placed.accepted, placed
            await asyncio.sleep(3.0)
            assert final(placed.channel_id)[0] is None  # still going: in flight
            nope = await asyncio.to_thread(attempt, "13800138093", Limits(max_concurrent=1))
            assert nope.outcome == "refused_busy", nope
            assert await asyncio.to_thread(_until, lambda: final(placed.channel_id)[0] is not None, 30.0), \
                "the answered callback was never closed"
            assert final(placed.channel_id)[1] == "answered"
            visitor.stop()
        finally:
            await listener.stop()

    asyncio.run(scenario())
