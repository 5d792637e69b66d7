"""The AGI wire protocol as pure functions: no sockets, no asyncio, no state between calls.

Kept apart from the server (``fastagi.py``) so every parsing and quoting rule can be tested
with plain strings, and so the fake Asterisk used in tests speaks the very same grammar.

What Asterisk sends (res_agi.c, ``setup_env`` then ``agi_handle_command``):

* a header block of ``agi_<name>: <value>`` lines ended by one empty line;
* one reply per command: ``200 result=<r> [(<data>)] [endpos=<n>]``, ``510 Invalid or unknown
  command``, ``511 Command Not Permitted on a dead channel``, ``520 Invalid command syntax.
  Proper usage not available.`` or the multi-line form ``520-Invalid command syntax...`` followed by
  usage text and ``520 End of proper usage.``;
* an unsolicited ``HANGUP`` line when the channel hangs up (FastAGI only, unless AGISIGHUP=no).

What we send: one command per line. Asterisk reads a command with ``fgets`` into a 2048-byte buffer
(``AGI_BUF_LEN``), so a longer line is cut and **its tail is executed as a second command**, and it
splits arguments with ``parse_args``: whitespace separates, ``"`` toggles quoting, ``\\`` escapes the
next character. Hence the injection policy implemented by :func:`quote_arg` and
:func:`build_command`:

* every argument is sent double-quoted with ``\\`` and ``"`` backslash-escaped, so spaces, quotes,
  semicolons, ``${...}`` and ``$[...]`` arrive as one literal argument;
* an argument containing CR, LF or NUL is **rejected** (:class:`AGIArgumentError`, a ValueError),
  never silently stripped: a value that would break the line is a bug or an attack, and altering it
  quietly would store something nobody asked for. Callers who want lenient cleaning of free text
  (caller names) call :func:`dialplan_safe` or :func:`strip_control` first, explicitly;
* a command line longer than :data:`MAX_COMMAND_BYTES` (newline included) is rejected for the same
  reason (the tail would run as a command).

:func:`dialplan_safe` is a separate, stricter helper for values that the dialplan will later
substitute into application arguments or expressions; see its docstring.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, unquote, urlsplit

__all__ = [
    "AGI_BUF_LEN",
    "MAX_ARGS",
    "MAX_COMMAND_BYTES",
    "AGIArgumentError",
    "AGIError",
    "AGIHangup",
    "AGIProtocolError",
    "AGIRequest",
    "AGIResponse",
    "ResponseAssembler",
    "build_command",
    "dialplan_safe",
    "parse_args",
    "parse_header_line",
    "parse_request",
    "parse_response_line",
    "quote_arg",
    "strip_control",
]

#: res_agi.c reads each command with fgets() into ``char buf[AGI_BUF_LEN]``.
AGI_BUF_LEN = 2048
#: Longest command line (newline included) that Asterisk reads as one command.
MAX_COMMAND_BYTES = AGI_BUF_LEN - 1
#: res_agi.c ``MAX_ARGS``: parse_args() keeps at most MAX_ARGS - 1 words.
MAX_ARGS = 128

HANGUP_LINE = "HANGUP"

_HEADER_RE = re.compile(r"agi_([A-Za-z0-9_]+):[ ]?(.*)\Z", re.DOTALL)
_STATUS_RE = re.compile(r"([0-9]{3})([ -])(.*)\Z", re.DOTALL)
_RESULT_RE = re.compile(r"result=(\S*)\s*(.*)\Z", re.DOTALL)
_ENDPOS_RE = re.compile(r"(?:^|\s)endpos=(-?[0-9]+)\s*\Z")
_VERB_RE = re.compile(r"[A-Za-z]+(?: [A-Za-z]+)*\Z")
_FORBIDDEN_IN_ARG = ("\r", "\n", "\0")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
# Characters that mean something to the dialplan once a value is substituted into an application
# argument or an expression: variable/expression/function syntax, argument separators, Dial's '&'
# target separator, quoting and escaping, plus ';' and '`' for values that reach config files or
# SHELL(). Replacing each character (not just the '${' pair) leaves no way to rebuild the pair from
# two harmless halves.
_DIALPLAN_SPECIAL = frozenset("${}[](),&|\"'\\;`^")


class AGIError(Exception):
    """Base class of every AGI error raised by this package."""


class AGIProtocolError(AGIError):
    """The peer sent something that is not AGI (malformed line, oversize block)."""


class AGIHangup(AGIError):
    """The channel is gone: ``HANGUP`` notification, 511 reply, or the peer closed the socket."""


class AGIArgumentError(AGIError, ValueError):
    """An argument or command cannot be sent safely (line break, NUL, too long, bad verb)."""


# --------------------------------------------------------------------------- header


def parse_header_line(line: str) -> tuple[str, str]:
    """Split one header line ``agi_name: value`` into ``("name", "value")``.

    The trailing newline (``\\n`` or ``\\r\\n``) must already be removed. Raises
    :class:`AGIProtocolError` on anything else, because a peer that does not speak AGI in the
    header will not speak it afterwards either.
    """
    m = _HEADER_RE.match(line)
    if m is None:
        raise AGIProtocolError(f"malformed AGI header line: {line[:80]!r}")
    return m.group(1).lower(), m.group(2)


@dataclass(frozen=True)
class AGIRequest:
    """Where a FastAGI request is going: ``agi://host:port/ROUTE?query,arg1,arg2``."""

    route: str
    params: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)


def parse_request(headers: Mapping[str, str]) -> AGIRequest:
    """Route, query parameters and arguments from a header dict (keys without ``agi_``).

    The route comes from ``network_script`` (what Asterisk sends after the host part of the URL,
    e.g. ``incoming?hotline=4008123456``), falling back to the path of ``request``; the leading
    slash is dropped. Query values are percent-decoded, the last of repeated keys wins.
    ``arg_N`` headers become ``args`` in numeric order.
    """
    script = headers.get("network_script")
    if script is None:
        request = headers.get("request", "")
        parts = urlsplit(request)
        if parts.scheme:
            script = parts.path + ("?" + parts.query if parts.query else "")
        else:
            script = request
    path, _, query = script.partition("?")
    route = unquote(path).strip().lstrip("/")
    params = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
    numbered: list[tuple[int, str]] = []
    for key, value in headers.items():
        if key.startswith("arg_"):
            suffix = key[4:]
            if suffix.isdigit():
                numbered.append((int(suffix), value))
    args = [value for _, value in sorted(numbered)]
    return AGIRequest(route=route, params=params, args=args)


# --------------------------------------------------------------------------- responses


@dataclass(frozen=True)
class AGIResponse:
    """One reply from Asterisk.

    ``result`` is kept as the raw text after ``result=`` (GET DATA may answer ``result=`` with
    nothing); :attr:`result_int` converts it. ``data`` is the text in parentheses (or any other
    trailing text), ``endpos`` the sample offset from STREAM FILE and friends. For 510/511/520
    replies ``message`` holds the text, usage lines included for a multi-line 520.
    """

    code: int
    result: str | None = None
    data: str | None = None
    endpos: int | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.code == 200

    @property
    def result_int(self) -> int | None:
        try:
            return int(self.result) if self.result is not None else None
        except ValueError:
            return None


def parse_response_line(line: str) -> tuple[AGIResponse, bool]:
    """Parse one reply line; return ``(response, more)``.

    ``more`` is true for ``520-`` (usage text follows until ``520 End of proper usage.``).
    ``HANGUP`` raises :class:`AGIHangup`; anything that is not ``NNN<space|dash>...`` raises
    :class:`AGIProtocolError`.
    """
    if line.strip() == HANGUP_LINE:
        raise AGIHangup("HANGUP notification from Asterisk")
    m = _STATUS_RE.match(line)
    if m is None:
        raise AGIProtocolError(f"malformed AGI response line: {line[:80]!r}")
    code = int(m.group(1))
    more = m.group(2) == "-"
    rest = m.group(3)
    if code != 200 or more:
        return AGIResponse(code=code, message=rest), more
    rm = _RESULT_RE.match(rest)
    if rm is None:
        return AGIResponse(code=200, message=rest), False
    result = rm.group(1)
    tail = rm.group(2)
    endpos: int | None = None
    em = _ENDPOS_RE.search(tail)
    if em is not None:
        endpos = int(em.group(1))
        tail = tail[: em.start()].rstrip()
    data: str | None
    if tail.startswith("(") and tail.endswith(")"):
        data = tail[1:-1]
    else:
        data = tail or None
    return AGIResponse(code=200, result=result, data=data, endpos=endpos), False


class ResponseAssembler:
    """Sans-IO reader of one reply: feed lines until it returns an :class:`AGIResponse`.

    Handles the multi-line ``520-`` usage reply and bounds it (``max_lines``) so a peer cannot
    keep us reading forever. Create one per command.
    """

    def __init__(self, max_lines: int = 500) -> None:
        self._max_lines = max_lines
        self._head: AGIResponse | None = None
        self._usage: list[str] = []

    def feed(self, line: str) -> AGIResponse | None:
        line = line.rstrip("\r\n")
        if self._head is None:
            response, more = parse_response_line(line)
            if not more:
                return response
            self._head = response
            return None
        if line.startswith(f"{self._head.code} "):
            message = "\n".join([self._head.message, *self._usage, line[4:]])
            return AGIResponse(code=self._head.code, message=message)
        self._usage.append(line)
        if len(self._usage) > self._max_lines:
            raise AGIProtocolError(f"{self._head.code} usage reply longer than {self._max_lines} lines")
        return None


# --------------------------------------------------------------------------- commands


def quote_arg(value: object) -> str:
    """Quote one argument for Asterisk's ``parse_args``: ``"..."`` with ``\\`` and ``"`` escaped.

    Accepts ``str`` and ``int`` (not bool, not None: those are almost always mistakes). Raises
    :class:`AGIArgumentError` if the value holds CR, LF or NUL (see the module docstring) or is not
    encodable as UTF-8.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise AGIArgumentError(f"AGI argument must be str or int, not {type(value).__name__}")
    text = str(value)
    for ch in _FORBIDDEN_IN_ARG:
        if ch in text:
            raise AGIArgumentError(f"AGI argument contains {ch!r}; refusing to send it")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise AGIArgumentError(f"AGI argument is not valid UTF-8 text: {exc}") from None
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def build_command(verb: str, *args: object) -> bytes:
    """Encode one command line: ``VERB WORDS "arg1" "arg2"\\n`` as UTF-8.

    ``verb`` is the command name (``"SET VARIABLE"``, ``"EXEC"``), letters and single spaces only,
    sent upper-case and unquoted; each argument goes through :func:`quote_arg`. The result is
    guaranteed to be exactly one line no longer than :data:`MAX_COMMAND_BYTES`, else
    :class:`AGIArgumentError`.
    """
    if not isinstance(verb, str) or not _VERB_RE.match(verb):
        raise AGIArgumentError(f"invalid AGI command verb: {verb!r}")
    words = verb.upper().split(" ")
    if len(words) + len(args) > MAX_ARGS - 1:
        raise AGIArgumentError(f"too many AGI arguments ({len(args)})")
    line = " ".join([*words, *(quote_arg(a) for a in args)]) + "\n"
    data = line.encode("utf-8")
    if len(data) > MAX_COMMAND_BYTES:
        raise AGIArgumentError(
            f"AGI command line is {len(data)} bytes; Asterisk reads at most {MAX_COMMAND_BYTES}"
            " and would run the rest as another command"
        )
    return data


def parse_args(line: str) -> list[str]:
    """Split a command line exactly like res_agi.c ``parse_args`` (a faithful port).

    Used by the fake Asterisk and by tests to prove what Asterisk would see; the server itself
    never parses commands.
    """
    argv: list[str] = []
    cur: list[str] | None = None
    quoted = escaped = False
    for ch in line:
        if ch == '"' and not escaped:
            quoted = not quoted
            if quoted and cur is None:
                cur = []
                argv.append("")
            escaped = False
            continue
        if ch in " \t" and not quoted and not escaped:
            if cur is not None:
                argv[-1] = "".join(cur)
                cur = None
            continue
        if ch == "\\" and not escaped:
            escaped = True
            continue
        if cur is None:
            if len(argv) >= MAX_ARGS - 1:
                continue
            cur = []
            argv.append("")
        cur.append(ch)
        escaped = False
    if cur is not None:
        argv[-1] = "".join(cur)
    return argv


# --------------------------------------------------------------------------- value hygiene


def strip_control(value: str) -> str:
    """Remove ASCII control characters (CR, LF, NUL, TAB, ESC, DEL...) from free text.

    The lenient alternative to the rejection done by :func:`quote_arg`, for callers that prefer
    to keep a cleaned caller name rather than fail.
    """
    return _CONTROL_RE.sub("", value)


def dialplan_safe(value: str, *, replacement: str = "_", max_len: int | None = None) -> str:
    """Make a caller-supplied value inert for later use inside dialplan applications.

    ``SET VARIABLE`` stores its value literally: ``${SHELL(rm -rf /)}`` in a caller name is not
    evaluated when set, nor when substituted once with ``${X}`` (Asterisk does not rescan the
    substituted text). The danger comes later, when the dialplan *re-parses* the substituted text:

    * application arguments are split on ``,`` after substitution and Dial splits targets on
      ``&``: ``Dial(PJSIP/${X}@trunk)`` with ``X = "1&PJSIP/premium@trunk"`` rings an extra
      number (Asterisk's README-SERIOUSLY.bestpractices), ``X = "1,,tTwW"`` adds options;
    * ``$[ ... ${X} ... ]`` evaluates X's text as an expression, which may call dialplan functions
      (``SHELL(...)``), and ``EVAL()``, ``Exec``/``ExecIf``/``TryExec`` and AGI ``GET FULL
      VARIABLE`` evaluate ``${...}`` inside values a second time.

    This helper removes control characters and replaces every character with a dialplan meaning
    (``$ { } [ ] ( ) , & | " ' \\ ; ` ^``) by ``replacement``, so ``${`` and ``$[`` cannot appear
    nor be reassembled from two harmless halves. Letters, digits, CJK text, spaces, ``+ - . @ _ :
    / #  *`` pass. It is lossy on purpose: use it for values shown or logged by the dialplan
    (caller names, free text). For values that select a destination, do not sanitize: validate
    against an allow-list in Python (AGI decides, dialplan dials) and pass only our own tokens.
    """
    if replacement and (set(replacement) & _DIALPLAN_SPECIAL or _CONTROL_RE.search(replacement)):
        raise ValueError(f"replacement {replacement!r} is itself unsafe")
    cleaned = strip_control(value)
    out = "".join(replacement if ch in _DIALPLAN_SPECIAL else ch for ch in cleaned)
    if max_len is not None:
        out = out[:max_len]
    return out


# --------------------------------------------------------------------------- several variables at once

#: A value :func:`mset_batches` may put inside ``MSet(...)``: MSet (pbx_builtin_setvar_multiple in
#: main/pbx_variables.c) splits its data with ``AST_STANDARD_APP_ARGS`` — on ``,``, honouring ``"``
#: quotes, ``\\`` escapes and ``( ) [ ] { }`` nesting — and each pair on the first ``=``. Values made only
#: of these characters pass through unchanged; anything else is sent with its own ``SET VARIABLE``.
_MSET_VALUE_RE = re.compile(r"[A-Za-z0-9_./:@+#*=-]*\Z")
_MSET_NAME_RE = re.compile(r"[A-Za-z0-9_]+\Z")
#: ``EXEC MSet "`` + ``"\n``: what a command line adds around the batch.
_MSET_OVERHEAD = len(b'EXEC MSET ""\n')
#: Pairs per MSet: pbx_builtin_setvar_multiple parses ``AST_APP_ARG(pair)[99]`` in Asterisk 22
#: (main/pbx_variables.c) and ``[24]`` in older releases; past the limit the last pair would swallow
#: the rest with its commas, so batches stay at the older bound.
MSET_MAX_PAIRS = 24


def mset_batches(pairs: list[tuple[str, str]], *, max_bytes: int = MAX_COMMAND_BYTES,
                 max_pairs: int = MSET_MAX_PAIRS) -> list[str | tuple[str, str]]:
    """Group ``(name, value)`` pairs, in order, into as few AGI commands as Asterisk allows.

    Returns a list whose items are either a ``str`` — the data of one ``EXEC MSet "<data>"`` command,
    ``NAME=value,NAME=value,...`` — or a ``(name, value)`` pair that must go alone with ``SET VARIABLE``
    (a value outside the MSet-safe set ``A-Z a-z 0-9 _ . / : @ + # * = -``, or a name that is a
    function call). Order is kept exactly: what is set last in ``pairs`` is set last on the channel
    (the contract's ``IVR400_TARGET_COUNT``). Each MSet line fits in ``max_bytes`` (res_agi.c reads a
    command with ``fgets`` into ``AGI_BUF_LEN`` bytes) and holds at most ``max_pairs`` pairs
    (:data:`MSET_MAX_PAIRS`). An empty value is sent as ``NAME=`` and set to "" exactly as ``SET VARIABLE``
    would (``__ast_app_separate_args`` in main/app.c keeps the empty field after a trailing ``=``). Raises
    :class:`AGIArgumentError` for a single pair too long for one line.
    """
    out: list[str | tuple[str, str]] = []
    batch: list[str] = []
    size = _MSET_OVERHEAD

    def flush() -> None:
        nonlocal batch, size
        if batch:
            out.append(",".join(batch))
        batch, size = [], _MSET_OVERHEAD

    for name, value in pairs:
        if not _MSET_NAME_RE.match(name) or not _MSET_VALUE_RE.match(value):
            flush()
            out.append((name, value))
            continue
        item = f"{name}={value}"
        need = len(item.encode()) + (1 if batch else 0)
        if _MSET_OVERHEAD + len(item.encode()) > max_bytes:
            raise AGIArgumentError(f"variable {name} is too long for one AGI command")
        if size + need > max_bytes or len(batch) >= max_pairs:
            flush()
            need = len(item.encode())
        batch.append(item)
        size += need
    flush()
    return out


def parse_mset(data: str) -> list[tuple[str, str]]:
    """What ``MSet(<data>)`` sets, for data made by :func:`mset_batches` (no quotes, escapes or brackets):
    split on ``,``, each pair on its first ``=``. Used by the fake Asterisk and the tests."""
    out = []
    for item in data.split(","):
        name, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"MSet entry {item!r} has no '='")
        out.append((name, value))
    return out
