"""`ivr400 report`, `billing` and `callback` on the call records of tests/cli/test_cdr_cli.py (recorded calls and
the missed-call story), read through the fact rows and hourly roll-ups the import wrote."""
from __future__ import annotations

import csv
import io
import json

from tests.cli.test_cdr_cli import HOTLINE, OTHER, loaded  # noqa: F401  (the fixture)


def js(cli, *args: str):  # noqa: ANN001, ANN201
    return json.loads(cli(*args, "--json").output)


def test_traffic_and_service_by_day_and_hour(loaded) -> None:  # noqa: ANN001, F811
    days = js(loaded, "report", "traffic", "--by", "day")
    # 14 calls, all on 2026-11-26 (Shanghai): answered = recorded A and C, s1c, s3a
    assert [(d["period"], d["offered"], d["answered"]) for d in days] == [("2026-11-26", 14, 4)]
    hours = js(loaded, "report", "traffic", "--by", "hour", "--hotline", HOTLINE)
    # 09:16 local: the 4 recorded calls; 10:03: s1a s2a s3a s5a s6a; 11:03: s1b s3b; 12:03: s1c; 13:03: s2b
    assert [(h["period"][-5:], h["offered"]) for h in hours] == [
        ("09:00", 4), ("10:00", 5), ("11:00", 2), ("12:00", 1), ("13:00", 1)]
    assert [h["period"][-5:] for h in js(loaded, "report", "traffic", "--by", "hour", "--tz", "UTC")][0] == "01:00"
    service = js(loaded, "report", "service", "--by", "month")
    assert service[0]["period"] == "2026-11" and set(service[0]) >= {"service_level", "abandon_rate", "asa_s"}
    table = loaded("report", "traffic", "--csv").output
    rows = list(csv.DictReader(io.StringIO(table)))
    assert rows[0]["period"] == "2026-11-26" and rows[0]["offered"] == "14"


def test_heatmap_regions_seats_departments_repeat(loaded) -> None:  # noqa: ANN001, F811
    heat = js(loaded, "report", "heatmap")
    cells = {(d, h): n for d, h, n in heat["cells"] if n}
    # a Thursday (weekday 3), Shanghai hours; s2b at 13:03, s4a (the other hotline) at 14:03
    assert cells == {(3, 9): 4, (3, 10): 5, (3, 11): 2, (3, 12): 1, (3, 13): 1, (3, 14): 1}
    regions = js(loaded, "report", "regions")
    # 1380000000x (9 calls) geocode to 北京, 0755 (4 recorded calls) to 广东, the anonymous caller to nowhere
    assert [(r["rank"], r["province"], r["calls"]) for r in regions] == [(1, "北京", 9), (2, "广东", 4), (3, "未知", 1)]
    cities = js(loaded, "report", "regions", "--level", "city")
    assert ("广东", "深圳", 4) in [(c["province"], c["city"], c["calls"]) for c in cities]
    seats = js(loaded, "report", "seats", "--hotline", HOTLINE)
    top = seats[0]
    assert set(top) >= {"offered", "answered", "missed", "avg_ring_s", "talk_s", "satisfaction"}
    assert sum(s["answered"] for s in seats) == 4
    depts = js(loaded, "report", "departments")
    assert {d["department"] for d in depts} >= {"(总机)", "2.1"}
    repeat = js(loaded, "report", "repeat")
    assert [(r["caller"], r["calls"]) for r in repeat][:1] == [("075512345678", 4)]
    only = js(loaded, "report", "traffic", "--department", "2.1")
    assert [(d["offered"], d["answered"]) for d in only] == [(1, 1)]


def test_bad_filters_name_the_field(loaded) -> None:  # noqa: ANN001, F811
    r = loaded("report", "traffic", "--since", "2026-13-01", ok=False)
    assert r.exit_code != 0 and "since:" in r.stderr
    r = loaded("report", "traffic", "--department", "x", ok=False)
    assert r.exit_code != 0 and "department:" in r.stderr
    r = loaded("report", "traffic", "--hotline", "123", ok=False)
    assert r.exit_code != 0 and "hotline:" in r.stderr


def test_callback_list_and_set(loaded) -> None:  # noqa: ANN001, F811
    entries = js(loaded, "callback", "list")
    pending = sorted(e["caller"] for e in entries if e["status"] == "pending")
    # the same callers `cdr missed` names
    missed = sorted(c["caller"] for c in js(loaded, "cdr", "missed")["callers"])
    assert pending == missed
    closed = [e for e in entries if e["status"] == "not_needed"]
    assert {e["caller"] for e in closed} >= {"13800000001"} and all(e["handled_by"] == "system" for e in closed)
    target = next(e for e in entries if e["caller"] == "13800000002")
    done = js(loaded, "callback", "set", str(target["id"]), "called_back", "--note", "will order")
    assert (done["status"], done["handled_by"], done["note"]) == ("called_back", "tester", "will order")
    r = loaded("callback", "set", "99999", "called_back", ok=False)
    assert r.exit_code != 0 and "entry:" in r.stderr
    text = loaded("callback", "list", "--status", "called_back").output
    assert "已回拨" in text and "13800000002" in text


def test_billing_tariff_topup_balance_usage(loaded) -> None:  # noqa: ANN001, F811
    loaded("demo")  # a sample enterprise and its hotline
    hotline = next(h["number"] for h in js(loaded, "hotline", "list"))
    r = loaded("billing", "tariff", hotline, "--per-minute", "0.123", ok=False)
    assert r.exit_code != 0 and "per_minute:" in r.stderr
    r = loaded("billing", "topup", hotline, "0", ok=False)
    assert r.exit_code != 0 and "amount:" in r.stderr
    t = js(loaded, "billing", "tariff", hotline, "--per-minute", "0.12", "--reminder", "50", "--zero-balance", "prompt")
    assert (t["tariff_yuan_per_min"], t["reminder_yuan"], t["zero_balance"], t["zero_balance_enforced"]) == (
        "0.12", "50.00", "prompt", True)
    b = js(loaded, "billing", "topup", hotline, "100")
    assert (b["topups_yuan"], b["balance_yuan"], b["low"]) == ("100.00", "100.00", False)
    b = js(loaded, "billing", "balance", hotline)
    assert b["charged_yuan"] == "0.00"
    assert "余额不足" not in loaded("billing", "balance", hotline).output
    loaded("billing", "tariff", hotline, "--reminder", "200")
    assert "余额不足" in loaded("billing", "balance", hotline).output
    u = js(loaded, "billing", "usage", hotline, "--since", "2026-11-01")
    assert u["billed_min"] == 0 and u["hotline"] == hotline
    r = loaded("billing", "balance", OTHER, ok=False)
    assert r.exit_code != 0 and "hotline:" in r.stderr


def test_dates_out_of_range_name_the_field(loaded) -> None:  # noqa: ANN001, F811
    loaded("demo")
    hotline = next(h["number"] for h in js(loaded, "hotline", "list"))
    for args in (["report", "repeat", "--until", "9999-12-31"], ["report", "summary", "--since", "0001-01-01"],
                 ["report", "traffic", "--until", "9999-12-31 23:00"], ["cdr", "list", "--until", "9999-12-31"],
                 ["cdr", "missed", "--since", "0001-01-01"],
                 ["billing", "usage", hotline, "--until", "9999-12-31"]):
        r = loaded(*args, ok=False)
        field = "until" if "--until" in args else "since"
        assert (r.exit_code, r.stderr.splitlines()[-1]) == (
            1, f"error: {field}: {args[-1]!r} is out of range: give a day from 1970-01-01 to 2999-12-31"), args


def test_billing_tariff_alone_writes_nothing_and_a_free_hotline_is_never_flagged(loaded) -> None:  # noqa: ANN001, F811
    loaded("demo")
    hotline = next(h["number"] for h in js(loaded, "hotline", "list"))
    before = loaded.snapshot()
    shown = js(loaded, "billing", "tariff", hotline)
    assert (shown["tariff_yuan_per_min"], shown["billing"], shown["zero_balance_enforced"]) == ("0.00", "off", False)
    assert loaded.snapshot() == before  # viewing creates no hotline_account row
    loaded("billing", "tariff", hotline, "--service-level-s", "30")
    b = js(loaded, "billing", "balance", hotline)
    assert (b["balance_yuan"], b["billing"], b["verdict"], b["low"]) == ("0.00", "off", "routed", False)
    assert "余额不足" not in loaded("billing", "balance", hotline).output
    js(loaded, "billing", "tariff", hotline, "--per-minute", "0.12")
    b = js(loaded, "billing", "balance", hotline)
    assert (b["billing"], b["verdict"], b["zero_balance_enforced"]) == ("on", "routed, flagged 欠费接通", True)


def test_unknown_hotline_or_department_and_a_reversed_range_are_refused(loaded) -> None:  # noqa: ANN001, F811
    loaded("demo")
    hotline = next(h["number"] for h in js(loaded, "hotline", "list"))
    for command in ("repeat", "summary", "traffic"):
        r = loaded("report", command, "--hotline", "4009999999", ok=False)
        assert (r.exit_code, r.stderr.splitlines()[-1]) == (1, "error: hotline: no hotline 4009999999"), command
    r = loaded("report", "summary", "--department", "9", ok=False)
    assert (r.exit_code, r.stderr.splitlines()[-1]) == (1, "error: department: no department 9")
    r = loaded("report", "summary", "--hotline", HOTLINE, "--department", "9", ok=False)
    assert r.stderr.splitlines()[-1] == f"error: department: no department 9 on {HOTLINE}"
    # a department of the hotline with no call yet, and one only the counted calls know, are fine
    demo_dept = js(loaded, "department", "list", hotline)[0]
    assert js(loaded, "report", "summary", "--hotline", hotline, "--department", demo_dept["key"])["offered"] == 0
    assert js(loaded, "report", "summary", "--department", "2.1")["offered"] == 1
    r = loaded("billing", "usage", hotline, "--since", "2026-11-30", "--until", "2026-11-01", ok=False)
    assert (r.exit_code, r.stderr.splitlines()[-1]) == (1, "error: until: must be after --since")


def test_replaying_cdrs_after_a_tariff_change_charges_nothing_again(cli) -> None:  # noqa: ANN001
    """docs/reports.md: replaying changes nothing; a new tariff reaches past calls only through `report rebuild`.
    And the import says when it wrote a fact under an unchanged record (the 欠费接通 flag)."""
    import sqlite3

    from tests.cli.test_cdr_cli import T0, cdr_line

    cli("demo")
    hotline = next(h["number"] for h in js(cli, "hotline", "list"))
    path = cli.tmp / "ivr400.csv"
    path.write_text(cdr_line("t1", 1, "13800000001", T0, "ANSWERED", hotline=hotline, duration=62)
                    + cdr_line("t2", 2, "13800000002", T0 + 600, "ANSWERED", hotline=hotline, duration=62))
    assert js(cli, "cdr", "import", "--csv", str(path))["inserted"] == 2
    assert js(cli, "billing", "balance", hotline)["charged_yuan"] == "0.00"  # tariff 0 when the calls were written
    cli("billing", "tariff", hotline, "--per-minute", "0.12")
    again = js(cli, "cdr", "import", "--csv", str(path), "--from-start")
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 0, 2)
    assert js(cli, "billing", "balance", hotline)["charged_yuan"] == "0.00"
    # the controller flagged t2 at call entry after it was imported: the replay copies the flag and says so
    conn = sqlite3.connect(cli.db_file)
    conn.execute("INSERT INTO balance_flag (uniqueid, hotline, balance_fen, at) VALUES ('t2', ?, 0, ?)",
                 (hotline, "2026-11-26 01:13:20.000000"))
    conn.commit()
    conn.close()
    again = js(cli, "cdr", "import", "--csv", str(path), "--from-start")
    assert (again["inserted"], again["updated"], again["unchanged"]) == (0, 1, 1)
    assert [r["balance_flagged"] for r in js(cli, "cdr", "list")] == [True, False]
    table = cli("cdr", "list").output.splitlines()
    assert table[0].split()[-1] == "flag"
    assert [line.rstrip().endswith("欠费接通") for line in table if hotline in line] == [True, False]  # t2, t1
    # `report rebuild` applies the tariff of now: 60 s of talk = 1 started minute, × 2 calls × 0.12
    cli("report", "rebuild")
    assert js(cli, "billing", "balance", hotline)["charged_yuan"] == "0.24"


def test_empty_options_and_amounts_that_are_not_plain_yuan_are_refused(loaded) -> None:  # noqa: ANN001, F811
    loaded("demo")
    hotline = next(h["number"] for h in js(loaded, "hotline", "list"))
    before = loaded.snapshot()
    for args, message in (
            (["billing", "tariff", hotline, "--per-minute", ""], "error: per_minute: '' is not an amount in yuan"),
            (["billing", "tariff", hotline, "--reminder", " "], "error: reminder: ' ' is not an amount in yuan"),
            (["report", "repeat", "--tz", ""], "error: tz: unknown time zone ''"),
            (["cdr", "list", "--tz", ""], "error: tz: unknown time zone ''"),
            (["billing", "topup", hotline, "1e3"], "error: amount: '1e3' is not an amount in yuan"),
            (["billing", "topup", hotline, "NaN"], "error: amount: 'NaN' is not an amount in yuan"),
            (["billing", "topup", hotline, "-5"], "error: amount: '-5' is negative: give more than 0"),
            (["billing", "topup", hotline, "10.005"], "error: amount: '10.005': at most two decimals (fen)")):
        r = loaded(*args, ok=False)
        assert r.exit_code == 1 and r.stderr.splitlines()[-1].startswith(message), (args, r.stderr)
    assert loaded.snapshot() == before
    assert js(loaded, "billing", "topup", hotline, "1000.5")["topups_yuan"] == "1000.50"


def test_repeat_json_times_are_in_the_enterprise_zone_and_named(loaded) -> None:  # noqa: ANN001, F811
    top = js(loaded, "report", "repeat")[0]
    listed = js(loaded, "cdr", "list", "--caller", top["caller"])
    assert top["timezone"] == listed[0]["timezone"]
    assert top["last_call"] == max(r["started_at"] for r in listed)  # the same ISO text, the same offset
    assert js(loaded, "report", "repeat", "--tz", "UTC")[0]["timezone"] == "UTC"
