"""Our own small asyncio ESL: the outbound-socket server FreeSWITCH's ``socket`` application connects to, and
the inbound client that connects to FreeSWITCH's event socket (``:8021``). Transport only: what a hook
decides is the controller's (``ivr400.controller.esl``); the wire format is :mod:`.esl_protocol`.

Outbound (one connection per hook, FreeSWITCH connects to us), as :class:`OutboundServer` drives it::

    connect                      -> command/reply carrying CHANNEL_DATA (channel headers, variable_*)
    myevents                     -> +OK Events Enabled   (this channel's events, for EXECUTE_COMPLETE)
    linger                       -> +OK will linger      (a hangup does not cut the socket before we close)
    resume                       -> +OK                  (the dialplan goes on once we close)
    sendmsg / execute set N=V    -> +OK                  (one per variable, event-lock: run in order)
    sendmsg / execute set IVR400_HOOK_STATUS=OK, then wait for its CHANNEL_EXECUTE_COMPLETE, close.

The route and its parameters come from the channel variable ``IVR400_HOOK`` (``contract.parse_hook``).
Timeouts: ``connect_timeout`` for FreeSWITCH's ``connect`` reply, ``command_timeout`` per command,
``session_timeout`` for the whole session; ``max_sessions`` at once (more are closed at once: the dialplan
takes its static plan); :meth:`OutboundServer.close` drains (SIGTERM in :func:`serve_outbound`).

Inbound (:class:`InboundClient`): ``auth/request`` → ``auth <password>`` → ``+OK accepted``; ``api`` (reply in
an ``api/response`` body), ``bgapi`` (``Job-UUID``; the result comes as a ``BACKGROUND_JOB`` event),
``event plain <names>`` and the events as dicts with URL-decoded values.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import re
import signal
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, MutableMapping
from types import MappingProxyType
from typing import Any, Protocol

from ivr400.pbx.freeswitch import contract
from ivr400.pbx.freeswitch.esl_protocol import (
    API_RESPONSE,
    AUTH_REQUEST,
    COMMAND_REPLY,
    DISCONNECT_NOTICE,
    EVENT_PLAIN,
    MAX_BODY_BYTES,
    MAX_HEADER_BYTES,
    RUDE_REJECTION,
    ESLProtocolError,
    ESLValueError,
    Frame,
    auth_command,
    check_name,
    check_value,
    command,
    content_length,
    decode_event,
    parse_header_block,
    set_variable,
)

__all__ = [
    "ESLAuthError",
    "ESLClosed",
    "ESLCommandError",
    "ESLConnection",
    "ESLError",
    "ESLTimeout",
    "InboundClient",
    "OutboundHandler",
    "OutboundServer",
    "OutboundSession",
    "read_frame",
    "serve_outbound",
]

#: The call's Unique-ID while a session runs (for log records of the routes).
current_uuid: contextvars.ContextVar[str] = contextvars.ContextVar("ivr400_esl_uuid", default="")
_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class ESLError(Exception):
    """Base of the ESL transport's errors."""


class ESLClosed(ESLError):
    """The peer closed the connection (or it was closed after an error); no more commands."""


class ESLTimeout(ESLError):
    """A reply did not come in time; the connection is closed (its replies would be out of step)."""


class ESLCommandError(ESLError):
    """A command was answered ``-ERR ...``."""


class ESLAuthError(ESLError):
    """``auth`` was refused (``-ERR invalid``) or the peer sent no ``auth/request``."""


async def read_frame(reader: asyncio.StreamReader, *, max_body: int = MAX_BODY_BYTES) -> Frame | None:
    """The next frame, or None when the peer closed cleanly between frames.

    The header block may be at most the reader's ``limit`` (give ``limit=MAX_HEADER_BYTES`` when opening
    the stream). Raises ESLProtocolError for an oversize header block or body, a header block or body cut
    by the end of the stream, or a malformed header line."""
    while True:
        try:
            block = await reader.readuntil(b"\n\n")
        except asyncio.IncompleteReadError as exc:
            if not exc.partial.strip(b"\r\n"):
                return None
            raise ESLProtocolError(f"frame truncated: {len(exc.partial)} bytes of header and no blank line") from None
        except asyncio.LimitOverrunError:
            raise ESLProtocolError("header block over the size limit") from None
        if block.strip(b"\r\n"):
            break  # read_packet skips stray line breaks between frames; so do we
    headers = parse_header_block(block)
    length = content_length(headers, max_body)
    body = b""
    if length:
        try:
            body = await reader.readexactly(length)
        except asyncio.IncompleteReadError as exc:
            raise ESLProtocolError(f"frame truncated: body of {len(exc.partial)} bytes, Content-Length "
                                   f"{length}") from None
    return Frame(headers, body)


class ESLConnection:
    """One ESL connection: commands one at a time (a lock), each answered by the next ``command/reply`` or
    ``api/response``; events queued as (headers, body). A reader task owns the stream."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, command_timeout: float,
                 logger: logging.Logger | logging.LoggerAdapter[logging.Logger], peer: str = "",
                 max_body: int = MAX_BODY_BYTES) -> None:
        self._reader = reader
        self._writer = writer
        self.command_timeout = command_timeout
        self.log = logger
        self.peer = peer
        self._max_body = max_body
        self._lock = asyncio.Lock()
        self._replies: deque[asyncio.Future[Frame]] = deque()
        self._first: asyncio.Future[Frame] | None = None  # auth/request before any command
        self.events: asyncio.Queue[tuple[dict[str, str], bytes]] = asyncio.Queue(maxsize=10_000)
        self.disconnect_notice: Frame | None = None
        self.error: BaseException | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._read_loop())

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    async def _read_loop(self) -> None:
        try:
            while True:
                frame = await read_frame(self._reader, max_body=self._max_body)
                if frame is None:
                    break
                kind = frame.content_type
                if kind in (COMMAND_REPLY, API_RESPONSE):
                    if not self._replies:
                        raise ESLProtocolError(f"{kind} with no command waiting")
                    fut = self._replies.popleft()
                    if not fut.done():
                        fut.set_result(frame)
                elif kind == EVENT_PLAIN:
                    event = decode_event(frame.body, self._max_body)
                    with contextlib.suppress(asyncio.QueueFull):
                        self.events.put_nowait(event)
                elif kind == AUTH_REQUEST:
                    if self._first is not None and not self._first.done():
                        self._first.set_result(frame)
                elif kind in (DISCONNECT_NOTICE, RUDE_REJECTION):
                    self.disconnect_notice = frame
                    if frame.get("Content-Disposition") != "linger":
                        break
                else:
                    self.log.debug("esl: ignoring a %r frame", kind[:40])
        except ESLProtocolError as exc:
            self.error = exc
            self.log.warning("esl: protocol error from %s: %s", self.peer or "peer", exc)
        except (ConnectionError, OSError) as exc:
            self.error = exc
        except asyncio.CancelledError:
            pass
        finally:
            self._fail_pending(self.error)
            self._closed.set()
            self._writer.close()

    def _fail_pending(self, error: BaseException | None) -> None:
        exc: BaseException = error if isinstance(error, ESLProtocolError) else ESLClosed("connection closed")
        while self._replies:
            fut = self._replies.popleft()
            if not fut.done():
                fut.set_exception(exc)
        if self._first is not None and not self._first.done():
            self._first.set_exception(exc)

    async def send(self, data: bytes, *, timeout: float | None = None) -> Frame:
        """Write one command frame and return its reply (``command/reply`` or ``api/response``).
        Raises ESLClosed, ESLTimeout (and closes), ESLProtocolError (the peer sent garbage)."""
        async with self._lock:
            if self.closed:
                raise (self.error if isinstance(self.error, ESLProtocolError) else ESLClosed("connection closed"))
            fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
            self._replies.append(fut)
            try:
                self._writer.write(data)
                await self._writer.drain()
                return await asyncio.wait_for(fut, self.command_timeout if timeout is None else timeout)
            except TimeoutError:
                await self.close()
                first = data.split(b"\n", 1)[0][:40].decode(errors="replace")
                raise ESLTimeout(f"no reply to {first!r} within {self.command_timeout if timeout is None else timeout}"
                                 " s") from None
            except (ConnectionError, OSError) as exc:
                await self.close()
                raise ESLClosed(f"connection lost ({exc})") from None

    async def checked(self, data: bytes, *, timeout: float | None = None) -> Frame:
        """:meth:`send`, raising ESLCommandError unless the reply is ``+OK``."""
        reply = await self.send(data, timeout=timeout)
        if not reply.ok:
            first = data.split(b"\n", 1)[0][:40].decode(errors="replace")
            raise ESLCommandError(f"{first}: {reply.reply_text or reply.body[:80].decode(errors='replace')}")
        return reply

    async def wait_event(self, predicate: Callable[[Mapping[str, str]], bool], timeout: float) -> dict[str, str]:
        """The next queued event matching ``predicate`` (others are dropped). Raises ESLTimeout, ESLClosed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise ESLTimeout(f"no matching event within {timeout} s")
            getter = asyncio.ensure_future(self.events.get())
            closer = asyncio.ensure_future(self._closed.wait())
            done, _ = await asyncio.wait({getter, closer}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            closer.cancel()
            if getter in done:
                headers, _body = getter.result()
                if predicate(headers):
                    return headers
                continue
            getter.cancel()
            if self.closed and self.events.empty():
                raise ESLClosed("connection closed while waiting for an event")

    async def close(self) -> None:
        """Close the connection (idempotent) and let the reader finish."""
        if not self._writer.is_closing():
            self._writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._writer.wait_closed(), 1.0)
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        self._closed.set()


# --------------------------------------------------------------------------------------------- outbound


class _SessionLog(logging.LoggerAdapter[logging.Logger]):
    """Adds ``uniqueid`` (the call's Unique-ID) to each record, as the FastAGI session log does."""

    def process(self, msg: object, kwargs: MutableMapping[str, Any]) -> tuple[object, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


class OutboundSession(ESLConnection):
    """One ``socket`` application connection: the channel data of ``connect``, the hook it asks for, and
    the calls a route makes — the same interface as the FastAGI session (``params``, ``callerid``,
    ``uniqueid``, ``set_variable``, ``get_variable``, ``log``), so the same routes decide."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, command_timeout: float,
                 logger: logging.Logger, peer: str = "") -> None:
        super().__init__(reader, writer, command_timeout=command_timeout, logger=logger, peer=peer)
        self._logger = logger
        self.channel_data: Mapping[str, str] = MappingProxyType({})
        self.route = ""
        self._params: Mapping[str, str] = MappingProxyType({})
        self.sent: list[tuple[str, str]] = []  # (name, value) set so far, in order

    async def connect(self, timeout: float) -> Mapping[str, str]:
        """Send ``connect``; the reply's headers (URL-decoded) become :attr:`channel_data`."""
        reply = await self.send(command("connect"), timeout=timeout)
        if not reply.reply_text.startswith("+OK"):
            raise ESLCommandError(f"connect: {reply.reply_text[:80]}")
        self.channel_data = MappingProxyType(reply.decoded())
        self.log = _SessionLog(self._logger, {"uniqueid": self.uniqueid or f"peer {self.peer}"})
        return self.channel_data

    def parse_hook(self) -> None:
        """Read :data:`contract.HOOK` from the channel data into :attr:`route` / :attr:`params`.
        Raises ValueError (from ``contract.parse_hook``) when it is missing or not a hook."""
        route, params = contract.parse_hook(self.variable(contract.HOOK))
        self.route, self._params = route, MappingProxyType(params)

    # ---- the FastAGI session's interface, for the routes
    @property
    def params(self) -> Mapping[str, str]:
        """Parameters of the hook request (``IVR400_HOOK``'s query), percent-decoded."""
        return self._params

    @property
    def uniqueid(self) -> str:
        """The channel's ``Unique-ID`` when it looks like a call id (1-64 of ``A-Z a-z 0-9 . _ : -``), else ""
        — it tags every log line of the session, so a forged value with a line break never reaches the log."""
        value = self.channel_data.get("Unique-ID", "") or self.channel_data.get("Channel-Unique-ID", "")
        return value if _SAFE_ID.fullmatch(value) else ""

    @property
    def callerid(self) -> str:
        """Raw caller number as FreeSWITCH sent it (``Caller-Caller-ID-Number``); normalise elsewhere."""
        return self.channel_data.get("Caller-Caller-ID-Number", "")

    def variable(self, name: str) -> str:
        """A channel variable as it was at ``connect`` (``variable_<name>``), "" when unset."""
        return self.channel_data.get(f"variable_{name}", "")

    async def get_variable(self, name: str) -> str | None:
        """The channel variable ``name`` as the dialplan set it before the hook (None when unset)."""
        value = self.channel_data.get(f"variable_{name}")
        return value if value else None

    async def set_variable(self, name: str, value: str) -> None:
        """``sendmsg`` execute ``set`` ``name=value`` (event-lock). ESLValueError before anything is sent
        when the name or value is unsafe; ESLCommandError when FreeSWITCH answers ``-ERR``."""
        await self.checked(set_variable(name, value))
        self.sent.append((name, value))

    async def set_variables(self, pairs: Iterable[tuple[str, str]]) -> None:
        for name, value in pairs:
            await self.set_variable(name, value)


#: A hook handler: receives the session, returns what the observer is told (e.g. Decided / StaticPlan).
OutboundHandler = Callable[[OutboundSession], Awaitable[object]]


class OutboundObserver(Protocol):
    """What the server reports (the FastAGI observer's interface: ``ControllerMetrics`` is one).

    ``session_ended`` outcomes: ok, hangup (FreeSWITCH closed), unknown_route, error, timeout,
    protocol_error, cancelled. ``rejected`` reasons: capacity, closing, connect_timeout, connect_eof
    (closed before answering ``connect``), bad_connect (garbage or ``-ERR``), bad_hook (no IVR400_HOOK)."""

    def session_started(self, session: Any) -> None: ...  # noqa: ANN401

    def session_ended(self, session: Any, outcome: str, result: object, seconds: float) -> None: ...  # noqa: ANN401

    def rejected(self, reason: str) -> None: ...


class OutboundServer:
    """The outbound-socket server: ``routes`` maps a hook name to its handler (see the module docstring)."""

    def __init__(self, routes: Mapping[str, OutboundHandler], host: str = "127.0.0.1", port: int = 8084, *,
                 max_sessions: int = 500, connect_timeout: float = 2.0, command_timeout: float = 2.0,
                 session_timeout: float = 10.0, complete_timeout: float = 2.0,
                 observer: OutboundObserver | None = None, logger: logging.Logger | None = None) -> None:
        self.routes = dict(routes)
        self.host, self.port = host, port
        self.max_sessions = max_sessions
        self.connect_timeout = connect_timeout
        self.command_timeout = command_timeout
        self.session_timeout = session_timeout
        self.complete_timeout = complete_timeout
        self.observer = observer
        self.log = logger or logging.getLogger("ivr400.esl")
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self.counts: dict[str, int] = {}

    def stats(self) -> dict[str, int]:
        return dict(self.counts)

    def _count(self, key: str) -> None:
        self.counts[key] = self.counts.get(key, 0) + 1

    async def start(self) -> None:
        """Listen (port 0: any free port, then :attr:`port` is the one bound). OSError when it cannot."""
        self._server = await asyncio.start_server(self._accept, self.host, self.port, limit=MAX_HEADER_BYTES)
        self.port = self._server.sockets[0].getsockname()[1]

    def _observe(self, method: str, *args: object) -> None:
        if self.observer is None:
            return
        try:
            getattr(self.observer, method)(*args)
        except Exception:  # noqa: BLE001 - an observer must never break a session
            self.log.exception("esl observer %s failed", method)

    def _reject(self, reason: str, writer: asyncio.StreamWriter) -> None:
        self._count(f"rejected_{reason}")
        self._observe("rejected", reason)
        writer.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing:
            self._reject("closing", writer)
            return
        if len(self._tasks) >= self.max_sessions:
            self.log.warning("esl: %d sessions already running; refusing a connection (static plan)",
                             len(self._tasks))
            self._reject("capacity", writer)
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._session(reader, writer)
        finally:
            self._tasks.discard(task)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peername = writer.get_extra_info("peername")
        peer = f"{peername[0]}:{peername[1]}" if isinstance(peername, tuple) else str(peername)
        session = OutboundSession(reader, writer, command_timeout=self.command_timeout, logger=self.log, peer=peer)
        session.start()
        try:
            await session.connect(self.connect_timeout)
        except ESLTimeout:
            self._reject("connect_timeout", writer)
            await session.close()
            return
        except ESLClosed:
            self._reject("connect_eof", writer)
            await session.close()
            return
        except (ESLProtocolError, ESLCommandError, ESLValueError) as exc:
            self.log.warning("esl: bad connect reply from %s: %s", peer, exc)
            self._reject("bad_connect", writer)
            await session.close()
            return
        try:
            session.parse_hook()
        except ValueError as exc:
            session.log.warning("esl: %s; static plan", exc)
            self._reject("bad_hook", writer)
            await session.close()
            return
        token = current_uuid.set(session.uniqueid)
        started = time.monotonic()
        self._observe("session_started", session)
        outcome, result = "ok", None
        try:
            result = await asyncio.wait_for(self._run(session), self.session_timeout)
        except KeyError:
            outcome = "unknown_route"
            session.log.warning("esl: no route %r; static plan", session.route)
        except (TimeoutError, ESLTimeout):
            outcome = "timeout"
            session.log.warning("esl: %s timed out; static plan", session.route)
        except ESLClosed:
            outcome = "hangup"
            session.log.info("esl: FreeSWITCH closed the %s session early", session.route)
        except ESLProtocolError as exc:
            outcome = "protocol_error"
            session.log.warning("esl: %s: protocol error: %s", session.route, exc)
        except asyncio.CancelledError:
            outcome = "cancelled"
        except Exception as exc:  # noqa: BLE001 - a route's failure: the dialplan takes its static plan
            outcome = "error"
            session.log.error("esl: %s failed: %s: %s; static plan", session.route, type(exc).__name__, exc)
        finally:
            self._count(outcome)
            self._observe("session_ended", session, outcome, result, time.monotonic() - started)
            await session.close()
            current_uuid.reset(token)

    async def _run(self, session: OutboundSession) -> object:
        handler = self.routes[session.route]  # KeyError → unknown_route
        await session.checked(command("myevents"))
        await session.checked(command("linger"))
        await session.checked(command("resume"))
        result = await handler(session)
        await session.set_variable(contract.HOOK_STATUS, "OK")
        arg = f"{contract.HOOK_STATUS}=OK"
        await session.wait_event(lambda e: e.get("Event-Name") == "CHANNEL_EXECUTE_COMPLETE"
                                 and e.get("Application") == "set" and e.get("Application-Data") == arg,
                                 self.complete_timeout)
        return result

    async def close(self, grace: float = 5.0) -> None:
        """Stop accepting; give sessions in flight ``grace`` seconds, then cancel them."""
        self._closing = True
        if self._server is not None:
            self._server.close()
        tasks = set(self._tasks)
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=1.0)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)

    async def __aenter__(self) -> OutboundServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close(grace=1.0)


async def serve_outbound(server: OutboundServer, *, grace: float = 10.0,
                         on_started: Callable[[OutboundServer], None] | None = None) -> OutboundServer:
    """Run ``server`` until SIGTERM or SIGINT, then drain (``grace`` seconds); a second signal cancels
    the sessions at once. Returns the server (for its :meth:`~OutboundServer.stats`)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = 0

    def on_signal(name: str) -> None:
        nonlocal signals
        signals += 1
        server.log.warning("received %s: %s", name, "cancelling sessions in flight" if signals > 1 else
                           f"no new sessions; {len(server._tasks)} in flight get {grace} s")
        if signals > 1:
            for task in list(server._tasks):
                task.cancel()
        stop.set()

    await server.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig.name)
    try:
        if on_started is not None:
            on_started(server)
        await stop.wait()
        await server.close(grace=grace)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return server


# --------------------------------------------------------------------------------------------- inbound


class InboundClient(ESLConnection):
    """A connection to FreeSWITCH's event socket. Open with :meth:`open`::

        client = await InboundClient.open("127.0.0.1", 8021, password, timeout=5)
        body = await client.api("reloadxml")          # "+OK [Success]\\n"
        await client.subscribe(["CHANNEL_HANGUP_COMPLETE"], custom=["ivr400::voicemail"])
        async for headers, body in client.iter_events(): ...
        await client.close()
    """

    @classmethod
    async def open(cls, host: str, port: int, password: str, *, timeout: float = 5.0,
                   logger: logging.Logger | None = None) -> InboundClient:
        """Connect, wait for ``auth/request``, authenticate. Raises ESLAuthError (refused; the password is
        never in the message), ESLTimeout, ESLClosed, OSError (cannot connect)."""
        auth = auth_command(password)
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, limit=MAX_HEADER_BYTES),
                                                    timeout)
        except TimeoutError:
            raise ESLTimeout(f"connect to {host}:{port}: no answer within {timeout} s") from None
        client = cls(reader, writer, command_timeout=timeout, logger=logger or logging.getLogger("ivr400.esl"),
                     peer=f"{host}:{port}")
        client._first = asyncio.get_running_loop().create_future()
        client.start()
        try:
            try:
                await asyncio.wait_for(client._first, timeout)
            except TimeoutError:
                raise ESLTimeout(f"{host}:{port}: no auth/request within {timeout} s") from None
            except ESLProtocolError:
                raise
            except ESLClosed:
                notice = client.disconnect_notice
                why = notice.body.decode(errors="replace").strip() if notice is not None else "closed"
                raise ESLAuthError(f"{host}:{port}: closed before auth/request ({why[:80]})") from None
            reply = await client.send(auth)
            if not reply.ok:
                raise ESLAuthError(f"{host}:{port}: auth refused ({reply.reply_text[:40]})")
        except BaseException:
            await client.close()
            raise
        return client

    async def api(self, cmd: str, *, timeout: float | None = None) -> str:
        """``api <cmd>``: the API's output (the ``api/response`` body, decoded). ESLCommandError when the
        body starts with ``-ERR``."""
        reply = await self.send(command(f"api {cmd}"), timeout=timeout)
        text = reply.body.decode("utf-8", errors="replace")
        if text.startswith("-ERR"):
            raise ESLCommandError(f"api {cmd.split(' ', 1)[0]}: {text.strip()[:120]}")
        return text

    async def bgapi(self, cmd: str, *, wait: float | None = None) -> tuple[str, str | None]:
        """``bgapi <cmd>``: (Job-UUID, the job's output when ``wait`` seconds are given, else None)."""
        reply = await self.checked(command(f"bgapi {cmd}"))
        job = reply.get("Job-UUID") or reply.reply_text.rpartition(" ")[2]
        if wait is None:
            return job, None
        # The event's body is its output, but decode_event keeps it apart from the headers.
        while True:
            headers, body = await self._next_event(wait)
            if headers.get("Event-Name") == "BACKGROUND_JOB" and headers.get("Job-UUID") == job:
                return job, body.decode("utf-8", errors="replace")

    async def _next_event(self, timeout: float) -> tuple[dict[str, str], bytes]:
        try:
            return await asyncio.wait_for(self.events.get(), timeout)
        except TimeoutError:
            raise ESLTimeout(f"no event within {timeout} s") from None

    async def subscribe(self, names: Iterable[str], custom: Iterable[str] = ()) -> None:
        """``event plain <names> [CUSTOM <subclasses>]`` (names checked)."""
        words = [check_name(n, "event") for n in names]
        subclasses = [check_value(c, "subclass") for c in custom]
        if subclasses:
            if any(" " in c or not c for c in subclasses):
                raise ESLValueError("subclass: empty or has a space")
            words += ["CUSTOM", *subclasses]
        await self.checked(command("event plain " + " ".join(words)))

    async def iter_events(self) -> AsyncIterator[tuple[dict[str, str], bytes]]:
        """The events as they come, until the connection closes."""
        while True:
            getter = asyncio.ensure_future(self.events.get())
            closer = asyncio.ensure_future(self._closed.wait())
            done, _ = await asyncio.wait({getter, closer}, return_when=asyncio.FIRST_COMPLETED)
            closer.cancel()
            if getter in done:
                yield getter.result()
                continue
            getter.cancel()
            while not self.events.empty():
                yield self.events.get_nowait()
            return

    async def reloadxml(self) -> None:
        """``api reloadxml``; ESLCommandError unless FreeSWITCH says ``+OK``."""
        out = await self.api("reloadxml")
        if not out.startswith("+OK"):
            raise ESLCommandError(f"reloadxml: {out.strip()[:120]}")

    async def locate_context(self, context: str) -> str:
        """``api xml_locate dialplan context name <context>``: the context's XML as FreeSWITCH has it loaded
        now, to verify a deploy (the caller looks for its extensions in it). ESLValueError for an unsafe
        context name; ESLCommandError when FreeSWITCH answers ``-ERR``."""
        check_name(context, "context")
        return await self.api(f"xml_locate dialplan context name {context}")
