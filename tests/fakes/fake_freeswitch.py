"""A wire-level fake FreeSWITCH event socket, both directions. No FreeSWITCH binary is reachable from this
project's package registries, so this fake is how the ESL code is proven: at the protocol level only.

Frame shapes follow FreeSWITCH's ``src/mod/event_handlers/mod_event_socket/mod_event_socket.c``:

* commands are read as ``read_packet`` reads them: a first line (the command), ``name: value`` header lines
  (each line one header: a line break in a value would be a header of its own), a blank line;
* replies are ``Content-Type: command/reply`` + ``Reply-Text: ...`` (``listener_run``); ``api`` answers
  ``Content-Type: api/response`` + ``Content-Length`` + the output (``api_exec``); ``bgapi`` answers
  ``Reply-Text: +OK Job-UUID: <uuid>`` + ``Job-UUID`` and later fires a ``BACKGROUND_JOB`` event;
* events are ``Content-Length`` + ``Content-Type: text/event-plain`` and the event serialised with
  URL-encoded values (``switch_event_serialize(..., SWITCH_TRUE)``);
* the outbound ``connect`` reply is the ``CHANNEL_DATA`` event itself, ending with ``Content-Type:
  command/reply``, ``Reply-Text: %2BOK%0A``, ``Socket-Mode: async``, ``Control: full`` (``parse_command``,
  ``connect`` branch; the same shape appears in captures kept by public ESL client test suites);
* the inbound socket greets with ``Content-Type: auth/request`` and answers a wrong password
  ``-ERR invalid``, then closes with a ``text/disconnect-notice``.

:class:`FakeChannel` plays FreeSWITCH's side of one outbound ``socket`` connection (it connects to the
controller); :class:`FakeEventSocket` is FreeSWITCH's inbound event socket (the controller's client connects).
"""
from __future__ import annotations

import asyncio
import contextlib
import uuid as uuidlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ivr400.pbx.freeswitch.esl_protocol import encode_event

__all__ = ["Command", "FakeChannel", "FakeEventSocket", "channel_data", "event_frame", "reply"]

CALL_UUID = "4192e98c-e569-11e7-b747-73bec77e82ec"


@dataclass
class Command:
    """One command as FreeSWITCH parsed it: the first line, the header lines in order, the raw bytes."""

    line: str
    headers: list[tuple[str, str]]
    raw: bytes

    def header(self, name: str) -> str:
        return next((v for n, v in self.headers if n.lower() == name.lower()), "")


def reply(text: str, **extra: str) -> bytes:
    """``Content-Type: command/reply`` + ``Reply-Text`` (as listener_run writes it)."""
    lines = ["Content-Type: command/reply", f"Reply-Text: {text}", *(f"{k}: {v}" for k, v in extra.items())]
    return ("\n".join(lines) + "\n\n").encode()


def event_frame(headers: Iterable[tuple[str, str]], body: bytes = b"") -> bytes:
    """A ``text/event-plain`` frame: the outer Content-Length counts the serialised event."""
    serialised = encode_event(headers, body)
    return f"Content-Length: {len(serialised)}\nContent-Type: text/event-plain\n\n".encode() + serialised


def channel_data(*, uuid: str = CALL_UUID, caller: str = "13800138000", destination: str = "4008000001",
                 variables: Mapping[str, str] | None = None) -> bytes:
    """The ``connect`` reply for an inbound call parked in ``socket``: CHANNEL_DATA with URL-encoded values."""
    headers: list[tuple[str, str]] = [
        ("Event-Name", "CHANNEL_DATA"),
        ("Core-UUID", "6cd7d004-e3c9-11e7-b0f3-73bec77e82ec"),
        ("FreeSWITCH-Hostname", "fs1.example"),
        ("Event-Date-Local", "2026-06-01 10:00:00"),
        ("Event-Date-Timestamp", "1780279200000000"),
        ("Channel-State", "CS_EXECUTE"),
        ("Channel-Name", f"sofia/external/{caller}@203.0.113.7"),
        ("Unique-ID", uuid),
        ("Call-Direction", "inbound"),
        ("Answer-State", "early"),
        ("Caller-Direction", "inbound"),
        ("Caller-Caller-ID-Name", caller),
        ("Caller-Caller-ID-Number", caller),
        ("Caller-ANI", caller),
        ("Caller-Destination-Number", destination),
        ("Caller-Unique-ID", uuid),
        ("Caller-Context", "public"),
        ("variable_direction", "inbound"),
        ("variable_uuid", uuid),
        ("variable_call_uuid", uuid),
    ]
    headers += [(f"variable_{k}", v) for k, v in (variables or {}).items()]
    headers += [("variable_current_application_data", "127.0.0.1:8084 async full"),
                ("variable_current_application", "socket")]
    body = encode_event(headers)[:-1]  # no blank line yet: the reply headers follow
    return body + b"Content-Type: command/reply\nReply-Text: %2BOK%0A\nSocket-Mode: async\nControl: full\n\n"


async def read_command(reader: asyncio.StreamReader) -> Command | None:
    """One command as read_packet reads it (None at EOF)."""
    try:
        raw = await reader.readuntil(b"\n\n")
    except asyncio.IncompleteReadError:
        return None
    text = raw.decode()
    lines = [ln for ln in text.split("\n") if ln]
    headers = []
    for ln in lines[1:]:
        name, _, value = ln.partition(":")
        headers.append((name, value.lstrip(" ")))
    return Command(lines[0] if lines else "", headers, raw)


Responder = Callable[["FakeChannel", Command], Awaitable[bytes | None] | bytes | None]


@dataclass
class FakeChannel:
    """FreeSWITCH's side of one outbound ``socket`` connection to the controller at ``port``.

    Answers ``connect`` with :func:`channel_data` (``connect_reply`` overrides it: raw bytes, for garbage or
    oversize frames), ``myevents``/``linger``/``resume`` as mod_event_socket does, ``sendmsg`` with ``+OK`` —
    an ``execute`` of ``set`` updates :attr:`variables` and, once ``myevents`` was asked, is followed by a
    ``CHANNEL_EXECUTE_COMPLETE`` event. ``responder(fake, command)`` may answer instead (return bytes to
    send, or None for the default); ``close_after`` closes after that many commands (early EOF);
    ``stall_on`` never answers that command line; ``eof_after`` closes right after answering it (a
    reply cut by the end of the stream).
    """

    port: int
    caller: str = "13800138000"
    hook: str = "route?hotline=4008000001"
    uuid: str = CALL_UUID
    variables: dict[str, str] = field(default_factory=dict)
    connect_reply: bytes | None = None
    responder: Responder | None = None
    close_after: int | None = None
    stall_on: str | None = None
    eof_after: str | None = None
    commands: list[Command] = field(default_factory=list)
    myevents: bool = False
    closed_by_peer: bool = False

    @property
    def received(self) -> list[bytes]:
        return [c.raw for c in self.commands]

    @property
    def sets(self) -> list[tuple[str, str]]:
        """The ``set`` applications executed, as (name, value), in order."""
        out = []
        for c in self.commands:
            if c.line.startswith("sendmsg") and c.header("execute-app-name") == "set":
                name, _, value = c.header("execute-app-arg").partition("=")
                out.append((name, value))
        return out

    async def run(self, timeout: float = 10.0) -> FakeChannel:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            await asyncio.wait_for(self._serve(reader, writer), timeout)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
        return self

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            cmd = await read_command(reader)
            if cmd is None:
                self.closed_by_peer = True
                return
            self.commands.append(cmd)
            if self.close_after is not None and len(self.commands) >= self.close_after:
                return
            if self.stall_on is not None and cmd.line.startswith(self.stall_on):
                await reader.read()  # never answer; wait for the controller to give up and close
                self.closed_by_peer = True
                return
            out: bytes | None = None
            if self.responder is not None:
                result = self.responder(self, cmd)
                out = await result if asyncio.iscoroutine(result) else result  # type: ignore[assignment]
            if out is None:
                out = self._default(cmd)
            try:
                writer.write(out)
                await writer.drain()
            except ConnectionError:
                self.closed_by_peer = True
                return
            if self.eof_after is not None and cmd.line.startswith(self.eof_after):
                return

    def _default(self, cmd: Command) -> bytes:
        verb = cmd.line.split(" ", 1)[0]
        if verb == "connect":
            if self.connect_reply is not None:
                return self.connect_reply
            variables = {"IVR400_HOOK": self.hook, **self.variables}
            return channel_data(uuid=self.uuid, caller=self.caller, variables=variables)
        if verb == "myevents":
            self.myevents = True
            return reply("+OK Events Enabled")
        if verb == "linger":
            return reply("+OK will linger")
        if verb == "resume":
            return reply("+OK")
        if verb == "sendmsg":
            out = reply("+OK")
            if cmd.header("call-command") == "execute":
                app, arg = cmd.header("execute-app-name"), cmd.header("execute-app-arg")
                if app == "set":
                    name, _, value = arg.partition("=")
                    self.variables[name] = value
                if self.myevents:
                    out += event_frame([
                        ("Event-Name", "CHANNEL_EXECUTE_COMPLETE"), ("Unique-ID", self.uuid),
                        ("Application", app), ("Application-Data", arg), ("Application-Response", "_none_"),
                        ("Application-UUID", str(uuidlib.uuid4())),
                    ])
            return out
        return reply("-ERR command not found")


class FakeEventSocket:
    """FreeSWITCH's inbound event socket on loopback: ``auth/request``, ``auth``, ``api``, ``bgapi``, ``event``.

    ``api_replies`` maps an API command line (``reloadxml``, ``status``...) to its output; others get
    ``-ERR <cmd> Command not found!``. :meth:`emit` sends an event to every client that subscribed.
    """

    def __init__(self, password: str = "ClueCon", api_replies: Mapping[str, str] | None = None,
                 greet: bytes | None = None) -> None:
        self.password = password
        self.api_replies = dict(api_replies or {"reloadxml": "+OK [Success]\n"})
        self.greet = greet if greet is not None else b"Content-Type: auth/request\n\n"
        self.commands: list[Command] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self.subscribed = asyncio.Event()

    async def start(self) -> FakeEventSocket:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        for w in self._writers:
            w.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def emit(self, headers: Iterable[tuple[str, str]], body: bytes = b"") -> None:
        for w in list(self._writers):
            w.write(event_frame(headers, body))
            with contextlib.suppress(ConnectionError):
                await w.drain()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self.greet)
        authed = False
        try:
            while True:
                cmd = await read_command(reader)
                if cmd is None:
                    return
                self.commands.append(cmd)
                line = cmd.line
                if not authed:
                    if line == f"auth {self.password}":
                        authed = True
                        writer.write(reply("+OK accepted"))
                    else:
                        writer.write(reply("-ERR invalid"))
                        message = b"Disconnected, goodbye.\nSee you at ClueCon! http://www.cluecon.com/\n"
                        writer.write(b"Content-Type: text/disconnect-notice\nContent-Length: "
                                     + str(len(message)).encode() + b"\n\n" + message)
                        await writer.drain()
                        return
                elif line.startswith("api "):
                    api = line[4:]
                    out = self.api_replies.get(api, f"-ERR {api.split(' ')[0]} Command not found!\n").encode()
                    writer.write(b"Content-Type: api/response\nContent-Length: " + str(len(out)).encode()
                                 + b"\n\n" + out)
                elif line.startswith("bgapi "):
                    api = line[6:]
                    job = str(uuidlib.uuid4())
                    writer.write(f"Content-Type: command/reply\nReply-Text: +OK Job-UUID: {job}\nJob-UUID: {job}\n\n"
                                 .encode())
                    out = self.api_replies.get(api, f"-ERR {api.split(' ')[0]} Command not found!\n").encode()
                    writer.write(event_frame([("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", job),
                                              ("Job-Command", api.split(" ")[0])], out))
                elif line.startswith("event plain"):
                    self._writers.append(writer)
                    writer.write(reply("+OK event listener enabled plain"))
                    self.subscribed.set()
                else:
                    writer.write(reply("-ERR command not found"))
                await writer.drain()
        except ConnectionError:
            return
        finally:
            if writer in self._writers:
                self._writers.remove(writer)
            writer.close()
