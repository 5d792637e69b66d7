"""Every time the CLI shows is in the enterprise's time zone, with the zone: tables, `show`, and --json.

One story per zone: an authorization valid through 31 December 2027 (local), approved at NOW; then
`destination show/list`, `whitelist expiring`, `voicemail list` and `cdr list/missed` read back.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from sqlalchemy.orm import Session

from ivr400.cli.common import AppContext
from ivr400.db.engine import make_engine
from ivr400.db.models import CallRecord
from ivr400.provisioning.voicemail import record_voicemail

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=timezone.utc)
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32

ZONES = [
    # zone, end of validity (table), end of validity (JSON), NOW as shown (table), NOW in JSON
    ("Asia/Shanghai", "2027-12-31 24:00 Asia/Shanghai", "2028-01-01T00:00:00+08:00",
     "2026-06-01 10:00 Asia/Shanghai", "2026-06-01T10:00:00+08:00"),
    ("Asia/Urumqi", "2027-12-31 24:00 Asia/Urumqi", "2028-01-01T00:00:00+06:00",
     "2026-06-01 08:00 Asia/Urumqi", "2026-06-01T08:00:00+06:00"),
    ("Asia/Kolkata", "2027-12-31 24:00 Asia/Kolkata", "2028-01-01T00:00:00+05:30",
     "2026-06-01 07:30 Asia/Kolkata", "2026-06-01T07:30:00+05:30"),
    ("Europe/Berlin", "2027-12-31 24:00 Europe/Berlin", "2028-01-01T00:00:00+01:00",
     "2026-06-01 04:00 Europe/Berlin", "2026-06-01T04:00:00+02:00"),
    ("America/Los_Angeles", "2027-12-31 24:00 America/Los_Angeles", "2028-01-01T00:00:00-08:00",
     "2026-05-31 19:00 America/Los_Angeles", "2026-05-31T19:00:00-07:00"),
    ("UTC", "2027-12-31 24:00 UTC", "2028-01-01T00:00:00+00:00", "2026-06-01 02:00 UTC", "2026-06-01T02:00:00+00:00"),
]


@pytest.fixture
def story(cli, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest):  # noqa: ANN001, ANN201
    zone = request.param
    monkeypatch.setattr(AppContext, "now", lambda self: NOW)
    bill, letter = cli.tmp / "bill.png", cli.tmp / "letter.png"
    bill.write_bytes(PNG + b"bill")
    letter.write_bytes(PNG + b"letter")
    cli("enterprise", "add", "北京甲科技有限公司", "--area-code", "010", "--timezone", zone)
    cli("hotline", "add", "4008000001", "--enterprise", "1")
    cli("destination", "add", "010-62345678", "--enterprise", "1", "--owner", "北京乙科技有限公司",
        "--relationship", "全资子公司")
    cli("evidence", "add", "#1", "carrier_bill", str(bill), "--issuer", "telecom", "--shows-number", "--shows-owner")
    cli("evidence", "add", "#1", "authorization_letter", str(letter), "--sealed-by-owner", "--sealed-by-enterprise",
        "--relationship", "全资子公司", "--valid-until", "2027-12-31")
    cli("destination", "approve", "#1")
    engine = make_engine(cli.db)
    with Session(engine) as s:
        record_voicemail(s, hotline_number="4008000001", uniqueid="1780279200.1", file_path="/x.wav", size=10,
                         recorded_at=NOW, caller="13800000001")
        for uid, disposition, caller in (("1780279200.2", "answered", "13800000002"),
                                         ("1780279200.3", "noanswer", "13800000003")):
            s.add(CallRecord(uniqueid=uid, linkedid=uid, hotline="4008000001", caller=caller, started_at=NOW,
                             ended_at=NOW, duration_s=0, billsec=0, disposition=disposition, source="ami"))
        s.commit()
    engine.dispose()
    return cli, zone


@pytest.mark.parametrize(("story", "end_table", "end_json", "now_table", "now_json"), ZONES,
                         ids=[z[0] for z in ZONES], indirect=["story"])
def test_times_are_shown_in_the_enterprise_zone(story, end_table: str, end_json: str, now_table: str,  # noqa: ANN001
                                                now_json: str) -> None:
    cli, zone = story
    shown = cli("destination", "show", "#1").output
    assert f"valid_until: {end_table}\n" in shown
    assert f"approved_at: {now_table}\n" in shown
    assert f"timezone: {zone}\n" in shown
    audit = shown.split("audit trail:\n", 1)[1]
    assert f"{now_table}  approve   pending → approved  tester" in audit
    if zone != "UTC":
        assert "UTC" not in shown

    data = json.loads(cli("destination", "show", "#1", "--json").output)
    assert (data["valid_until"], data["approved_at"], data["timezone"]) == (end_json, now_json, zone)
    assert {e["at"] for e in data["events"]} == {now_json}
    assert [(e["action"], e["from_status"], e["to_status"]) for e in data["events"]] == [
        ("register", None, "pending"), ("approve", "pending", "approved")]

    for args in (("destination", "list"), ("whitelist", "expiring", "--days", "1000")):
        table = cli(*args).output
        assert end_table in table, args
    assert json.loads(cli("whitelist", "expiring", "--days", "1000", "--json").output)[0]["valid_until"] == end_json

    assert now_table in cli("voicemail", "list").output
    vm = json.loads(cli("voicemail", "list", "--json").output)[0]
    assert (vm["recorded_at"], vm["timezone"]) == (now_json, zone)

    seconds = now_table.replace(f" {zone}", f":00 {zone}")
    assert seconds in cli("cdr", "list").output
    call = json.loads(cli("cdr", "list", "--json").output)[0]
    assert (call["started_at"], call["timezone"]) == (now_json, zone)
    assert seconds in cli("cdr", "missed").output
    missed = json.loads(cli("cdr", "missed", "--json").output)["callers"][0]
    assert (missed["last_missed"], missed["timezone"]) == (now_json, zone)
    # Input is read in the same zone: the call is on the local day of NOW, and not on the day before.
    local_day = now_json[:10]
    assert len(json.loads(cli("cdr", "list", "--since", local_day, "--until", local_day, "--json").output)) == 2
    assert json.loads(cli("cdr", "list", "--until", f"{local_day} 00:00", "--json").output) == []


def test_an_explicit_tz_overrides_the_enterprise_zone(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    monkeypatch.setattr(AppContext, "now", lambda self: NOW)
    cli("enterprise", "add", "北京甲科技有限公司", "--area-code", "010", "--timezone", "Asia/Shanghai")
    cli("hotline", "add", "4008000001", "--enterprise", "1")
    engine = make_engine(cli.db)
    with Session(engine) as s:
        s.add(CallRecord(uniqueid="1780279200.2", linkedid="x", hotline="4008000001", caller="13800000002",
                         started_at=NOW, disposition="noanswer", source="ami"))
        s.commit()
    engine.dispose()
    assert "2026-06-01 10:00:00 Asia/Shanghai" in cli("cdr", "list").output
    assert "2026-06-01 02:00:00 UTC" in cli("cdr", "list", "--tz", "UTC").output
    assert json.loads(cli("cdr", "list", "--tz", "Asia/Urumqi", "--json").output)[0]["started_at"] == \
        "2026-06-01T08:00:00+06:00"
