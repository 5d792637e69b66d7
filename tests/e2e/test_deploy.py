"""`ivr400 deploy` against the real Asterisk: reload only what changed, verify, refuse broken
templates, roll back what Asterisk does not load, and keep the running dialplan working throughout."""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from ivr400.cli import main
from ivr400.deploy.asterisk import DeployError
from ivr400.lab import Lab
from ivr400.lab.sipp import call

from .world import HOTLINE, World, fastagi_listening, make_world

pytestmark = pytest.mark.pbx

INCLUDES = ("ivr400/extensions.conf", "ivr400/musiconhold.conf", "ivr400/pjsip.conf")


@pytest.fixture
def world(lab: Lab, tmp_path: Path) -> Iterator[World]:
    if fastagi_listening():
        pytest.fail("something listens on 127.0.0.1:4573: stop the FastAGI controller for these tests")
    w = make_world(lab, tmp_path)
    w.seat("01062345001", 5081)
    yield w
    w.engine.dispose()


def _files(lab: Lab) -> dict[str, bytes]:
    return {name: (lab.config_dir / name).read_bytes() for name in INCLUDES}


def _call_answered(seats, tmp: Path, name: str) -> None:  # noqa: ANN001
    seat = seats(5081, behaviour="answer", answer_after_s=0.2, workdir=tmp / f"seat-{name}")
    try:
        result = call(HOTLINE, hold_s=0.5, workdir=tmp / f"carrier-{name}", timeout_s=20)
        assert result.answered, result
        assert seat.wait_for_invites(1, timeout=2), "the seat got no INVITE"
    finally:
        seat.stop()


def test_deploy_loads_every_context_and_reloads_only_what_changed(lab: Lab, world: World) -> None:
    first = world.deploy()
    shown = lab.rx(f"database show ivr400 h/{HOTLINE}")  # the hotline's data, in Asterisk's database
    assert f"/ivr400/h/{HOTLINE}/s" in shown and "PJSIP/pstn/sip:01062345001@127.0.0.1:5081" in shown
    assert first.astdb is not None and first.astdb["put"] > 0
    # every 400 number runs the call engine from the carrier's context (an include, no jump)
    assert re.search(r"Include =>\s+'ivr400-call'", lab.rx("dialplan show ivr400-inbound"))
    assert "_400XXXXXXX" in lab.rx("dialplan show 4008000001@ivr400-inbound")
    assert "ivr400-default" in lab.rx("moh show classes")
    sounds = lab.host_path("/usr/share/asterisk/sounds/ivr400")
    assert (sounds / "ivr400-welcome.wav").is_file() and list(sounds.glob("tone-*.wav"))
    assert first.contexts_verified >= 2 and first.extensions_verified > 0

    again = world.deploy()
    assert again.files_changed == [] and again.reloads == [] and again.sounds_installed == []
    assert again.contexts_verified == first.contexts_verified

    assert again.astdb == {"full": False, "put": 0, "deleted": 0, "seconds": again.astdb["seconds"]}

    # A data change (a new seat) is a few AstDB writes: no reload at all (pjsip.conf's comments name the seat).
    world.seat("01062345002", 5082)
    third = world.deploy()
    assert set(third.files_changed) == {"ivr400/astdb.txt", "ivr400/pjsip.conf"}, third
    assert third.comment_only == ["ivr400/pjsip.conf"] and third.reloads == [], third
    assert third.astdb is not None and not third.astdb["full"] and 0 < third.astdb["put"] < 10, third.astdb
    assert "01062345002" in lab.rx(f"database show ivr400 h/{HOTLINE}")
    assert (lab.config_dir / "ivr400/.previous/astdb.txt").read_bytes() != \
        (lab.config_dir / "ivr400/astdb.txt").read_bytes()

    # AstDB changed behind ivr400's back (a stale key, no marker): the next deploy reads it back through
    # `database show` and writes the difference, without emptying the family.
    lab.rx("database put ivr400 h/4009999999/s 4009999999,IVR400_PLAN=vstale")
    lab.rx("database del ivr400 deployed")
    fourth = world.deploy()
    assert fourth.astdb is not None and fourth.astdb["full"] and fourth.astdb["deleted"] == 1, fourth.astdb
    assert fourth.astdb["put"] == 0 and "4009999999" not in lab.rx("database show ivr400")


@pytest.mark.parametrize("broken, message", [
    ("{% for h in hotlines %}\n[x]\n", "syntax error"),
    ("[ivr400-inbound]\nexten => s,1,NoOp({{ no_such_variable }})\n", "undefined"),
])
def test_broken_template_fails_deploy_and_the_running_dialplan_keeps_working(
        lab: Lab, world: World, seats, tmp_path: Path, broken: str, message: str) -> None:  # noqa: ANN001
    world.deploy()
    _call_answered(seats, tmp_path, "before")
    before = _files(lab)
    override = tmp_path / "operator-templates"
    override.mkdir()
    (override / "extensions.conf.j2").write_text(broken)
    world.seat("01062345002", 5082)  # a pending change that must not go out

    with pytest.raises(DeployError) as info:
        world.deploy(template_dirs=(override,))

    assert info.value.field == "template" and message in info.value.reason, info.value
    assert _files(lab) == before
    _call_answered(seats, tmp_path, "after")


def test_cli_deploy_reports_and_refuses_a_broken_template(lab: Lab, world: World, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IVR400_DATA_DIR", str(world.data_dir))
    monkeypatch.delenv("IVR400_ASTERISK_TEMPLATE_DIR", raising=False)
    db = ["--db", str(world.engine.url), "--lab"]
    ok = CliRunner().invoke(main, [*db, "deploy", "--json"])
    assert ok.exit_code == 0, ok.output + ok.stderr
    report = json.loads(ok.stdout)
    assert report["config_dir"] == str(lab.config_dir) and report["contexts_verified"] >= 2

    before = _files(lab)
    override = tmp_path / "bad"
    override.mkdir()
    (override / "extensions.conf.j2").write_text("[ivr400-inbound]\n{{ nope }}\n")
    bad = CliRunner().invoke(main, [*db, "deploy", "--templates", str(override)])
    assert bad.exit_code == 1
    assert bad.stderr.startswith("error: template: ") and "nope" in bad.stderr, bad.stderr
    assert _files(lab) == before

    dry = CliRunner().invoke(main, [*db, "deploy", "--dry-run"])
    assert dry.exit_code == 0 and "would change: (nothing)" in dry.output, dry.output


def test_what_asterisk_refuses_to_load_is_rolled_back(lab: Lab, world: World, seats, tmp_path: Path) -> None:  # noqa: ANN001
    """An operator pjsip template with an endpoint res_pjsip cannot load: the reload 'succeeds', the
    verification finds the endpoint missing, the previous files come back and are reloaded."""
    world.deploy()
    before = _files(lab)
    override = tmp_path / "operator-templates"
    override.mkdir()
    (override / "pjsip.conf.j2").write_text(
        "; operator override\n[ivr400-bad-endpoint](ivr400-trunk)\nno_such_option = yes\n"
        "type = endpoint\n")
    world.seat("01062345002", 5082)

    with pytest.raises(DeployError) as info:
        world.deploy(template_dirs=(override,))

    err = info.value
    assert err.field == "verify" and "ivr400-bad-endpoint" in err.reason, err
    assert "previous configuration restored and reloaded" in err.reason, err
    assert err.report is not None and err.report.rolled_back
    assert _files(lab) == before
    assert "01062345002" not in lab.rx(f"database show ivr400 h/{HOTLINE}")  # the old data is back
    _call_answered(seats, tmp_path, "after-rollback")


def test_check_names_an_ami_user_that_cannot_originate(lab: Lab, world: World) -> None:
    """`deploy --check` against the lab's Asterisk logged in as a manager user with `write = command` only: the
    originate permission is missing (click-to-call set up) with its fix; the lab's own user (write = all) has it."""
    from ivr400.deploy.asterisk import render_for_deploy
    from ivr400.deploy.check import MISSING, OK, WARNING, check
    from ivr400.lab.targets import lab_target
    from ivr400.pbx.asterisk.ami import Ami

    manager = lab.config_dir / "manager.conf"
    original = manager.read_bytes()
    secret = "nooriginate0123456789"
    manager.write_bytes(original + (f"\n[ivr400-noorig]\nsecret = {secret}\ndeny = 0.0.0.0/0.0.0.0\n"
                                    "permit = 127.0.0.0/255.0.0.0\nread = cdr\nwrite = command\n").encode())
    try:
        lab.rx("manager reload")
        with world.session() as s:
            rendered = render_for_deploy(s, world.now)
        target = lab_target(lab)
        creds = {**lab.ami_credentials, "username": "ivr400-noorig", "secret": secret}
        with Ami.connect(**creds) as ami:
            found = {f.item: f for f in check(target, rendered, ami=ami, ami_user="ivr400-noorig",
                                              clicktocall=[HOTLINE]).findings}
            quiet = {f.item: f for f in check(target, rendered, ami=ami, ami_user="ivr400-noorig").findings}
        lacking = found["ami write originate"]
        assert lacking.status == MISSING and HOTLINE in lacking.detail, lacking
        assert "write = command" in lacking.detail or "has write = command" in lacking.detail, lacking
        assert lacking.fix.startswith("add `originate` to `write =` in manager.conf [ivr400-noorig]"), lacking
        assert found["ami write command"].status == OK  # what it has is read from Asterisk, not assumed
        assert quiet["ami write originate"].status == WARNING
        with Ami.connect(**lab.ami_credentials) as ami:
            full = {f.item: f for f in check(target, rendered, ami=ami, ami_user=str(lab.ami_username),
                                             clicktocall=[HOTLINE]).findings}
        assert full["ami write originate"].status == OK
    finally:
        manager.write_bytes(original)
        lab.rx("manager reload")
