"""The AMI wrapper against a fake Asterisk Manager on loopback: login, Command output, errors, timeouts."""
from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from ivr400.pbx.asterisk.ami import Ami, AmiError, AmiSettings, CommandFailed, command_output

SECRET = "s3cret"


class FakeManager:
    """Speaks enough AMI: banner, Login, Command (dialplan show / reload), Logoff; `mute` stops answering."""

    def __init__(self) -> None:
        self.mute = False
        self.commands: list[str] = []
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.AbstractServer | None = None
        self.port = 0
        ready = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self.thread.start()
        ready.wait(5)

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._client, "127.0.0.1", 0))
        self.port = self.server.sockets[0].getsockname()[1]
        ready.set()
        self.loop.run_forever()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/11.0.0\r\n")
        while True:
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                break
            msg = dict(line.split(": ", 1) for line in raw.decode().strip().split("\r\n") if ": " in line)
            if self.mute:
                continue
            aid = msg.get("ActionID", "")
            action = msg.get("Action", "").lower()
            if action == "login":
                ok = msg.get("Secret") == SECRET
                writer.write((f"Response: {'Success' if ok else 'Error'}\r\nActionID: {aid}\r\nMessage: "
                              f"{'Authentication accepted' if ok else 'Authentication failed'}\r\n\r\n").encode())
            elif action == "command":
                cmd = msg.get("Command", "")
                self.commands.append(cmd)
                if cmd == "dialplan show ivr400-inbound":
                    body = ("Response: Success\r\nMessage: Command output follows\r\n"
                            "Output: [ Context 'ivr400-inbound' created by 'pbx_config' ]\r\n"
                            "Output:   '4008000001' =>  1. Goto(x,s,1)\r\nOutput: \r\n")
                elif cmd == "dialplan reload":
                    body = "Response: Success\r\nMessage: Command output follows\r\nOutput: Dialplan reloaded.\r\n"
                elif cmd.startswith("dialplan show "):
                    ctx = cmd.split()[-1]
                    body = ("Response: Error\r\nMessage: Command output follows\r\n"
                            f"Output: There is no existence of '{ctx}' context\r\n")
                else:
                    body = f"Response: Error\r\nMessage: Command output follows\r\nOutput: No such command '{cmd}'\r\n"
                writer.write(body.replace("\r\n", f"\r\nActionID: {aid}\r\n", 1).encode() + b"\r\n")
            elif action == "originate":
                # Asterisk answers an async Originate at once; its OriginateResponse event comes when the
                # call is answered or fails, which this peer never sends.
                self.commands.append(f"originate {msg.get('Channel', '')}")
                ok = "refuse" not in msg.get("Channel", "")
                writer.write((f"Response: {'Success' if ok else 'Error'}\r\nActionID: {aid}\r\nMessage: "
                              f"{'Originate successfully queued' if ok else 'Originate failed'}\r\n\r\n").encode())
            elif action == "logoff":
                writer.write(f"Response: Goodbye\r\nActionID: {aid}\r\n\r\n".encode())
            await writer.drain()
        writer.close()

    def close(self) -> None:
        def stop() -> None:
            assert self.server is not None
            self.server.close()
            self.loop.stop()
        self.loop.call_soon_threadsafe(stop)
        self.thread.join(5)


@pytest.fixture
def manager() -> Iterator[FakeManager]:
    m = FakeManager()
    yield m
    m.close()


def settings(m: FakeManager, secret: str = SECRET, timeout: float = 1.0) -> AmiSettings:
    return AmiSettings(host="127.0.0.1", port=m.port, username="ivr400", secret=secret, timeout=timeout)


def test_command_returns_the_cli_output_line_by_line(manager: FakeManager) -> None:
    with Ami.connect(settings(manager)) as ami:
        out = ami.command("dialplan show ivr400-inbound")
        assert out.splitlines()[1] == "  '4008000001' =>  1. Goto(x,s,1)"
        assert ami.reload("dialplan reload") == "Dialplan reloaded."
        results = ami.commands(["dialplan show ivr400-inbound", "dialplan show nope"])
        assert isinstance(results[0], str) and isinstance(results[1], CommandFailed)
    assert manager.commands[:2] == ["dialplan show ivr400-inbound", "dialplan reload"]


def test_cli_failure_is_an_error_with_the_output(manager: FakeManager) -> None:
    with Ami.connect(settings(manager)) as ami:
        with pytest.raises(CommandFailed) as info:
            ami.command("dialplan show nosuch")
        assert "There is no existence of 'nosuch' context" in str(info.value)
        with pytest.raises(AmiError, match="not a module-scoped reload"):
            ami.reload("core restart now")


def test_login_refused(manager: FakeManager) -> None:
    with pytest.raises(AmiError, match="login as 'ivr400' refused"):
        Ami.connect(settings(manager, secret="wrong"))


def test_every_action_times_out(manager: FakeManager) -> None:
    with Ami.connect(settings(manager, timeout=0.5)) as ami:
        manager.mute = True
        started = time.monotonic()
        with pytest.raises(AmiError, match="no response within 0.5 s"):
            ami.command("dialplan reload")
        assert time.monotonic() - started < 2.0


def test_connect_refused_and_connect_timeout() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(AmiError, match="cannot connect"):
        Ami.connect(AmiSettings(port=port, secret="x", timeout=1.0))
    # A listener that accepts but never sends the banner nor answers the login.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        started = time.monotonic()
        with pytest.raises(AmiError, match="login: no response"):
            Ami.connect(AmiSettings(port=silent.getsockname()[1], secret="x", timeout=0.5))
        assert time.monotonic() - started < 2.0


def test_settings_hide_the_secret_and_output_parsing() -> None:
    s = AmiSettings.from_mapping({"host": "127.0.0.2", "port": "5039", "username": "u", "secret": "s3cret"})
    assert (s.host, s.port, s.username, s.secret) == ("127.0.0.2", 5039, "u", "s3cret")
    assert "s3cret" not in repr(s)
    assert command_output({"Output": ["a", "b"]}) == "a\nb"
    assert command_output({"Output": "only"}) == "only"


def test_async_originate_returns_once_queued_and_an_error_raises(manager: FakeManager) -> None:
    """WEB呼叫: an async Originate returns at "successfully queued", not when the call ends (no OriginateResponse
    event ever comes from this peer, and the action does not time out waiting for one)."""
    with Ami.connect(settings(manager, timeout=2.0)) as ami:
        reply = ami.action("Originate", Channel="PJSIP/13800138000@out", Context="ivr400-clicktocall",
                           Exten="4008000001", Priority="1", Async="true", ChannelId="c-1")
        assert reply["Message"] == "Originate successfully queued"
        with pytest.raises(AmiError, match="Originate failed"):
            ami.action("Originate", Channel="PJSIP/refuse@out", Context="x", Exten="1", Priority="1", Async="true")
    assert manager.commands == ["originate PJSIP/13800138000@out", "originate PJSIP/refuse@out"]
