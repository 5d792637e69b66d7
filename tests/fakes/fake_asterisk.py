"""A wire-level fake Asterisk FastAGI client.

It does what res_agi.c does on a FastAGI connection: connect, send the ``agi_*`` header block and a
blank line, then read one command per line and answer it, until the server closes the socket. Lines
are split the way Asterisk's ``fgets`` into a 2048-byte buffer splits them (a longer line becomes
several commands), and arguments with a port of Asterisk's ``parse_args``, so tests see what the
real PBX would execute.

By default it emulates a few commands (SET/GET VARIABLE keep a variable table, VERBOSE, EXEC,
ANSWER, HANGUP, STREAM FILE, NOOP; anything else gets 510). ``script`` overrides replies per verb,
``responder`` overrides everything. A reply may be a line, a tuple of lines, raw ``bytes`` (for
truncated lines), :data:`NO_REPLY` (never answer) or :data:`DISCONNECT` (close the socket).
Misbehaviour helpers cover the header phase: close mid-header, oversize header, stall.

Usage::

    fake = FakeAsterisk(server.port, route="incoming", query="hotline=4008123456")
    await fake.run()                 # header + answer commands until the server hangs up
    assert fake.argv[0] == ["SET", "VARIABLE", "X", "1"]
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from ivr400.pbx.asterisk.agi_protocol import AGI_BUF_LEN, parse_args, parse_mset

__all__ = [
    "DISCONNECT",
    "NO_REPLY",
    "USAGE_520",
    "FakeAsterisk",
    "default_headers",
    "split_like_fgets",
]


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NO_REPLY = _Sentinel("NO_REPLY")
DISCONNECT = _Sentinel("DISCONNECT")

Reply = str | Sequence[str] | bytes | _Sentinel
Responder = Callable[[list[str], str], Reply | None | Awaitable[Reply | None]]

#: A multi-line usage reply as res_agi.c sends it for RESULT_SHOWUSAGE.
USAGE_520 = (
    "520-Invalid command syntax.  Proper usage follows:",
    " Usage: SET VARIABLE <variablename> <value>",
    "        Sets a variable to the current channel.",
    "520 End of proper usage.",
)


def default_headers(
    route: str = "test",
    query: str = "",
    *,
    host: str = "127.0.0.1",
    port: int = 4573,
    uniqueid: str = "1700000000.1",
    channel: str = "PJSIP/carrier-00000001",
    callerid: str = "13800138000",
    calleridname: str = "unknown",
    dnid: str = "4008123456",
    context: str = "from-carrier",
    extension: str = "4008123456",
    args: Iterable[str] = (),
    **extra: str,
) -> list[tuple[str, str]]:
    """The header block Asterisk 22 sends for ``AGI(agi://host:port/route?query,args...)``, in
    order, keys without the ``agi_`` prefix. ``extra`` adds or replaces keys."""
    script = route + ("?" + query if query else "")
    items: list[tuple[str, str]] = [
        ("network", "yes"),
        ("network_script", script),
        ("request", f"agi://{host}:{port}/{script}"),
        ("channel", channel),
        ("language", "en"),
        ("type", channel.split("/", 1)[0]),
        ("uniqueid", uniqueid),
        ("version", "22.1.0"),
        ("callerid", callerid),
        ("calleridname", calleridname),
        ("callingpres", "0"),
        ("callingani2", "0"),
        ("callington", "0"),
        ("callingtns", "0"),
        ("dnid", dnid),
        ("rdnis", "unknown"),
        ("context", context),
        ("extension", extension),
        ("priority", "2"),
        ("enhanced", "0.0"),
        ("accountcode", ""),
        ("threadid", "140000000000001"),
    ]
    items += [(f"arg_{i}", a) for i, a in enumerate(args, start=1)]
    keys = [k for k, _ in items]
    for key, value in extra.items():
        if key in keys:
            items[keys.index(key)] = (key, value)
        else:
            items.append((key, value))
    return items


def encode_headers(headers: Iterable[tuple[str, str]]) -> bytes:
    """``agi_key: value\\n`` lines plus the terminating blank line."""
    return ("".join(f"agi_{k}: {v}\n" for k, v in headers) + "\n").encode("utf-8")


def split_like_fgets(line: bytes) -> list[bytes]:
    """What res_agi.c executes for one received line: fgets() into ``char buf[AGI_BUF_LEN]`` reads
    at most AGI_BUF_LEN - 1 bytes, and the rest of the line is read as the next command."""
    size = AGI_BUF_LEN - 1
    return [line[i : i + size] for i in range(0, len(line), size)] or [b""]


class FakeAsterisk:
    """One FastAGI connection, played from the Asterisk side. See the module docstring."""

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        *,
        route: str = "test",
        query: str = "",
        headers: Sequence[tuple[str, str]] | None = None,
        script: Mapping[str, Reply | list[Reply]] | None = None,
        responder: Responder | None = None,
        hangup_before: int | None = None,
        variables: Mapping[str, str] | None = None,
        on_command: Callable[[list[str]], Awaitable[None] | None] | None = None,
        io_timeout: float = 10.0,
        **header_overrides: Any,
    ) -> None:
        self.host = host
        self.port = port
        self.headers = list(headers) if headers is not None else default_headers(
            route, query, port=port, **header_overrides)
        # A list is a queue of replies (the last one repeats); anything else is one reply.
        self.script = {k.upper(): (list(v) if isinstance(v, list) else [v]) for k, v in (script or {}).items()}
        self.responder = responder
        self.hangup_before = hangup_before
        self.variables: dict[str, str] = dict(variables or {})
        self.on_command = on_command
        self.io_timeout = io_timeout
        #: Every command line received (as Asterisk's fgets would split them), without newline.
        self.received: list[str] = []
        #: The same commands split into arguments the way Asterisk splits them.
        self.argv: list[list[str]] = []
        self.closed_by_server = False
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    # ---- connection
    async def connect(self) -> None:
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=1 << 20), self.io_timeout)

    async def send_raw(self, data: bytes) -> None:
        assert self.writer is not None
        self.writer.write(data)
        await self.writer.drain()

    async def send_header(self) -> None:
        await self.send_raw(encode_headers(self.headers))

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await asyncio.wait_for(self.writer.wait_closed(), 2.0)
            except (TimeoutError, OSError):
                pass

    async def wait_for_eof(self, timeout: float | None = None) -> bool:
        """Read and discard until the server closes; True if it did within ``timeout``."""
        assert self.reader is not None
        try:
            async with asyncio.timeout(timeout if timeout is not None else self.io_timeout):
                while await self.reader.read(65536):
                    pass
        except TimeoutError:
            return False
        except ConnectionError:
            pass
        self.closed_by_server = True
        return True

    # ---- the normal life of a call
    async def run(self) -> FakeAsterisk:
        """Connect, send the header, answer commands until the server closes the connection."""
        await self.connect()
        try:
            await self.send_header()
            await self.serve_commands()
        finally:
            await self.close()
        return self

    async def serve_commands(self) -> None:
        assert self.reader is not None
        try:
            async with asyncio.timeout(self.io_timeout):
                while True:
                    try:
                        raw = await self.reader.readuntil(b"\n")
                    except asyncio.IncompleteReadError as exc:
                        if exc.partial:
                            self.received.append(exc.partial.decode("utf-8", "replace"))
                        self.closed_by_server = True
                        return
                    for chunk in split_like_fgets(raw):
                        if await self._handle(chunk) is DISCONNECT:
                            return
        except ConnectionError:
            self.closed_by_server = True

    async def _handle(self, chunk: bytes) -> Any:
        line = chunk.decode("utf-8", "replace").rstrip("\n")
        argv = parse_args(line)
        self.received.append(line)
        self.argv.append(argv)
        if self.on_command is not None:
            res = self.on_command(argv)
            if inspect.isawaitable(res):
                await res
        if self.hangup_before is not None and len(self.received) == self.hangup_before:
            await self.send_raw(b"HANGUP\n")
        reply = await self._reply_for(argv, line)
        if reply is NO_REPLY:
            return None
        if reply is DISCONNECT:
            await self.close()
            self.closed_by_server = False
            return DISCONNECT
        if isinstance(reply, bytes):
            await self.send_raw(reply)
        elif isinstance(reply, str):
            await self.send_raw((reply + "\n").encode("utf-8"))
        else:
            await self.send_raw("".join(r + "\n" for r in reply).encode("utf-8"))
        return None

    async def _reply_for(self, argv: list[str], line: str) -> Any:
        if self.responder is not None:
            res = self.responder(argv, line)
            if inspect.isawaitable(res):
                res = await res
            if res is not None:
                return res
        verb = self._verb(argv)
        if verb in self.script and self.script[verb]:
            queue = self.script[verb]
            return queue.pop(0) if len(queue) > 1 else queue[0]
        return self._emulate(verb, argv)

    @staticmethod
    def _verb(argv: list[str]) -> str:
        words = [a.upper() for a in argv[:3]]
        for n in (3, 2, 1):
            cand = " ".join(words[:n])
            if cand in _KNOWN:
                return cand
        return " ".join(words[:2])

    def _emulate(self, verb: str, argv: list[str]) -> Reply:
        if verb == "SET VARIABLE":
            if len(argv) < 4:
                return USAGE_520
            self.variables[argv[2]] = argv[3]
            return "200 result=1"
        if verb == "GET VARIABLE":
            if len(argv) < 3:
                return USAGE_520
            if argv[2] in self.variables:
                return f"200 result=1 ({self.variables[argv[2]]})"
            return "200 result=0"
        if verb in ("VERBOSE", "HANGUP"):
            return "200 result=1"
        if verb == "EXEC" and len(argv) >= 3 and argv[1].upper() == "MSET":
            self.variables.update(parse_mset(argv[2]))
            return "200 result=0"
        if verb in ("ANSWER", "NOOP", "EXEC"):
            return "200 result=0"
        if verb == "STREAM FILE":
            return "200 result=0 endpos=8000"
        return "510 Invalid or unknown command"

    @property
    def sets(self) -> list[tuple[str, str]]:
        """Every variable the server set, in order, as Asterisk applied them: ``SET VARIABLE`` commands and
        the pairs of ``EXEC MSet`` commands."""
        out: list[tuple[str, str]] = []
        for argv in self.argv:
            if argv[:2] == ["SET", "VARIABLE"] and len(argv) == 4:
                out.append((argv[2], argv[3]))
            elif argv[:2] == ["EXEC", "MSet"] and len(argv) == 3:
                out.extend(parse_mset(argv[2]))
        return out

    # ---- misbehaviour
    async def close_mid_header(self, lines: int = 3, partial: bytes = b"") -> None:
        """Send ``lines`` header lines (and optionally a truncated one), then close."""
        await self.connect()
        await self.send_raw(encode_headers(self.headers[:lines])[:-1] + partial)
        await self.close()

    async def send_oversize_header(self, total_bytes: int, *, line_bytes: int = 100) -> bool:
        """Send header lines until ``total_bytes``; return True if the server then closed."""
        await self.connect()
        pad = "x" * max(1, line_bytes - len("agi_padNNNNNN: \n"))
        n = 0
        try:
            while n * line_bytes < total_bytes:
                await self.send_raw(f"agi_pad{n:06d}: {pad}\n".encode())
                n += 1
            await self.send_raw(b"\n")
        except ConnectionError:
            return True
        try:
            return await self.wait_for_eof()
        finally:
            await self.close()

    async def stall_after(self, data: bytes) -> None:
        """Connect, send ``data`` and then nothing (the caller waits for EOF)."""
        await self.connect()
        await self.send_raw(data)


_KNOWN = frozenset({
    "ANSWER", "HANGUP", "NOOP", "EXEC", "VERBOSE", "SET VARIABLE", "GET VARIABLE",
    "GET FULL VARIABLE", "STREAM FILE", "CONTROL STREAM FILE", "WAIT FOR DIGIT",
})
