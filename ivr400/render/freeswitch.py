"""Render the database into a FreeSWITCH XML dialplan with Jinja2 (`dialplans/freeswitch/*.j2`).

The same render model as the Asterisk renderer (:mod:`ivr400.render.load`, mapped from the one tree reader
:mod:`ivr400.tree`), so both PBXs ring the same seats in the same order for the same static plan. What differs is
only the form (see ``dialplans/freeswitch/_ivr400.j2`` for the call flow):

* the per-hotline steps are extensions of one context (:data:`CONTEXT`) reached with ``transfer``; every
  decision taken at run time is a condition evaluated when the dialplan is hunted again after a ``transfer``;
* the hooks are ``socket <host>:<port> async full`` with the request in ``IVR400_HOOK`` and
  ``IVR400_HOOK_STATUS=OK`` as the controller's "decided" mark (:mod:`ivr400.pbx.freeswitch.contract`);
* dial strings are ``sofia/gateway/<gateway>/<number>`` (:func:`contract.dial_string` of the seat's trunk
  template), a sequential hunt is one ``bridge`` with ``|`` between legs (failover) and a ``[leg_timeout=N]``
  per leg, a simultaneous one ``,`` between legs; the ringback is a sound file (``ivr400/tone-<id>.wav``) or
  the Chinese ring tone;
* the static round robin has no arithmetic: one data extension per start position, keyed by the global
  variable the previous call left (``set_global``), each holding the list already rotated and capped.

Templates are looked up in an override chain, first match wins: the ``template_dirs`` given by the caller
(``deploy --pbx freeswitch --templates DIR``), then the package's ``dialplans/freeswitch``. Undefined
variables are errors and every template failure is a :class:`~ivr400.render.asterisk.RenderError` naming the
template and line. The output parses as XML (checked here: a template override that breaks it fails the render).

Two delivery forms from one render: the files for FreeSWITCH's ``conf/`` directory
(:attr:`RenderedFreeswitch.files`: ``dialplan/ivr400.xml`` holding context ``ivr400``, ``dialplan/public/ivr400.xml``
holding the 400 numbers' entries of context ``public``) and the ``mod_xml_curl`` answer for one lookup
(:func:`xml_curl_document`).
"""
from __future__ import annotations

import hashlib
import os
import re
import types
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import jinja2
from sqlalchemy.orm import Session

from ivr400.paths import resource_dir
from ivr400.pbx.asterisk import dialplan_variables
from ivr400.pbx.asterisk.prompts import SOUND_DIR
from ivr400.pbx.freeswitch import contract
from ivr400.pbx.freeswitch.esl_contract import VOICEMAIL_EVENT, VOICEMAIL_SPOOL, ringback_for_class
from ivr400.render import model as m
from ivr400.render.asterisk import RenderError, render_template
from ivr400.render.asterisk import template_search_path as asterisk_search_path
from ivr400.render.load import load_model
from ivr400.render.model import RenderDepartment, RenderHotline, RenderModel, comment_text

__all__ = [
    "CONTEXT",
    "DEFAULT_SOCKET",
    "parse_socket",
    "FILES",
    "MIN_HUNT_SLOTS",
    "NOT_FOUND",
    "RING_TONE",
    "FsDepartment",
    "FsHotline",
    "FsMenu",
    "FsTarget",
    "RenderedFreeswitch",
    "at_least_regex",
    "render_freeswitch",
    "render_freeswitch_model",
    "ringback_for_class",
    "xml_curl_document",
]

#: The context holding every ivr400 step (the public context only transfers into it).
CONTEXT = "ivr400"
#: Where the ESL controller's outbound socket listens (FreeSWITCH's customary port for it).
DEFAULT_SOCKET = "127.0.0.1:8084"
#: Template → file (relative to FreeSWITCH's conf directory), in render order.
FILES: tuple[tuple[str, str], ...] = (
    ("ivr400.xml.j2", "dialplan/ivr400.xml"),
    ("public.xml.j2", "dialplan/public/ivr400.xml"),
)
#: The document mod_xml_curl takes as "nothing here, look in the files" (FreeSWITCH's own not-found result).
NOT_FOUND = ('<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n<document type="freeswitch/xml">\n'
             '  <section name="result">\n    <result status="not found"/>\n  </section>\n</document>\n')
#: Ringback while seats ring when the department has no tone: the Chinese ring tone, 450 Hz 1 s on, 4 s off.
RING_TONE = "%(1000,4000,450)"
#: The hunt step joins at least this many ``IVR400_TARGET_<i>`` into its bridge (more if a department has more).
MIN_HUNT_SLOTS = 20
#: Where the FreeSWITCH dialplan records answered calls (as FreeSWITCH sees it).
RECORDING_SPOOL = "/var/lib/freeswitch/recordings/ivr400/recordings"



def at_least_regex(k: int) -> str:
    """An anchored regex matching a decimal integer (no sign, no leading zeros) that is >= ``k`` (k >= 1).

    ``at_least_regex(12)`` = ``^(?:[1-9][0-9]{2,}|1[2-9]|[2-9][0-9])$``: the hunt step's test "the target
    count is at least k" without arithmetic (FreeSWITCH's XML dialplan has none).
    """
    if k < 1:
        raise ValueError("k: must be at least 1")
    s = str(k)
    n = len(s)
    alts = [f"[1-9][0-9]{{{n},}}"]
    for i, ch in enumerate(s):
        d = int(ch)
        low = d + 1
        if low > 9:
            continue
        rest = n - i - 1
        digit = f"[{low}-9]" if low < 9 else "9"
        alts.append(f"{s[:i]}{digit}" + (f"[0-9]{{{rest}}}" if rest > 1 else "[0-9]" if rest == 1 else ""))
    alts.append(s)
    return "^(?:" + "|".join(alts) + ")$"


# --------------------------------------------------------------------------- what the templates see


@dataclass(frozen=True)
class FsTarget:
    """One leg: the FreeSWITCH dial string, its ring seconds and the destination number (for comments)."""

    dial: str
    ring_timeout_s: int
    number: str


@dataclass(frozen=True)
class FsDepartment:
    """A hunt list of the static plan: one per department, or one per start position for a round robin.

    ``rr_value`` is the value of the round-robin global the previous call left that selects this list
    (None: the list taken otherwise), ``rr_next`` the value this call leaves.
    """

    dept: RenderDepartment
    targets: tuple[FsTarget, ...]
    ringback: str
    ring_timeout_s: int | str
    rr_value: int | None = None
    rr_next: int | None = None

    @property
    def destination(self) -> str:
        return f"ivr400-d-{self.dept.hotline_number}-{self.dept.path}"


@dataclass(frozen=True)
class FsMenu:
    """A menu level: its prompt (sound name), its keys (departments) and the department hunted once the
    rounds are used up (``final``)."""

    path: str
    title: str
    prompt: str
    items: tuple[RenderDepartment, ...]
    final: RenderDepartment


@dataclass(frozen=True)
class FsHotline:
    """A hotline's data as the FreeSWITCH templates print it."""

    h: RenderHotline
    hunts: tuple[FsDepartment, ...]
    menus: tuple[FsMenu, ...]

    @property
    def recording_file(self) -> str:
        return f"{RECORDING_SPOOL}/{self.h.number}/${{uuid}}.wav" if self.h.record_calls else ""


_REGEX_SPECIAL = re.compile(r"([.^$*+?{}\[\]\\|()])")


def _regex_literal(text: str) -> str:
    """``text`` as a literal inside a PCRE pattern (only the metacharacters escaped: ``2.1`` → ``2\\.1``)."""
    return _REGEX_SPECIAL.sub(r"\\\1", text)


def _fs_hunts(d: RenderDepartment) -> tuple[FsDepartment, ...]:
    targets = tuple(FsTarget(contract.dial_string(t.template or m.DEFAULT_DIAL_TEMPLATE, t.number),
                             t.ring_timeout_s, t.number) for t in d.targets)
    ringback = ringback_for_class(d.moh_class)
    cap = d.max_attempts if 0 < d.max_attempts < len(targets) else len(targets)
    group = d.group_timeout_s if d.hunt == "simultaneous" else ""
    if d.hunt != "round_robin" or not targets:
        return (FsDepartment(d, targets[:cap], ringback, group),)
    n = len(targets)
    out = []
    # Start k (1-based) is taken when the previous call left k-1 (the Asterisk plan's GLOBAL % n + 1); start 1
    # also when nothing (or anything else) is left, so it comes last.
    for k in [*range(2, n + 1), 1]:
        rotated = tuple(targets[(k - 1 + j) % n] for j in range(cap))
        out.append(FsDepartment(d, rotated, ringback, group, rr_value=k - 1 if k > 1 else None, rr_next=k))
    return tuple(out)


def _fs_hotline(h: RenderHotline) -> FsHotline:
    hunts = tuple(x for d in h.hunts() for x in _fs_hunts(d))
    menus: list[FsMenu] = []
    if h.has_menu:
        menus.append(FsMenu("", "top", h.welcome, h.departments, h.switchboard))
        menus.extend(FsMenu(d.path, f"{d.path} {d.name}", d.prompt, d.children, d if d.targets else h.switchboard)
                     for d in h.menus())
    return FsHotline(h, hunts, tuple(menus))


@dataclass(frozen=True)
class RenderedFreeswitch:
    """The FreeSWITCH dialplan files (relative to FreeSWITCH's conf directory), a sha256 per file, the sound files
    the dialplan plays (relative to FreeSWITCH's sounds directory), and the model for the xml_curl server."""

    files: dict[str, str]
    fingerprints: dict[str, str]
    sounds: tuple[str, ...]
    warnings: list[str] = field(default_factory=list)
    model: RenderModel | None = field(default=None, repr=False, compare=False)


def template_search_path(template_dirs: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """Operator directories first (in the order given), the package's ``dialplans/freeswitch`` last."""
    return asterisk_search_path(template_dirs, pbx="freeswitch")


def _xml_comment(value: object, limit: int = 80) -> str:
    """Text for an XML comment: one line, no ``--`` (which would end or break the comment)."""
    text = comment_text(value, limit)
    while "--" in text:
        text = text.replace("--", "- ")
    return text.rstrip("-")


def make_environment(template_dirs: Iterable[str | os.PathLike[str]] = ()) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in template_search_path(template_dirs)], encoding="utf-8"),
        undefined=jinja2.StrictUndefined,
        autoescape=True,  # XML: every value printed is escaped (& < > " ')
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        auto_reload=False,
        cache_size=50,
    )
    env.filters["comment"] = _xml_comment
    env.filters["rx"] = _regex_literal
    env.globals["at_least"] = at_least_regex
    return env


def parse_socket(socket: str) -> tuple[str, int]:
    """``host:port`` of the ESL controller the hooks' ``socket`` application reaches. Raises ValueError naming
    what is wrong: a host of letters, digits, ``.``, ``-``, ``_`` (a name or an IPv4 address; IPv6 literals are not
    accepted), a port 1-65535."""
    host, sep, port = socket.rpartition(":")
    if not sep or not host:
        raise ValueError(f"{socket[:60]!r} is not host:port")
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,253}", host):
        raise ValueError(f"host {host[:60]!r}: letters, digits, '.', '-' and '_' only (a name or an IPv4 address)")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"port {port[:10]!r} is not a TCP port (1-65535)")
    return host, int(port)


def _check_socket(socket: str) -> tuple[str, int]:
    try:
        return parse_socket(socket)
    except ValueError as exc:
        raise RenderError(f"socket: {exc}", template="socket") from exc


def _context(model: RenderModel, socket: str) -> dict[str, object]:
    host, port = _check_socket(socket)
    names = {k: v for k, v in vars(dialplan_variables).items() if k.isupper() and isinstance(v, str)}
    names["HOOK"] = contract.HOOK
    names["HOOK_STATUS"] = contract.HOOK_STATUS
    refs = {k: "${" + v + "}" for k, v in names.items()}
    hotlines = tuple(_fs_hotline(h) for h in model.hotlines)
    most = max((len(x.targets) for fh in hotlines for x in fh.hunts), default=0)
    return {
        "model": model,
        "hotlines": hotlines,
        "v": types.SimpleNamespace(**names),
        "r": types.SimpleNamespace(**refs),
        "socket": contract.socket_data(host, port),
        "context_name": CONTEXT,
        "slots": max(MIN_HUNT_SLOTS, most),
        "s": m,
        "ring_tone": RING_TONE,
        "voicemail_spool": VOICEMAIL_SPOOL,
        "voicemail_event": VOICEMAIL_EVENT,
        "route_call": dialplan_variables.ROUTE_CALL,
        "route_department": dialplan_variables.ROUTE_DEPARTMENT,
        "route_voicemail": dialplan_variables.ROUTE_VOICEMAIL,
    }


def _render(env: jinja2.Environment, template_name: str, context: Mapping[str, object]) -> str:
    text = render_template(env, template_name, context)
    try:
        ET.fromstring(text)
    except ET.ParseError as exc:
        raise RenderError(f"the rendered XML does not parse: {exc}", template=template_name,
                          line=exc.position[0]) from exc
    return text


def _sounds(model: RenderModel) -> tuple[str, ...]:
    shipped = sorted(f"{SOUND_DIR}/{p.name}" for p in (resource_dir("sounds")).glob("ivr400-*.wav"))
    tones = [f"{SOUND_DIR}/tone-{t.id}.wav" for t in (*model.prompt_tones, *model.ringback_tones)]
    return tuple(sorted(set(shipped) | set(tones)))


def render_freeswitch_model(model: RenderModel, *, template_dirs: Iterable[str | os.PathLike[str]] = (),
                            socket: str = DEFAULT_SOCKET) -> RenderedFreeswitch:
    """Render an already loaded model (the pure half of :func:`render_freeswitch`). Raises RenderError."""
    env = make_environment(template_dirs)
    context = _context(model, socket)
    files = {output: _render(env, name, context) for name, output in FILES}
    fingerprints = {name: hashlib.sha256(body.encode("utf-8")).hexdigest() for name, body in files.items()}
    return RenderedFreeswitch(files=files, fingerprints=fingerprints, sounds=_sounds(model),
                              warnings=list(model.warnings), model=model)


def render_freeswitch(session: Session, now: datetime, *, template_dirs: Iterable[str | os.PathLike[str]] = (),
                      socket: str = DEFAULT_SOCKET, strict: bool = False) -> RenderedFreeswitch:
    """Load the routable-now configuration at ``now`` (aware) and render the FreeSWITCH dialplan files."""
    return render_freeswitch_model(load_model(session, now, strict=strict), template_dirs=template_dirs,
                                   socket=socket)


def xml_curl_document(model: RenderModel, *, hunt_context: str, destination: str,
                      template_dirs: Iterable[str | os.PathLike[str]] = (), socket: str = DEFAULT_SOCKET) -> str:
    """The ``freeswitch/xml`` answer to a mod_xml_curl dialplan lookup (``section=dialplan``).

    ``hunt_context`` ``public``: the entry of the 400 number ``destination`` (a 400 number we do not serve gets
    the unknown-number path; any other number :data:`NOT_FOUND`). ``hunt_context`` ``ivr400``: the whole
    ``ivr400`` context. Any other context: :data:`NOT_FOUND`. Raises RenderError (a broken template override).
    """
    if hunt_context == "public":
        if not re.fullmatch(r"400[0-9]{7}", destination or ""):
            return NOT_FOUND
        template = "xml_curl_public.xml.j2"
    elif hunt_context == CONTEXT:
        template = "xml_curl_ivr400.xml.j2"
    else:
        return NOT_FOUND
    env = make_environment(template_dirs)
    context = _context(model, socket)
    context["destination"] = destination
    return _render(env, template, context)
