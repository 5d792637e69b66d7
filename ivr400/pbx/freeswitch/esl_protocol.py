"""The FreeSWITCH event socket (ESL) wire format as pure functions: no sockets, no clock.

What it mirrors (FreeSWITCH ``src/mod/event_handlers/mod_event_socket/mod_event_socket.c``):

* **A frame** is a header block — ``Name: value`` lines ending with an empty line (``read_packet`` accepts
  ``\\n`` and ``\\r\\n``; it splits each line at the first ``:`` and drops the spaces after it) — then, when
  the block has ``Content-Length: N``, exactly N bytes of body. FreeSWITCH sends ``Content-Type`` to say
  what a frame is: ``auth/request`` (inbound socket, before ``auth``), ``command/reply`` (``Reply-Text:
  +OK ...`` / ``-ERR ...``; a ``bgapi`` reply also carries ``Job-UUID``), ``api/response`` (the body is
  the API's output), ``text/event-plain`` (the body is an event: its own header block with URL-encoded
  values, and its own ``Content-Length`` body when the event has one, e.g. ``BACKGROUND_JOB``),
  ``text/disconnect-notice`` (the socket is about to close; ``Content-Disposition: linger`` when it will
  linger) and ``text/rude-rejection`` (refused by the ACL).
* **The outbound socket's ``connect``** is answered with a whole ``CHANNEL_DATA`` event serialised the way
  ``switch_event_serialize(..., SWITCH_TRUE)`` does it — the channel's headers and ``variable_*`` with
  URL-encoded values, then ``Content-Type: command/reply``, ``Reply-Text: %2BOK%0A``, ``Socket-Mode``,
  ``Control`` — as one header block (``parse_command``, ``connect`` branch).
* **Commands** we send are a first line (``api status``, ``sendmsg``), optional ``name: value`` header lines
  and an empty line. ``read_packet`` turns each header line into an event header, so a line break inside a
  value would become a header of its own: :func:`command` refuses one, and :func:`check_value` refuses
  anything FreeSWITCH would expand (``$``, ``{``, ``}``, ``\\``: the ``set`` application's data goes through
  ``switch_channel_expand_variables``, where ``${api ...}`` runs an API command) or quote.

Limits: ``read_packet`` grows its header buffer up to 10 MiB (``max_len = 10485760``) and then cuts the block;
we are stricter — :data:`MAX_HEADER_BYTES` for a header block and :data:`MAX_BODY_BYTES` for a body — and a
frame over either is an :class:`ESLProtocolError` (the connection is then closed: the stream is out of step).
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, unquote

__all__ = [
    "AUTH_REQUEST",
    "API_RESPONSE",
    "COMMAND_REPLY",
    "DISCONNECT_NOTICE",
    "EVENT_PLAIN",
    "MAX_BODY_BYTES",
    "MAX_HEADER_BYTES",
    "RUDE_REJECTION",
    "ESLProtocolError",
    "ESLValueError",
    "Frame",
    "auth_command",
    "check_name",
    "check_value",
    "command",
    "content_length",
    "decode_event",
    "encode_event",
    "encode_frame",
    "parse_header_block",
    "sendmsg_execute",
    "set_variable",
]

AUTH_REQUEST = "auth/request"
COMMAND_REPLY = "command/reply"
API_RESPONSE = "api/response"
EVENT_PLAIN = "text/event-plain"
DISCONNECT_NOTICE = "text/disconnect-notice"
RUDE_REJECTION = "text/rude-rejection"

#: Largest header block we read (bytes, blank line included). A CHANNEL_DATA reply with every channel
#: variable is a few KiB; 64 KiB leaves room for long dialplans' variables.
MAX_HEADER_BYTES = 64 * 1024
#: Largest body we read (bytes): an event with a large body, ``api xml_locate`` output.
MAX_BODY_BYTES = 4 * 1024 * 1024
#: Longest value we put in a command (bytes).
MAX_VALUE_BYTES = 1024

_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
#: Printable ASCII without what FreeSWITCH expands ($ { } \) or a shell/XML might quote (' " `).
_VALUE = re.compile(r"[\x20-\x7e]*")
_FORBIDDEN = frozenset("${}\\'\"`")
_HEADER_NAME = re.compile(r"[!-9;-~]{1,256}")  # printable ASCII but space and ":"


class ESLProtocolError(ValueError):
    """A frame that cannot be read: oversize, truncated, a bad Content-Length, a header line without ``:``."""


class ESLValueError(ValueError):
    """A value or name that must not be put in a command (``NAME: reason``)."""


@dataclass(frozen=True)
class Frame:
    """One frame from FreeSWITCH: ``headers`` in order (names as sent; look them up with :meth:`get`,
    case-insensitively) and ``body`` (bytes, ``b""`` when there is none)."""

    headers: tuple[tuple[str, str], ...]
    body: bytes = b""
    _index: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        for name, value in self.headers:
            self._index.setdefault(name.lower(), value)

    def get(self, name: str, default: str = "") -> str:
        """The first value of header ``name`` (case-insensitive), else ``default``."""
        return self._index.get(name.lower(), default)

    @property
    def content_type(self) -> str:
        return self.get("Content-Type")

    @property
    def reply_text(self) -> str:
        """``Reply-Text`` of a command reply (URL-decoded for the ``connect`` reply, which is an event)."""
        text = self.get("Reply-Text")
        return unquote(text).strip() if "%" in text else text.strip()

    @property
    def ok(self) -> bool:
        """A ``command/reply`` whose Reply-Text starts with ``+OK`` (an api/response body starting with it)."""
        if self.content_type == API_RESPONSE:
            return self.body.startswith(b"+OK")
        return self.reply_text.startswith("+OK")

    def decoded(self) -> dict[str, str]:
        """The headers as a dict with URL-decoded values (for the ``connect`` reply: channel data)."""
        return {name: unquote(value) for name, value in self.headers}


def parse_header_block(block: bytes) -> tuple[tuple[str, str], ...]:
    """``Name: value`` lines (``\\n`` or ``\\r\\n``, blank lines ignored) → ordered pairs, values as sent.
    Raises ESLProtocolError for a line without ``:``, a bad header name, or bytes that are not UTF-8."""
    try:
        text = block.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ESLProtocolError(f"header block: not UTF-8 at byte {exc.start}") from None
    out: list[tuple[str, str]] = []
    for raw in text.split("\n"):
        line = raw.rstrip("\r")
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep or not _HEADER_NAME.fullmatch(name):
            raise ESLProtocolError(f"header line {line[:60]!r}: not 'Name: value'")
        out.append((name, value.lstrip(" ")))
    return tuple(out)


def content_length(headers: Iterable[tuple[str, str]], limit: int = MAX_BODY_BYTES) -> int:
    """The ``Content-Length`` of a header block (0 when absent). Raises ESLProtocolError when it is not a
    decimal number or exceeds ``limit`` bytes."""
    for name, value in headers:
        if name.lower() == "content-length":
            if not value.isdigit():
                raise ESLProtocolError(f"Content-Length: {value[:20]!r} is not a number")
            length = int(value)
            if length > limit:
                raise ESLProtocolError(f"Content-Length: {length} bytes is over the {limit}-byte limit")
            return length
    return 0


def decode_event(body: bytes, limit: int = MAX_BODY_BYTES) -> tuple[dict[str, str], bytes]:
    """A ``text/event-plain`` body → (headers with URL-decoded values, the event's own body).

    The event's headers end at its first blank line; its own ``Content-Length`` body follows. Raises
    ESLProtocolError when the event is truncated or its body is not as long as it says."""
    head, sep, rest = body.partition(b"\n\n")
    if not sep:
        if body.endswith(b"\n"):  # an event with no body ends with one newline after its last header
            head, rest = body, b""
        else:
            raise ESLProtocolError("event: header block not terminated")
    pairs = parse_header_block(head)
    length = content_length(pairs, limit)
    if len(rest) != length:
        raise ESLProtocolError(f"event: body is {len(rest)} bytes, Content-Length says {length}")
    return {name: unquote(value) for name, value in pairs}, rest


def encode_event(headers: Iterable[tuple[str, str]], body: bytes = b"") -> bytes:
    """An event serialised as FreeSWITCH does (``switch_event_serialize`` with URL-encoded values):
    ``Name: value`` lines, then ``Content-Length`` and the body, else one blank line. For fakes and tests."""
    lines = [f"{name}: {quote(value, safe='')}\n" for name, value in headers]
    if body:
        return ("".join(lines) + f"Content-Length: {len(body)}\n\n").encode() + body
    return ("".join(lines) + "\n").encode()


def encode_frame(headers: Iterable[tuple[str, str]], body: bytes = b"") -> bytes:
    """A frame as FreeSWITCH sends it: headers (``Content-Length`` added when there is a body), blank line,
    body. Values are written as given (FreeSWITCH does not encode ``command/reply`` headers)."""
    pairs = list(headers)
    if body and not any(n.lower() == "content-length" for n, _ in pairs):
        pairs.append(("Content-Length", str(len(body))))
    return ("".join(f"{n}: {v}\n" for n, v in pairs) + "\n").encode() + body


def check_name(name: str, what: str = "name") -> str:
    """A channel-variable or application name: 1-64 of ``A-Z a-z 0-9 _ . -``. Raises ESLValueError."""
    if not _NAME.fullmatch(name):
        raise ESLValueError(f"{what}: {name[:40]!r} is not a safe name")
    return name


def check_value(value: str, what: str = "value") -> str:
    """A value for a command header: printable ASCII (space allowed), at most :data:`MAX_VALUE_BYTES`,
    without ``$ { } \\ ' " ` `` (FreeSWITCH expands ``${...}`` in application data) and without a line
    break (which would start a header of its own). Raises ESLValueError naming ``what``."""
    if len(value) > MAX_VALUE_BYTES:
        raise ESLValueError(f"{what}: {len(value)} characters is over the {MAX_VALUE_BYTES}-character limit")
    if not _VALUE.fullmatch(value):
        raise ESLValueError(f"{what}: {value[:40]!r} has a line break, a control or a non-ASCII character")
    bad = _FORBIDDEN.intersection(value)
    if bad:
        raise ESLValueError(f"{what}: {value[:40]!r} contains {''.join(sorted(bad))!r}, which FreeSWITCH "
                            "would expand or a quote")
    return value


def command(line: str, headers: Mapping[str, str] | Iterable[tuple[str, str]] = ()) -> bytes:
    """A command frame: ``line``, then ``name: value`` headers, then a blank line.

    ``line`` and every header value are checked with :func:`check_value` (one line of printable ASCII,
    nothing FreeSWITCH expands), header names with :func:`check_name`; ESLValueError otherwise. ``auth``
    has its own builder (:func:`auth_command`): a password may hold characters a value may not."""
    check_value(line, "command")
    if not line.strip():
        raise ESLValueError("command: empty")
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    out = [line]
    for name, value in pairs:
        out.append(f"{check_name(name, 'header')}: {check_value(value, name)}")
    return ("\n".join(out) + "\n\n").encode("ascii")


def auth_command(password: str) -> bytes:
    """``auth <password>``: the password may hold any printable ASCII but no line break or space at either
    end (FreeSWITCH compares the rest of the line). Raises ESLValueError("password: ...") without echoing it."""
    if not password or not re.fullmatch(r"[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?", password):
        raise ESLValueError("password: empty, or has a line break, a control or non-ASCII character, or an "
                            "outer space")
    return f"auth {password}\n\n".encode("ascii")


def sendmsg_execute(app: str, arg: str, *, uuid: str = "", event_lock: bool = True) -> bytes:
    """``sendmsg [uuid]`` with ``call-command: execute``, ``execute-app-name``, ``execute-app-arg`` and
    ``event-lock: true`` (the channel runs the queued applications one after the other, in order).
    Raises ESLValueError for an unsafe application name, argument or uuid."""
    if uuid and not re.fullmatch(r"[A-Za-z0-9-]{1,64}", uuid):
        raise ESLValueError(f"uuid: {uuid[:40]!r} is not a channel uuid")
    headers = [("call-command", "execute"), ("execute-app-name", check_name(app, "application")),
               ("execute-app-arg", check_value(arg, f"{app} argument"))]
    if event_lock:
        headers.append(("event-lock", "true"))
    return command(f"sendmsg {uuid}".rstrip(), headers)


def set_variable(name: str, value: str, *, uuid: str = "") -> bytes:
    """``sendmsg`` executing ``set`` ``NAME=value`` (both checked: ESLValueError names the variable)."""
    check_name(name, "variable")
    check_value(value, name)
    return sendmsg_execute("set", f"{name}={value}", uuid=uuid)
