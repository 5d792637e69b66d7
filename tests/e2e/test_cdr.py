"""Call records on the real lab: every call placed is recorded exactly once, live over AMI and, for
calls that ended while the listener was down, from cdr_custom's CSV when it comes back.

The test dialplan stands in for the rendered one: it sets the IVR400_* channel variables the way the
hunt does and copies them into the CDR from a hangup handler pushed at call entry (the pattern the
renderer is asked to follow), then dials sipp seats that answer, refuse (486) or ring out.
"""
from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ivr400.cdr.cdr_listener import AmiSettings, CdrListener
from ivr400.cdr.cdr_model import CSV_FILE, parse_csv_text
from ivr400.cli import main as cli_main
from ivr400.db.engine import make_engine
from ivr400.db.migrate import upgrade
from ivr400.db.models import CallRecord
from ivr400.lab import Lab
from ivr400.lab.config import LabConfig, atomic_write, render_base_config
from ivr400.pbx.asterisk import dialplan_variables as v

from .sipp import call

pytestmark = pytest.mark.pbx

ANSWER, BUSY, RING = 5071, 5072, 5073
SEAT = f"PJSIP/pstn/sip:seat@127.0.0.1:{ANSWER}"
CSV_PATH = f"/var/log/asterisk/cdr-custom/{CSV_FILE}"


def seat(port: int, timeout: int) -> str:
    return f"PJSIP/pstn/sip:seat@127.0.0.1:{port},{timeout}"


def dialplan(hotline: str) -> str:
    """Cases by the last digit of 99910NN: what each does, and what the call record must say."""
    return f"""[ivr400-inbound]
exten => _99910XX,1,Set({v.HOTLINE}={hotline})
 same => n,Set(CDR({v.CDR_HOTLINE})=${{{v.HOTLINE}}})
 same => n,Set({v.KEY_PATH}=)
 same => n,Set({v.DEPT_PATH}=)
 same => n,Set(CHANNEL(hangup_handler_push)=ivr400-e2e-cdr-hangup,s,1)
 same => n,Goto(ivr400-e2e-cdr,c${{EXTEN:-1}},1)

[ivr400-e2e-cdr]
; 1: the first seat answers
exten => c1,1,Dial({seat(ANSWER, 10)})
 same => n,Hangup()
; 2: hunt: busy, then answered (two CDRs)
exten => c2,1,Dial({seat(BUSY, 10)})
 same => n,Dial({seat(ANSWER, 10)})
 same => n,Hangup()
; 3: the only seat is busy
exten => c3,1,Dial({seat(BUSY, 10)})
 same => n,Set({v.DISPOSITION}=busy)
 same => n,Hangup(17)
; 4: the seat rings out
exten => c4,1,Dial({seat(RING, 2)})
 same => n,Set({v.DISPOSITION}=noanswer)
 same => n,Hangup()
; 5: a blocked caller (呼叫阻截) gets busy without any seat ringing
exten => c5,1,Set({v.DISPOSITION}=blocked)
 same => n,Busy(2)
 same => n,Hangup(17)
; 6: IVR menu, key 2 then 2-1 to department 2.1; the caller hangs up before anything rings
exten => c6,1,Answer()
 same => n,Set({v.KEY_PATH}=2)
 same => n,Set({v.KEY_PATH}=2-1)
 same => n,Set({v.DEPT_PATH}=2.1)
 same => n,Wait(10)
 same => n,Hangup()
; 7: nobody answers, voicemail takes a message
exten => c7,1,Dial({seat(RING, 2)})
 same => n,Set({v.DISPOSITION}=voicemail)
 same => n,Set({v.VOICEMAIL_FILE}={v.VOICEMAIL_SPOOL}/{hotline}/${{UNIQUEID}}.wav)
 same => n,Answer()
 same => n,Wait(1)
 same => n,Hangup()

[ivr400-e2e-cdr-hangup]
; What the rendered dialplan must do at hangup: copy the IVR400_* channel variables into the CDR, in one
; CDR variable of CSV fields (ivr400.cdr.cdr_model.PACKED_COLUMNS; decided_by, hunt and seat answer left empty).
exten => s,1,ExecIf($["${{DIALSTATUS}}" = "ANSWER"]?Set({v.SEAT_REACHED}=${{CUT(DIALEDPEERNAME,/,1)}}/${{DIALEDPEERNUMBER}}))
 same => n,ExecIf($["${{DIALSTATUS}}" = "ANSWER"]?Set({v.DISPOSITION}=answered))
 same => n,Set(CDR({v.CDR_CALL})=${{CSV_QUOTE(${{{v.KEY_PATH}}})}},${{CSV_QUOTE(${{{v.DEPT_PATH}}})}},${{CSV_QUOTE(${{{v.SEAT_REACHED}}})}},${{CSV_QUOTE(${{{v.DISPOSITION}}})}},${{CSV_QUOTE(${{{v.VOICEMAIL_FILE}}})}},"","","")
 same => n,Return()
"""


#: case → (hold_s for the carrier, disposition, seat, key_path, department)
CASES: dict[int, tuple[float, str, str | None, str | None, str | None]] = {
    1: (1.0, "answered", SEAT, None, None),
    2: (1.0, "answered", SEAT, None, None),
    3: (1.0, "busy", None, None, None),
    4: (1.0, "noanswer", None, None, None),
    5: (1.0, "blocked", None, None, None),
    6: (1.0, "abandoned", None, "2-1", "2.1"),
    7: (1.0, "voicemail", None, None, None),
}


@pytest.fixture
def cdr_csv(lab: Lab) -> Path:
    """The lab running with the shipped cdr_manager/cdr_custom config (also what `lab up` renders)."""
    rendered = render_base_config(LabConfig(ami_secret=lab.ami_secret))
    for name in ("cdr_manager.conf", "cdr_custom.conf"):
        atomic_write(lab.config_dir / name, rendered[name])
    if "cdr_custom.so" not in lab.rx("module show like cdr_custom.so"):
        lab.rx("module load cdr_custom.so")
    lab.rx("module reload cdr_manager.so")
    lab.rx("module reload cdr_custom.so")
    backends = lab.rx("cdr show status").split("Registered Backends", 1)[-1]
    assert "cdr_manager" in backends and "suspended" not in backends.split("cdr_manager", 1)[1].splitlines()[0]
    assert "custom" in backends.lower()
    return lab.host_path(CSV_PATH)


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'cdr.db'}")
    upgrade(engine)
    yield engine
    engine.dispose()


def records(engine: Engine, hotline: str) -> list[CallRecord]:
    with Session(engine) as s:
        return list(s.scalars(select(CallRecord).where(CallRecord.hotline == hotline).order_by(CallRecord.id)))


async def wait_for(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.1)


def csv_calls(path: Path, hotline: str) -> set[str]:
    """linkedids of the hotline's calls in the CSV (complete lines only)."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return set()
    text = data[: data.rfind(b"\n") + 1].decode("utf-8", errors="replace")
    return {leg.linkedid for leg in parse_csv_text(text).legs if leg.hotline == hotline}


async def place(case: int, caller: str) -> None:
    hold = CASES[case][0]
    result = await asyncio.to_thread(call, f"999100{case}", caller, hold_s=hold, local_port=5070, timeout_s=30)
    assert result.final_status is not None, result


def check(row: CallRecord, case: int, hotline: str) -> None:
    _hold, disposition, seat_, keys, dept = CASES[case]
    assert (row.disposition, row.seat, row.key_path, row.department) == (disposition, seat_, keys, dept), case
    assert row.hotline == hotline and row.uniqueid == row.linkedid
    assert row.started_at <= row.ended_at
    if disposition == "answered":
        assert row.started_at <= row.answered_at <= row.ended_at and row.billsec >= 0
    else:
        assert row.answered_at is None
    if disposition == "voicemail":
        assert row.recording_path == f"{v.VOICEMAIL_SPOOL}/{hotline}/{row.uniqueid}.wav"
    else:
        assert row.recording_path is None


def test_every_call_recorded_once_live_and_across_a_listener_restart(
    lab: Lab, lab_dialplan, seats, cdr_csv: Path, engine: Engine, tmp_path: Path
) -> None:
    hotline = f"4009{random.randrange(10**6):06d}"
    seats(ANSWER, behaviour="answer", workdir=tmp_path / "seat-answer")
    seats(BUSY, behaviour="busy", workdir=tmp_path / "seat-busy")
    seats(RING, behaviour="ring", workdir=tmp_path / "seat-ring")
    lab_dialplan(dialplan(hotline))
    state = tmp_path / "cdr-state.json"
    ami = AmiSettings.from_mapping(lab.ami_credentials)

    def listener() -> CdrListener:
        return CdrListener(engine, ami, csv_path=cdr_csv, state_path=state, flush_delay=0.3, import_interval=0)

    live = {f"139{hotline[-4:]}10{c:02d}": c for c in CASES}           # phase 1: listener up
    offline = {f"139{hotline[-4:]}20{c:02d}": c for c in (1, 2, 3, 4, 7)}  # phase 2: listener down
    after = {f"139{hotline[-4:]}3001": 1}                              # phase 3: back up

    async def scenario() -> tuple[CdrListener, CdrListener]:
        first = listener()
        await first.start()
        assert await first.wait_logged_in(30), "AMI login (and the first backfill)"
        for caller, case in live.items():
            await place(case, caller)
        # Asterisk posts a call's CDRs at its hangup, a moment after sipp is done.
        await wait_for(lambda: len(records(engine, hotline)) >= len(live), 20, f"{len(live)} live call records")
        await first.stop()

        for caller, case in offline.items():
            await place(case, caller)
        await wait_for(lambda: len(csv_calls(cdr_csv, hotline)) >= len(live) + len(offline), 20,
                       "the offline calls in the CSV")
        assert len(records(engine, hotline)) == len(live)  # nobody was listening

        second = listener()
        await second.start()
        assert await second.wait_logged_in(30)
        assert len(records(engine, hotline)) == len(live) + len(offline)  # backfilled at login
        for caller, case in after.items():
            await place(case, caller)
        await wait_for(lambda: len(records(engine, hotline)) >= len(live) + len(offline) + len(after), 20,
                       "the call after the restart")
        await asyncio.sleep(0.5)  # anything extra would be stored by now
        await second.stop()
        return first, second

    first, second = asyncio.run(scenario())

    rows = records(engine, hotline)
    placed = {**live, **offline, **after}
    for r in rows:
        print(f"cdr e2e: {r.caller} case {placed.get(r.caller)} {r.disposition:9} {r.source} seat={r.seat} "
              f"keys={r.key_path} dept={r.department} rec={r.recording_path} {r.duration_s}s/{r.billsec}s")
    print(f"cdr e2e: listener stats {first.stats.to_dict()} / {second.stats.to_dict()}")
    assert sorted(r.caller for r in rows) == sorted(placed), "one record per call placed, no more, no less"
    for row in rows:
        check(row, placed[row.caller], hotline)
        expected_source = "csv" if row.caller in offline else "ami"
        assert row.source == expected_source, (row.caller, row.source)
    assert first.stats.parse_errors == second.stats.parse_errors == 0
    assert first.stats.store_errors == second.stats.store_errors == 0
    assert len(csv_calls(cdr_csv, hotline)) == len(placed)

    # `ivr400 cdr import` afterwards (and again from the start of the file) changes nothing.
    runner = CliRunner()
    db = f"sqlite:///{tmp_path / 'cdr.db'}"
    before = [(r.uniqueid, r.disposition, r.seat, r.started_at, r.ended_at, r.source) for r in rows]
    for extra in ([], ["--from-start"]):
        out = runner.invoke(cli_main, ["--db", db, "cdr", "import", "--csv", str(cdr_csv), "--state-file", str(state),
                                      "--json", *extra], catch_exceptions=False)
        assert out.exit_code == 0, out.output
        assert json.loads(out.stdout)["errors"] == []
    after_rows = records(engine, hotline)
    assert [(r.uniqueid, r.disposition, r.seat, r.started_at, r.ended_at, r.source) for r in after_rows] == before
