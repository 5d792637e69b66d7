"""`ivr400 cdr`: import, list with filters, missed (callers to call back), --json, and bad input."""
from __future__ import annotations

import csv
import io
import json

import pytest

from ivr400.cdr.cdr_model import CSV_COLUMNS, CSV_FORMAT
from tests.unit.test_cdr_model import CSV_TEXT

HOTLINE = "4008001234"
OTHER = "4006001111"
T0 = 1795655000  # 2026-11-26 01:03:20 UTC = 09:03:20 in Shanghai


def cdr_line(linkedid: str, seq: int, caller: str, start: float, disposition: str, *, hotline: str = HOTLINE,
             seat: bool = True, disp: str = "", duration: int = 10, decided_by: str = "controller",
             hunt: str = "", seat_answer: str = "") -> str:
    """One ivr400.csv line (one CDR) in the shipped column layout."""
    answered = disposition == "ANSWERED" and seat
    values = {
        "format": CSV_FORMAT, "linkedid": linkedid, "uniqueid": linkedid, "sequence": str(seq),
        "clid": f'"" <{caller}>', "src": caller, "dst": hotline, "dcontext": "ivr400-inbound",
        "channel": "PJSIP/carrier-00000001", "dstchannel": "PJSIP/out-00000002" if seat else "",
        "lastapp": "Dial" if seat else "Playback", "lastdata": "PJSIP/01062345678@out,15" if seat else "x",
        "start": f"{start:.6f}", "answer": f"{start + 2:.6f}" if answered else "0.000000",
        "end": f"{start + duration:.6f}", "duration": str(duration),
        "billsec": str(duration - 2) if answered else "0", "disposition": disposition,
        "amaflags": "DOCUMENTATION", "accountcode": "", "userfield": "",
        "ivr400_hotline": hotline, "ivr400_keys": "", "ivr400_dept": "",
        "ivr400_seat": "PJSIP/01062345678@out" if answered else "", "ivr400_disp": disp, "ivr400_rec": "",
        "ivr400_decided_by": decided_by, "ivr400_hunt": hunt, "ivr400_seat_answer": seat_answer,
    }
    out = io.StringIO()
    csv.writer(out, quoting=csv.QUOTE_ALL, lineterminator="\n").writerow([values[c] for c in CSV_COLUMNS])
    return out.getvalue().replace(f'"{CSV_FORMAT}"', CSV_FORMAT, 1)


# Missed-call story (times relative to T0, hours):
#   13800000001: busy at +1h, no answer at +2h, answered at +3h  → reached, not listed
#   13800000002: busy at +1h, no answer at +4h                   → 2 missed
#   13800000003: answered at +1h, abandoned at +2h               → 1 missed (the answer came before)
#   13800000004: voicemail at +5h on the other hotline           → 1 missed
#   anonymous:   no answer at +1h                                → counted, cannot be called back
#   13800000005: blocked at +1h                                  → not a missed call
STORY = [
    cdr_line("s1a", 101, "13800000001", T0 + 3600, "BUSY"),
    cdr_line("s1b", 102, "13800000001", T0 + 7200, "NO ANSWER"),
    cdr_line("s1c", 103, "13800000001", T0 + 10800, "ANSWERED", disp="answered"),
    cdr_line("s2a", 104, "13800000002", T0 + 3600, "BUSY"),
    cdr_line("s2b", 105, "13800000002", T0 + 14400, "NO ANSWER"),
    cdr_line("s3a", 106, "13800000003", T0 + 3600, "ANSWERED"),
    cdr_line("s3b", 107, "13800000003", T0 + 7200, "ANSWERED", seat=False),
    cdr_line("s4a", 108, "13800000004", T0 + 18000, "ANSWERED", seat=False, hotline=OTHER, disp="voicemail"),
    cdr_line("s5a", 109, "anonymous", T0 + 3600, "NO ANSWER", decided_by="static"),
    cdr_line("s6a", 110, "13800000005", T0 + 3600, "BUSY", seat=False, disp="blocked"),
]


@pytest.fixture
def loaded(cli):  # noqa: ANN001, ANN201
    path = cli.tmp / "ivr400.csv"
    path.write_text(CSV_TEXT + "".join(STORY))
    out = json.loads(cli("cdr", "import", "--csv", str(path), "--json").output)
    assert (out["legs"], out["calls"], out["inserted"], out["errors"]) == (18, 14, 14, [])
    cli.csv = path
    return cli


def test_import_is_incremental_and_idempotent(loaded) -> None:  # noqa: ANN001
    again = json.loads(loaded("cdr", "import", "--csv", str(loaded.csv), "--json").output)
    assert (again["bytes_read"], again["calls"]) == (0, 0)
    full = json.loads(loaded("cdr", "import", "--csv", str(loaded.csv), "--from-start", "--json").output)
    assert (full["calls"], full["inserted"], full["updated"], full["unchanged"]) == (14, 0, 0, 14)
    text = loaded("cdr", "import", "--csv", str(loaded.csv)).output
    assert "bytes_read: 0" in text


def test_import_of_a_missing_file_says_so(cli) -> None:  # noqa: ANN001
    out = cli("cdr", "import", "--csv", str(cli.tmp / "nope.csv")).output
    assert "no such file yet" in out


def test_list_newest_first_with_every_field_in_json(loaded) -> None:  # noqa: ANN001
    records = json.loads(loaded("cdr", "list", "--json").output)
    assert len(records) == 14
    starts = [r["started_at"] for r in records]
    assert starts == sorted(starts, reverse=True)
    hunt = next(r for r in records if r["uniqueid"] == "1795655789.34")
    assert hunt == {
        "id": hunt["id"], "uniqueid": "1795655789.34", "linkedid": "1795655789.34", "hotline": HOTLINE,
        "caller": "075512345678", "caller_province": "广东", "caller_city": "深圳",
        # The same instants as 01:16 UTC, written in Shanghai time with its offset (no enterprise: the default zone).
        "started_at": "2026-11-26T09:16:29.093412+08:00", "answered_at": "2026-11-26T09:16:31.109453+08:00",
        "ended_at": "2026-11-26T09:16:32.116686+08:00", "duration_s": 3, "billsec": 1, "key_path": None,
        "department": None, "seat": "PJSIP/pstn/sip:seat@127.0.0.1:5071", "disposition": "answered",
        "recording_path": None, "source": "csv", "timezone": "Asia/Shanghai",
        "decided_by": None,  # recorded before ivr400_decided_by
        "balance_flagged": False,  # not routed at a zero balance (话费余额)
    }


def test_list_filters(loaded) -> None:  # noqa: ANN001
    def ids(*args: str) -> list[str]:
        return sorted(r["uniqueid"] for r in json.loads(loaded("cdr", "list", *args, "--json").output))

    assert ids("--hotline", "400-600-1111") == ["s4a"]
    assert ids("--disposition", "busy") == ["s1a", "s2a"]
    assert ids("--disposition", "voicemail", "--disposition", "blocked") == ["1795655795.54", "s4a", "s6a"]
    assert ids("--caller", "138 0000 0003") == ["s3a", "s3b"]
    # Shanghai time by default: T0 + 1h = 10:03:20 local; the recorded calls are at 09:16 local.
    assert ids("--since", "2026-11-26 10:00", "--until", "2026-11-26 10:30") == ["s1a", "s2a", "s3a", "s5a", "s6a"]
    assert ids("--since", "2026-11-26T02:00:00+00:00", "--until", "2026-11-26T02:30:00Z") == [
        "s1a", "s2a", "s3a", "s5a", "s6a"]
    assert ids("--since", "2026-11-26 10:00", "--tz", "UTC") == []
    assert len(ids("--until", "2026-11-26")) == 14  # a bare --until date includes the whole day
    assert ids("--until", "2026-11-25") == []
    assert len(json.loads(loaded("cdr", "list", "--limit", "3", "--json").output)) == 3
    assert ids("--decided-by", "static") == ["s5a"]
    assert ids("--decided-by", "controller", "--decided-by", "static") == [
        "s1a", "s1b", "s1c", "s2a", "s2b", "s3a", "s3b", "s4a", "s5a", "s6a"]
    assert ids("--decided-by", "mixed") == []


def test_list_table_in_local_time(loaded) -> None:  # noqa: ANN001
    out = loaded("cdr", "list", "--caller", "075512345678").output
    header, *lines = out.splitlines()
    assert header.split() == ["id", "started", "hotline", "caller", "region", "keys", "dept", "seat",
                              "disposition", "talk_s", "duration_s", "decided_by", "flag"]
    hunt = next(line for line in lines if "answered" in line and "seat@127.0.0.1:5071" in line)
    assert "2026-11-26 09:16:" in hunt and "广东/深圳" in hunt
    assert "voicemail" in out and "abandoned" in out
    assert "(none)" in loaded("cdr", "list", "--hotline", "4009999999").output


def test_missed_lists_callers_to_call_back_with_counts(loaded) -> None:  # noqa: ANN001
    data = json.loads(loaded("cdr", "missed", "--json").output)
    callers = {(c["hotline"], c["caller"]): c for c in data["callers"]}
    assert set(callers) == {
        (OTHER, "13800000004"), (HOTLINE, "13800000002"), (HOTLINE, "13800000003"), (HOTLINE, "075512345678"),
    }
    assert [c["caller"] for c in data["callers"]][:2] == ["13800000004", "13800000002"]  # newest first
    two = callers[(HOTLINE, "13800000002")]
    assert (two["missed"], two["last_disposition"], two["uniqueids"]) == (2, "noanswer", ["s2a", "s2b"])
    assert callers[(HOTLINE, "13800000003")]["last_answered"] is not None  # answered before, not after
    # The recording's caller: hung up in the IVR, was answered a second later, then left a voicemail:
    # only the voicemail is still to be returned.
    recorded = callers[(HOTLINE, "075512345678")]
    assert (recorded["missed"], recorded["last_disposition"]) == (1, "voicemail")
    assert recorded["uniqueids"] == ["1795655795.54"]
    assert (data["callers_count"], data["missed_calls"], data["anonymous_calls"]) == (4, 5, 1)

    only = json.loads(loaded("cdr", "missed", "--hotline", OTHER, "--json").output)
    assert [c["caller"] for c in only["callers"]] == ["13800000004"]
    later = json.loads(loaded("cdr", "missed", "--since", "2026-11-26 12:00", "--json").output)
    assert sorted(c["caller"] for c in later["callers"]) == ["13800000002", "13800000004"]
    assert [c["missed"] for c in later["callers"] if c["caller"] == "13800000002"] == [1]

    text = loaded("cdr", "missed").output
    assert text.splitlines()[0].split() == ["hotline", "caller", "region", "missed", "first_missed", "last_missed",
                                            "last_disposition"]
    assert "4 caller(s) to call back, 5 missed call(s); 1 missed call(s) without a caller number" in text


def test_a_later_answered_call_clears_the_caller(loaded) -> None:  # noqa: ANN001
    with open(loaded.csv, "a") as fh:
        fh.write(cdr_line("s2c", 120, "13800000002", T0 + 20000, "ANSWERED", disp="answered"))
    loaded("cdr", "import", "--csv", str(loaded.csv))
    data = json.loads(loaded("cdr", "missed", "--json").output)
    assert "13800000002" not in [c["caller"] for c in data["callers"]]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cdr", "list", "--hotline", "12345"], "error: hotline: "),
        (["cdr", "list", "--caller", "nobody"], "error: caller: 'nobody': a phone number may contain only digits"),
        (["cdr", "list", "--since", "yesterday"], "error: since: 'yesterday' is not a date"),
        (["cdr", "list", "--until", "2026-13-01"], "error: until: "),
        (["cdr", "list", "--since", "2026-06-02", "--until", "2026-06-01 00:00"], "error: until: must be after"),
        (["cdr", "list", "--tz", "Mars/Olympus"], "error: tz: unknown time zone 'Mars/Olympus'"),
        (["cdr", "list", "--tz", "localtime"], "error: tz: unknown time zone 'localtime'"),
        (["cdr", "list", "--tz", "Factory"], "error: tz: unknown time zone 'Factory'"),
        (["cdr", "missed", "--tz", "posixrules"], "error: tz: unknown time zone 'posixrules'"),
        (["cdr", "missed", "--hotline", "4001"], "error: hotline: "),
        (["cdr", "missed", "--since", "soon"], "error: since: "),
        (["cdr", "listen"], "error: ami.secret: not set"),
        (["cdr", "listen", "--ami-user", "x"], "error: ami.secret: not set"),
        (["cdr", "listen", "--ami-port", "70000", "--ami-secret", "y"], "error: ami.port: 70000 is not a TCP port"),
        (["cdr", "listen", "--ami-user", "x", "--ami-secret", "y", "--pbx-tz", "Nowhere"], "error: tz: "),
    ],
)
def test_bad_input_is_refused_with_the_field(cli, args: list[str], message: str) -> None:  # noqa: ANN001
    result = cli(*args, ok=False)
    assert result.exit_code == 1
    assert message in result.stderr, result.stderr


def test_listen_runs_until_sigterm_and_backfills(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """`cdr listen` against the fake AMI server: logs in, imports the CSV, stops on SIGTERM."""
    import asyncio
    import os
    import signal
    import threading

    from tests.db.test_cdr_store import FakeAmi

    csv_path = cli.tmp / "ivr400.csv"
    csv_path.write_text(CSV_TEXT)
    ready = threading.Event()
    port: list[int] = []
    loop = asyncio.new_event_loop()

    def serve() -> None:
        async def go() -> None:
            ami = await FakeAmi().start()
            port.append(ami.port)
            ready.set()
            for _ in range(500):  # the listener installs its SIGTERM handler before it logs in
                if ami.logins:
                    break
                await asyncio.sleep(0.02)
            else:
                await ami.drop()
                return  # never logged in: no signal (it would hit pytest itself)
            await asyncio.sleep(1.0)  # the backfill runs right after the login
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.sleep(0.5)
            await ami.drop()

        loop.run_until_complete(go())

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    result = cli("cdr", "listen", "--ami-port", str(port[0]), "--ami-user", "u", "--ami-secret", "s3cret",
                 "--csv", str(csv_path), "--json")
    thread.join(10)
    stats = json.loads(result.stdout)
    assert "listening for CDRs on AMI 127.0.0.1" in result.stderr
    assert f"ready: pid {os.getpid()}, ami 127.0.0.1:{port[0]}" in result.stderr  # after the login and backfill
    assert stats["logins"] == 1 and stats["imports"] >= 1 and stats["imported_calls"] == 4
    assert len(json.loads(cli("cdr", "list", "--json").output)) == 4
