"""FastAGI server against a wire-level fake Asterisk: routing, timeouts, limits, hangups, close.

No pytest-asyncio here: each test runs its scenario with ``asyncio.run`` under an overall bound.
Durations are never asserted except generous upper bounds on timeouts that must fire.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import textwrap
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # for tests.fakes when run as `pytest`

from ivr400.pbx.asterisk.fastagi import (  # noqa: E402
    STATUS_VARIABLE,
    AGICommandError,
    AGIHangup,
    AGISession,
    AGISessionClosed,
    AGITimeout,
    FastAGIServer,
)
from tests.fakes.fake_asterisk import DISCONNECT, NO_REPLY, USAGE_520, FakeAsterisk  # noqa: E402

LOGGER = "ivr400.pbx.asterisk.fastagi"


def run(scenario: Callable[[], Awaitable[Any]], timeout: float = 15.0) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(scenario(), timeout)

    return asyncio.run(bounded())


@contextlib.asynccontextmanager
async def agi_server(routes: dict[str, Any], **options: Any) -> AsyncIterator[FastAGIServer]:
    server = FastAGIServer(routes, "127.0.0.1", 0, **options)
    await server.start()
    try:
        yield server
    finally:
        await server.close(grace=1.0)


async def until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(0.005)


def status_lines(fake: FakeAsterisk) -> list[list[str]]:
    return [a for a in fake.argv if a[:3] == ["SET", "VARIABLE", STATUS_VARIABLE]]


# --------------------------------------------------------------------------- happy path


def test_route_dispatch_and_session_data() -> None:
    seen: dict[str, Any] = {}

    async def incoming(session: AGISession) -> None:
        seen.update(
            route=session.route, params=dict(session.params), args=session.args, channel=session.channel,
            uniqueid=session.uniqueid, callerid=session.callerid, calleridname=session.calleridname,
            dnid=session.dnid, extension=session.extension, context=session.context,
            accountcode=session.headers["accountcode"], has_prefix=any(k.startswith("agi_") for k in session.headers),
        )

    async def scenario() -> None:
        async with agi_server({"incoming": incoming}) as server:
            fake = await FakeAsterisk(
                server.port, route="incoming", query="hotline=4008123456&name=%E5%BC%A0%E4%B8%89",
                args=["first", "second, with comma"], calleridname='Zhang "San"', uniqueid="1700000000.42",
            ).run()
            assert fake.closed_by_server
            assert fake.argv == [["SET", "VARIABLE", STATUS_VARIABLE, "OK"]]
            assert server.stats() | {"header_lines_read": 0} == {
                "sessions_started": 1, "sessions_completed": 1, "sessions_rejected": 0,
                "sessions_failed": 0, "active": 0, "header_lines_read": 0,
            }

    run(scenario)
    assert seen == {
        "route": "incoming", "params": {"hotline": "4008123456", "name": "张三"},
        "args": ["first", "second, with comma"], "channel": "PJSIP/carrier-00000001",
        "uniqueid": "1700000000.42", "callerid": "13800138000", "calleridname": 'Zhang "San"',
        "dnid": "4008123456", "extension": "4008123456", "context": "from-carrier",
        "accountcode": "", "has_prefix": False,
    }


def test_helpers_speak_the_protocol() -> None:
    results: dict[str, Any] = {}

    async def route(session: AGISession) -> None:
        await session.answer()
        await session.set_variable("DEST_1", "02112345678")
        results["get"] = await session.get_variable("DEST_1")
        results["unset"] = await session.get_variable("NOPE")
        results["func"] = await session.get_variable("CALLERID(num)")
        await session.verbose("hello", level=3)
        results["exec"] = await session.exec("Set", "A=1,2")
        results["stream"] = await session.stream_file("ivr400/welcome", "123#")
        results["raw"] = await session.command("NOOP")
        results["unknown"] = await session.command("FOO BAR", "x")
        await session.hangup()
        with pytest.raises(AGIHangup):
            await session.verbose("after hangup")

    async def scenario() -> FakeAsterisk:
        async with agi_server({"r": route}) as server:
            fake = await FakeAsterisk(server.port, route="r", variables={"CALLERID(num)": "13800138000"}).run()
            assert server.sessions_completed == 1
            return fake

    fake = run(scenario)
    assert results["get"] == "02112345678"
    assert results["unset"] is None
    assert results["func"] == "13800138000"
    assert results["exec"].code == 200
    assert results["stream"].endpos == 8000 and results["stream"].result == "0"
    assert results["raw"].ok
    assert results["unknown"].code == 510 and "unknown command" in results["unknown"].message
    assert fake.argv == [
        ["ANSWER"],
        ["SET", "VARIABLE", "DEST_1", "02112345678"],
        ["GET", "VARIABLE", "DEST_1"],
        ["GET", "VARIABLE", "NOPE"],
        ["GET", "VARIABLE", "CALLERID(num)"],
        ["VERBOSE", "hello", "3"],
        ["EXEC", "Set", "A=1,2"],
        ["STREAM", "FILE", "ivr400/welcome", "123#"],
        ["NOOP"],
        ["FOO", "BAR", "x"],
        ["HANGUP"],
    ]  # no status line after our own HANGUP


def test_concurrent_commands_are_serialised() -> None:
    values: list[str | None] = []

    async def route(session: AGISession) -> None:
        values.extend(await asyncio.gather(*(session.get_variable(f"V{i}") for i in range(10))))

    async def scenario() -> None:
        async with agi_server({"r": route}) as server:
            await FakeAsterisk(server.port, route="r", variables={f"V{i}": f"value {i}" for i in range(10)}).run()

    run(scenario)
    assert values == [f"value {i}" for i in range(10)]


def test_handler_status_is_not_overridden() -> None:
    async def route(session: AGISession) -> None:
        await session.set_variable(STATUS_VARIABLE, "BLOCKED")

    async def scenario() -> FakeAsterisk:
        async with agi_server({"r": route}) as server:
            return await FakeAsterisk(server.port, route="r").run()

    assert status_lines(run(scenario)) == [["SET", "VARIABLE", STATUS_VARIABLE, "BLOCKED"]]


def test_add_route_and_validation() -> None:
    async def route(session: AGISession) -> None:
        await session.set_variable("ADDED", "1")

    server = FastAGIServer({}, port=0)
    server.add_route("/late", route)
    assert "late" in server.routes
    with pytest.raises(ValueError):
        server.add_route("bad route", route)
    with pytest.raises(TypeError):
        server.add_route("x", "not callable")  # type: ignore[arg-type]

    async def scenario() -> FakeAsterisk:
        await server.start()
        try:
            return await FakeAsterisk(server.port, route="late").run()
        finally:
            await server.close(grace=1.0)

    assert run(scenario).argv[0] == ["SET", "VARIABLE", "ADDED", "1"]


# --------------------------------------------------------------------------- unknown route, errors


def test_unknown_route(caplog: pytest.LogCaptureFixture) -> None:
    called = []

    async def known(session: AGISession) -> None:
        called.append(session)

    async def scenario() -> FakeAsterisk:
        async with agi_server({"known": known}) as server:
            fake = await FakeAsterisk(server.port, route="nosuch", uniqueid="1700000000.77").run()
            assert (server.sessions_started, server.sessions_completed, server.sessions_failed) == (1, 1, 0)
            return fake

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        fake = run(scenario)
    assert not called
    assert fake.closed_by_server
    assert fake.argv == [["SET", "VARIABLE", STATUS_VARIABLE, "UNKNOWN_ROUTE"]]
    warning = [r for r in caplog.records if "unknown AGI route" in r.getMessage()]
    assert warning and warning[0].uniqueid == "1700000000.77" and "'nosuch'" in warning[0].getMessage()


def test_handler_exception_reports_error_and_server_survives(caplog: pytest.LogCaptureFixture) -> None:
    async def boom(session: AGISession) -> None:
        await session.set_variable("PARTIAL", "1")
        raise RuntimeError("database down")

    async def fine(session: AGISession) -> None:
        pass

    async def scenario() -> tuple[FakeAsterisk, FakeAsterisk]:
        async with agi_server({"boom": boom, "fine": fine}) as server:
            first = await FakeAsterisk(server.port, route="boom", uniqueid="1700000000.5").run()
            second = await FakeAsterisk(server.port, route="fine").run()
            assert (server.sessions_failed, server.sessions_completed) == (1, 1)
            return first, second

    with caplog.at_level(logging.ERROR, logger=LOGGER):
        first, second = run(scenario)
    assert first.argv == [["SET", "VARIABLE", "PARTIAL", "1"], ["SET", "VARIABLE", STATUS_VARIABLE, "ERROR"]]
    assert second.argv == [["SET", "VARIABLE", STATUS_VARIABLE, "OK"]]
    assert any(getattr(r, "uniqueid", None) == "1700000000.5" and r.exc_info for r in caplog.records)


# --------------------------------------------------------------------------- header phase


def test_early_eof_in_header_does_not_spin() -> None:
    """200 peers close mid-header: the handler never runs and every connection ends at once.

    A spinning header loop (panoramisk) would keep ``active`` above zero forever, keep increasing
    the line counter and burn CPU; all three are checked.
    """
    calls: list[AGISession] = []

    async def route(session: AGISession) -> None:
        calls.append(session)

    async def scenario() -> None:
        async with agi_server({"test": route}) as server:
            cpu0 = time.process_time()
            for i in range(200):
                fake = FakeAsterisk(server.port)
                if i % 4 == 0:
                    await fake.close_mid_header(lines=0)
                elif i % 4 == 1:
                    await fake.close_mid_header(lines=3)
                elif i % 4 == 2:
                    await fake.close_mid_header(lines=5, partial=b"agi_callerid: 1380")  # truncated line
                else:
                    await fake.close_mid_header(lines=22)  # everything but the blank line
            await until(lambda: server.sessions_rejected == 200 and server.active == 0)
            lines_after = server.header_lines_read
            await asyncio.sleep(0.1)
            cpu = time.process_time() - cpu0
            assert server.header_lines_read == lines_after  # nothing is still reading
            assert lines_after <= 50 * (0 + 3 + 5 + 22)
            assert server.sessions_started == 0
            assert cpu < 5.0, f"{cpu:.2f}s CPU for 200 early-EOF connections"

    run(scenario)
    assert calls == []


def test_header_timeout_closes_connection() -> None:
    async def route(session: AGISession) -> None:
        raise AssertionError("must not run")

    async def scenario() -> None:
        async with agi_server({"test": route}, header_timeout=0.2) as server:
            fake = FakeAsterisk(server.port)
            await fake.stall_after(b"agi_network: yes\nagi_channel: PJSIP/x\n")
            t0 = time.monotonic()
            assert await fake.wait_for_eof(timeout=5.0)
            assert time.monotonic() - t0 < 5.0
            await fake.close()
            await until(lambda: server.active == 0)
            assert (server.sessions_rejected, server.sessions_started) == (1, 0)

    run(scenario)


def test_slow_drip_header_is_bounded_by_total_timeout() -> None:
    """One line every 0.05 s never finishes the header: the timeout is for the whole block."""

    async def scenario() -> None:
        async with agi_server({}, header_timeout=0.3) as server:
            fake = FakeAsterisk(server.port)
            await fake.connect()
            with contextlib.suppress(ConnectionError):
                for i in range(200):
                    if fake.reader is not None and fake.reader.at_eof():
                        break
                    await fake.send_raw(f"agi_x{i}: y\n".encode())
                    await asyncio.sleep(0.05)
            assert await fake.wait_for_eof(timeout=5.0)
            await fake.close()
            await until(lambda: server.active == 0)
            assert server.sessions_rejected == 1 and server.header_lines_read < 200

    run(scenario)


@pytest.mark.parametrize(
    "options, total, line",
    [
        ({"max_header_bytes": 1024}, 4000, 100),       # too many bytes
        ({"max_header_lines": 10}, 3000, 100),         # too many lines
        ({"max_header_bytes": 4096}, 200_000, 200_000),  # one giant line
    ],
)
def test_oversize_header_is_rejected(options: dict[str, int], total: int, line: int) -> None:
    async def route(session: AGISession) -> None:
        raise AssertionError("must not run")

    async def scenario() -> None:
        async with agi_server({"test": route}, **options) as server:
            assert await FakeAsterisk(server.port).send_oversize_header(total, line_bytes=line)
            await until(lambda: server.active == 0)
            assert (server.sessions_rejected, server.sessions_started) == (1, 0)

    run(scenario)


@pytest.mark.parametrize(
    "payload",
    [b"this is not agi\n\n", b"\n", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"agi_network: yes\nagi channel: x\n\n"],
)
def test_malformed_header_is_rejected(payload: bytes, caplog: pytest.LogCaptureFixture) -> None:
    async def route(session: AGISession) -> None:
        raise AssertionError("must not run")

    async def scenario() -> None:
        async with agi_server({"test": route}) as server:
            fake = FakeAsterisk(server.port)
            await fake.stall_after(payload)
            assert await fake.wait_for_eof(timeout=5.0)
            await fake.close()
            await until(lambda: server.active == 0)
            assert (server.sessions_rejected, server.sessions_started) == (1, 0)

    with caplog.at_level(logging.WARNING, logger=LOGGER):
        run(scenario)
    assert any("rejected" in r.getMessage() for r in caplog.records)


def test_crlf_header_is_accepted() -> None:
    seen = []

    async def route(session: AGISession) -> None:
        seen.append((session.route, session.channel))

    async def scenario() -> None:
        async with agi_server({"crlf": route}) as server:
            fake = FakeAsterisk(server.port)
            await fake.connect()
            await fake.send_raw(b"agi_network_script: crlf\r\nagi_channel: PJSIP/a-1\r\n\r\n")
            await fake.serve_commands()
            await fake.close()

    run(scenario)
    assert seen == [("crlf", "PJSIP/a-1")]


def test_max_sessions_rejects_new_connections() -> None:
    release = asyncio.Event
    state: dict[str, Any] = {"entered": 0}

    async def route(session: AGISession) -> None:
        state["entered"] += 1
        await state["release"].wait()

    async def scenario() -> None:
        state["release"] = release()
        async with agi_server({"test": route}, max_sessions=2) as server:
            inflight = [asyncio.create_task(FakeAsterisk(server.port).run()) for _ in range(2)]
            await until(lambda: state["entered"] == 2)
            extra = FakeAsterisk(server.port)
            await extra.connect()
            with contextlib.suppress(ConnectionError):
                await extra.send_header()
            assert await extra.wait_for_eof(timeout=5.0)
            await extra.close()
            assert server.sessions_rejected == 1 and state["entered"] == 2
            state["release"].set()
            done = await asyncio.gather(*inflight)
            assert all(f.argv == [["SET", "VARIABLE", STATUS_VARIABLE, "OK"]] for f in done)
            await until(lambda: server.active == 0)
            again = await FakeAsterisk(server.port).run()  # capacity is back
            assert again.argv and state["entered"] == 3
            assert (server.sessions_started, server.sessions_completed, server.sessions_rejected) == (3, 3, 1)

    run(scenario)


# --------------------------------------------------------------------------- commands: timeouts, hangups


def test_command_timeout_raises_and_closes_session() -> None:
    outcome: dict[str, Any] = {}

    async def route(session: AGISession) -> None:
        t0 = time.monotonic()
        try:
            await session.verbose("are you there?")
        except AGITimeout as exc:
            outcome["timeout"] = exc
            outcome["elapsed"] = time.monotonic() - t0
        outcome["closed"] = session.closed
        with pytest.raises(AGISessionClosed):
            await session.set_variable("AFTER", "1")

    async def scenario() -> FakeAsterisk:
        async with agi_server({"test": route}, command_timeout=0.2) as server:
            fake = await FakeAsterisk(server.port, script={"VERBOSE": NO_REPLY}).run()
            assert server.sessions_completed == 1
            return fake

    fake = run(scenario)
    assert isinstance(outcome["timeout"], TimeoutError)
    assert outcome["elapsed"] < 5.0  # generous: the timeout did fire
    assert outcome["closed"] is True
    assert fake.closed_by_server
    assert fake.argv == [["VERBOSE", "are you there?", "1"]]  # nothing sent after the timeout


def test_command_timeout_unhandled_counts_as_failed() -> None:
    async def route(session: AGISession) -> None:
        await session.get_variable("X")

    async def scenario() -> None:
        async with agi_server({"test": route}, command_timeout=0.1) as server:
            fake = await FakeAsterisk(server.port, script={"GET VARIABLE": NO_REPLY}).run()
            assert fake.closed_by_server and len(fake.argv) == 1
            assert (server.sessions_failed, server.sessions_completed) == (1, 0)

    run(scenario)


def test_truncated_reply_then_silence_times_out() -> None:
    async def route(session: AGISession) -> None:
        await session.answer()

    async def scenario() -> None:
        async with agi_server({"test": route}, command_timeout=0.2) as server:
            fake = await FakeAsterisk(server.port, script={"ANSWER": b"200 resu"}).run()
            assert fake.closed_by_server
            assert server.sessions_failed == 1

    run(scenario)


def test_cancelled_command_closes_session() -> None:
    """A handler's own shorter timeout cancels mid-reply: the stream is out of step, so close."""
    outcome = {}

    async def route(session: AGISession) -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(session.verbose("slow"), 0.05)
        outcome["closed"] = session.closed

    async def scenario() -> None:
        async with agi_server({"test": route}) as server:
            await FakeAsterisk(server.port, script={"VERBOSE": NO_REPLY}).run()

    run(scenario)
    assert outcome["closed"] is True


@pytest.mark.parametrize(
    "reply",
    [DISCONNECT, b"200 resu", "511 Command Not Permitted on a dead channel"],
    ids=["eof", "truncated-then-eof", "511"],
)
def test_dead_channel_raises_hangup(reply: Any) -> None:
    outcome: dict[str, Any] = {}

    async def route(session: AGISession) -> None:
        await session.set_variable("FIRST", "1")
        try:
            await session.set_variable("SECOND", "2")
        except AGIHangup as exc:
            outcome["hangup"] = exc
            outcome["hungup"] = session.hungup
            raise

    async def responder(argv: list[str], line: str) -> Any:
        if argv[2:3] == ["SECOND"]:
            if reply == b"200 resu":
                return b"200 resu"  # and the fake closes below
            return reply
        return None

    async def scenario() -> FakeAsterisk:
        async with agi_server({"test": route}, command_timeout=2.0) as server:
            fake = FakeAsterisk(server.port, responder=responder)
            if reply == b"200 resu":
                async def close_after(argv: list[str]) -> None:
                    if argv[2:3] == ["SECOND"]:
                        asyncio.get_running_loop().call_later(0.05, fake.writer.close)  # type: ignore[union-attr]
                fake.on_command = close_after
            await fake.run()
            await until(lambda: server.active == 0)
            assert (server.sessions_completed, server.sessions_failed) == (1, 0)
            return fake

    fake = run(scenario)
    assert isinstance(outcome["hangup"], AGIHangup) and outcome["hungup"]
    assert [a[2] for a in fake.argv] == ["FIRST", "SECOND"]  # no status line on a dead channel


def test_hangup_notification_line() -> None:
    outcome: dict[str, Any] = {}

    async def route(session: AGISession) -> None:
        await session.verbose("one")
        try:
            await session.verbose("two")
        except AGIHangup:
            outcome["first"] = True
        try:
            await session.verbose("three")
        except AGIHangup:
            outcome["second"] = True

    async def scenario() -> FakeAsterisk:
        async with agi_server({"test": route}) as server:
            fake = await FakeAsterisk(server.port, hangup_before=2).run()
            assert server.sessions_completed == 1
            return fake

    fake = run(scenario)
    assert outcome == {"first": True, "second": True}
    assert [a[1] for a in fake.argv] == ["one", "two"]  # "three" was never sent


def test_520_multiline_usage_reply() -> None:
    outcome: dict[str, Any] = {}

    async def route(session: AGISession) -> None:
        raw = await session.command("SET VARIABLE", "ONLY_NAME")
        outcome["raw"] = raw
        with pytest.raises(AGICommandError) as err:
            await session.set_variable("X", "1")
        outcome["err"] = err.value
        outcome["after"] = await session.get_variable("KEPT")  # stream still in step

    async def scenario() -> None:
        async with agi_server({"test": route}) as server:
            await FakeAsterisk(server.port, script={"SET VARIABLE": USAGE_520}, variables={"KEPT": "yes"}).run()

    run(scenario)
    assert outcome["raw"].code == 520
    assert "Usage: SET VARIABLE" in outcome["raw"].message
    assert outcome["err"].response.code == 520
    assert outcome["after"] == "yes"


def test_garbage_reply_is_a_protocol_error() -> None:
    async def route(session: AGISession) -> None:
        await session.answer()

    async def scenario() -> None:
        async with agi_server({"test": route}) as server:
            fake = await FakeAsterisk(server.port, script={"ANSWER": "hello there"}).run()
            assert fake.closed_by_server and server.sessions_failed == 1

    run(scenario)


def test_session_timeout() -> None:
    async def route(session: AGISession) -> None:
        await asyncio.sleep(60)

    async def scenario() -> None:
        async with agi_server({"test": route}, session_timeout=0.3) as server:
            fake = FakeAsterisk(server.port)
            t0 = time.monotonic()
            await fake.run()
            assert time.monotonic() - t0 < 5.0
            assert fake.closed_by_server and fake.argv == []
            assert server.sessions_failed == 1

    run(scenario)


# --------------------------------------------------------------------------- injection safety

INJECTION_VALUES = [
    'He said "hi"',
    "back\\slash\\",
    "semi;colon; HANGUP",
    "${SHELL(rm -rf /)}",
    "$[${X}+1]",
    '" ; EXEC System "rm -rf /',
    "1&PJSIP/premium@trunk,,tTwW",
    "张三\t(总机)",
    "",
    "x" * 1900,
]
BAD_VALUES = [
    "line\nbreak",
    "evil\nEXEC System \"rm -rf /\"",
    "cr\r\nHANGUP",
    "nul\0",
    "x" * (8 * 1024 + 1),
    "y" * 2100,
]


def test_injection_one_line_per_command() -> None:
    errors: list[type[BaseException]] = []

    async def route(session: AGISession) -> None:
        for value in INJECTION_VALUES:
            await session.set_variable("CALLER_NAME", value)
            await session.verbose(value or "-")
            await session.exec("NoOp", value)
        for value in BAD_VALUES:
            for call in (lambda v: session.set_variable("X", v), lambda v: session.verbose(v),
                         lambda v: session.exec("NoOp", v)):
                try:
                    await call(value)
                except ValueError as exc:
                    errors.append(type(exc))
        await session.set_variable("END", "1")

    async def scenario() -> FakeAsterisk:
        async with agi_server({"test": route}) as server:
            fake = await FakeAsterisk(server.port).run()
            assert server.sessions_completed == 1
            return fake

    fake = run(scenario)
    assert len(errors) == 3 * len(BAD_VALUES)
    expected: list[list[str]] = []
    for value in INJECTION_VALUES:
        expected += [["SET", "VARIABLE", "CALLER_NAME", value], ["VERBOSE", value or "-", "1"], ["EXEC", "NoOp", value]]
    expected += [["SET", "VARIABLE", "END", "1"], ["SET", "VARIABLE", STATUS_VARIABLE, "OK"]]
    assert fake.argv == expected  # exactly one command line per call, each value one argument
    assert len(fake.received) == len(expected)


def test_bad_variable_and_app_names_are_refused_before_sending() -> None:
    async def route(session: AGISession) -> None:
        for name in ["", "A B", "X\n", "${X}", "A;B", "X=1"]:
            with pytest.raises(ValueError):
                await session.set_variable(name, "1")
        for app in ["", "No Op", "NoOp(x)", "System\n"]:
            with pytest.raises(ValueError):
                await session.exec(app)
        with pytest.raises(ValueError):
            await session.verbose("x", level=9)
        with pytest.raises(ValueError):
            await session.stream_file("welcome", "1;2")
        await session.set_variable("CDR(userfield)", "ok")
        await session.set_variable("__INHERITED", "ok")

    async def scenario() -> FakeAsterisk:
        async with agi_server({"test": route}) as server:
            return await FakeAsterisk(server.port).run()

    fake = run(scenario)
    assert [a[2] for a in fake.argv] == ["CDR(userfield)", "__INHERITED", STATUS_VARIABLE]


# --------------------------------------------------------------------------- closing


def test_graceful_close_lets_inflight_session_finish() -> None:
    async def route(session: AGISession) -> None:
        await session.verbose("start")
        await asyncio.sleep(0.3)
        await session.set_variable("DONE", "1")

    async def scenario() -> None:
        server = FastAGIServer({"test": route}, port=0)
        await server.start()
        port = server.port
        forever = asyncio.create_task(server.serve_forever())
        fake = FakeAsterisk(port)
        call = asyncio.create_task(fake.run())
        await until(lambda: len(fake.argv) == 1)
        closing = asyncio.create_task(server.close(grace=5.0))
        await until(lambda: server.closing)
        await asyncio.sleep(0.01)
        with pytest.raises(OSError):
            await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2.0)
        await closing
        await forever
        await call
        assert [a[2] for a in fake.argv[1:]] == ["DONE", STATUS_VARIABLE]
        assert (server.sessions_completed, server.sessions_failed, server.active) == (1, 0, 0)

    run(scenario)


def test_close_cancels_sessions_after_grace() -> None:
    async def route(session: AGISession) -> None:
        await asyncio.Event().wait()

    async def scenario() -> None:
        server = FastAGIServer({"test": route}, port=0)
        await server.start()
        fake = FakeAsterisk(server.port)
        call = asyncio.create_task(fake.run())
        await until(lambda: server.sessions_started == 1)
        await server.close(grace=0.2)
        await call
        assert fake.closed_by_server
        assert (server.sessions_failed, server.active) == (1, 0)

    run(scenario)


def test_serve_handles_sigterm_gracefully(tmp_path: Path) -> None:
    """`serve()` in a subprocess: SIGTERM while a session is in flight; it finishes, exit 0."""
    script = tmp_path / "agi_server.py"
    script.write_text(textwrap.dedent("""
        import asyncio, logging, sys
        from ivr400.pbx.asterisk.fastagi import serve

        async def route(session):
            await session.verbose("start")
            await asyncio.sleep(0.3)
            await session.set_variable("DONE", "1")

        def started(server):
            print(server.port, flush=True)

        logging.basicConfig(level=logging.INFO, stream=sys.stderr)
        server = asyncio.run(serve({"test": route}, "127.0.0.1", 0, grace=5.0, on_started=started))
        print("completed", server.sessions_completed, flush=True)
    """))

    async def scenario() -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(script), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env)
        assert proc.stdout is not None and proc.stderr is not None
        try:
            port = int((await asyncio.wait_for(proc.stdout.readline(), 10.0)).decode().strip())
            stderr_lines: list[str] = []

            async def on_command(argv: list[str]) -> None:
                if argv[0] == "VERBOSE":  # the session is in flight: stop the server now
                    proc.send_signal(signal.SIGTERM)
                    async with asyncio.timeout(10.0):
                        while "received SIGTERM" not in "".join(stderr_lines):
                            stderr_lines.append((await proc.stderr.readline()).decode())  # type: ignore[union-attr]

            fake = FakeAsterisk(port, on_command=on_command)
            await fake.run()
            assert [a[2] for a in fake.argv[1:]] == ["DONE", STATUS_VARIABLE]
            with pytest.raises(OSError):
                await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 2.0)
            out, err = await asyncio.wait_for(proc.communicate(), 10.0)
            assert proc.returncode == 0, err.decode()
            assert out.decode().split() == ["completed", "1"]
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()

    run(scenario, timeout=30.0)


def test_helper_failure_results() -> None:
    outcome: dict[str, Any] = {}

    async def route(session: AGISession) -> None:
        outcome["exec"] = await session.exec("NoSuchApp", "x")  # -2 is returned, not raised
        outcome["stream"] = await session.stream_file("missing")  # -1 is returned, not raised
        with pytest.raises(AGICommandError) as err:
            await session.answer()
        outcome["answer"] = err.value.response

    async def scenario() -> None:
        async with agi_server({"test": route}) as server:
            await FakeAsterisk(server.port, script={
                "EXEC": "200 result=-2", "STREAM FILE": "200 result=-1 endpos=0", "ANSWER": "200 result=-1",
            }).run()

    run(scenario)
    assert outcome["exec"].result_int == -2
    assert (outcome["stream"].result_int, outcome["stream"].endpos) == (-1, 0)
    assert outcome["answer"].result == "-1"
