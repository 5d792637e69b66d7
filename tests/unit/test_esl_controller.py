"""The controller over FreeSWITCH's outbound event socket, frame by frame, against a fake FreeSWITCH.

No FreeSWITCH binary is reachable from this project's package registries: these tests prove the ESL side at
the protocol level only. ``tests/fakes/fake_freeswitch.py`` plays FreeSWITCH's ``socket`` application (frames
shaped as mod_event_socket.c writes them: the ``connect`` reply is the CHANNEL_DATA event with URL-encoded
values, replies ``command/reply``, events ``text/event-plain``) against a real :class:`Controller` on a real
SQLite database, and every frame the controller sends is checked, in order. No pytest-asyncio: each scenario
runs under ``asyncio.run`` with an overall bound.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.orm import Session

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ivr400.controller import Controller  # noqa: E402
from ivr400.controller.esl import esl_server  # noqa: E402
from ivr400.db.engine import make_engine  # noqa: E402
from ivr400.db.migrate import upgrade  # noqa: E402
from ivr400.db.models import Voicemail  # noqa: E402
from ivr400.pbx.asterisk import dialplan_variables as v  # noqa: E402
from ivr400.pbx.freeswitch import esl_contract  # noqa: E402
from ivr400.pbx.freeswitch.esl import OutboundServer, serve_outbound  # noqa: E402
from ivr400.provisioning import blocking, time_rules  # noqa: E402
from tests.fakes.fake_freeswitch import CALL_UUID, FakeChannel, channel_data  # noqa: E402
from tests.unit.test_routes import (  # noqa: E402
    D1,
    D2,
    D3,
    HOTLINE,
    Lab,
    _dept_id,
    _hotline,
    provision,
    run,
)

HANDSHAKE = [b"connect\n\n", b"myevents\n\n", b"linger\n\n", b"resume\n\n"]



@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """A migrated SQLite database (as tests/unit/test_routes.py builds it) and the operator's edit helpers."""
    eng = make_engine(f"sqlite:///{tmp_path / 'esl.db'}")
    upgrade(eng)
    yield Lab(eng, tmp_path)
    eng.dispose()

def setmsg(name: str, value: str) -> bytes:
    """The exact sendmsg frame executing ``set name=value`` (mod_event_socket's sendmsg, event-lock)."""
    return (f"sendmsg\ncall-command: execute\nexecute-app-name: set\nexecute-app-arg: {name}={value}\n"
            "event-lock: true\n\n").encode()


def expected(*pairs: tuple[str, str]) -> list[bytes]:
    """The whole session: handshake, one set per pair in order, then IVR400_HOOK_STATUS=OK."""
    return [*HANDSHAKE, *(setmsg(n, val) for n, val in pairs), setmsg("IVR400_HOOK_STATUS", "OK")]


def fs_targets(*numbers_timeouts: tuple[str, int], dept: int = 0, gateway: str = "ivr400-out") -> list[tuple[str, str]]:
    out = []
    for i, (number, to) in enumerate(numbers_timeouts, start=1):
        out += [(v.target(i), f"sofia/gateway/{gateway}/{number}"), (v.timeout(i), str(to))]
    return [*out, (v.DEPT_ID, str(dept))]


@contextlib.asynccontextmanager
async def esl(lab: Lab, **options: Any) -> AsyncIterator[tuple[Controller, OutboundServer]]:  # noqa: ANN401
    ctl = Controller(lab.engine, now=lab.now)
    await ctl.start()
    server = esl_server(ctl, "127.0.0.1", 0, **options)
    await server.start()
    try:
        yield ctl, server
    finally:
        await server.close(grace=1.0)
        await ctl.stop()


async def hook(port: int, request: str, **kw: Any) -> FakeChannel:  # noqa: ANN401
    return await FakeChannel(port, hook=request, **kw).run()


# --------------------------------------------------------------------------- every route, frame by frame


def test_route_hook_sends_the_decision_as_set_frames_count_and_action_last(lab: Lab) -> None:
    provision(lab)

    async def scenario() -> tuple[FakeChannel, dict[str, int]]:
        async with esl(lab) as (ctl, server):
            fake = await hook(server.port, f"route?hotline={HOTLINE}")
            decisions = ctl.metrics.registry.get_sample_value(
                "ivr400_decisions_total", {"route": "route", "outcome": "department"})
            return fake, {"decisions": int(decisions or 0), **server.stats()}

    fake, stats = run(scenario)
    pairs = [*fs_targets((D1, 15), (D2, 15), (D3, 15)), (v.TARGET_COUNT, "3"), (v.ACTION, "department")]
    assert fake.received == expected(*pairs)
    assert fake.variables["IVR400_HOOK_STATUS"] == "OK" and fake.closed_by_peer
    assert stats["decisions"] == 1 and stats["ok"] == 1


def test_department_hook_sends_targets_hunt_and_count_last(lab: Lab) -> None:
    provision(lab, departments=True)

    async def scenario() -> list[FakeChannel]:
        async with esl(lab) as (_, server):
            return [await hook(server.port, f"department?hotline={HOTLINE}&dept={d}") for d in ("1", "2", "7", "")]

    one, two, gone, switchboard = run(scenario)
    assert one.received == expected(*fs_targets((D1, 15), (D2, 15), dept=_dept_id(lab, "1")), (v.HUNT, "sequential"),
                                    (v.MOH_CLASS, ""), (v.MAX_ATTEMPTS, "0"), (v.TARGET_COUNT, "2"))
    assert two.sets[:2] == [(v.target(1), f"sofia/gateway/ivr400-out/{D3}"), (v.timeout(1), "25")]
    assert gone.received == expected((v.TARGET_COUNT, "0"))
    assert switchboard.received == expected((v.TARGET_COUNT, "0"))


def test_voicemail_saved_hook_records_the_freeswitch_file_once(lab: Lab) -> None:
    provision(lab, departments=True)
    uuid = "a1b2c3d4-0000-4000-8000-000000000001"
    path = f"{esl_contract.VOICEMAIL_SPOOL}/{HOTLINE}/{uuid}.wav"

    async def scenario() -> list[FakeChannel]:
        async with esl(lab) as (_, server):
            return [await hook(server.port, f"voicemail_saved?hotline={HOTLINE}&dept=2", uuid=uuid,
                               variables={v.VOICEMAIL_FILE: path}) for _ in range(2)]

    first, again = run(scenario)
    assert first.received == expected() and again.received == expected()  # nothing but the status
    with Session(lab.engine) as s:
        [row] = s.scalars(select(Voicemail)).all()
    assert row.uniqueid == uuid and row.file_path == path and row.caller == "13800138000"


def test_voicemail_saved_refuses_an_asterisk_path_on_freeswitch(lab: Lab) -> None:
    provision(lab, departments=True)
    uuid = "a1b2c3d4-0000-4000-8000-000000000002"

    async def scenario() -> FakeChannel:
        async with esl(lab) as (_, server):
            return await hook(server.port, f"voicemail_saved?hotline={HOTLINE}&dept=2", uuid=uuid,
                              variables={v.VOICEMAIL_FILE: f"{v.VOICEMAIL_SPOOL}/{HOTLINE}/{uuid}.wav"})

    assert run(scenario).received == expected()
    with Session(lab.engine) as s:
        assert s.scalars(select(Voicemail)).all() == []


def test_a_blocked_caller_is_refused_without_its_caller_id_in_any_frame(lab: Lab) -> None:
    provision(lab)
    lab.edit(lambda s: blocking.set_block_mode(s, _hotline(s), "blacklist", anonymous="refuse"))

    async def scenario() -> FakeChannel:
        async with esl(lab) as (_, server):
            return await hook(server.port, f"route?hotline={HOTLINE}", caller="")

    fake = run(scenario)
    assert fake.received[:4] == HANDSHAKE and fake.sets[-2:] == [(v.ACTION, "refuse"), ("IVR400_HOOK_STATUS", "OK")]


# --------------------------------------------------------------------------- hostile input


HOSTILE_CALLERS = [
    '13800138000"; hangup',
    "138'00\r\nexecute-app-name: system\r\nexecute-app-arg: rm -rf /",
    "${system(touch /tmp/pwned)}",
    "$${hostname}\nevent-lock: false",
    "\x00\x1b[2J" + "9" * 300,
]


@pytest.mark.parametrize("caller", HOSTILE_CALLERS)
def test_hostile_caller_ids_never_reach_a_frame(lab: Lab, caller: str) -> None:
    provision(lab)

    async def scenario() -> FakeChannel:
        async with esl(lab) as (_, server):
            return await hook(server.port, f"route?hotline={HOTLINE}", caller=caller)

    fake = run(scenario)
    wire = b"".join(fake.received)
    for piece in ("hangup", "system", "${", "hostname", "rm -rf", "pwned", "\x1b"):
        assert piece.encode() not in wire
    # Every frame is a known command; every sendmsg has exactly the four headers we send.
    for cmd in fake.commands:
        assert cmd.line in ("connect", "myevents", "linger", "resume", "sendmsg")
        if cmd.line == "sendmsg":
            assert [n for n, _ in cmd.headers] == ["call-command", "execute-app-name", "execute-app-arg", "event-lock"]
    assert fake.sets[-1] == ("IVR400_HOOK_STATUS", "OK")


def test_a_prompt_freeswitch_would_expand_never_reaches_a_frame(lab: Lab) -> None:
    """A prompt written by raw SQL carrying ``${...}``: the loader refuses the hotline's rules, the hook sends no
    decision (the dialplan's static plan runs)."""
    provision(lab)
    lab.edit(lambda s: time_rules.add_time_rule(s, _hotline(s), action="announcement:ivr400/closed"))
    lab.edit(lambda s: s.execute(text("UPDATE time_rule SET action_prompt = 'ivr400/x${system(touch /tmp/p)}'")))

    async def scenario() -> FakeChannel:
        async with esl(lab) as (_, server):
            return await hook(server.port, f"route?hotline={HOTLINE}")

    assert run(scenario).received == expected()


def test_the_transport_refuses_an_unsafe_value_before_writing_it(caplog: pytest.LogCaptureFixture) -> None:
    """Defence in depth: whatever a route hands it, a value FreeSWITCH would expand or split never leaves the
    controller; the session ends without IVR400_HOOK_STATUS (static plan)."""

    async def handler(session: Any) -> None:  # noqa: ANN401
        await session.set_variable(v.PROMPT, "ivr400/ok")
        await session.set_variable(v.PROMPT, "x${system(touch /tmp/p)}")

    async def scenario() -> tuple[FakeChannel, dict[str, int]]:
        async with OutboundServer({"route": handler}, "127.0.0.1", 0) as server:
            fake = await hook(server.port, f"route?hotline={HOTLINE}")
            return fake, server.stats()

    with caplog.at_level(logging.WARNING):
        fake, stats = run(scenario)
    assert fake.received == [*HANDSHAKE, setmsg(v.PROMPT, "ivr400/ok")] and stats == {"error": 1}
    assert any("IVR400_PROMPT" in r.getMessage() and "static plan" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("request_", ["", "route;exit", "Route?hotline=4008000001", "x" * 40, "../route"])
def test_a_missing_or_bad_hook_sends_nothing_after_connect(lab: Lab, request_: str) -> None:
    provision(lab)

    async def scenario() -> tuple[FakeChannel, dict[str, int]]:
        async with esl(lab) as (_, server):
            fake = await hook(server.port, request_)
            return fake, server.stats()

    fake, stats = run(scenario)
    assert fake.received == [b"connect\n\n"] and stats == {"rejected_bad_hook": 1}


def test_an_unknown_route_sends_nothing_but_the_handshake(lab: Lab) -> None:
    provision(lab)

    async def scenario() -> tuple[FakeChannel, dict[str, int]]:
        async with esl(lab) as (_, server):
            return await hook(server.port, "nosuchroute?hotline=4008000001"), server.stats()

    fake, stats = run(scenario)
    assert fake.received == [b"connect\n\n"] and stats == {"unknown_route": 1}


# --------------------------------------------------------------------------- a misbehaving FreeSWITCH


@pytest.mark.parametrize("connect_reply", [
    b"Content-Type: command/reply\nReply-Text: -ERR nope\n\n",
    b"Content-Type: command/reply\nX-Pad: " + b"a" * 70_000 + b"\n\n",  # oversize header block
    b"Content-Type: command/reply\nContent-Length: 100\n\nshort",  # body cut by EOF
    b"Content-Type: command/reply\nReply-Text: %2BOK%0A\nUnique-ID: x",  # header block cut by EOF
    b"Content-Type: command/reply\nContent-Length: banana\n\n",
    b"Content-Type: command/reply\nContent-Length: 99999999\n\n",  # oversize body, refused unread
])
def test_bad_connect_replies_end_the_session_before_any_command(lab: Lab, connect_reply: bytes) -> None:
    provision(lab)

    async def scenario() -> tuple[FakeChannel, dict[str, int]]:
        async with esl(lab) as (_, server):
            fake = await FakeChannel(server.port, connect_reply=connect_reply, eof_after="connect").run()
            await asyncio.sleep(0.1)
            return fake, server.stats()

    fake, stats = run(scenario)
    assert fake.received == [b"connect\n\n"] and stats == {"rejected_bad_connect": 1}


def test_freeswitch_closing_early_ends_the_session_cleanly(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    provision(lab)

    async def scenario() -> tuple[FakeChannel, dict[str, int]]:
        async with esl(lab) as (_, server):
            fake = await hook(server.port, f"route?hotline={HOTLINE}", close_after=6)  # after two sets
            await asyncio.sleep(0.1)
            return fake, server.stats()

    with caplog.at_level(logging.INFO):
        fake, stats = run(scenario)
    assert len(fake.received) == 6 and stats == {"hangup": 1}
    assert any("closed the route session early" in r.getMessage() for r in caplog.records)


def test_freeswitch_closing_before_answering_connect_is_a_rejection(lab: Lab) -> None:
    provision(lab)

    async def scenario() -> dict[str, int]:
        async with esl(lab) as (_, server):
            await FakeChannel(server.port, close_after=1).run()
            await asyncio.sleep(0.1)
            return server.stats()

    assert run(scenario) == {"rejected_connect_eof": 1}


@pytest.mark.parametrize("stall_on, outcome", [("connect", "rejected_connect_timeout"), ("linger", "timeout"),
                                               ("sendmsg", "timeout")])
def test_a_silent_freeswitch_times_out(lab: Lab, stall_on: str, outcome: str) -> None:
    provision(lab)

    async def scenario() -> tuple[FakeChannel, dict[str, int]]:
        async with esl(lab, connect_timeout=0.3, command_timeout=0.3, session_timeout=2.0) as (_, server):
            fake = FakeChannel(server.port, hook=f"route?hotline={HOTLINE}", stall_on=stall_on)
            with contextlib.suppress(TimeoutError):
                await fake.run(timeout=3.0)
            return fake, server.stats()

    fake, stats = run(scenario)
    assert stats == {outcome: 1} and fake.closed_by_peer
    assert ("IVR400_HOOK_STATUS", "OK") not in fake.sets  # the dialplan takes its static plan


def test_the_whole_session_is_bounded(lab: Lab) -> None:
    """Each reply comes in time but the session as a whole does not."""
    provision(lab)

    async def slow(fake: FakeChannel, cmd: Any) -> None:  # noqa: ANN401
        if cmd.line == "sendmsg":
            await asyncio.sleep(0.15)
        return None

    async def scenario() -> dict[str, int]:
        async with esl(lab, command_timeout=1.0, session_timeout=0.5) as (_, server):
            await FakeChannel(server.port, hook=f"route?hotline={HOTLINE}", responder=slow).run(timeout=5)
            return server.stats()

    assert run(scenario) == {"timeout": 1}


def test_sessions_over_the_cap_are_closed_at_once(lab: Lab) -> None:
    provision(lab)

    async def scenario() -> tuple[FakeChannel, FakeChannel, dict[str, int]]:
        async with esl(lab, max_sessions=1, command_timeout=1.0) as (_, server):
            stuck = FakeChannel(server.port, hook=f"route?hotline={HOTLINE}", stall_on="linger")
            first = asyncio.create_task(stuck.run(timeout=5))
            while len(stuck.commands) < 3:
                await asyncio.sleep(0.01)
            refused = await FakeChannel(server.port, hook=f"route?hotline={HOTLINE}").run(timeout=2)
            await first
            return stuck, refused, server.stats()

    stuck, refused, stats = run(scenario)
    assert refused.received == [] and refused.closed_by_peer
    assert stats == {"rejected_capacity": 1, "timeout": 1}


def test_sigterm_drains_sessions_in_flight_and_refuses_new_ones(lab: Lab) -> None:
    provision(lab)

    async def slow_resume(fake: FakeChannel, cmd: Any) -> None:  # noqa: ANN401
        if cmd.line == "resume":
            await asyncio.sleep(0.3)
        return None

    async def scenario() -> tuple[FakeChannel, OutboundServer]:
        ctl = Controller(lab.engine, now=lab.now)
        await ctl.start()
        server = esl_server(ctl, "127.0.0.1", 0)
        started = asyncio.Event()
        serving = asyncio.create_task(serve_outbound(server, grace=5.0, on_started=lambda _: started.set()))
        await started.wait()
        call = FakeChannel(server.port, hook=f"route?hotline={HOTLINE}", responder=slow_resume)
        in_flight = asyncio.create_task(call.run(timeout=5))
        while len(call.commands) < 4:
            await asyncio.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.sleep(0.05)
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", server.port)  # no longer accepting
        await in_flight
        await serving
        await ctl.stop()
        return call, server

    call, server = run(scenario)
    assert call.sets[-3:] == [(v.TARGET_COUNT, "3"), (v.ACTION, "department"), ("IVR400_HOOK_STATUS", "OK")]
    assert server.stats() == {"ok": 1}


def test_the_connect_reply_of_a_real_shape_parses() -> None:
    """The fixture itself: CHANNEL_DATA fields the routes read, URL-decoded."""
    data = channel_data(caller="+86 138-0013-8000", variables={"IVR400_HOOK": "route?hotline=4008000001"})
    assert b"Caller-Caller-ID-Number: %2B86%20138-0013-8000\n" in data and data.endswith(b"Control: full\n\n")
    assert f"Unique-ID: {CALL_UUID}\n".encode() in data


def test_a_forged_unique_id_never_splits_a_log_line(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    """The Unique-ID tags every log line of the session: one with a line break is dropped, not logged."""
    provision(lab)

    async def scenario() -> FakeChannel:
        async with esl(lab) as (_, server):
            return await hook(server.port, f"route?hotline={HOTLINE}", uuid="u\nsendmsg: evil")

    with caplog.at_level("DEBUG"):
        fake = run(scenario)
    assert fake.variables["IVR400_HOOK_STATUS"] == "OK"  # the call is still decided
    tagged = [r for r in caplog.records if hasattr(r, "uniqueid")]
    assert tagged, "the session's lines carry a uniqueid"
    assert not any("evil" in r.getMessage() or "\n" in str(r.uniqueid) for r in tagged)
