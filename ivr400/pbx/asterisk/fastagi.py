"""A small asyncio FastAGI server: routing by URL path, a timeout on every wait, graceful close.

Why we own this instead of using panoramisk's FastAGI (see docs/architecture.md): panoramisk has no timeout on
the header read nor on commands, and its header loop spins forever when the peer closes before the
blank line (``readline()`` keeps returning ``b""``). A controller that answers every call of a
hotline cannot afford either: Asterisk gives up on us after its own timeouts, and the static
fallback plan only works if we fail fast and visibly. So here:

* the header block is read under ``header_timeout`` and bounded in bytes and lines; EOF, timeout,
  an oversize or malformed header close the connection at once (counted as *rejected*);
* every command waits at most ``command_timeout`` (:class:`AGITimeout`, and the connection is closed
  because the reply stream can no longer be trusted), every session at most ``session_timeout``;
* over ``max_sessions`` connections, new ones are closed immediately so Asterisk falls back at once
  instead of queueing;
* ``close(grace)`` stops accepting, lets sessions in flight finish, then cancels the rest;
  :func:`serve` wires SIGTERM/SIGINT to it.

Routes are ``async def handler(session: AGISession) -> object`` registered by name; the route of a
request is the path of ``agi://host:port/ROUTE?k=v`` without the leading slash. This module holds no
routing logic: what a handler returns is handed, uninterpreted, to the server's ``observer`` (a
:class:`SessionObserver`, e.g. the controller's metrics), which also hears of every session's outcome
and of every rejected connection.

Logging: every line logged while a session runs (by any logger, in the session's task) can carry the
call's ``agi_uniqueid``: :data:`current_uniqueid` is set per session and :class:`UniqueidLogFilter`
puts it in ``record.uniqueid`` (``-`` outside a session) for a format such as ``[%(uniqueid)s]``.

The server signals the outcome to the dialplan in ``IVR400_AGI_STATUS``
(:data:`STATUS_VARIABLE`): ``UNKNOWN_ROUTE``, ``ERROR`` (handler raised, best effort) or ``OK`` after a
handler returned without setting the variable itself. The dialplan should treat anything but an
explicit success as "use the static fallback plan".

Argument quoting and the injection policy live in :mod:`ivr400.pbx.asterisk.agi_protocol`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import re
import signal
import time
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from types import MappingProxyType
from typing import Any, Protocol, TypedDict, Unpack

from ivr400.pbx.asterisk.agi_protocol import (
    AGIArgumentError,
    AGIError,
    AGIHangup,
    AGIProtocolError,
    AGIRequest,
    AGIResponse,
    ResponseAssembler,
    build_command,
    dialplan_safe,
    mset_batches,
    parse_header_line,
    parse_request,
    quote_arg,
    strip_control,
)

__all__ = [
    "STATUS_ERROR",
    "STATUS_OK",
    "STATUS_UNKNOWN_ROUTE",
    "STATUS_VARIABLE",
    "AGIArgumentError",
    "AGICommandError",
    "AGIError",
    "AGIHangup",
    "AGIProtocolError",
    "AGIResponse",
    "AGISession",
    "AGISessionClosed",
    "AGITimeout",
    "FastAGIServer",
    "Handler",
    "ServerOptions",
    "SessionObserver",
    "UniqueidLogFilter",
    "current_uniqueid",
    "dialplan_safe",
    "quote_arg",
    "serve",
    "strip_control",
]

#: A route handler; its return value goes to the observer as it is (None: nothing to say).
Handler = Callable[["AGISession"], Awaitable[object]]

#: The ``agi_uniqueid`` of the session whose task is running ("" outside a session, or when Asterisk
#: sent none). Set by the server at the start of each session, in that session's own task.
current_uniqueid: contextvars.ContextVar[str] = contextvars.ContextVar("ivr400_agi_uniqueid", default="")


class ServerOptions(TypedDict, total=False):
    """The tunables of :class:`FastAGIServer` (seconds, counts, bytes), for callers that pass them on."""

    header_timeout: float
    command_timeout: float
    session_timeout: float
    max_sessions: int
    max_header_bytes: int
    max_header_lines: int

#: Channel variable through which the server reports the session outcome to the dialplan.
STATUS_VARIABLE = "IVR400_AGI_STATUS"
STATUS_OK = "OK"
STATUS_ERROR = "ERROR"
STATUS_UNKNOWN_ROUTE = "UNKNOWN_ROUTE"

_DEFAULT_LOGGER = logging.getLogger(__name__)
_VARNAME_RE = re.compile(r"[A-Za-z0-9_]+(?:\([^\x00-\x1f$]*\))?\Z")
_APP_RE = re.compile(r"[A-Za-z0-9_]+\Z")
_DIGITS_RE = re.compile(r"[0-9*#A-Da-d]*\Z")
_ROUTE_RE = re.compile(r"[A-Za-z0-9_.\-/]+\Z")
#: Lines in a reply are short (GET VARIABLE values are cut at 1 KiB by Asterisk); the stream
#: buffer limit also bounds a header line sent without a newline.
_MIN_STREAM_LIMIT = 65536


class AGITimeout(AGIError, TimeoutError):
    """A command got no complete reply within its timeout; the session has been closed."""


class AGISessionClosed(AGIError):
    """The session was closed (after a timeout or protocol error); no more commands."""


class AGICommandError(AGIError):
    """A helper got a reply that is not success (510, 520, or a failure result)."""

    def __init__(self, command: str, response: AGIResponse) -> None:
        super().__init__(f"{command}: {response.code} {response.result or response.message!s}".strip())
        self.command = command
        self.response = response


class _SessionLog(logging.LoggerAdapter[logging.Logger]):
    """Adds ``uniqueid`` (the call's ``agi_uniqueid``, or ``peer host:port`` when Asterisk sent none)
    to each record; :class:`UniqueidLogFilter` gives every other record of the session the same field."""

    def process(self, msg: object, kwargs: MutableMapping[str, Any]) -> tuple[object, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **kwargs.get("extra", {})}
        return msg, kwargs


class UniqueidLogFilter(logging.Filter):
    """Sets ``record.uniqueid`` from :data:`current_uniqueid` (``-`` outside a session) unless the record
    already has one. Attach it to a handler and log with a format holding ``%(uniqueid)s``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "uniqueid", None):
            record.uniqueid = current_uniqueid.get() or "-"
        return True


class SessionObserver(Protocol):
    """What the server reports, from its event loop; an observer must not block and should not raise
    (an exception is logged and otherwise ignored).

    ``session_ended`` outcomes: ``ok`` (the handler returned), ``hangup`` (the caller hung up),
    ``unknown_route``, ``error`` (the handler raised), ``timeout`` (a command or the session timed out),
    ``protocol_error``, ``cancelled`` (server closing). ``result`` is what the handler returned (None
    when it did not return). ``seconds``: from the end of the request header to the end of the session.
    ``rejected`` reasons: ``capacity``, ``closing``, ``header_timeout``, ``header_eof`` (closed within the
    header), ``bad_header``, ``no_request`` (closed before sending a byte: a port probe, not Asterisk).
    """

    def session_started(self, session: AGISession) -> None: ...

    def session_ended(self, session: AGISession, outcome: str, result: object, seconds: float) -> None: ...

    def rejected(self, reason: str) -> None: ...


# --------------------------------------------------------------------------- session


class AGISession:
    """One FastAGI conversation with Asterisk, handed to a route handler.

    Commands are serialised (a lock), so a handler may ``gather`` them safely. Any command that does
    not end with a complete reply (timeout, cancellation, garbage) closes the connection: after that
    the reply stream is out of step with the commands and nothing it says can be trusted.
    """

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        headers: Mapping[str, str],
        request: AGIRequest,
        *,
        command_timeout: float,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
        peer: str = "",
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._headers: Mapping[str, str] = MappingProxyType(dict(headers))
        self._request = request
        self._command_timeout = command_timeout
        self._lock = asyncio.Lock()
        self._hungup = False
        self._closed = False
        self._status_set = False
        self.peer = peer
        self.log = _SessionLog(logger if isinstance(logger, logging.Logger) else logger.logger,
                               {"uniqueid": self.uniqueid or f"peer {peer}"})

    # ---- request data
    @property
    def headers(self) -> Mapping[str, str]:
        """All header values, keys without the ``agi_`` prefix (``channel``, ``callerid``...)."""
        return self._headers

    @property
    def channel(self) -> str:
        return self._headers.get("channel", "")

    @property
    def uniqueid(self) -> str:
        return self._headers.get("uniqueid", "")

    @property
    def callerid(self) -> str:
        """Raw caller number as Asterisk sent it (``unknown`` when absent; normalise elsewhere)."""
        return self._headers.get("callerid", "")

    @property
    def calleridname(self) -> str:
        return self._headers.get("calleridname", "")

    @property
    def dnid(self) -> str:
        return self._headers.get("dnid", "")

    @property
    def extension(self) -> str:
        return self._headers.get("extension", "")

    @property
    def context(self) -> str:
        return self._headers.get("context", "")

    @property
    def route(self) -> str:
        return self._request.route

    @property
    def params(self) -> Mapping[str, str]:
        """Query string of the AGI URL, percent-decoded."""
        return self._request.params

    @property
    def args(self) -> list[str]:
        """``agi_arg_1..N`` in order."""
        return self._request.args

    @property
    def hungup(self) -> bool:
        return self._hungup

    @property
    def closed(self) -> bool:
        return self._closed

    # ---- the one primitive
    async def command(self, verb: str, *args: str | int, timeout: float | None = None) -> AGIResponse:
        """Send ``VERB "arg"...`` and return the reply.

        Returns 200, 510 and 520 replies as they are. Raises :class:`AGIHangup` on a ``HANGUP``
        notification, a 511 reply or EOF; :class:`AGITimeout` if no complete reply arrives within
        ``timeout`` (default ``command_timeout``); :class:`AGIArgumentError` (a ValueError) before
        sending anything if an argument is unsafe (see ``agi_protocol``).
        """
        line = build_command(verb, *args)
        verb_up = verb.upper()
        async with self._lock:
            if self._hungup:
                raise AGIHangup(f"{verb_up}: channel already hung up")
            if self._closed:
                raise AGISessionClosed(f"{verb_up}: session is closed")
            limit = self._command_timeout if timeout is None else timeout
            complete = False
            cm = asyncio.timeout(limit)
            try:
                async with cm:
                    if self.log.isEnabledFor(logging.DEBUG):
                        self.log.debug("-> %s", line.decode("utf-8", "replace").rstrip("\n"))
                    self._writer.write(line)
                    await self._writer.drain()
                    response = await self._read_response()
                complete = True
            except TimeoutError:
                if not cm.expired():
                    raise
                self.log.warning("%s: no reply within %.3fs; closing the session", verb_up, limit)
                raise AGITimeout(f"{verb_up}: no reply within {limit:.3f}s") from None
            except AGIHangup:
                self._hungup = True
                self.log.info("%s: channel hung up (HANGUP notification)", verb_up)
                raise
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                self._hungup = True
                self.log.info("%s: connection closed by Asterisk", verb_up)
                raise AGIHangup(f"{verb_up}: connection closed by peer") from exc
            except AGIProtocolError as exc:
                self.log.warning("%s: protocol error: %s", verb_up, exc)
                raise
            finally:
                if not complete:
                    self.close()
        self.log.debug("<- %r", response)
        if response.code == 511:
            self._hungup = True
            raise AGIHangup(f"{verb_up}: 511 {response.message}")
        if verb_up == "SET VARIABLE" and args and str(args[0]) == STATUS_VARIABLE and response.ok:
            self._status_set = True
        return response

    async def _read_response(self) -> AGIResponse:
        assembler = ResponseAssembler()
        while True:
            raw = await _read_line(self._reader)
            response = assembler.feed(raw.decode("utf-8", "replace"))
            if response is not None:
                return response

    def close(self) -> None:
        """Close the connection now (Asterisk then ends the AGI with AGISTATUS=SUCCESS)."""
        if not self._closed:
            self._closed = True
            with contextlib.suppress(Exception):
                self._writer.close()

    # ---- helpers
    async def _checked(self, verb: str, *args: str | int, minus_one_fails: bool = True) -> AGIResponse:
        response = await self.command(verb, *args)
        if not response.ok or (minus_one_fails and response.result == "-1"):
            raise AGICommandError(verb.upper(), response)
        return response

    async def get_variable(self, name: str) -> str | None:
        """Value of a channel variable or dialplan function, ``None`` if unset. Not re-evaluated."""
        _check_varname(name)
        response = await self._checked("GET VARIABLE", name)
        if response.result == "1":
            return response.data if response.data is not None else ""
        return None

    async def set_variable(self, name: str, value: str | int) -> None:
        """Set a channel variable. Asterisk stores the value literally (``${...}`` is not evaluated).

        Raises :class:`AGIArgumentError` if ``value`` holds CR/LF/NUL or the line would be too long;
        clean free text first with :func:`dialplan_safe` or :func:`strip_control` if you prefer that.
        """
        _check_varname(name)
        await self._checked("SET VARIABLE", name, value)

    async def set_variables(self, pairs: list[tuple[str, str]]) -> None:
        """Set several channel variables in order, in as few round trips as Asterisk allows: one
        ``EXEC MSet "A=1,B=2,..."`` per batch of MSet-safe values (:func:`agi_protocol.mset_batches`), a
        ``SET VARIABLE`` for any other value. One round trip instead of one per variable is what a
        department decision costs Asterisk (issue 11). Values are stored literally either way. Raises
        :class:`AGICommandError` if Asterisk refuses a command (``result=-2``: no MSet application)."""
        for item in mset_batches(pairs):
            if isinstance(item, tuple):
                await self.set_variable(*item)
                continue
            response = await self._checked("EXEC", "MSet", item, minus_one_fails=False)
            if response.result not in ("0", None):
                raise AGICommandError("EXEC MSET", response)

    async def verbose(self, message: str, level: int = 1) -> None:
        """Write to the Asterisk console/log at ``level`` (1-4)."""
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= 4:
            raise AGIArgumentError(f"verbose level must be 1..4, not {level!r}")
        await self._checked("VERBOSE", message, level)

    async def exec(self, app: str, *args: str | int) -> AGIResponse:
        """Run a dialplan application: ``EXEC app "arg1,arg2"``.

        Asterisk's EXEC takes the application data as one argument, so ``args`` are joined with
        ``,`` as inside ``App(...)``. The line is injection-safe, but the application then parses
        its data its own way (``,`` splits arguments, Dial splits ``&``): never pass caller text
        unfiltered (:func:`dialplan_safe`). Returns the reply: ``result`` is the application's
        return value (``-2``: no such application); raises only on a non-200 reply.
        """
        if not _APP_RE.match(app):
            raise AGIArgumentError(f"invalid application name: {app!r}")
        if args:
            return await self._checked("EXEC", app, ",".join(str(a) for a in args), minus_one_fails=False)
        return await self._checked("EXEC", app, minus_one_fails=False)

    async def answer(self) -> None:
        await self._checked("ANSWER")

    async def stream_file(self, filename: str, escape_digits: str = "", offset: int | None = None) -> AGIResponse:
        """Play a file; ``result`` is the ASCII code of the digit pressed, 0, or -1 (file missing or
        channel gone). Prefer letting the dialplan play prompts (AGI decides, dialplan dials)."""
        if not _DIGITS_RE.match(escape_digits):
            raise AGIArgumentError(f"invalid escape digits: {escape_digits!r}")
        if offset is None:
            return await self._checked("STREAM FILE", filename, escape_digits, minus_one_fails=False)
        return await self._checked("STREAM FILE", filename, escape_digits, int(offset), minus_one_fails=False)

    async def hangup(self, channel: str | None = None) -> None:
        """Hang up the channel (or ``channel``); no further command is sent on this session."""
        if channel is None:
            await self._checked("HANGUP")
            self._hungup = True
        else:
            await self._checked("HANGUP", channel)


def _check_varname(name: str) -> None:
    if not isinstance(name, str) or not _VARNAME_RE.match(name):
        raise AGIArgumentError(f"invalid channel variable name: {name!r}")


async def _read_line(reader: asyncio.StreamReader) -> bytes:
    """One ``\\n``-terminated line. EOF (even mid-line) raises IncompleteReadError: never loops."""
    try:
        return await reader.readuntil(b"\n")
    except asyncio.LimitOverrunError as exc:
        raise AGIProtocolError(f"line longer than {exc.consumed} bytes") from None


# --------------------------------------------------------------------------- server


class _Rejected(Exception):
    """Header phase failed; the connection is closed and counted as rejected.
    Arguments: message, log level, reason code (see :class:`SessionObserver`)."""


class FastAGIServer:
    """FastAGI server. Usage: ``async with FastAGIServer(routes, port=0) as srv: ...`` or
    ``await srv.start(); await srv.serve_forever()``; see :func:`serve` for a signal-aware runner.

    Counters: ``sessions_started`` (a valid header was read), ``sessions_completed`` (handler
    returned, or the caller hung up), ``sessions_failed`` (handler raised, timeouts, protocol
    errors, cancelled at close), ``sessions_rejected`` (over capacity, or header EOF/timeout/
    oversize/malformed), ``active`` (open connections, header phase included: what
    ``max_sessions`` bounds).
    """

    def __init__(
        self,
        routes: Mapping[str, Handler],
        host: str = "127.0.0.1",
        port: int = 4573,
        *,
        header_timeout: float = 2.0,
        command_timeout: float = 2.0,
        session_timeout: float = 30.0,
        max_sessions: int = 500,
        max_header_bytes: int = 16384,
        max_header_lines: int = 200,
        logger: logging.Logger | None = None,
        observer: SessionObserver | None = None,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be >= 1")
        self._routes: dict[str, Handler] = {}
        for name, handler in routes.items():
            self.add_route(name, handler)
        self.host = host
        self._requested_port = port
        self.header_timeout = header_timeout
        self.command_timeout = command_timeout
        self.session_timeout = session_timeout
        self.max_sessions = max_sessions
        self.max_header_bytes = max_header_bytes
        self.max_header_lines = max_header_lines
        self.log = logger or _DEFAULT_LOGGER
        self.observer = observer
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._close_task: asyncio.Future[None] | None = None
        self._closed_event = asyncio.Event()
        self.sessions_started = 0
        self.sessions_completed = 0
        self.sessions_rejected = 0
        self.sessions_failed = 0
        self.active = 0
        #: Header lines read in total; a diagnostic that also proves the header loop cannot spin.
        self.header_lines_read = 0

    # ---- routes
    @property
    def routes(self) -> Mapping[str, Handler]:
        return MappingProxyType(self._routes)

    def add_route(self, name: str, handler: Handler) -> None:
        """Register ``handler`` for ``agi://host:port/<name>``."""
        name = name.lstrip("/")
        if not _ROUTE_RE.match(name):
            raise ValueError(f"invalid AGI route name: {name!r}")
        if not callable(handler):
            raise TypeError(f"handler for route {name!r} is not callable")
        self._routes[name] = handler

    # ---- lifecycle
    async def start(self) -> None:
        if self._server is not None:
            return
        self._server = await asyncio.start_server(
            self._on_connect,
            self.host,
            self._requested_port,
            limit=max(_MIN_STREAM_LIMIT, self.max_header_bytes + 2),
            backlog=max(100, min(self.max_sessions, 4096)),
        )
        self.log.info("FastAGI listening on %s:%d (%d routes)", self.host, self.port, len(self._routes))

    @property
    def sockets(self) -> tuple[Any, ...]:
        return tuple(self._server.sockets) if self._server is not None else ()

    @property
    def port(self) -> int:
        """The bound port (useful with ``port=0``)."""
        for sock in self.sockets:
            return int(sock.getsockname()[1])
        return self._requested_port

    @property
    def closing(self) -> bool:
        return self._close_task is not None

    def stats(self) -> dict[str, int]:
        return {
            "sessions_started": self.sessions_started,
            "sessions_completed": self.sessions_completed,
            "sessions_rejected": self.sessions_rejected,
            "sessions_failed": self.sessions_failed,
            "active": self.active,
            "header_lines_read": self.header_lines_read,
        }

    async def serve_forever(self) -> None:
        """Serve until :meth:`close` has finished. If cancelled, close without grace."""
        await self.start()
        try:
            await self._closed_event.wait()
        except asyncio.CancelledError:
            await asyncio.shield(self.close(grace=0.0))
            raise

    async def close(self, grace: float = 10.0) -> None:
        """Stop accepting, wait up to ``grace`` seconds for sessions in flight, cancel the rest.

        A second call while closing waits for the first; with ``grace <= 0`` it cancels the
        remaining sessions at once (a second SIGTERM).
        """
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._close(grace))
        elif grace <= 0:
            self._cancel_sessions()
        await asyncio.shield(self._close_task)

    async def _close(self, grace: float) -> None:
        if self._server is not None:
            self._server.close()
        pending = set(self._tasks)
        if pending:
            self.log.info("closing: waiting up to %.1fs for %d session(s)", grace, len(pending))
            _done, pending = await asyncio.wait(pending, timeout=max(grace, 0.0))
        if pending:
            self.log.warning("closing: cancelling %d session(s) after grace", len(pending))
            self._cancel_sessions()
            await asyncio.wait(pending, timeout=5.0)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=5.0)
        self.log.info("FastAGI closed: %s", self.stats())
        self._closed_event.set()

    def _cancel_sessions(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def __aenter__(self) -> FastAGIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- connections
    def _on_connect(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Plain callback: the work runs in a task we own, so close() can wait for and cancel it
        (and Python 3.11's start_server mishandles a cancelled callback task)."""
        peer = _peer_name(writer)
        if self.closing or self.active >= self.max_sessions:
            self.sessions_rejected += 1
            self.log.warning("[peer %s] rejected: %s", peer,
                             "server closing" if self.closing else f"{self.active} sessions (max {self.max_sessions})")
            self._notify("rejected", "closing" if self.closing else "capacity")
            writer.transport.abort()
            return
        self.active += 1
        task = asyncio.get_running_loop().create_task(self._connection(reader, writer, peer))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.active -= 1
        if not task.cancelled() and task.exception() is not None:
            self.log.error("FastAGI connection task crashed", exc_info=task.exception())

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str) -> None:
        try:
            try:
                headers = await self._read_header(reader, peer)
            except _Rejected as exc:
                self.sessions_rejected += 1
                self.log.log(exc.args[1], "[peer %s] rejected: %s", peer, exc.args[0])
                self._notify("rejected", exc.args[2])
                return
            await self._run_session(reader, writer, headers, peer)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), timeout=1.0)

    async def _read_header(self, reader: asyncio.StreamReader, peer: str) -> dict[str, str]:
        headers: dict[str, str] = {}
        size = lines = 0
        try:
            async with asyncio.timeout(self.header_timeout):
                while True:
                    raw = await _read_line(reader)
                    self.header_lines_read += 1
                    size += len(raw)
                    lines += 1
                    if size > self.max_header_bytes:
                        raise _Rejected(f"header larger than {self.max_header_bytes} bytes", logging.WARNING,
                                        "bad_header")
                    if lines > self.max_header_lines + 1:
                        raise _Rejected(f"header longer than {self.max_header_lines} lines", logging.WARNING,
                                        "bad_header")
                    text = raw.decode("utf-8", "replace").rstrip("\r\n")
                    if not text:
                        if not headers:
                            raise _Rejected("empty header", logging.WARNING, "bad_header")
                        return headers
                    key, value = parse_header_line(text)
                    headers[key] = value
        except TimeoutError:
            raise _Rejected(f"no complete header within {self.header_timeout:.3f}s", logging.WARNING,
                            "header_timeout") from None
        except asyncio.IncompleteReadError as exc:
            if lines == 0 and not exc.partial:  # a port probe (Asterisk sends its header at once)
                raise _Rejected("peer closed without sending anything", logging.DEBUG, "no_request") from None
            raise _Rejected(f"peer closed during the header after {lines} line(s)", logging.INFO,
                            "header_eof") from None
        except AGIProtocolError as exc:
            raise _Rejected(str(exc), logging.WARNING, "bad_header") from None
        except ConnectionError as exc:
            raise _Rejected(f"connection error during the header: {exc}", logging.INFO, "header_eof") from None

    async def _run_session(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, headers: dict[str, str], peer: str
    ) -> None:
        request = parse_request(headers)
        session = AGISession(reader, writer, headers, request, command_timeout=self.command_timeout,
                             logger=self.log, peer=peer)
        current_uniqueid.set(session.uniqueid)  # this connection's own task: nothing leaks to others
        log = session.log
        self.sessions_started += 1
        handler = self._routes.get(request.route)
        log.debug("session start: route=%r channel=%r", request.route, session.channel)
        self._notify("session_started", session)
        started = time.perf_counter()
        outcome, result = "ok", None
        cm = asyncio.timeout(self.session_timeout)
        try:
            async with cm:
                if handler is None:
                    outcome = "unknown_route"
                    log.warning("unknown AGI route %r (channel %s)", request.route, session.channel)
                    await session.set_variable(STATUS_VARIABLE, STATUS_UNKNOWN_ROUTE)
                else:
                    result = await handler(session)
                    if not (session._status_set or session.hungup or session.closed):
                        await session.set_variable(STATUS_VARIABLE, STATUS_OK)
        except AGIHangup:
            outcome = "hangup"
            self.sessions_completed += 1
            log.info("caller hung up during route %r", request.route)
        except asyncio.CancelledError:
            outcome = "cancelled"
            self.sessions_failed += 1
            log.warning("session cancelled (server closing) in route %r", request.route)
            raise
        except TimeoutError as exc:
            outcome = "timeout"
            self.sessions_failed += 1
            if cm.expired() and not isinstance(exc, AGITimeout):
                log.warning("session exceeded %.1fs in route %r; closing", self.session_timeout, request.route)
            elif isinstance(exc, AGITimeout):
                log.warning("route %r: %s", request.route, exc)
            else:
                outcome = "error"
                log.exception("route %r raised", request.route)
                await self._report_error(session)
        except (AGISessionClosed, AGIProtocolError) as exc:
            outcome = "protocol_error"
            self.sessions_failed += 1
            log.warning("route %r: %s", request.route, exc)
        except Exception:
            outcome = "error"
            self.sessions_failed += 1
            log.exception("route %r raised", request.route)
            await self._report_error(session)
        else:
            self.sessions_completed += 1
            log.debug("session done: route=%r", request.route)
        finally:
            session.close()
            self._notify("session_ended", session, outcome, result, time.perf_counter() - started)

    def _notify(self, event: str, *args: Any) -> None:  # noqa: ANN401
        """Tell the observer; its failures are logged, never raised into the session."""
        if self.observer is None:
            return
        try:
            getattr(self.observer, event)(*args)
        except Exception:  # noqa: BLE001 - an observer bug must not cost a call
            self.log.exception("session observer failed on %s", event)

    async def _report_error(self, session: AGISession) -> None:
        """Best effort: tell the dialplan to use its fallback plan."""
        if session.hungup or session.closed:
            return
        with contextlib.suppress(AGIError):
            await session.set_variable(STATUS_VARIABLE, STATUS_ERROR)


def _peer_name(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)


# --------------------------------------------------------------------------- runner


async def serve(
    routes: Mapping[str, Handler],
    host: str = "127.0.0.1",
    port: int = 4573,
    *,
    grace: float = 10.0,
    on_started: Callable[[FastAGIServer], None] | None = None,
    logger: logging.Logger | None = None,
    observer: SessionObserver | None = None,
    **options: Unpack[ServerOptions],
) -> FastAGIServer:
    """Run a :class:`FastAGIServer` until SIGTERM/SIGINT, then close it gracefully.

    The first signal stops accepting and gives sessions in flight ``grace`` seconds; a second
    signal cancels them at once. Returns the (closed) server so callers can log its counters.
    ``observer`` and ``options`` are passed to :class:`FastAGIServer`.
    """
    server = FastAGIServer(routes, host, port, logger=logger, observer=observer, **options)
    await server.start()
    loop = asyncio.get_running_loop()
    closers: set[asyncio.Task[None]] = set()

    def on_signal(signame: str) -> None:
        again = server.closing
        server.log.info("received %s: %s", signame,
                        "cancelling sessions in flight" if again else f"closing gracefully (grace {grace:.1f}s)")
        task = loop.create_task(server.close(0.0 if again else grace))
        closers.add(task)
        task.add_done_callback(closers.discard)

    installed: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, on_signal, sig.name)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):  # not main thread / not Unix
            server.log.debug("cannot install a handler for %s", sig.name)
    try:
        if on_started is not None:
            on_started(server)
        await server.serve_forever()
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return server
