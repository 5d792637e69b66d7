"""Smoke test of the PBX lab: a carrier call through real Asterisk reaches a sipp seat."""
from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from ivr400.lab import Lab, state_path

from .sipp import call

pytestmark = pytest.mark.pbx

SEAT_PORT = 5071
#: `[ivr400-inbound]` is deploy's context; same-named contexts from several includes merge, so the
#: lab test adds its own number range to it without touching deploy's file.
SMOKE_DIALPLAN = f"""[ivr400-inbound]
exten => _999XXXX,1,NoOp(ivr400 lab smoke ${{EXTEN}} from ${{CALLERID(num)}})
 same => n,Dial(PJSIP/pstn/sip:seat@127.0.0.1:{SEAT_PORT},10)
 same => n,Hangup()
"""


def test_lab_runs_asterisk_22_with_the_lab_layout(lab: Lab) -> None:
    assert lab.running
    assert lab.version().startswith("Asterisk 22")
    endpoints = lab.rx("pjsip show endpoints")
    assert "carrier" in endpoints and "pstn" in endpoints
    assert "127.0.0.1:5060" in lab.rx("pjsip show transports")
    assert "127.0.0.1/32" in lab.rx("pjsip show identify carrier")
    loaded = Lab.load()
    assert (loaded.pid, loaded.ami_secret) == (lab.pid, lab.ami_secret)
    assert stat.S_IMODE(os.stat(state_path()).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(lab.config_dir / "manager.conf").st_mode) == 0o600
    for path in ("/var/spool/asterisk/ivr400", "/var/lib/asterisk/sounds/ivr400", "/var/lib/asterisk/moh/ivr400"):
        assert lab.host_path(path).is_dir(), path


def test_carrier_call_reaches_seat_once(lab: Lab, lab_dialplan, seats, tmp_path: Path) -> None:
    seat = seats(SEAT_PORT, behaviour="answer", answer_after_s=0.2, workdir=tmp_path / "seat")
    lab_dialplan(SMOKE_DIALPLAN)
    assert "_999XXXX" in lab.rx("dialplan show ivr400-inbound")

    started = time.monotonic()
    result = call("9990001", "13800138000", hold_s=1.0, local_port=5070, workdir=tmp_path / "carrier")
    elapsed = time.monotonic() - started

    assert result.final_status == 200, result
    assert result.responses[-1] == 200, result
    assert result.hangup_by == "carrier", result
    invites = seat.wait_for_invites(1, timeout=2)
    time.sleep(0.3)  # a second INVITE (a retry) would show up by now
    assert seat.invite_count == 1, [m.first_line for m in seat.messages()]
    assert invites[0].request_uri == f"sip:seat@127.0.0.1:{SEAT_PORT}"
    assert "13800138000" in (invites[0].header("From") or "")
    assert invites[0].time >= result.invite_time  # type: ignore[operator]
    print(f"smoke call: {elapsed:.2f} s (answer after {result.answer_delay_s:.2f} s)")


def test_dialplan_reloads_leave_no_manager_subscriber_behind(lab: Lab) -> None:
    """The reload leak of docs/asterisk-reload-leak.md is contained: with no users.conf in the lab's
    tree, `dialplan reload` adds no subscriber to the manager:core stasis topic."""
    def subscribers() -> int:
        out = lab.rx("stasis show topic manager:core")
        return int(out.split("Subscribers count:")[1].split()[0])

    assert not (lab.config_dir / "users.conf").exists()
    before = subscribers()
    for _ in range(5):
        lab.rx("dialplan reload")
    assert subscribers() == before
