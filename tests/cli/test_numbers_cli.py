"""Issue 8 end to end: a prefix typed with +86 at the command line is stored in canonical form and blocks
the callers it names, in the pure decision and through the controller's `route` over FastAGI (a fake
Asterisk on loopback, real controller, the CLI's SQLite file). Also: region overrides, CDR filters and
`db upgrade` on data written by earlier versions."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import sqlite3
import sys
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ivr400.controller import Controller  # noqa: E402
from ivr400.controller.loader import load_config  # noqa: E402
from ivr400.db import migrate  # noqa: E402
from ivr400.db.engine import make_engine  # noqa: E402
from ivr400.pbx.asterisk import dialplan_variables as v  # noqa: E402
from ivr400.pbx.asterisk.agi_protocol import build_command  # noqa: E402
from ivr400.routing.blocking import check_caller, parse_caller  # noqa: E402
from tests.cli.test_routing_cli import H, base  # noqa: E402
from tests.fakes.fake_asterisk import FakeAsterisk  # noqa: E402

#: Monday 1 June 2026, 10:00 in Beijing.
NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))
#: One 010-8888xxxx caller as the carrier may present it, and callers the entry must not touch.
BEIJING_8888 = ["+861088881234", "00861088881234", "861088881234", "01088881234", "1088881234"]
OTHERS = ["10086", "+8610086", "01062345678", "02188881234", "13888881234", "anonymous"]


def js(result):  # noqa: ANN001, ANN201
    return json.loads(result.output)


def actions_over_fastagi(db_url: str, callers: list[str]) -> dict[str, str]:
    """Caller → IVR400_ACTION as a fake Asterisk receives it from a real controller; a refused call is
    also checked line by line on the wire (the refusal, then the action, then the status)."""

    async def scenario() -> dict[str, str]:
        engine = make_engine(db_url)
        ctl = Controller(engine, now=lambda: NOW)
        await ctl.start()
        server = ctl.server("127.0.0.1", 0)
        await server.start()
        try:
            out = {}
            for caller in callers:
                fake = await FakeAsterisk(server.port, route=v.ROUTE_CALL, query=f"hotline={H}",
                                          callerid=caller).run()
                assert all(argv[:2] in (["SET", "VARIABLE"], ["EXEC", "MSet"]) for argv in fake.argv), fake.argv
                out[caller] = dict(fake.sets)[v.ACTION]
                if out[caller] == "refuse":
                    assert fake.received == [
                        build_command("EXEC", "MSet", f"{v.REFUSE_WITH}=busy,{v.ACTION}=refuse").decode().rstrip("\n"),
                        build_command("SET VARIABLE", v.AGI_STATUS, "OK").decode().rstrip("\n")], fake.received
            return out
        finally:
            await server.close(grace=1.0)
            await ctl.stop()
            engine.dispose()

    return asyncio.run(asyncio.wait_for(scenario(), 30))


def test_block_add_plus86_10_8888_prefix_stores_0108888_and_blocks_beijing_8888_callers(
        cli, caplog: pytest.LogCaptureFixture) -> None:  # noqa: ANN001
    base(cli)
    cli("block", "mode", H, "blacklist")
    added = js(cli("block", "add", H, "+86 10 8888", "--prefix", "--json"))
    assert (added["number"], added["prefix"], added["entry"]) == ("0108888", True, "0108888*")

    # Every other way to write the same prefix is the same entry.
    for same in ("0086-10-8888", "86 10 8888", "010-8888", "(010) 8888", "+86 (0)10 8888"):
        again = cli("block", "add", H, same, "--prefix", ok=False)
        assert again.stderr == f"error: number: 0108888* is already on the list of {H}\n", (same, again.stderr)

    # The pure decision on the configuration the controller loads from that database.
    engine = make_engine(cli.db)
    with Session(engine) as s:
        policy = load_config(s, NOW).get(H).routing.block
    engine.dispose()
    for raw in BEIJING_8888:
        verdict = check_caller(policy, parse_caller(raw))
        assert not verdict.allowed and "on the blacklist (0108888*)" in verdict.reason, raw
    for raw in OTHERS:
        assert check_caller(policy, parse_caller(raw)).allowed, raw

    # Through the controller's route, as Asterisk sees it on the wire; the reason goes to the log.
    with caplog.at_level(logging.INFO):
        seen = actions_over_fastagi(cli.db, BEIJING_8888 + OTHERS)
    for raw in BEIJING_8888:
        assert seen[raw] == "refuse", (raw, seen[raw])
    for raw in OTHERS:
        assert seen[raw] == "menu", (raw, seen[raw])  # base(): a hotline with a menu
    refusals = [r.getMessage() for r in caplog.records if f"route: {H} -> refuse" in r.getMessage()]
    assert len(refusals) == len(BEIJING_8888)
    assert all("caller 01088881234 on the blacklist (0108888*)" in m for m in refusals), refusals

    assert cli("block", "remove", H, "+86-10-8888", "--prefix").output.strip() == f"0108888* removed from {H}"


def test_whitelist_of_prefixes_typed_with_plus86(cli) -> None:  # noqa: ANN001
    base(cli)
    cli("block", "mode", H, "whitelist_only")
    assert js(cli("block", "add", H, "+86 10", "--prefix", "--json"))["entry"] == "010*"
    assert js(cli("block", "add", H, "+86 138", "--prefix", "--json"))["entry"] == "138*"
    assert js(cli("block", "add", H, "10086", "--json"))["entry"] == "10086"
    seen = actions_over_fastagi(cli.db, ["+861062345678", "+8613800138000", "10086", "10010", "02162345678"])
    assert seen == {
        "+861062345678": "menu", "+8613800138000": "menu", "10086": "menu",
        "10010": "refuse", "02162345678": "refuse"}


def test_ambiguous_and_incomplete_entries_are_refused_with_the_way_to_write_them(cli) -> None:  # noqa: ANN001
    base(cli)
    before = cli.snapshot()
    for args, message in [
        (["block", "add", H, "10 8888", "--prefix"],
         "error: number: '10 8888': ambiguous prefix: for Beijing numbers write 0108888 (or +86 108888)"),
        (["block", "add", H, "10", "--prefix"], "error: number: '10': ambiguous prefix"),
        (["block", "add", H, "755", "--prefix"], "write 0755 (or +86 755)"),
        (["block", "add", H, "+86 10 8888"], "error: number: '+86 10 8888': a Beijing number is 10 + 8 digits"),
        (["block", "add", H, "010-62345678转801"], "extension 801"),
        (["rule", "override", "add", "10", "--province", "北京"], "error: prefix: '10': ambiguous prefix"),
        (["rule", "override", "add", "10086", "--province", "北京"], "error: prefix: '10086' is a service number"),
        (["cdr", "list", "--caller", "010-62345678-801"], "error: caller: '010-62345678-801': extension 801"),
    ]:
        result = cli(*args, ok=False)
        assert result.exit_code == 1 and message in result.stderr, (args, result.stderr)
    assert cli.snapshot() == before


def test_region_override_and_cdr_filter_use_the_same_reading(cli) -> None:  # noqa: ANN001
    base(cli)
    added = js(cli("rule", "override", "add", "+86 10 8888", "--province", "上海", "--json"))
    assert added["prefix"] == "0108888"
    again = cli("rule", "override", "add", "010-8888", "--province", "上海", ok=False)
    assert "an override for 0108888 already exists" in again.stderr
    assert cli("rule", "override", "remove", "86 10 8888").output.strip() == "override 0108888 removed"
    assert js(cli("cdr", "list", "--caller", "+86 10 6234 5678", "--json")) == []


def test_db_upgrade_renormalizes_old_entries_or_says_which_row_to_fix(cli) -> None:  # noqa: ANN001
    base(cli)
    cli("db", "downgrade", "0004")
    conn = sqlite3.connect(cli.db_file)
    with conn:  # what the 0004-era code stored for "+86 10 8888" --prefix, and a prefix typed "755"
        conn.execute("INSERT INTO block_entry (hotline_id, number, prefix, note) VALUES (1, '108888', 1, 'old')")
        conn.execute("INSERT INTO block_entry (hotline_id, number, prefix, note) VALUES (1, '755', 1, 'old')")
    refused = cli("db", "upgrade", ok=False)
    assert refused.exit_code == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error: numbers: stored values the number normalizer cannot read")
    assert "block_entry 2: '755': a prefix without its 0 is ambiguous" in refused.stderr
    with conn:
        conn.execute("UPDATE block_entry SET number = '0755' WHERE id = 2")
    conn.close()
    head = migrate.head_revision(make_engine(cli.db))
    assert f"database at revision {head}" in cli("db", "upgrade").output
    assert [e["entry"] for e in js(cli("block", "list", H, "--json"))["entries"]] == ["0108888*", "0755*"]
