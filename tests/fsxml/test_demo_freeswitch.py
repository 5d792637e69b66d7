"""Done means (issue 12, rendering half): `ivr400 deploy --pbx freeswitch --dry-run` on the demo database renders
XML that parses, passes `frslint analyze`, and our evaluator routes the demo's calls as the Asterisk e2e tests
(tests/e2e/test_calls.py) route them on the real Asterisk: static plan (controller down) for sections a-f, the
controller's decisions for the README's demo call.
"""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.cli import main
from ivr400.controller.loader import load_config
from ivr400.db.engine import make_engine
from ivr400.db.models import Destination
from ivr400.provisioning import destinations
from ivr400.provisioning.sample import HOTLINE
from ivr400.render.freeswitch import render_freeswitch
from ivr400.render.load import load_model
from tests.conftest import in_ci
from tests.fsxml.controller import FsController
from tests.fsxml.evaluator import Dialplan, run_call
from tests.fsxml.frslint import FrslintUnavailable, analyze

SALES_1, SALES_2 = "sofia/gateway/ivr400-out/01062345678", "sofia/gateway/ivr400-out/02161234567"
SERVICE_1, SERVICE_2 = "sofia/gateway/ivr400-out/01062345679", "sofia/gateway/ivr400-out/01062345680"
BOARD = [SALES_1, "sofia/gateway/ivr400-out/01062345679"]
SOUNDS = "/usr/share/freeswitch/sounds"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    data = tmp_path_factory.mktemp("demo-data")
    env = {"IVR400_DATA_DIR": str(data), "IVR400_DATABASE_URL": ""}
    runner = CliRunner()
    made = runner.invoke(main, ["demo"], env=env)
    assert made.exit_code == 0, made.output
    out = runner.invoke(main, ["deploy", "--pbx", "freeswitch", "--dry-run", "--json"], env=env)
    assert out.exit_code == 0, out.output
    report = json.loads(out.stdout)
    assert report["dry_run"] and report["written"] == ["dialplan/ivr400.xml", "dialplan/public/ivr400.xml"]
    return data, report["files"]


@pytest.fixture(scope="module")
def plan(demo: tuple[Path, dict[str, str]]) -> Dialplan:
    files = demo[1]
    return Dialplan([files["dialplan/ivr400.xml"], files["dialplan/public/ivr400.xml"]],
                    contexts_of_includes={1: "public"})


def _seats(**outcomes: tuple[str, float]) -> object:
    by_dial = {f"sofia/gateway/ivr400-out/{k.removeprefix('n')}": o for k, o in outcomes.items()}
    return lambda dial: by_dial.get(dial, ("noanswer", 0.0))


def test_dry_run_xml_parses_and_passes_frslint(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    files = demo[1]
    for text in files.values():
        assert ET.fromstring(text).tag == "include"
    try:
        issues = analyze(files, tmp_path / "conf")
    except FrslintUnavailable as exc:
        if in_ci():
            raise
        pytest.skip(f"frslint could not be installed: {exc}")
    assert issues == []


def test_a_sequential_hunt_busy_then_no_answer_then_answer(plan: Dialplan) -> None:
    # Key 1 (销售部): seat 1 busy, seat 2 answers; each leg with its own ring timeout, tried in turn.
    r = run_call(plan, HOTLINE, keys=["1"], seats=_seats(n01062345678=("busy", 0), n02161234567=("answer", 0.5)))
    bridge, = r.bridges
    assert bridge.mode == "sequential" and [leg.timeout for leg in bridge.legs] == [15, 15]
    assert r.dialled == [SALES_1, SALES_2] and r.answered_by == SALES_2
    # The route hook found nobody listening: the call's later hooks are skipped, as on Asterisk (IVR400_AGI=down).
    assert r.hooks == ["route?hotline=4008123456"]
    assert r.variables["IVR400_DECIDED_BY"] == "static" and r.variables["IVR400_AGI"] == "down"


def test_b_simultaneous_ring_first_answer_wins(plan: Dialplan) -> None:
    r = run_call(plan, HOTLINE, keys=["2"], seats=_seats(n01062345679=("answer", 2.0), n01062345680=("answer", 0.8)))
    bridge, = r.bridges
    assert bridge.mode == "simultaneous" and r.dialled == [SERVICE_1, SERVICE_2] and r.answered_by == SERVICE_2
    assert {leg.timeout for leg in bridge.legs} == {15}


def test_c_key_2_reaches_department_2_only(plan: Dialplan) -> None:
    r = run_call(plan, HOTLINE, keys=["2"], seats=_seats(n01062345679=("answer", 0.2), n01062345680=("answer", 0.2)))
    assert set(r.dialled) == {SERVICE_1, SERVICE_2} and SALES_1 not in r.dialled
    assert r.variables["IVR400_KEYS"] == "2" and r.variables["ivr400_dept"] == "2"


def test_c_invalid_key_plays_the_retry_prompt_then_a_valid_key_works(plan: Dialplan) -> None:
    r = run_call(plan, HOTLINE, keys=["9", "1"], seats=_seats(n01062345678=("answer", 0.2)))
    assert r.played[:3] == [f"{SOUNDS}/ivr400/ivr400-welcome.wav", f"{SOUNDS}/ivr400/ivr400-invalid.wav",
                            f"{SOUNDS}/ivr400/ivr400-welcome.wav"]
    assert r.dialled == [SALES_1] and r.answered_by == SALES_1


def test_c_no_key_reaches_the_switchboard_after_the_retries(plan: Dialplan) -> None:
    r = run_call(plan, HOTLINE, keys=[], seats=_seats(n01062345678=("answer", 0.2)))
    assert r.played.count(f"{SOUNDS}/ivr400/ivr400-no-input.wav") == 3  # menu_retries rounds of the sample
    assert r.dialled == [BOARD[0]] and r.variables.get("IVR400_DEPT_PATH", "") == ""
    assert run_call(plan, HOTLINE, keys=[None, None, None]).dialled == BOARD  # nobody answers: both, in order


def test_d_caller_gets_early_media_before_the_seat_answers(plan: Dialplan) -> None:
    r = run_call(plan, HOTLINE, keys=["1"], seats=_seats(n01062345678=("answer", 2.0)))
    pre = r.steps.index(("pre_answer", ""))
    bridge = next(i for i, (app, _) in enumerate(r.steps) if app == "bridge")
    assert pre < bridge and r.early_media
    assert r.bridges[0].ringback == "%(1000,4000,450)"  # no ringback tone in the sample: the ring tone


def test_e_revoked_destination_is_never_dialled_after_redeploy(demo: tuple[Path, dict[str, str]]) -> None:
    data = demo[0]
    engine = make_engine(f"sqlite:///{data}/ivr400.db")
    now = datetime.now(timezone.utc)
    try:
        with Session(engine) as s:
            before = render_freeswitch(s, now)
            dest = s.scalar(select(Destination).where(Destination.number == "01062345678"))
            assert dest is not None
            destinations.revoke(s, dest, reason="test", now=now, actor="test")
            s.flush()
            after = render_freeswitch(s, now)
            s.rollback()  # the module's other tests keep the demo as it was
    finally:
        engine.dispose()
    assert "01062345678" in before.files["dialplan/ivr400.xml"]
    assert "01062345678" not in after.files["dialplan/ivr400.xml"]
    plan = Dialplan([after.files["dialplan/ivr400.xml"], after.files["dialplan/public/ivr400.xml"]],
                    contexts_of_includes={1: "public"})
    for keys in (["1"], [], ["2"]):
        assert SALES_1 not in run_call(plan, HOTLINE, keys=keys).dialled


def test_f_every_seat_fails_the_message_is_recorded(plan: Dialplan) -> None:
    r = run_call(plan, HOTLINE, caller="13912345678", keys=["1"],
                 seats=_seats(n01062345678=("busy", 0), n02161234567=("busy", 0)))
    assert r.dialled == [SALES_1, SALES_2] and r.answered_by is None
    assert r.recorded == "/var/lib/freeswitch/recordings/ivr400/voicemail/4008123456/" \
                         "00000000-0000-4000-8000-000000000001.wav"
    assert r.variables["IVR400_DISPOSITION"] == "voicemail"
    # The call record's variables, as the hangup event carries them to the ESL side.
    assert (r.variables["ivr400_disp"], r.variables["ivr400_rec"], r.variables["ivr400_decided_by"],
            r.variables["ivr400_hotline"], r.variables["ivr400_keys"], r.variables["ivr400_dept"]) == (
        "voicemail", r.recorded, "static", HOTLINE, "1", "1")
    assert r.events == [{"Event-Name": "CUSTOM", "Event-Subclass": "ivr400::voicemail", "IVR400-Hotline": HOTLINE,
                         "IVR400-Dept": "1", "IVR400-File": r.recorded}]
    assert r.hooks[-1] == "voicemail_saved?hotline=4008123456&dept=1&uniqueid=00000000-0000-4000-8000-000000000001"


def test_unknown_number_is_announced(plan: Dialplan) -> None:
    r = run_call(plan, "4000000001")
    assert r.played == [f"{SOUNDS}/ivr400/ivr400-unknown-number.wav"] and r.hangup_cause == "UNALLOCATED_NUMBER"
    assert r.variables["IVR400_DISPOSITION"] == "unknown_number" and r.early_media and not r.answered
    assert (r.variables["ivr400_disp"], r.variables["ivr400_hotline"]) == ("unknown_number", "4000000001")


def test_demo_call_reaches_the_sales_seat_decided_by_the_controller(demo: tuple[Path, dict[str, str]],
                                                                    plan: Dialplan) -> None:
    # `ivr400 demo --call`: caller 13800138000 presses 1; the controller decides (route: menu; department 1:
    # sequential 01062345678 first); the first seat answers.
    engine = make_engine(f"sqlite:///{demo[0]}/ivr400.db")
    now = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)  # a Monday, 10:00 in Beijing
    try:
        with Session(engine) as s:
            controller = FsController(load_config(s, now), load_model(s, now), now)
    finally:
        engine.dispose()
    r = run_call(plan, HOTLINE, caller="13800138000", keys=["1"], controller=controller,
                 seats=_seats(n01062345678=("answer", 1.0)))
    assert r.answered_by == SALES_1 and r.dialled == [SALES_1]
    assert (r.variables["IVR400_DECIDED_BY"], r.variables["IVR400_KEYS"], r.variables["IVR400_DEPT_PATH"]) == (
        "controller", "1", "1")
    assert [d.action.value for d in controller.decisions] == ["menu", "department"]
    assert "IVR400_AGI" not in r.variables
