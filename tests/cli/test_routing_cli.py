"""`ivr400 rule`, `block`, `calendar` and `serve` end to end on an SQLite file: happy paths, --json, and
bad input for every command (`error: FIELD: reason`, exit 1, nothing written)."""
from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from click.testing import Result

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.fakes.fake_asterisk import FakeAsterisk  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32
H = "4008000001"


def base(cli) -> None:  # noqa: ANN001
    """Enterprise, hotline 4008000001 with departments 1 and 2, one approved seat on the switchboard."""
    cli("enterprise", "add", "北京甲科技有限公司", "--area-code", "010")
    cli("hotline", "add", H, "--enterprise", "1")
    cli("department", "add", H, "1", "销售部")
    cli("department", "add", H, "2", "客服部")
    cli("department", "add", H, "1", "VIP", "--parent", "2")
    bill = cli.tmp / "bill.png"
    bill.write_bytes(PNG + b"bill")
    cli("destination", "add", "010-62345678", "--enterprise", "1", "--owner", "北京甲科技有限公司")
    cli("evidence", "add", "#1", "carrier_bill", str(bill), "--issuer", "telecom", "--shows-number", "--shows-owner")
    cli("destination", "approve", "#1")
    cli("seat", "add", H, "#1")



def js(result: Result):  # noqa: ANN201
    return json.loads(result.output)


# --------------------------------------------------------------------------- happy paths


def test_time_and_region_rules_list_and_remove(cli) -> None:  # noqa: ANN001
    base(cli)
    rule = js(cli("rule", "time", "add", H, "--days", "workday,holiday", "--weekdays", "1-5", "--segments",
                  "09:00-12:00,13:30-18:00", "--action", "department:2.1", "--priority", "10", "--name", "白天",
                  "--json"))
    assert rule == {"id": "time:1", "type": "time", "priority": 10, "name": "白天", "days": ["holiday", "workday"],
                    "weekdays": [1, 2, 3, 4, 5], "segments": ["09:00-12:00", "13:30-18:00"],
                    "when": "holiday+workday weekday 1,2,3,4,5 09:00-12:00 13:30-18:00", "action": "department:2.1"}
    cli("rule", "time", "add", H, "--segments", "22:00-02:00", "--action", "announcement:ivr400-closed")
    cli("rule", "time", "add", H, "--days", "weekend", "--action", "department")
    holiday_menu = js(cli("rule", "time", "add", H, "--days", "holiday", "--action", "menu:ivr400/holiday-welcome",
                          "--priority", "5", "--json"))
    assert holiday_menu["action"] == "menu:ivr400/holiday-welcome"
    cli("rule", "remove", holiday_menu["id"])
    region = js(cli("rule", "region", "add", H, "--province", "广东省", "--city", "深圳市", "--department", "1",
                    "--json"))
    assert (region["id"], region["province"], region["city"], region["action"]) == ("region:1", "广东", "深圳",
                                                                                     "department:1")
    after = js(cli("rule", "after-hours", H, "--action", "voicemail:1", "--json"))
    assert after == {"hotline": H, "after_hours": "voicemail:1"}
    listed = js(cli("rule", "list", "400-800-0001", "--json"))
    assert [r["id"] for r in listed["time_rules"]] == ["time:1", "time:2", "time:3"]
    assert [r["action"] for r in listed["time_rules"]] == ["department:2.1", "announcement:ivr400/ivr400-closed",
                                                           "department"]  # a bare shipped prompt: one form
    assert [r["id"] for r in listed["region_rules"]] == ["region:1"] and listed["after_hours"] == "voicemail:1"
    table = cli("rule", "list", H).output
    assert "time:2" in table and "22:00-02:00" in table and "after hours" in table and "voicemail:1" in table
    assert cli("rule", "remove", "time:2").output.strip() == "rule time:2 removed"
    assert cli("rule", "remove", "3").output.strip() == "rule time:3 removed"
    assert cli("rule", "remove", "region:1").output.strip() == "rule region:1 removed"
    assert [r["id"] for r in js(cli("rule", "list", H, "--json"))["time_rules"]] == ["time:1"]


def test_region_overrides(cli) -> None:  # noqa: ANN001
    base(cli)
    added = js(cli("rule", "override", "add", "010 6234", "--province", "上海", "--json"))
    assert (added["prefix"], added["province"], added["city"]) == ("0106234", "上海", None)
    assert [o["prefix"] for o in js(cli("rule", "override", "list", "--json"))] == ["0106234"]
    cli("rule", "override", "remove", "0106234")
    assert js(cli("rule", "override", "list", "--json")) == []


def test_block_mode_add_list_remove(cli) -> None:  # noqa: ANN001
    base(cli)
    settings = js(cli("block", "mode", H, "whitelist_only", "--anonymous", "refuse", "--refuse-with", "prompt",
                      "--prompt", "ivr400-blocked", "--json"))
    assert settings == {"hotline": H, "mode": "whitelist_only", "anonymous": "refuse", "refuse_with": "prompt",
                        "refuse_prompt": "ivr400/ivr400-blocked"}
    entry = js(cli("block", "add", H, "138-0013-8000", "--note", "VIP", "--json"))
    assert (entry["number"], entry["prefix"], entry["mode"]) == ("13800138000", False, "whitelist_only")
    cli("block", "add", H, "+86 21", "--prefix")
    listed = js(cli("block", "list", H, "--json"))
    assert listed["mode"] == "whitelist_only" and [e["entry"] for e in listed["entries"]] == ["13800138000", "021*"]
    assert [e["hotline"] for e in js(cli("block", "list", "--json"))] == [H, H]
    assert "mode whitelist_only" in cli("block", "list", H).output
    assert cli("block", "remove", H, "021", "--prefix").output.strip() == f"021* removed from {H}"
    assert [e["entry"] for e in js(cli("block", "list", H, "--json"))["entries"]] == ["13800138000"]
    assert js(cli("block", "mode", H, "off", "--json"))["mode"] == "off"


def test_calendar_seed_add_list_remove(cli) -> None:  # noqa: ANN001
    base(cli)
    # The CLI seeded the database when it created it: 国庆节 and its 调休 days with no manual step.
    auto = [(d["day"], d["kind"], d["name"]) for d in js(cli("calendar", "list", "--year", "2025", "--json"))]
    assert ("2025-10-01", "holiday", "国庆节") in auto and ("2025-09-28", "makeup_workday", "国庆节") in auto
    report = js(cli("calendar", "seed", "--years", "2025-2026,2199", "--json"))
    assert report["years_with_data"] == [2025, 2026] and report["years_without_data"] == [2199]
    assert report["days_written"] > 40 and report["days_removed"] == report["days_written"]  # a refresh
    again = cli("calendar", "seed", "--years", "2026")
    assert "2026: seeded" in again.output and "replaced" in again.output
    no_data = cli("calendar", "seed", "--years", "2199").output
    assert "2199: no data" in no_data
    days = js(cli("calendar", "list", "--year", "2026", "--json"))
    national_day = next(d for d in days if d["day"] == "2026-10-01")
    assert (national_day["kind"], national_day["name"], national_day["enterprise"]) == ("holiday", "国庆节", "national")
    assert any(d["kind"] == "makeup_workday" for d in days)
    own = js(cli("calendar", "add", "2026-06-02", "--kind", "holiday", "--enterprise", "1", "--name", "公司年会",
                 "--json"))
    assert (own["day"], own["kind"], own["enterprise"]) == ("2026-06-02", "holiday", "北京甲科技有限公司")
    cli("calendar", "add", "2026-06-02", "--kind", "workday", "--enterprise", "1")
    mine = js(cli("calendar", "list", "--enterprise", "1", "--json"))
    assert [(d["day"], d["kind"], d["name"]) for d in mine] == [("2026-06-02", "workday", None)]
    assert "国庆节" in cli("calendar", "list", "--year", "2026").output
    cli("calendar", "remove", "2026-06-02", "--enterprise", "1")
    assert js(cli("calendar", "list", "--enterprise", "1", "--json")) == []


# --------------------------------------------------------------------------- bad input

BAD_INPUT = [
    (["rule", "time", "add", H], "action"),
    (["rule", "time", "add", H, "--action", "refuse"], "action"),
    (["rule", "time", "add", H, "--action", "menu:x y"], "action"),
    (["rule", "time", "add", H, "--action", "voicemail:3.1"], "action"),
    (["rule", "time", "add", H, "--action", "department:7"], "action"),
    (["rule", "time", "add", H, "--action", "announcement:bad prompt!"], "action"),
    (["rule", "time", "add", H, "--action", "menu", "--days", "someday"], "days"),
    (["rule", "time", "add", H, "--action", "menu", "--weekdays", "0-5"], "weekdays"),
    (["rule", "time", "add", H, "--action", "menu", "--weekdays", "5-1"], "weekdays"),
    (["rule", "time", "add", H, "--action", "menu", "--segments", "9-12"], "segments"),
    (["rule", "time", "add", H, "--action", "menu", "--segments", "25:00-26:00"], "segments"),
    (["rule", "time", "add", H, "--action", "menu", "--priority", "99999999999"], "priority"),
    (["rule", "time", "add", H, "--action", "menu", "--name", 'a"b'], "name"),
    (["rule", "time", "add", "4008000009", "--action", "menu"], "hotline"),
    (["rule", "region", "add", H, "--province", "火星", "--department", "1"], "province"),
    (["rule", "region", "add", H, "--province", "北京"], "department"),
    (["rule", "region", "add", H, "--province", "北京", "--department", "9"], "department"),
    (["rule", "region", "add", H, "--department", "1"], "province"),
    (["rule", "region", "add", H, "--province", "北京", "--department", "1"], "province"),
    (["rule", "list", "4008000009"], "hotline"),
    (["rule", "remove", "time:99"], "id"),
    (["rule", "remove", "abc"], "id"),
    (["rule", "remove", "1"], "id"),
    (["rule", "after-hours", H], "action"),
    (["rule", "after-hours", H, "--action", "refuse"], "action"),
    (["rule", "after-hours", H, "--action", "voicemail:8"], "action"),
    (["rule", "override", "add", "12ab", "--province", "北京"], "prefix"),
    (["rule", "override", "add", "0755", "--province", "火星"], "province"),
    (["rule", "override", "add", "0755"], "province"),
    (["rule", "override", "add", "010", "--province", "北京"], "prefix"),
    (["rule", "override", "remove", "0999"], "prefix"),
    (["block", "mode", H, "greylist"], "mode"),
    (["block", "mode", H, "blacklist", "--anonymous", "maybe"], "anonymous"),
    (["block", "mode", H, "blacklist", "--refuse-with", "silence"], "refuse-with"),
    (["block", "mode", H, "blacklist", "--prompt", "x y"], "prompt"),
    (["block", "mode", "4008000009", "off"], "hotline"),
    (["block", "add", H, "abc"], "number"),
    (["block", "add", H, "13900000000"], "number"),
    (["block", "add", H, "13700000000", "--note", "a;b"], "note"),
    (["block", "add", "4008000009", "13700000000"], "hotline"),
    (["block", "remove", H, "13700000000"], "number"),
    (["block", "remove", H, "13900000000", "--prefix"], "number"),
    (["block", "list", "4008000009"], "hotline"),
    (["calendar", "seed", "--years", "20x"], "years"),
    (["calendar", "seed", "--years", "2030-2020"], "years"),
    (["calendar", "seed", "--years", "1900-2100"], "years"),
    (["calendar", "add", "2026-13-01", "--kind", "holiday"], "date"),
    (["calendar", "add", "2026-06-02", "--kind", "party"], "kind"),
    (["calendar", "add", "2026-06-02"], "kind"),
    (["calendar", "add", "2026-06-02", "--kind", "holiday", "--enterprise", "nobody"], "enterprise"),
    (["calendar", "add", "2026-06-02", "--kind", "holiday", "--name", "a;b"], "name"),
    (["calendar", "remove", "2026-06-02"], "date"),
    (["calendar", "list", "--year", "1800"], "year"),
    (["calendar", "list", "--enterprise", "nobody"], "enterprise"),
    (["serve", "--fixed-now", "2026-06-01T10:00"], "fixed-now"),
    (["serve", "--fixed-now", "tomorrow"], "fixed-now"),
    (["serve", "--port", "70000"], "controller.port"),
    (["serve", "--pbx", "freeswitch", "--port", "70000"], "freeswitch.socket_port"),
    (["serve", "--pbx", "freeswitch", "--host", "a b"], "freeswitch.socket_host"),
    (["serve", "--log-level", "loud"], "log.level"),
    (["serve", "--metrics-port", "http"], "controller.metrics_port"),
    (["serve", "--metrics-port", "-1"], "controller.metrics_port"),
]


@pytest.mark.parametrize(("args", "field"), BAD_INPUT,
                         ids=[" ".join(a[:2]) + f"-{f}-{i}" for i, (a, f) in enumerate(BAD_INPUT)])
def test_bad_input_is_refused_with_the_field_and_nothing_is_written(cli, args: list[str], field: str) -> None:  # noqa: ANN001
    base(cli)
    cli("rule", "time", "add", H, "--action", "menu")
    cli("rule", "region", "add", H, "--province", "北京", "--department", "1")
    cli("rule", "override", "add", "010", "--province", "北京")
    cli("block", "add", H, "13900000000")
    before = cli.snapshot()
    result = cli(*args, ok=False)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"error: {field}: "), result.stderr
    assert "Traceback" not in result.stderr
    assert cli.snapshot() == before


# --------------------------------------------------------------------------- serve


def test_serve_answers_calls_and_stops_gracefully_on_sigterm(cli) -> None:  # noqa: ANN001
    base(cli)
    cli("rule", "time", "add", H, "--days", "workday", "--segments", "09:00-18:00", "--action", "department")
    cli("rule", "after-hours", H, "--action", "announcement:ivr400-closed")
    env = {**os.environ, "IVR400_DATA_DIR": str(cli.tmp / "data"), "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ivr400.cli import main; main()", "--db", cli.db, "serve", "--port", "0",
         "--fixed-now", "2026-06-01T10:00:00+08:00", "--asterisk-root", str(cli.tmp), "--metrics-port", "0"],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )
    log: list[str] = []
    try:
        port = None
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            log.append(line)
            m = re.search(r"ready: pid \d+, agi://127\.0\.0\.1:(\d+), metrics (http://127\.0\.0\.1:\d+)/metrics",
                          line)
            if m:
                port, metrics = int(m.group(1)), m.group(2)
        assert port is not None, "".join(log)
        assert port != 4573 and not metrics.endswith(":9400")

        async def calls() -> tuple[FakeAsterisk, FakeAsterisk]:
            entry = await FakeAsterisk(port, route="route", query=f"hotline={H}", uniqueid="1764000000.7").run()
            unknown = await FakeAsterisk(port, route="route", query="hotline=4008999999").run()
            return entry, unknown

        entry, unknown = asyncio.run(asyncio.wait_for(calls(), 20))
        assert entry.variables["IVR400_ACTION"] == "department"
        assert entry.variables["IVR400_TARGET_1"] == "PJSIP/01062345678@ivr400-out"
        assert unknown.variables["IVR400_ACTION"] == "announcement"
        with urllib.request.urlopen(metrics + "/metrics", timeout=10) as resp:
            scraped = resp.read().decode()
        assert 'ivr400_decisions_total{outcome="department",route="route"} 1.0' in scraped
        assert 'ivr400_decisions_total{outcome="unknown_number",route="route"} 1.0' in scraped
        with urllib.request.urlopen(metrics + "/healthz", timeout=10) as resp:
            assert resp.status == 200 and json.loads(resp.read())["status"] == "ok"
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=20)
        log.append(rest)  # stderr: the log
        assert proc.returncode == 0, "".join(log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    text = "".join(log)
    assert "configuration loaded" in text and "received SIGTERM" in text and "stopped:" in text
    assert "not an active hotline" in text  # the unknown number is logged
    assert re.search(r"INFO ivr400\.fastagi \[1764000000\.7\]: route: 4008000001 -> department: ", text), text


def test_serve_pbx_freeswitch_answers_socket_hooks_and_drains_on_sigterm(cli) -> None:  # noqa: ANN001
    """The same controller over FreeSWITCH's outbound event socket (a fake FreeSWITCH: none is reachable here)."""
    from tests.fakes.fake_freeswitch import FakeChannel

    base(cli)
    cli("rule", "time", "add", H, "--days", "workday", "--segments", "09:00-18:00", "--action", "department")
    env = {**os.environ, "IVR400_DATA_DIR": str(cli.tmp / "data"), "PYTHONUNBUFFERED": "1",
           "IVR400_FREESWITCH_ESL_PASSWORD": "s3cret-not-in-logs"}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from ivr400.cli import main; main()", "--db", cli.db, "serve", "--pbx", "freeswitch",
         "--port", "0", "--fixed-now", "2026-06-01T10:00:00+08:00", "--no-metrics"],
        stderr=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT,
    )
    log: list[str] = []
    try:
        port = None
        deadline = time.monotonic() + 60
        assert proc.stdout is not None
        while port is None and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            log.append(line)
            m = re.search(r"ready: pid \d+, esl://127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
        assert port is not None and port != 8084, "".join(log)
        fake = asyncio.run(asyncio.wait_for(FakeChannel(port, hook=f"route?hotline={H}").run(), 20))
        assert fake.variables["IVR400_ACTION"] == "department"
        assert fake.variables["IVR400_TARGET_1"] == "sofia/gateway/ivr400-out/01062345678"
        assert fake.variables["IVR400_HOOK_STATUS"] == "OK"
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=20)
        log.append(rest)
        assert proc.returncode == 0, "".join(log)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    text = "".join(log)
    assert "received SIGTERM" in text and "stopped: {'ok': 1}" in text, text
    assert re.search(r"INFO ivr400\.esl \[4192e98c-e569-11e7-b747-73bec77e82ec\]: route: 4008000001 -> department",
                     text), text
    assert "s3cret-not-in-logs" not in text


def test_serve_refuses_a_metrics_port_in_use_before_listening_for_agi(cli, monkeypatch) -> None:  # noqa: ANN001
    import socket

    base(cli)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        monkeypatch.setenv("IVR400_CONTROLLER_METRICS_PORT", str(busy))
        result = cli("serve", "--port", "0", ok=False)
    assert result.exit_code == 1
    expected = f"error: controller.metrics_port: cannot listen on 127.0.0.1:{busy}: "
    assert result.stderr.startswith(expected), result.stderr
    assert "ready:" not in result.stdout


def test_a_fresh_install_routes_national_day_and_its_make_up_day_without_a_manual_step(cli) -> None:  # noqa: ANN001
    """No `calendar seed`: the CLI seeded the database it created, and the controller's loader reads it."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy.orm import Session

    from ivr400.controller.loader import load_config
    from ivr400.db.engine import make_engine
    from ivr400.routing.decide import decide

    base(cli)
    cli("rule", "time", "add", H, "--days", "workday", "--segments", "09:00-18:00", "--action", "department")
    cli("rule", "after-hours", H, "--action", "announcement:ivr400-closed")
    shanghai = timezone(timedelta(hours=8))
    engine = make_engine(cli.db)
    try:
        with Session(engine) as s:
            entry = load_config(s, datetime(2025, 10, 1, 2, tzinfo=timezone.utc)).get(H)
    finally:
        engine.dispose()

    def action(*when: int) -> tuple[str, str]:
        decision = decide(entry.routing, "13800138000", datetime(*when, tzinfo=shanghai), entry.calendar)
        return decision.action.value, decision.reason

    holiday = action(2025, 10, 1, 10, 0)  # Wednesday, 国庆节
    assert holiday[0] == "announcement" and "国庆节" in holiday[1]
    makeup = action(2025, 9, 28, 10, 0)  # Sunday, worked (调休)
    assert makeup[0] == "department" and "makeup_workday" in makeup[1], makeup  # working hours: the seat
    assert action(2025, 9, 27, 10, 0)[0] == "announcement"  # an ordinary Saturday


def test_db_upgrade_seeds_the_calendar_once(cli, tmp_path) -> None:  # noqa: ANN001
    from ivr400.cli import main

    url = f"sqlite:///{tmp_path / 'upgraded.db'}"
    first = cli.runner.invoke(main, ["--db", url, "db", "upgrade"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "calendar: seeded 2004-" in first.output and "from chinesecalendar (" in first.output
    again = cli.runner.invoke(main, ["--db", url, "db", "upgrade"], catch_exceptions=False)
    assert "calendar: every year chinesecalendar knows was seeded before" in again.output
