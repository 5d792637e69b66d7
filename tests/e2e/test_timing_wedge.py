"""The lab's Asterisk hangs up every menu call under load (docs/asterisk-timerfd-wedge.md).

With res_timing_timerfd, Asterisk 22.10.1 leaves from a few percent to three quarters of such calls up for
good at 150 calls/s (the caller's BYE answered 200 OK, both legs still bridged, `channel request hangup`
without effect); the lab noloads it, so res_timing_pthread drives the prompts. These tests fail if the lab
loads timerfd again.
"""
from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.bench_calls import restart_pbx
from bench.sipp_load import LoadSeat, run_load
from ivr400.lab import Lab
from ivr400.lab.config import TIMING_NOLOAD

pytestmark = pytest.mark.pbx

SEAT_PORT = 5093
CARRIER_PORT = 5094
NUMBER = "9990009"
#: The menu call without ivr400: the welcome prompt interrupted by key 1 (SIP INFO), a moment, the seat.
PLAN = f"""[ivr400-inbound]
exten => {NUMBER},1,Answer()
 same => n,Read(KEY,ivr400/ivr400-welcome,1,t(),1,5)
 same => n,Wait(0.05)
 same => n,Dial(PJSIP/pstn/sip:01062345009@127.0.0.1:{SEAT_PORT},10)
 same => n,Hangup()
"""


def _channels(lab: Lab) -> list[str]:
    return [line for line in lab.rx("core show channels concise").splitlines() if line.strip()]


def test_lab_drives_prompts_with_pthread_timing_not_timerfd(lab: Lab) -> None:
    assert "noload => " + TIMING_NOLOAD in (lab.config_dir / "modules.conf").read_text()
    assert "Using the 'pthread' timing module" in lab.rx("timing test")
    assert "res_timing_timerfd" not in lab.rx("module show like timing")


def test_a_burst_of_menu_calls_leaves_no_channel_up(lab: Lab, lab_dialplan, tmp_path: Path) -> None:
    assert not _channels(lab), "the lab should be idle before the burst"
    lab_dialplan(PLAN)
    seat = LoadSeat(SEAT_PORT, workdir=tmp_path / "seat").start()
    try:
        rate, calls = 150, 450
        result = run_load(NUMBER, rate=rate, calls=calls, hold_s=0.5, local_port=CARRIER_PORT, answer_timeout_s=10,
                          workdir=tmp_path / "carrier", key="1")
        deadline = time.monotonic() + 15
        while _channels(lab) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = _channels(lab)
        deadline = time.monotonic() + 3  # the seat's sipp writes its counters once a second
        while seat.calls() < calls and time.monotonic() < deadline:
            time.sleep(0.25)
        answered = seat.calls()
    finally:
        seat.stop()
    if left:  # leave the next test an idle PBX: a wedged call survives `channel request hangup`, not a restart
        restart_pbx(lab)
    assert result.successful == calls and result.failed == 0, result.failure_counters()
    assert answered == calls
    assert not left, f"{len(left)} channels still up 15 s after the burst, e.g. {left[:2]}"
