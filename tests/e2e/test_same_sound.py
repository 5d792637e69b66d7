"""Issue #8.2: the same call sounds the same whether the controller or the static plan routes it.

For every path the controller can choose, the same calls are placed with the controller down (the static
plan decides) and up (`ivr400 serve` decides), and what the caller hears is read from Asterisk's own
manager events for the caller's channel (every dialplan step with its application and arguments as run,
and the music-on-hold class started while seats ring): welcome tone, menu prompt, ringback tone (彩铃),
seats dialled in order with the dial options (ringback class, call recording), voicemail greeting and
recording. The seats' INVITEs are checked too: who rang, in which order, and not before the welcome
tone had played.

Paths: the switchboard; a menu key to a department; a region rule to a department (compared with the
static plan's way to the same department: its menu key); a time rule's after-hours voicemail (compared
with the static plan's voicemail after every seat failed); a blocked caller (the static fail-safe has
no blacklist: it lets the caller in, which is said, not hidden).
"""
from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from ivr400.lab import Lab
from ivr400.lab.sipp import CallResult, SeatUas, call
from ivr400.provisioning import blocking, calendar, region_rules, time_rules, tones

from .ami_events import AmiEvents, Step
from .world import HOTLINE, World, fastagi_listening, write_wav
from .world import start_seat as _seat

pytestmark = pytest.mark.pbx

WELCOME_S = 4.0
MENU_HOTLINE, AFTER_HOURS_HOTLINE = "4008000002", "4008000003"
BLOCKED = "13912345678"
LEAVE_MESSAGE = "ivr400/ivr400-leave-message"
#: Monday 29 September 2025, 20:00 in Shanghai: a working day, after hours.
EVENING = "2025-09-29T20:00:00+08:00"


_RECORDING = re.compile(r"U\(ivr400-record\^[^)]*\)")


def heard(ami: AmiEvents, caller: str) -> list[str]:
    """What the caller heard, step by step; a Dial as its target and options, the call recording's
    per-call file name (its UNIQUEID) left out."""
    out = []
    for step in ami.steps(caller):
        sound = step.sound
        if sound is None:
            continue
        if step.app.lower() == "dial":
            options = step.data.split(",")[2] if step.data.count(",") >= 2 else ""
            sound = f"{sound} {_RECORDING.sub('U(record)', options)}".rstrip()
        out.append(sound)
    return out


def _no_ringback(sounds: list[str]) -> list[str]:
    return [s for s in sounds if not s.startswith(("dial:", "ringback:"))]


def _tone(w: World, name: str, kind: str, seconds: float, freq: float) -> int:
    with w.session() as s:
        src = write_wav(w.tmp / f"{name}.wav", seconds, freq)
        return tones.add_tone(s, src, name=name, kind=kind, enterprise=w.hotline(s).enterprise,
                              store_root=w.data_dir / "tones", now=w.now, approved=True).id


def _provision(w: World) -> None:
    """A: switchboard (busy, then answering) with a ringback tone and a blacklist; B: a menu whose key 1
    is a department (busy, then answering) with its own ringback tone, and a region rule 北京 → 1;
    C: a switchboard seat that is busy, voicemail, open 09:00-18:00 on working days."""
    ring_a = _tone(w, "ringback-a", "ringback", 2.0, 600.0)
    ring_b = _tone(w, "ringback-b", "ringback", 2.0, 700.0)
    w.set_hotline(ringback_tone_id=ring_a, record_calls=True)
    w.seat("01062345001", 5081)
    w.seat("01062345002", 5082)
    b = w.add_hotline(MENU_HOTLINE, menu_timeout_s=3, menu_retries=1)
    sales = w.department("1", "销售部", hotline=b)
    w.set_department(sales, ringback_tone_id=ring_b)
    w.seat("01062345003", 5083, department=sales, hotline=b)
    w.seat("01062345004", 5084, department=sales, hotline=b)
    c = w.add_hotline(AFTER_HOURS_HOTLINE)
    w.seat("01062345005", 5085, hotline=c)
    with w.session() as s:
        blocking.set_block_mode(s, w.hotline(s), "blacklist", refuse_with="prompt")
        blocking.add_block_entry(s, w.hotline(s), BLOCKED)
        region_rules.add_region_rule(s, w.hotline(s, b), province="北京", department="1")
        time_rules.add_time_rule(s, w.hotline(s, c), action="department", days="workday", segments="09:00-18:00")
        time_rules.set_after_hours(s, w.hotline(s, c), "voicemail")
        calendar.seed_calendar(s, [2025])


#: path -> (hotline, caller when the controller is down, caller when up, call options)
PATHS: dict[str, tuple[str, str, str, dict[str, object]]] = {
    "switchboard": (HOTLINE, "13910000001", "13910000002", {"hold_s": 1.0}),
    "menu key": (MENU_HOTLINE, "02161230001", "02161230002", {"dtmf": "1", "dtmf_delay_s": 1.0, "hold_s": 1.0}),
    "region rule": (MENU_HOTLINE, "01062340001", "01062340002", {"dtmf": "1", "dtmf_delay_s": 1.0, "hold_s": 1.0}),
    "after hours": (AFTER_HOURS_HOTLINE, "13910000003", "13910000004", {"hold_s": 9.5}),
    "blocked": (HOTLINE, "13912345670", BLOCKED, {"hold_s": 1.0}),
}


def _place(tmp: Path, to: str, caller: str, options: dict[str, object]) -> CallResult:
    return call(to, caller, workdir=tmp / f"carrier-{caller}", timeout_s=60, **options)  # type: ignore[arg-type]


def _rung(seats: dict[int, SeatUas], caller: str) -> list[tuple[float, int]]:
    """(INVITE time, port) of every seat INVITE for the call from `caller`, in time order."""
    return sorted((m.time, port) for port, seat in seats.items() for m in seat.invites()
                  if f"sip:{caller}@" in (m.header("From") or ""))


def test_every_controller_path_sounds_like_the_static_plan(world, seats, controller, lab: Lab, tmp_path: Path) -> None:
    if fastagi_listening():
        pytest.fail("the controller must be down for the first half of this test")
    w: World = world(welcome_s=WELCOME_S)
    _provision(w)
    w.deploy()
    behaviours = {5081: "busy", 5082: "answer", 5083: "busy", 5084: "answer", 5085: "busy"}
    uas = {port: _seat(seats, tmp_path, port, b, answer_after_s=0.3) for port, b in behaviours.items()}
    results: dict[tuple[str, str], CallResult] = {}
    with AmiEvents(lab) as ami:
        for path, (to, down, _, options) in PATHS.items():
            results[path, "down"] = _place(tmp_path, to, down, options)
        controller(w, EVENING)
        for path, (to, _, up, options) in PATHS.items():
            results[path, "up"] = _place(tmp_path, to, up, options)
        time.sleep(1.0)  # the last events
        sounds = {(path, mode): heard(ami, PATHS[path][1 if mode == "down" else 2]) for path, mode in results}
        steps = {key: ami.steps(PATHS[key[0]][1 if key[1] == "down" else 2]) for key in results}
    rung = {(path, mode): [port for _, port in _rung(uas, PATHS[path][1 if mode == "down" else 2])]
            for path, mode in results}
    for key, value in sorted(sounds.items()):
        print(f"{key[0]:12} {key[1]:4} heard {value}  seats {rung[key]}")

    welcome = f"ivr400/tone-{_welcome_id(w)}"
    # 1. The switchboard: welcome tone, then both seats in order with the hotline's ringback tone and
    # the call recording, whoever decides.
    assert sounds["switchboard", "up"] == sounds["switchboard", "down"], _steps(steps, "switchboard")
    assert sounds["switchboard", "down"][0] == welcome
    assert rung["switchboard", "up"] == rung["switchboard", "down"] == [5081, 5082]
    # 2. A menu key: the menu (the welcome tone as its prompt), then the department with its ringback.
    assert sounds["menu key", "up"] == sounds["menu key", "down"], _steps(steps, "menu key")
    assert sounds["menu key", "down"][0] == welcome
    assert rung["menu key", "up"] == rung["menu key", "down"] == [5083, 5084]
    # 3. A region rule: the controller skips the menu, not the welcome tone; the caller hears what one who
    # pressed the department's key hears.
    assert sounds["region rule", "up"] == sounds["region rule", "down"] == sounds["menu key", "down"], \
        _steps(steps, "region rule")
    assert rung["region rule", "up"] == [5083, 5084]
    # 4. After hours: welcome tone, voicemail greeting, recording; the static plan (no time rules) reaches
    # the same voicemail once its seat failed.
    assert sounds["after hours", "up"] == _no_ringback(sounds["after hours", "down"]), _steps(steps, "after hours")
    assert sounds["after hours", "up"] == [welcome, LEAVE_MESSAGE, "record"]  # the caller hung up while recording
    assert rung["after hours", "up"] == [] and rung["after hours", "down"] == [5085]
    # 5. Blocked: the prompt only, no welcome, no seat; the static plan has no blacklist.
    assert sounds["blocked", "up"] == ["ivr400/ivr400-blocked"] and rung["blocked", "up"] == []
    assert results["blocked", "up"].final_status == 403
    assert sounds["blocked", "down"] == sounds["switchboard", "down"]
    # The seats were not dialled before the welcome tone had played in full, on every path that rings them
    # without a menu (in a menu, the caller's key interrupts the prompt).
    for key, result in results.items():
        times = _rung(uas, PATHS[key[0]][1 if key[1] == "down" else 2])
        if times and key not in (("menu key", "down"), ("menu key", "up"), ("region rule", "down")):
            assert times[0][0] - result.invite_time >= WELCOME_S - 0.3, (key, times[0][0] - result.invite_time)


def _welcome_id(w: World) -> int:
    with w.session() as s:
        return int(w.hotline(s).welcome_tone_id)  # type: ignore[arg-type]


def _steps(steps: dict[tuple[str, str], list[Step]], path: str) -> str:
    lines = []
    for mode in ("down", "up"):
        lines.append(f"-- {path}, controller {mode}:")
        lines += [f"   {s.context},{s.exten},{s.priority} {s.app}({s.data[:100]}) {s.moh_class}"
                  for s in steps[path, mode]]
    return "\n".join(lines)
