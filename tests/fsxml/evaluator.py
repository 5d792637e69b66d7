"""Our evaluator of a FreeSWITCH XML dialplan, as ``mod_dialplan_xml`` hunts it and ``mod_dptools`` runs it.

No FreeSWITCH binary is reachable from this project, so the rendered dialplan is checked by running it here.
The hunt follows FreeSWITCH's source, ``src/mod/dialplans/mod_dialplan_xml/mod_dialplan_xml.c`` (``parse_exten``
and ``dialplan_hunt``, signalwire/freeswitch master), and the time tests ``src/switch_utils.c``
(``switch_dow_cmp``, ``switch_number_cmp``, ``switch_tod_cmp``, ``switch_fulldate_cmp``) with
``switch_xml_std_datetime_check`` of ``src/switch_xml.c``:

* extensions in document order from the first (from the one named like the destination only when the channel
  variable ``auto_hunt`` is true); the hunt stops at the first extension that "proceeds", unless it has
  ``continue="true"``;
* an extension proceeds when its **last evaluated** condition did: a condition with a field proceeds when its
  regex matches; one without field and without time attributes always does; one whose anti-actions ran
  proceeds too (``proceed = 1`` in the anti-action loop). So ``c1 true, c2 false (break="never")`` does not
  stop the hunt — the actions of c1 are kept and the next extensions are hunted too;
* ``break``: ``on-false`` (default) leaves the extension after a false condition (its anti-actions added),
  ``on-true`` after a true one, ``always`` after either, ``never`` goes on;
* regexes are PCRE, **unanchored** (``re.search``), with the expression and the field ``${...}``-expanded;
  actions of a condition whose expression holds ``(`` get ``$1``..``$9`` substituted from its match;
  ``regex="any|all|xor"`` with nested ``<regex>``: any stops at the first pass, all at the first fail, xor
  needs exactly one pass; a nested regex with ``(`` in its expression that did not stop the loop keeps its
  captures for the actions (as the C code saves them only on that path);
* time attributes (``wday``, ``hour``, ``minute``, ``minute-of-day``, ``time-of-day``, ``date-time``, ``mday``,
  ``mon``, ``year``) on a condition or a nested regex: all present must match the channel's local time;
* **inline**: an action with ``inline="true"`` runs during the hunt (its data expanded then), so later
  conditions see what it set; the others are queued and run, data expanded at that moment, in order, after
  the hunt. We model inline only for ``set``/``unset``/``export``/``set_global`` (FreeSWITCH allows it only for
  applications flagged ``SAF_ROUTING_EXEC``; anything else inline is an error here);
* ``transfer <ext> [XML <context>]`` abandons the queued actions and hunts again with the new destination;
* variables: ``${name}`` expands from the channel, then the caller-profile fields, then the global variables
  (``switch_channel_get_variable_dup``); an unknown one is ""; ``set name=`` (empty) deletes it.

The dptools the ivr400 plan uses are modelled at the level of what the call does: ``playback``,
``pre_answer``/``answer``, ``play_and_get_digits`` (takes the next scripted key, or none), ``socket`` (calls the
scripted controller, which may set variables, or is down; after a session the call goes on only with
``socket_resume=true``), ``bridge`` (asks the scripted seats how each leg
ends; ``|`` legs are tried in turn while they fail, ``,`` legs ring together), ``record``, ``event``, ``log``,
``hangup``. The result is a :class:`CallResult` with every step, for tests to compare.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Bridge", "CallResult", "Dialplan", "EvaluationError", "Leg", "run_call"]

INLINE_APPS = {"set", "unset", "export", "set_global"}
_VAR = re.compile(r"\$\{([^{}]*)\}")
_LEG_VARS = re.compile(r"^\[([^\]]*)\]")
_BREAKS = {"on-true", "on-false", "always", "never"}
PROFILE_FIELDS = ("destination_number", "caller_id_number", "caller_id_name", "ani", "context", "network_addr",
                  "uuid", "dialplan")


class EvaluationError(Exception):
    """The dialplan did something our evaluator does not model, or looped."""


@dataclass(frozen=True)
class Leg:
    """One leg of a bridge: its dial string and the ``[...]`` variables given to it (``leg_timeout``)."""

    dial: str
    variables: Mapping[str, str]

    @property
    def timeout(self) -> int | None:
        value = self.variables.get("leg_timeout")
        return int(value) if value and value.isdigit() else None


@dataclass(frozen=True)
class Bridge:
    """A ``bridge`` the call ran: ``mode`` sequential (``|``) or simultaneous (``,``), its legs in order, the
    ``{...}`` variables for every leg, the ringback in force, and what happened (``answered`` by which leg)."""

    mode: str
    legs: tuple[Leg, ...]
    variables: Mapping[str, str]
    ringback: str
    tried: tuple[Leg, ...]
    answered_by: Leg | None
    cause: str


@dataclass
class CallResult:
    steps: list[tuple[str, str]] = field(default_factory=list)
    bridges: list[Bridge] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    played: list[str] = field(default_factory=list)
    variables: dict[str, str] = field(default_factory=dict)
    hangup_cause: str | None = None
    recorded: str | None = None
    answered: bool = False
    early_media: bool = False
    events: list[dict[str, str]] = field(default_factory=list)

    @property
    def answered_by(self) -> str | None:
        for b in self.bridges:
            if b.answered_by is not None:
                return b.answered_by.dial
        return None

    @property
    def dialled(self) -> list[str]:
        """Every leg that rang, in order (simultaneous legs in their order)."""
        return [leg.dial for b in self.bridges for leg in b.tried]


# --------------------------------------------------------------------------- the time conditions

def dow_cmp(exp: str, val: int) -> bool:
    """switch_dow_cmp: ``1-7`` (1 = Sunday) or ``sun``..``sat``, lists with ``,``, ranges with ``-``."""
    names = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
    tokens: list[object] = []
    i = 0
    while i < len(exp):
        ch = exp[i]
        if ch in "-,":
            tokens.append(ch)
            i += 1
        elif "1" <= ch <= "7":
            tokens.append(int(ch))
            i += 1
        elif exp[i:i + 3].lower() in names:
            tokens.append(names.index(exp[i:i + 3].lower()) + 1)
            i += 3
        else:
            break  # parse error: FreeSWITCH logs and stops
    prev: object = None
    start: object = None
    for tok in tokens:
        if tok == ",":
            prev = None
            continue
        if tok == "-":
            start = prev
            prev = tok
            continue
        assert isinstance(tok, int)
        if isinstance(start, int):
            if start <= val <= tok:
                return True
            start = None
        elif val == tok:
            return True
        prev = tok
    return False


def _atol(text: str) -> int:
    m = re.match(r"\s*([+-]?\d+)", text)
    return int(m.group(1)) if m else 0


def number_cmp(exp: str, val: int) -> bool:
    """switch_number_cmp: ``a-b`` (inclusive), ``a,b,c``, or one number."""
    if "-" in exp:
        lo, _, hi = exp.partition("-")
        return _atol(lo) <= val <= _atol(hi)
    if "," in exp:
        return any(_atol(part) == val for part in exp.split(","))
    return _atol(exp) == val


def tod_cmp(exp: str, val: int) -> bool:
    """switch_tod_cmp: ``hh:mm[:ss]-hh:mm[:ss]``, start inclusive, end exclusive (``val`` in seconds of the day)."""
    m = re.fullmatch(r"(\d+):(\d+)(?::(\d+))?-(\d+):(\d+)(?::(\d+))?", exp.strip())
    if not m:
        return False
    a = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3) or 0)
    b = int(m.group(4)) * 3600 + int(m.group(5)) * 60 + int(m.group(6) or 0)
    return a <= val < b


def fulldate_cmp(exp: str, now: datetime) -> bool:
    """switch_fulldate_cmp: ``YYYY-MM-DD hh:mm[:ss]~YYYY-MM-DD hh:mm[:ss]``, start inclusive, end exclusive."""
    start, sep, end = exp.partition("~")
    if not sep:
        return False

    def parse(text: str) -> datetime | None:
        m = re.fullmatch(r"\s*(\d+)-(\d+)-(\d+) (\d+):(\d+)(?::(\d+))?\s*", text)
        if not m:
            return None
        return datetime(int(m.group(1)), int(m.group(2)), int(m.group(3)), int(m.group(4)), int(m.group(5)),
                        int(m.group(6) or 0))
    a, b = parse(start), parse(end)
    local = now.replace(tzinfo=None)
    return a is not None and b is not None and a <= local < b


def datetime_check(node: ET.Element, now: datetime) -> int:
    """switch_xml_std_datetime_check: -1 no time attribute, 1 all present match, 0 one does not."""
    checks: list[bool] = []
    attrs = node.attrib
    if "year" in attrs:
        checks.append(number_cmp(attrs["year"], now.year))
    if "mon" in attrs:
        checks.append(number_cmp(attrs["mon"], now.month))
    if "mday" in attrs:
        checks.append(number_cmp(attrs["mday"], now.day))
    if "wday" in attrs:
        checks.append(dow_cmp(attrs["wday"], (now.isoweekday() % 7) + 1))
    if "hour" in attrs:
        checks.append(number_cmp(attrs["hour"], now.hour))
    if "minute" in attrs:
        checks.append(number_cmp(attrs["minute"], now.minute))
    if "minute-of-day" in attrs:
        checks.append(number_cmp(attrs["minute-of-day"], now.hour * 60 + now.minute + 1))
    if "time-of-day" in attrs:
        checks.append(tod_cmp(attrs["time-of-day"], now.hour * 3600 + now.minute * 60 + now.second))
    if "date-time" in attrs:
        checks.append(fulldate_cmp(attrs["date-time"], now))
    if not checks:
        return -1
    return 1 if all(checks) else 0


# --------------------------------------------------------------------------- the dialplan


class Dialplan:
    """The contexts of one or more dialplan documents: ``<include>`` files, a ``<document>`` with a
    ``dialplan`` section, or a bare ``<context>``. A context named in several documents is concatenated in
    the order given (as FreeSWITCH's X-PRE-PROCESS include would)."""

    def __init__(self, texts: Iterable[str], *, contexts_of_includes: Mapping[int, str] | None = None) -> None:
        self.contexts: dict[str, list[ET.Element]] = {}
        for index, text in enumerate(texts):
            root = ET.fromstring(text)
            self._add(root, (contexts_of_includes or {}).get(index))

    def _add(self, root: ET.Element, include_context: str | None) -> None:
        if root.tag == "context":
            self.contexts.setdefault(root.get("name", ""), []).extend(root.findall("extension"))
            return
        if root.tag == "document":
            for section in root.findall("section"):
                if section.get("name") == "dialplan":
                    for ctx in section.findall("context"):
                        self._add(ctx, None)
            return
        if root.tag == "include":
            for ctx in root.findall("context"):
                self._add(ctx, None)
            extensions = root.findall("extension")
            if extensions:
                if include_context is None:
                    raise EvaluationError("an include of bare extensions needs the context it is included in")
                self.contexts.setdefault(include_context, []).extend(extensions)
            return
        raise EvaluationError(f"unknown root element <{root.tag}>")


# --------------------------------------------------------------------------- a call

SeatScript = Callable[[str], tuple[str, float]]
"""Given a leg's dial string: (``answer`` | ``busy`` | ``noanswer`` | ``unavailable``, seconds before it answers)."""
Controller = Callable[[str, dict[str, str]], Mapping[str, str] | None]
"""Given the hook request (``IVR400_HOOK``) and the channel variables (``_caller``: the caller ID): the variables to
set (``None``: down, nothing set)."""


class _Transfer(Exception):
    def __init__(self, destination: str, context: str) -> None:
        self.destination = destination
        self.context = context


class _Hangup(Exception):
    pass


@dataclass
class _Channel:
    variables: dict[str, str]
    profile: dict[str, str]
    globals: dict[str, str]

    def get(self, name: str) -> str:
        if name in self.variables:
            return self.variables[name]
        if name in self.profile:
            return self.profile[name]
        return self.globals.get(name, "")

    def expand(self, text: str) -> str:
        # Innermost first, so ${a_${b}} works as in switch_channel_expand_variables.
        for _ in range(50):
            new = _VAR.sub(lambda m: self._lookup(m.group(1)), text)
            if new == text:
                return new
            text = new
        raise EvaluationError("variable expansion does not end")

    def _lookup(self, expr: str) -> str:
        if "(" in expr:
            raise EvaluationError(f"API expansion ${{{expr}}} is not modelled")
        return self.get(expr)

    def set(self, name: str, value: str) -> None:
        if value == "":
            self.variables.pop(name, None)
        else:
            self.variables[name] = value


def _substitute(data: str, match: re.Match[str] | None) -> str:
    """switch_perform_substitution (src/switch_regex.c): ``$N`` and ``${N}`` → group N ("" when there is no such
    group or it did not take part); any other ``$`` (``${name}``) is left for variable expansion."""
    if match is None:
        return data

    def group(m: re.Match[str]) -> str:
        n = int(m.group(1) or m.group(2))
        if n > match.re.groups:
            return ""
        return match.group(n) or ""
    return re.sub(r"\$(?:\{(\d+)\}|(\d+))", group, data)


class _Call:
    def __init__(self, plan: Dialplan, *, now: datetime, keys: Iterable[str | None], seats: SeatScript,
                 controller: Controller, globals_: dict[str, str], profile: dict[str, str],
                 variables: Mapping[str, str]) -> None:
        self.plan = plan
        self.now = now
        self.keys = list(keys)
        self.seats = seats
        self.controller = controller
        self.ch = _Channel(dict(variables), profile, globals_)
        self.result = CallResult()

    # ---- hunting
    def hunt(self, context: str) -> list[tuple[str, str]]:
        extensions = self.plan.contexts.get(context)
        if extensions is None:
            raise EvaluationError(f"context {context} not found")
        start = 0
        if self.ch.get("auto_hunt").lower() in ("true", "yes", "on", "1"):
            names = [e.get("name") for e in extensions]
            dest = self.ch.profile["destination_number"]
            if dest in names:
                start = names.index(dest)
        queued: list[tuple[str, str]] = []
        for ext in extensions[start:]:
            proceed = self.parse(ext, queued)
            if proceed and ext.get("continue", "").lower() not in ("true", "yes", "on", "1"):
                break
        return queued

    def parse(self, node: ET.Element, queued: list[tuple[str, str]]) -> bool:
        proceed = False
        for cond in node.findall("condition"):
            brk = cond.get("break", "on-false")
            if brk not in _BREAKS:
                brk = "on-false"
            anti = True
            time_match = datetime_check(cond, self.now)
            if time_match == 1:
                anti, proceed = False, True
            elif time_match == 0:
                proceed = False
            match: re.Match[str] | None = None
            substitute = False
            rule = cond.get("regex")
            if rule is not None:
                all_, xor = rule.lower() == "all", rule.lower() == "xor"
                passed = failed = 0
                saved: tuple[re.Match[str] | None, bool] | None = None
                for rx in cond.findall("regex"):
                    rtm = datetime_check(rx, self.now)
                    expression = self.ch.expand(rx.get("expression", ""))
                    fld = rx.get("field")
                    m = None
                    if fld is not None:
                        data = self.field(fld)
                        m = re.search(expression, data)
                        proceed = m is not None
                        if m is not None:
                            passed += 1
                            if not all_ and not xor:
                                break
                        else:
                            failed += 1
                            if all_ and not xor:
                                break
                    elif rtm in (-1, 1):
                        passed += 1
                        proceed = True
                        if not all_ and not xor:
                            break
                    else:
                        failed += 1
                        if all_:
                            break
                    if fld is not None and "(" in expression:
                        saved = (m, proceed)
                if (xor and passed == 1) or (not xor and ((all_ and not failed) or (not all_ and passed))):
                    anti = False
                if saved is not None:
                    match, proceed = saved
                    substitute = True
            else:
                expression = cond.get("expression")
                child = cond.find("expression")
                if child is not None:
                    expression = child.text or ""
                expression = self.ch.expand(expression or "")
                fld = cond.get("field")
                if fld is not None:
                    match = re.search(expression, self.field(fld))
                    proceed = match is not None
                    if match is not None:
                        anti = False
                    substitute = "(" in expression
                elif time_match == -1:
                    anti, proceed = False, True
            if anti:
                for action in cond.findall("anti-action"):
                    self.add(action, action.get("data", ""), queued)
                    proceed = True
            else:
                for action in cond.findall("action"):
                    data = action.get("data", "")
                    self.add(action, _substitute(data, match) if substitute else data, queued)
            if (not anti and brk == "on-true") or (anti and brk == "on-false") or brk == "always":
                break
            if proceed and cond.find("condition") is not None:
                proceed = self.parse(cond, queued)
                if not proceed:
                    if brk == "never":
                        continue
                    return proceed
        return proceed

    def field(self, name: str) -> str:
        if "$" in name:
            return self.ch.expand(name)
        return self.ch.profile.get(name, "")

    def add(self, action: ET.Element, data: str, queued: list[tuple[str, str]]) -> None:
        app = action.get("application", "")
        if action.get("inline", "").lower() in ("true", "yes", "on", "1"):
            if app not in INLINE_APPS:
                raise EvaluationError(f"{app} cannot run inline")
            self.execute(app, self.ch.expand(data))
        else:
            queued.append((app, data))

    # ---- running
    def run(self, destination: str, context: str, max_transfers: int = 200) -> CallResult:
        self.ch.profile["destination_number"] = destination
        self.ch.profile["context"] = context
        for _ in range(max_transfers):
            try:
                for app, data in self.hunt(context):
                    self.execute(app, self.ch.expand(data))
                self.hangup("NORMAL_CLEARING")  # the extension ran out of actions
            except _Transfer as t:
                self.ch.profile["destination_number"] = t.destination
                self.ch.profile["context"] = context = t.context
                continue
            except _Hangup:
                break
        else:
            raise EvaluationError("too many transfers: the dialplan loops")
        self.result.variables = dict(self.ch.variables)
        return self.result

    def hangup(self, cause: str) -> None:
        self.result.hangup_cause = cause or "NORMAL_CLEARING"
        raise _Hangup

    def execute(self, app: str, data: str) -> None:
        r = self.result
        r.steps.append((app, data))
        if app == "set":
            name, _, value = data.partition("=")
            self.ch.set(name, value)
        elif app == "export":
            name, _, value = data.partition("=")
            self.ch.set(name.removeprefix("nolocal:"), value)
        elif app == "unset":
            self.ch.variables.pop(data, None)
        elif app == "set_global":
            name, _, value = data.partition("=")
            self.ch.globals[name] = value
        elif app == "transfer":
            parts = data.split()
            dest = parts[0]
            context = parts[2] if len(parts) > 2 else self.ch.profile["context"]
            if len(parts) > 1 and parts[1] != "XML":
                raise EvaluationError(f"transfer to dialplan {parts[1]} is not modelled")
            raise _Transfer(dest, context)
        elif app == "pre_answer":
            r.early_media = True
        elif app == "answer":
            r.answered = True
        elif app == "playback":
            r.played.append(data)
        elif app == "play_and_get_digits":
            self.play_and_get_digits(data)
        elif app == "socket":
            self.socket(data)
        elif app == "bridge":
            self.bridge(data)
        elif app == "record":
            r.answered = True
            r.recorded = data.split()[0]
        elif app == "event":
            r.events.append(dict(part.partition("=")[::2] for part in data.split(",")))
        elif app == "log":
            pass
        elif app == "hangup":
            self.hangup(data)
        else:
            raise EvaluationError(f"application {app} is not modelled")

    def play_and_get_digits(self, data: str) -> None:
        args = data.split()
        if len(args) < 9:
            raise EvaluationError(f"play_and_get_digits: {len(args)} arguments")
        _min, _max, _tries, _timeout, terminators, prompt, _invalid, var, regex = args[:9]
        self.result.played.append(prompt)
        key = self.keys.pop(0) if self.keys else None
        if key is None or key in terminators:
            self.ch.variables.pop(var, None)
            return
        if re.search(regex, key):
            self.ch.set(var, key)
        else:
            self.ch.variables.pop(var, None)

    def socket(self, data: str) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_.\-]+:\d+ async full", data):
            raise EvaluationError(f"socket {data!r}: not '<host>:<port> async full'")
        hook = self.ch.get("IVR400_HOOK")
        self.result.hooks.append(hook)
        # What the controller reads from the connect reply: the channel variables and the caller ID.
        answer = self.controller(hook, {**self.ch.variables, "_caller": self.ch.profile["caller_id_number"]})
        if answer is None:
            return  # refused: FreeSWITCH logs "Socket Error!" and goes on with the next action
        for name, value in answer.items():
            self.ch.set(name, value)
        # The controller closed the socket: the channel goes on only with socket_resume (or the ESL `resume`
        # command), else it is hung up (mod_event_socket.c, socket_function / listener_run).
        if self.ch.get("socket_resume").lower() not in ("true", "yes", "on", "1"):
            self.hangup("NORMAL_CLEARING")

    def bridge(self, data: str) -> None:
        common: dict[str, str] = {}
        if data.startswith("{"):
            end = data.index("}")
            common = _parse_vars(data[1:end])
            data = data[end + 1:]
        if "|" in data and "," in data:
            raise EvaluationError("bridge mixing | and , is not modelled")
        mode = "simultaneous" if "," in data else "sequential"
        legs = []
        for part in data.split("," if mode == "simultaneous" else "|"):
            m = _LEG_VARS.match(part)
            leg_vars = _parse_vars(m.group(1)) if m else {}
            legs.append(Leg(part[m.end():] if m else part, leg_vars))
        ringback = self.ch.get("transfer_ringback" if self.result.answered else "ringback")
        tried: list[Leg] = []
        answered_by: Leg | None = None
        cause = "NO_ANSWER"
        if mode == "sequential":
            for leg in legs:
                tried.append(leg)
                outcome, _ = self.seats(leg.dial)
                if outcome == "answer":
                    answered_by, cause = leg, "SUCCESS"
                    break
                cause = _CAUSES[outcome]
        else:
            tried = list(legs)
            outcomes = [(self.seats(leg.dial), leg) for leg in legs]
            winners = sorted(((delay, i, leg) for i, ((out, delay), leg) in enumerate(outcomes) if out == "answer"),
                             key=lambda x: (x[0], x[1]))
            if winners:
                answered_by, cause = winners[0][2], "SUCCESS"
            elif any(out == "busy" for (out, _), _leg in outcomes):
                cause = "USER_BUSY" if all(out == "busy" for (out, _), _leg in outcomes) else "NO_ANSWER"
        self.result.bridges.append(Bridge(mode, tuple(legs), common, ringback, tuple(tried), answered_by, cause))
        self.ch.set("originate_disposition", cause)
        if answered_by is not None:
            self.result.answered = True
            if self.ch.get("hangup_after_bridge") == "true":
                self.hangup("NORMAL_CLEARING")
        elif self.ch.get("continue_on_fail") != "true":
            self.hangup(cause)


_CAUSES = {"busy": "USER_BUSY", "noanswer": "NO_ANSWER", "unavailable": "USER_NOT_REGISTERED"}


def _parse_vars(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for m in re.finditer(r"([A-Za-z0-9_]+)=('([^']*)'|[^,]*)", text):
        out[m.group(1)] = m.group(3) if m.group(3) is not None else m.group(2)
    return out


def run_call(plan: Dialplan, destination: str, *, context: str = "public", caller: str = "13800138000",
             now: datetime | None = None, keys: Iterable[str | None] = (),
             seats: SeatScript | None = None, controller: Controller | None = None,
             globals_: dict[str, str] | None = None, variables: Mapping[str, str] | None = None) -> CallResult:
    """Route one call through ``plan``: dialled ``destination`` arriving in ``context`` from ``caller`` at local
    time ``now``, pressing ``keys`` (one per ``play_and_get_digits``; None = no key), each seat as ``seats`` says
    (default: every leg rings out), each hook answered by ``controller`` (default: down). ``globals_`` is the
    switch's global variables, kept across calls when the same dict is passed (the static round robin)."""
    call = _Call(plan, now=now or datetime(2026, 6, 1, 10, 0), keys=keys, seats=seats or (lambda _d: ("noanswer", 0)),
                 controller=controller or (lambda _h, _v: None), globals_=globals_ if globals_ is not None else
                 {"sounds_dir": "/usr/share/freeswitch/sounds"},
                 profile={"caller_id_number": caller, "caller_id_name": caller, "ani": caller,
                          "uuid": "00000000-0000-4000-8000-000000000001"},
                 variables=variables or {})
    return call.run(destination, context)
