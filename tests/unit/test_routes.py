"""The FastAGI routes over the wire: a fake Asterisk talks to a real controller on a real SQLite database.

Each test builds a hotline with the provisioning services, starts a :class:`Controller` (fixed clock,
port 0: nothing is left listening on 4573) and plays calls with ``tests/fakes/fake_asterisk.py``,
asserting on the exact command lines Asterisk would execute. No pytest-asyncio: each scenario runs under
``asyncio.run`` with an overall bound.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # for tests.fakes when run as `pytest`

from ivr400.controller import Controller, HotlineEntry  # noqa: E402
from ivr400.controller.routes import bind  # noqa: E402
from ivr400.controller.routes.route import UNKNOWN_HOTLINE_VARIABLES  # noqa: E402
from ivr400.controller.routes.voicemail_saved import voicemail_file_ok  # noqa: E402
from ivr400.db.engine import make_engine  # noqa: E402
from ivr400.db.migrate import upgrade  # noqa: E402
from ivr400.db.models import Department, Hotline, HuntRotation, Voicemail  # noqa: E402
from ivr400.pbx.asterisk import dialplan_variables as v  # noqa: E402
from ivr400.pbx.asterisk.agi_protocol import build_command, mset_batches  # noqa: E402
from ivr400.pbx.asterisk.fastagi import FastAGIServer  # noqa: E402
from ivr400.provisioning import blocking, calendar, destinations, lookup, region_rules, time_rules  # noqa: E402
from ivr400.provisioning.seats import add_department, add_seat  # noqa: E402
from ivr400.provisioning.trunks import add_trunk  # noqa: E402
from ivr400.routing.model import Decision  # noqa: E402
from tests.factories import approved, world  # noqa: E402
from tests.fakes.fake_asterisk import FakeAsterisk  # noqa: E402

SH = dt.timezone(dt.timedelta(hours=8))
#: Monday 1 June 2026, 10:00 in Beijing: an ordinary working day (chinesecalendar agrees).
NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=SH)
HOTLINE = "4008000001"
D1, D2, D3 = "01062345678", "01062345679", "01062345670"


def run(scenario: Callable[[], Awaitable[Any]], timeout: float = 20.0) -> Any:  # noqa: ANN401
    async def bounded() -> Any:  # noqa: ANN401
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(bounded())


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    eng = make_engine(f"sqlite:///{tmp_path / 'routes.db'}")
    upgrade(eng)
    yield eng
    eng.dispose()


class Lab:
    """A provisioned database plus helpers to edit it the way an operator would (one commit per edit)."""

    def __init__(self, engine: Engine, tmp: Path) -> None:
        self.engine = engine
        self.tmp = tmp
        self.clock = NOW

    def edit(self, change: Callable[[Session], Any]) -> Any:  # noqa: ANN401
        with Session(self.engine, expire_on_commit=False) as s:
            result = change(s)
            s.commit()
            return result

    def now(self) -> dt.datetime:
        return self.clock


def provision(lab: Lab, *, departments: bool = False, hunt: str = "sequential") -> None:
    """Hotline 4008000001: three approved landlines on the switchboard (or in departments 1 and 2)."""

    def build(s: Session) -> None:
        w = world(s, lab.tmp, NOW, hotline=HOTLINE)
        dests = [approved(s, w, n, NOW, tmp=lab.tmp) for n in (D1, D2, D3)]
        if departments:
            sales = add_department(s, w.hotline, "1", "销售部", hunt=hunt)
            service = add_department(s, w.hotline, "2", "客服部")
            for d in dests[:2]:
                add_seat(s, w.hotline, d, department=sales, now=NOW)
            add_seat(s, w.hotline, dests[2], department=service, ring_timeout=25, now=NOW)
        else:
            w.hotline.hunt_strategy = hunt
            for d in dests:
                add_seat(s, w.hotline, d, now=NOW)

    lab.edit(build)


@contextlib.asynccontextmanager
async def controller(lab: Lab, **kw: Any) -> AsyncIterator[tuple[Controller, int]]:  # noqa: ANN401
    ctl = Controller(lab.engine, now=lab.now, **kw)
    await ctl.start()
    server = ctl.server("127.0.0.1", 0)
    await server.start()
    try:
        yield ctl, server.port
    finally:
        await server.close(grace=1.0)
        await ctl.stop()


async def call(port: int, route: str = v.ROUTE_CALL, query: str = f"hotline={HOTLINE}", **kw: Any) -> FakeAsterisk:  # noqa: ANN401
    return await FakeAsterisk(port, route=route, query=query, **kw).run()


def sets(fake: FakeAsterisk) -> list[tuple[str, str]]:
    """The variables the route set, as (name, value) in order, as Asterisk applied them; every command is a
    SET VARIABLE or an EXEC MSet (nothing else is sent)."""
    for argv in fake.argv:
        assert argv[:2] in (["SET", "VARIABLE"], ["EXEC", "MSet"]), argv
        assert len(argv) == (4 if argv[0] == "SET" else 3), argv
    return fake.sets


def lines(*pairs: tuple[str, str]) -> list[str]:
    """The exact command lines expected for these pairs: the decision in ``EXEC MSet`` batches (one per
    :data:`MSET_MAX_PAIRS` pairs of MSet-safe values, a SET VARIABLE for any other value), then the
    server's ``SET VARIABLE IVR400_AGI_STATUS OK``."""
    out = []
    for item in mset_batches(list(pairs)):
        cmd = build_command("SET VARIABLE", *item) if isinstance(item, tuple) else build_command("EXEC", "MSet", item)
        out.append(cmd.decode().rstrip("\n"))
    return [*out, build_command("SET VARIABLE", v.AGI_STATUS, "OK").decode().rstrip("\n")]


def decision_logs(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The route hook's decision lines (``route: <hotline> -> <action>: <reason>``, each record carrying the
    call's ``uniqueid``), in call order: the reason goes to the log only (nothing in the dialplan reads it)."""
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith("route: 400") and r.uniqueid]


def target_pairs(*numbers_timeouts: tuple[str, int], dept: int = 0) -> list[tuple[str, str]]:
    """The hunt list as the routes send it: targets and timeouts, then the department's row id (0 = switchboard)."""
    out = []
    for i, (number, to) in enumerate(numbers_timeouts, start=1):
        out += [(v.target(i), f"PJSIP/{number}@ivr400-out"), (v.timeout(i), str(to))]
    return [*out, (v.DEPT_ID, str(dept))]


def _dept_id(lab: Lab, key: str) -> int:
    """Row id of the top-level department at `key`."""
    with Session(lab.engine) as s:
        return s.scalars(select(Department.id).where(Department.key == key, Department.parent_id.is_(None))).one()


@pytest.fixture
def lab(engine: Engine, tmp_path: Path) -> Lab:
    return Lab(engine, tmp_path)


# --------------------------------------------------------------------------- call entry


def test_switchboard_call_gets_its_targets_and_action_last(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    provision(lab)

    async def scenario() -> FakeAsterisk:
        async with controller(lab) as (_, port):
            return await call(port, callerid="13800138000")

    with caplog.at_level(logging.DEBUG):
        fake = run(scenario)
    pairs = sets(fake)
    names = [n for n, _ in pairs]
    assert pairs[:7] == target_pairs((D1, 15), (D2, 15), (D3, 15))
    assert names[-4:] == [v.TARGET_COUNT, v.FAX_MODE, v.ACTION, v.AGI_STATUS]
    assert dict(pairs)[v.TARGET_COUNT] == "3" and dict(pairs)[v.ACTION] == "department"
    assert v.ACTION_DEPT not in names  # switchboard: the empty default says it
    [reason] = decision_logs(caplog)
    assert "caller 13800138000" in reason and "department switchboard: 3 target(s) sequential" in reason
    assert fake.received == lines(*pairs[:-1])


def test_menu_hotline_gets_menu_with_two_commands(lab: Lab) -> None:
    provision(lab, departments=True)

    async def scenario() -> FakeAsterisk:
        async with controller(lab) as (_, port):
            return await call(port)

    fake = run(scenario)
    assert [n for n, _ in sets(fake)] == [v.FAX_MODE, v.ACTION, v.AGI_STATUS]
    assert dict(sets(fake))[v.ACTION] == "menu"
    # A menu rule with its own greeting (e.g. holidays) passes it in IVR400_PROMPT.
    lab.edit(lambda s: time_rules.add_time_rule(s, _hotline(s), action="menu:ivr400/holiday-welcome"))
    greeted = run(scenario)
    assert [n for n, _ in sets(greeted)] == [v.PROMPT, v.FAX_MODE, v.ACTION, v.AGI_STATUS]
    assert sets(greeted)[0] == (v.PROMPT, "ivr400/holiday-welcome") and dict(sets(greeted))[v.ACTION] == "menu"


def test_department_hook_sets_targets_hunt_and_count_last(lab: Lab) -> None:
    provision(lab, departments=True)

    async def scenario() -> tuple[FakeAsterisk, FakeAsterisk, FakeAsterisk, FakeAsterisk]:
        async with controller(lab) as (_, port):
            one = await call(port, v.ROUTE_DEPARTMENT, f"hotline={HOTLINE}&dept=1",
                             variables={v.HUNT: "simultaneous", v.MOH_CLASS: "stale", v.MAX_ATTEMPTS: "1"})
            two = await call(port, v.ROUTE_DEPARTMENT, f"hotline={HOTLINE}&dept=2")
            gone = await call(port, v.ROUTE_DEPARTMENT, f"hotline={HOTLINE}&dept=7")
            switchboard = await call(port, v.ROUTE_DEPARTMENT, f"hotline={HOTLINE}&dept=")
            return one, two, gone, switchboard

    one, two, gone, switchboard = run(scenario)
    expected = [*target_pairs((D1, 15), (D2, 15), dept=_dept_id(lab, "1")), (v.HUNT, "sequential"), (v.MOH_CLASS, ""),
                (v.MAX_ATTEMPTS, "0"), (v.TARGET_COUNT, "2")]
    assert one.received == lines(*expected)
    assert one.variables[v.HUNT] == "sequential" and one.variables[v.MOH_CLASS] == ""
    assert dict(sets(two))[v.target(1)] == f"PJSIP/{D3}@ivr400-out" and dict(sets(two))[v.timeout(1)] == "25"
    # A department the database does not know (deleted since the render): ring nobody.
    assert gone.received == lines((v.TARGET_COUNT, "0"))
    # Nobody is bound to the switchboard of this menu hotline.
    assert switchboard.received == lines((v.TARGET_COUNT, "0"))


def test_department_hook_rings_round_robin_one_seat_after_another(lab: Lab) -> None:
    """Round robin arrives rotated and is hunted sequentially: a hook that sent it as simultaneous ringing
    (or left a stale IVR400_HUNT / IVR400_RING_TIMEOUT in charge) would ring every seat at once."""
    provision(lab, departments=True, hunt="round_robin")  # 销售部 (key 1): D1 and D2, round robin

    async def scenario() -> list[FakeAsterisk]:
        async with controller(lab) as (_, port):
            stale = {v.HUNT: "simultaneous", v.RING_TIMEOUT: "99", v.MAX_ATTEMPTS: "1"}  # a previous hunt's
            return [await call(port, v.ROUTE_DEPARTMENT, f"hotline={HOTLINE}&dept=1", variables=stale)
                    for _ in range(3)]

    first, second, third = run(scenario)
    for fake, order in ((first, (D1, D2)), (second, (D2, D1)), (third, (D1, D2))):
        assert fake.received == lines(*target_pairs(*((n, 15) for n in order), dept=_dept_id(lab, "1")),
                                      (v.HUNT, "sequential"),
                                      (v.MOH_CLASS, ""), (v.MAX_ATTEMPTS, "0"), (v.TARGET_COUNT, "2"))
        assert fake.variables[v.HUNT] == "sequential" and fake.variables[v.MAX_ATTEMPTS] == "0"
    with Session(lab.engine) as s:
        assert s.scalars(select(HuntRotation.position)).all() == [3]


def test_simultaneous_and_round_robin_departments(lab: Lab) -> None:
    provision(lab, hunt="round_robin")

    async def scenario() -> list[list[str]]:
        async with controller(lab) as (_, port):
            firsts = []
            for _ in range(4):
                fake = await call(port)
                firsts.append([val for n, val in sets(fake) if n.startswith(v.TARGET_PREFIX) and n != v.TARGET_COUNT])
            return firsts

    orders = run(scenario)
    dial = [f"PJSIP/{n}@ivr400-out" for n in (D1, D2, D3)]
    assert orders == [dial, dial[1:] + dial[:1], dial[2:] + dial[:2], dial]
    with Session(lab.engine) as s:
        assert s.scalars(select(HuntRotation.position)).all() == [4]

    def simultaneous(s: Session) -> None:
        s.execute(text("UPDATE hotline SET hunt_strategy = 'simultaneous'"))
        s.execute(text("UPDATE seat SET ring_timeout_s = 40 WHERE position = 2"))

    lab.edit(simultaneous)

    async def again() -> FakeAsterisk:
        async with controller(lab) as (_, port):
            return await call(port)

    pairs = dict(sets(run(again)))
    assert pairs[v.HUNT] == "simultaneous" and pairs[v.RING_TIMEOUT] == "40" and pairs[v.TARGET_COUNT] == "3"


def test_trunk_templates_dial_like_the_static_plan(lab: Lab) -> None:
    provision(lab)

    def trunk(s: Session) -> None:
        t = add_trunk(s, "carrier-b", "PJSIP/{number}@carrier-b")
        s.execute(text("UPDATE destination SET trunk_id = :t WHERE number = :n"), {"t": t.id, "n": D2})

    lab.edit(trunk)

    async def scenario() -> FakeAsterisk:
        async with controller(lab) as (_, port):
            return await call(port)

    pairs = dict(sets(run(scenario)))
    assert [pairs[v.target(i)] for i in (1, 2, 3)] == [
        f"PJSIP/{D1}@ivr400-out", f"PJSIP/{D2}@carrier-b", f"PJSIP/{D3}@ivr400-out"]


def test_blocked_callers_are_refused_busy_or_with_a_prompt(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    provision(lab)

    def blacklist(s: Session) -> None:
        h = _hotline(s)
        blocking.set_block_mode(s, h, "blacklist", anonymous="refuse")
        blocking.add_block_entry(s, h, "13900000000")
        blocking.add_block_entry(s, h, "021", prefix=True)

    lab.edit(blacklist)

    async def scenario() -> list[FakeAsterisk]:
        async with controller(lab) as (ctl, port):
            out = [await call(port, callerid="13900000000"), await call(port, callerid="+86 21 6234 5678"),
                   await call(port, callerid=""), await call(port, callerid="13800138000")]
            lab.edit(lambda s: blocking.set_block_mode(s, _hotline(s), "blacklist", refuse_with="prompt"))
            await until_generation(ctl)
            out.append(await call(port, callerid="13900000000"))
            return out

    with caplog.at_level(logging.DEBUG):
        listed, prefixed, anonymous, other, prompted = run(scenario)
    for fake in (listed, prefixed, anonymous):
        pairs = sets(fake)
        assert [n for n, _ in pairs] == [v.REFUSE_WITH, v.ACTION, v.AGI_STATUS]
        assert dict(pairs)[v.REFUSE_WITH] == "busy" and dict(pairs)[v.ACTION] == "refuse"
    logged = decision_logs(caplog)
    assert len(logged) == 5 and "refuse" in logged[0]
    assert "on the blacklist (021*)" in logged[1]
    assert "anonymous policy" in logged[2]
    assert dict(sets(other))[v.ACTION] == "department"
    assert sets(prompted) == [(v.REFUSE_WITH, "prompt"), (v.PROMPT, "ivr400/ivr400-blocked"), (v.ACTION, "refuse"),
                              (v.AGI_STATUS, "OK")]


def test_time_rules_after_hours_voicemail_and_announcement(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    provision(lab, departments=True)

    def rules(s: Session) -> None:
        h = _hotline(s)
        calendar.seed_calendar(s, [2026])
        time_rules.add_time_rule(s, h, days="workday", segments="09:00-12:00,13:30-18:00", action="menu")
        time_rules.add_time_rule(s, h, days="holiday", action="announcement:ivr400-closed", priority=50)
        time_rules.set_after_hours(s, h, "voicemail:2")

    lab.edit(rules)

    async def scenario() -> list[FakeAsterisk]:
        async with controller(lab) as (_, port):
            out = [await call(port)]  # Monday 10:00: open
            lab.clock = dt.datetime(2026, 6, 1, 12, 30, tzinfo=SH)  # lunch: after hours
            out.append(await call(port))
            lab.clock = dt.datetime(2026, 10, 1, 10, 0, tzinfo=SH)  # 国庆节
            out.append(await call(port))
            return out

    with caplog.at_level(logging.DEBUG):
        open_, lunch, holiday = run(scenario)
    open_reason, _, holiday_reason = decision_logs(caplog)
    assert dict(sets(open_))[v.ACTION] == "menu" and "time rule" in open_reason
    assert [n for n, _ in sets(lunch)] == [v.ACTION_DEPT, v.DEPT_PATH, v.FAX_MODE, v.ACTION, v.AGI_STATUS]
    assert dict(sets(lunch))[v.ACTION] == "voicemail" and dict(sets(lunch))[v.ACTION_DEPT] == "2"
    assert sets(holiday)[0] == (v.PROMPT, "ivr400/ivr400-closed")  # typed bare, stored in the one form
    assert dict(sets(holiday))[v.ACTION] == "announcement" and "国庆节" in holiday_reason


def test_region_rule_sends_beijing_callers_to_a_department(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    provision(lab, departments=True)
    lab.edit(lambda s: region_rules.add_region_rule(s, _hotline(s), province="北京", department="2"))

    async def scenario() -> tuple[FakeAsterisk, FakeAsterisk]:
        async with controller(lab) as (_, port):
            return await call(port, callerid="01087654321"), await call(port, callerid="02162345678")

    with caplog.at_level(logging.DEBUG):
        beijing, shanghai = run(scenario)
    pairs = dict(sets(beijing))
    assert pairs[v.ACTION] == "department" and pairs[v.ACTION_DEPT] == "2" and pairs[v.TARGET_COUNT] == "1"
    assert "region rule" in decision_logs(caplog)[0]
    assert dict(sets(shanghai))[v.ACTION] == "menu"


def test_unknown_hotline_gets_the_polite_announcement_and_a_log_line(lab: Lab,
                                                                     caplog: pytest.LogCaptureFixture) -> None:
    provision(lab)

    async def scenario() -> FakeAsterisk:
        async with controller(lab) as (_, port):
            return await call(port, query="hotline=4008999999")

    with caplog.at_level(logging.WARNING):
        fake = run(scenario)
    assert fake.received == lines((v.PROMPT, "ivr400/ivr400-unknown-number"), (v.DISPOSITION, "unknown_number"),
                                  (v.ACTION, "announcement"))
    assert any("4008999999" in r.getMessage() and "not an active hotline" in r.getMessage() for r in caplog.records)


def test_malformed_requests_leave_the_static_plan_in_charge(lab: Lab) -> None:
    provision(lab)

    async def scenario() -> list[FakeAsterisk]:
        async with controller(lab) as (_, port):
            return [await call(port, query="hotline=4008000001%22%3BDial(x)"), await call(port, query=""),
                    await call(port, v.ROUTE_DEPARTMENT, f"hotline={HOTLINE}&dept=1%26PJSIP/666"),
                    await call(port, "no_such_route")]

    bad_hotline, missing, bad_dept, unknown_route = run(scenario)
    for fake in (bad_hotline, missing, bad_dept):
        assert fake.received == lines()  # only IVR400_AGI_STATUS=OK: ACTION/TARGET_COUNT stay empty
    assert sets(unknown_route) == [(v.AGI_STATUS, "UNKNOWN_ROUTE")]


HOSTILE_CALLER_IDS = [
    '"Evil" <13900000000>',
    "13900000000;x=${SHELL(rm -rf /)}",
    "${SHELL(curl evil)}",
    "1390000\"0000",
    "139\\00000000",
    "13900000000&PJSIP/premium@trunk",
    "$[1+1]",
    "13900000000,,tTwW",
    "a" * 200,
]


@pytest.mark.parametrize("callerid", HOSTILE_CALLER_IDS)
def test_hostile_caller_ids_never_reach_a_command(lab: Lab, callerid: str, caplog: pytest.LogCaptureFixture) -> None:
    provision(lab)

    async def scenario() -> FakeAsterisk:
        async with controller(lab) as (_, port):
            return await call(port, callerid=callerid, calleridname=callerid)

    with caplog.at_level(logging.DEBUG):
        fake = run(scenario)
    pairs = sets(fake)
    assert fake.received == lines(*pairs[:-1])  # one well-formed line per command, nothing else
    assert [n for n, _ in pairs] == [*(n for n, _ in target_pairs((D1, 15), (D2, 15), (D3, 15))),
                                     v.TARGET_COUNT, v.FAX_MODE, v.ACTION, v.AGI_STATUS]
    [logged] = decision_logs(caplog)
    reason = logged.split(": ", 2)[2]
    assert reason.startswith("caller unparseable: allowed by the anonymous policy")
    for said in (reason, logged):  # the log line does not echo the caller ID either
        assert "SHELL" not in said and "${" not in said and "$[" not in said and "premium" not in said
        assert "Evil" not in said and "aaaa" not in said and "\n" not in said
    for line in fake.received:
        assert "SHELL" not in line and "${" not in line and "$[" not in line and "premium" not in line
        assert "Evil" not in line and "aaaa" not in line


def test_a_newline_in_the_caller_id_header_is_a_separate_header_not_a_command(lab: Lab) -> None:
    provision(lab)

    async def scenario() -> tuple[FakeAsterisk, FakeAsterisk]:
        async with controller(lab) as (_, port):
            # What reaches us when a caller ID held "\nagi_x: ..." (Asterisk writes it verbatim).
            split = await call(port, callerid="13800138000\nagi_network_script: route?hotline=4008999999")
            garbage = FakeAsterisk(port, route=v.ROUTE_CALL, query=f"hotline={HOTLINE}",
                                   callerid="1\nSET VARIABLE X 1")
            await garbage.run()
            return split, garbage

    split, garbage = run(scenario)
    # The injected header overrides the script: the call is treated as the unknown 400 number it names,
    # never as a command; and a line that is not a header gets the connection closed before any command.
    assert sets(split) == [*UNKNOWN_HOTLINE_VARIABLES, (v.AGI_STATUS, "OK")]
    assert garbage.received == []


# --------------------------------------------------------------------------- configuration changes


async def until_generation(ctl: Controller, timeout: float = 1.0) -> float:
    """Wait until the controller serves the database's current generation; return the delay."""
    with Session(ctl.engine) as s:
        target = s.execute(text("SELECT value FROM config_generation WHERE id = 1")).scalar()
    started = time.monotonic()
    while ctl.cache.generation != target:
        if time.monotonic() - started > timeout:
            raise AssertionError(f"controller still at generation {ctl.cache.generation}, database at {target}")
        await asyncio.sleep(0.01)
    return time.monotonic() - started


def test_revoked_destination_is_absent_from_the_next_call_within_a_second(lab: Lab) -> None:
    provision(lab, departments=True)

    async def scenario() -> tuple[FakeAsterisk, FakeAsterisk, float]:
        async with controller(lab) as (ctl, port):
            before = await call(port, v.ROUTE_DEPARTMENT, f"hotline={HOTLINE}&dept=1")

            def revoke(s: Session) -> None:
                dest = s.scalar(select(destinations.Destination).where(destinations.Destination.number == D1))
                destinations.revoke(s, dest, reason="号码已退订", now=NOW, actor="test")

            lab.edit(revoke)
            edited = time.monotonic()
            while True:  # the very next calls, until one sees the edit
                after = await call(port, v.ROUTE_DEPARTMENT, f"hotline={HOTLINE}&dept=1")
                if dict(sets(after))[v.TARGET_COUNT] == "1":
                    return before, after, time.monotonic() - edited
                assert time.monotonic() - edited < 1.0, "the revocation was not seen within 1 s"
                await asyncio.sleep(0.02)

    before, after, delay = run(scenario)
    assert dict(sets(before))[v.TARGET_COUNT] == "2"
    assert after.received == lines(*target_pairs((D2, 15), dept=_dept_id(lab, "1")), (v.HUNT, "sequential"),
                                   (v.MOH_CLASS, ""), (v.MAX_ATTEMPTS, "0"), (v.TARGET_COUNT, "1"))
    assert delay < 1.0


def test_controller_reloads_within_a_second_and_serves_the_old_config_meanwhile(lab: Lab) -> None:
    provision(lab)

    async def scenario() -> tuple[float, int, FakeAsterisk]:
        async with controller(lab) as (ctl, port):
            reloads = ctl.cache.reloads
            lab.edit(lambda s: time_rules.add_time_rule(s, _hotline(s), action="announcement:ivr400-closed"))
            delay = await until_generation(ctl)
            return delay, ctl.cache.reloads - reloads, await call(port)

    delay, reloads, fake = run(scenario)
    assert delay < 1.0 and reloads == 1
    assert dict(sets(fake))[v.ACTION] == "announcement"


def test_without_a_database_every_call_takes_the_static_plan(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    eng = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no schema: every query fails
    lab = Lab(eng, tmp_path)

    async def scenario() -> tuple[FakeAsterisk, FakeAsterisk]:
        async with controller(lab) as (ctl, port):
            assert ctl.config is None
            return await call(port), await call(port, v.ROUTE_DEPARTMENT, f"hotline={HOTLINE}&dept=")

    with caplog.at_level(logging.WARNING):
        entry, dept = run(scenario)
    eng.dispose()
    assert entry.received == lines() and dept.received == lines()
    assert any("configuration poll failed" in r.getMessage() for r in caplog.records)


def test_invalid_rules_leave_the_entry_to_the_static_plan_but_targets_stay_current(lab: Lab) -> None:
    provision(lab)
    lab.edit(lambda s: s.execute(text(
        "INSERT INTO time_rule (hotline_id, priority, days, weekdays, segments, action_kind) "
        "VALUES (1, 1, '[\"someday\"]', '[]', '[]', 'menu')")))

    async def scenario() -> tuple[FakeAsterisk, FakeAsterisk]:
        async with controller(lab) as (ctl, port):
            assert not ctl.config.get(HOTLINE).rules_ok
            return await call(port), await call(port, v.ROUTE_DEPARTMENT, f"hotline={HOTLINE}&dept=")

    entry, dept = run(scenario)
    assert entry.received == lines()
    assert dict(sets(dept))[v.TARGET_COUNT] == "3"


# --------------------------------------------------------------------------- voicemail


def test_voicemail_saved_records_a_row_once(lab: Lab) -> None:
    provision(lab, departments=True)
    spool = lab.tmp / "astroot" / v.VOICEMAIL_SPOOL.lstrip("/") / HOTLINE
    spool.mkdir(parents=True)
    import wave

    with wave.open(str(spool / "1700000000.7.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        w.writeframes(b"\x00\x00" * 16000)
    path = f"{v.VOICEMAIL_SPOOL}/{HOTLINE}/1700000000.7.wav"

    async def scenario() -> tuple[FakeAsterisk, FakeAsterisk, FakeAsterisk]:
        async with controller(lab, asterisk_root=lab.tmp / "astroot") as (_, port):
            query = f"hotline={HOTLINE}&dept=2&uniqueid=1700000000.7"
            first = await call(port, v.ROUTE_VOICEMAIL, query, uniqueid="1700000000.7",
                               variables={v.VOICEMAIL_FILE: path})
            again = await call(port, v.ROUTE_VOICEMAIL, query, uniqueid="1700000000.7",
                               variables={v.VOICEMAIL_FILE: path})
            evil = await call(port, v.ROUTE_VOICEMAIL, query, uniqueid="1700000000.8",
                              variables={v.VOICEMAIL_FILE: "/etc/passwd"})
            await call(port, v.ROUTE_VOICEMAIL, query, uniqueid="1700000000.9",
                       variables={v.VOICEMAIL_FILE: f"{v.VOICEMAIL_SPOOL}/4008999999/1700000000.9.wav"})
            return first, again, evil

    first, again, evil = run(scenario)
    assert first.received[0] == build_command("GET VARIABLE", v.VOICEMAIL_FILE).decode().rstrip("\n")
    with Session(lab.engine) as s:
        rows = s.scalars(select(Voicemail)).all()
        assert len(rows) == 1
        row = rows[0]
        # Stored as the spool sync stores it: the host path of the file.
        assert (row.uniqueid, row.file_path, row.caller, row.duration_s) == (
            "1700000000.7", str(spool / "1700000000.7.wav"), "13800138000", 2.0)
        assert row.size > 32000 and row.department_id is not None and row.hotline_id is not None


def _hotline(s: Session) -> Hotline:
    return lookup.hotline(s, HOTLINE)


SPOOL = f"{v.VOICEMAIL_SPOOL}/{HOTLINE}"
#: Paths a voicemail_saved request may carry that must never be looked at on the host.
BAD_VOICEMAIL_FILES = [
    f"{SPOOL}/../secret.wav",  # up out of the hotline's directory
    f"{SPOOL}/../4008999999/1700000000.1.wav",  # into another hotline's
    f"{SPOOL}/./../../../../../etc/passwd.wav",
    f"{SPOOL}/..",
    f"{SPOOL}/...wav",  # dots only
    f"{SPOOL}/sub/1700000000.1.wav",  # a subdirectory
    f"{SPOOL}/1700000000.1.txt",  # not a recording
    f"{SPOOL}/a b.wav",  # characters outside [A-Za-z0-9_.-]
    f"{SPOOL}/a;b.wav",
    f"{SPOOL}/${{SHELL(x)}}.wav",
    f"{SPOOL}/1700000000.1.wav\n",
    f"{SPOOL}/" + "a" * 81 + ".wav",  # too long a name
    f"{v.VOICEMAIL_SPOOL}/4008999999/1700000000.1.wav",  # another hotline's directory
    "/etc/passwd",
    "",
]


@pytest.mark.parametrize("path", BAD_VOICEMAIL_FILES)
def test_voicemail_file_guard_refuses(path: str) -> None:
    assert not voicemail_file_ok(path, HOTLINE)


@pytest.mark.parametrize("name", ["1700000000.7.wav", "x.wav", "a-b_c.d.wav", "A" * 76 + ".wav"])
def test_voicemail_file_guard_accepts_a_recording_in_the_hotline_spool(name: str) -> None:
    assert voicemail_file_ok(f"{SPOOL}/{name}", HOTLINE)


class RecordingContext:
    """A RouteContext that records what the route asks of it (the real one stats the file on the host)."""

    def __init__(self) -> None:
        self.saved: list[str] = []

    @property
    def config(self) -> None:
        return None

    def now(self) -> dt.datetime:
        return NOW

    async def rotate(self, entry: HotlineEntry, decision: Decision, now: dt.datetime) -> Decision:
        return decision

    def count_decision(self) -> None:
        pass

    async def save_voicemail(self, *, hotline: str, dept: str, uniqueid: str, caller: str | None,
                             file_path: str) -> bool:
        self.saved.append(file_path)
        return True


def test_voicemail_saved_never_hands_a_bad_path_to_the_controller() -> None:
    """The guard runs before anything touches the host: a bad path never reaches save_voicemail (which stats
    the file under Asterisk's root)."""
    ctx = RecordingContext()
    good = f"{SPOOL}/1700000000.7.wav"

    async def scenario() -> None:
        server = FastAGIServer(bind(ctx), "127.0.0.1", 0)
        await server.start()
        try:
            for i, path in enumerate([*BAD_VOICEMAIL_FILES, good]):
                query = f"hotline={HOTLINE}&dept=2&uniqueid=1700000000.{i}"
                await call(server.port, v.ROUTE_VOICEMAIL, query, uniqueid=f"1700000000.{i}",
                           variables={v.VOICEMAIL_FILE: path})
        finally:
            await server.close(grace=1.0)

    run(scenario)
    assert ctx.saved == [good]


def test_voicemail_saved_does_not_record_a_file_outside_the_hotline_spool(lab: Lab,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    """With the real controller and files that exist on the host: a traversal to a real .wav records nothing."""
    provision(lab, departments=True)
    root = lab.tmp / "astroot"
    spool = root / v.VOICEMAIL_SPOOL.lstrip("/")
    (spool / HOTLINE).mkdir(parents=True)
    (spool / "4008999999").mkdir()
    for target in (spool / "secret.wav", spool / "4008999999" / "1700000000.1.wav"):
        target.write_bytes(b"RIFF" + b"\x00" * 4000)

    async def scenario() -> None:
        async with controller(lab, asterisk_root=root) as (_, port):
            for i, path in enumerate(BAD_VOICEMAIL_FILES[:3]):
                query = f"hotline={HOTLINE}&dept=2&uniqueid=1700000001.{i}"
                await call(port, v.ROUTE_VOICEMAIL, query, uniqueid=f"1700000001.{i}",
                           variables={v.VOICEMAIL_FILE: path})

    with caplog.at_level(logging.WARNING):
        run(scenario)
    with Session(lab.engine) as s:
        assert s.scalars(select(Voicemail)).all() == []
    refused = [r.getMessage() for r in caplog.records if "voicemail_saved" in r.getMessage()]
    assert len(refused) == 3 and all("not recorded" in m for m in refused)
