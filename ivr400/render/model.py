"""The render model: what the Asterisk templates see, as plain frozen dataclasses.

Everything here is already validated and safe to print into an Asterisk config file: numbers are
digits, dial strings match a strict pattern, names meant for humans only ever go into `;` comments
through `comment_text()`. The loader (`ivr400.render.load`) builds it from the database; the
templates only format it. Nothing in this module touches the database or the file system.

Naming (shared with deploy and the FastAGI controller, which may set ``IVR400_MOH``):
    hotline data         AstDB ivr400/h/<number>/...  (settings `s`, static hunt lists `d`, `d1`, `d21`...,
                                                       bound seats `b<dept id>`; dialplans/asterisk/_hotline.j2)
    menu data            AstDB ivr400/m/<number>[-<digits>]/...  (the level `s`, one key per menu key)
    ringback MOH class   ivr400-tone-<tone id>        (files in moh/ivr400/<class>/)
    prompt sound         ivr400/tone-<tone id>        (file sounds/ivr400/tone-<id>.wav)
"""
from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field

from ivr400.pbx.asterisk.dialplan_variables import RR_GLOBAL_PREFIX
from ivr400.pbx.asterisk.prompts import (
    BLOCKED,
    CLICKTOCALL_CONSENT,
    CLOSED,
    DEFAULT_MOH_CLASS,
    GOODBYE,
    INVALID,
    LEAVE_MESSAGE,
    MOH_ROOT,
    NO_INPUT,
    RINGBACK_FILE,
    SOUND_DIR,
    SURVEY_THANKS,
    UNKNOWN_NUMBER,
    WELCOME,
    tone_moh_class,
    tone_sound,
)
from ivr400.tree import DEFAULT_DIAL_TEMPLATE, DEFAULT_RING_TIMEOUT_S, HUNT_STRATEGIES, MAX_RING_S, MIN_RING_S
from ivr400.validators import (
    UnsafeValueError,
    check_dial_template,
    check_hotline_number,
    check_key,
    clamp,
    dial_string,
    pjsip_endpoint,
)

__all__ = [
    "BLOCKED",
    "CLOSED",
    "DEFAULT_DIAL_TEMPLATE",
    "DEFAULT_MOH_CLASS",
    "DEFAULT_RING_TIMEOUT_S",
    "FAX_DETECT_S",
    "GOODBYE",
    "HUNT_STRATEGIES",
    "INVALID",
    "LEAVE_MESSAGE",
    "MAX_DATA_CHARS",
    "MAX_RING_S",
    "MIN_RING_S",
    "SURVEY_THANKS",
    "CLICKTOCALL_CONSENT",
    "MOH_ROOT",
    "NO_INPUT",
    "RINGBACK_FILE",
    "SOUND_DIR",
    "UNKNOWN_NUMBER",
    "WELCOME",
    "RenderDepartment",
    "RenderHotline",
    "RenderModel",
    "RenderMohClass",
    "RenderTarget",
    "RenderTone",
    "RenderTrunk",
    "RenderValueError",
    "check_agi_url",
    "check_dial_template",
    "check_hotline_number",
    "check_key",
    "check_sha256",
    "check_tone_name",
    "clamp",
    "comment_text",
    "marks_value",
    "dial_string",
    "pjsip_endpoint",
    "tone_moh_class",
    "tone_sound",
]

_TONE_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_AGI_URL = re.compile(r"h?agi://[A-Za-z0-9_.\-]+(?::[0-9]{1,5})?(?:/[A-Za-z0-9_.\-]+)*")

#: A database value that cannot be written safely into an Asterisk config file (the shared validators' error).
RenderValueError = UnsafeValueError

#: 传真: seconds from the answer during which a `detect` hotline listens for a fax machine (CNG tone, T.38
#: re-INVITE): a calling fax machine sends CNG every 3.5 s for about 40 s, from the moment it is answered.
FAX_DETECT_S = 30

#: Longest data value (one AstDB value, read by ``${DB()}`` into one MSet step) the renderer writes: Asterisk
#: reads a dialplan function's value into a 4 KiB buffer (VAR_BUF_SIZE) and would cut a longer one short.
MAX_DATA_CHARS = 4000


# --------------------------------------------------------------------------- pure helpers


def comment_text(value: object, limit: int = 80) -> str:
    """Text for a `;` comment: one line, no control or separator characters, at most `limit` characters.

    A comment runs to the end of its line, so a newline (or any Unicode line/paragraph separator, or
    another control character) is the only way a name could escape it; those become spaces.
    """
    if value is None:
        return ""
    text = "".join(" " if unicodedata.category(ch)[0] in "CZ" else ch for ch in str(value))
    text = " ".join(text.split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text


def check_agi_url(url: object) -> str:
    """The FastAGI base URL (agi://host[:port][/prefix]) the hooks append their route to."""
    if not isinstance(url, str):
        raise RenderValueError(f"agi url {url!r} is not a string")
    url = url.rstrip("/")
    if not _AGI_URL.fullmatch(url):
        raise RenderValueError(f"agi url {url!r} must look like agi://host:port (letters, digits, . - _ only)")
    return url


def check_tone_name(name: object) -> str:
    return name if isinstance(name, str) and _TONE_NAME.fullmatch(name) else comment_text(name, 64)


def check_sha256(value: object) -> str:
    return value if isinstance(value, str) and _SHA256.fullmatch(value) else ""


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class RenderTone:
    """A stored tone the render uses; `source` is Tone.stored_path (relative to the data directory)."""

    id: int
    name: str
    kind: str
    sha256: str
    source: str

    @property
    def sound(self) -> str:
        return tone_sound(self.id)

    @property
    def moh_class(self) -> str:
        return tone_moh_class(self.id)


def marks_value(version: str, dials: tuple[str, ...]) -> str:
    """The AstDB value marking seats as bound to a department now: the hotline's plan version, then each
    dial string, ``&``-joined (``v<sha1>&PJSIP/...&PJSIP/...``).

    Before each Dial the hunt engine reads it again and dials a target only when the value holds the plan
    version its list came from (nothing of the hotline changed since) or the target itself (the deployed
    plan still binds it to that department): one key, written in one step, so a deploy can never be seen
    half done. Keyed by the department's row id, not its key path: a menu whose keys were rearranged still
    hunts the department the caller chose. A dial string never holds ``&`` (Dial's own separator).
    """
    return "&".join((version, *dials))


@dataclass(frozen=True)
class RenderTarget:
    """One routable seat: the dial string and how long it rings.

    ``template`` is the Asterisk dial template of the seat's trunk (``PJSIP/{number}@ivr400-out``), from which
    the FreeSWITCH renderer derives its dial string; it is left out of the repr (and so of
    :attr:`RenderHotline.version`), since ``dial`` already changes with it.
    """

    dial: str
    ring_timeout_s: int
    number: str
    seat_id: int
    position: int
    template: str = field(default="", repr=False, compare=False)


@dataclass(frozen=True)
class RenderDepartment:
    """A hunt group: the switchboard (path "") or a department (path "2", "2.1", ...), with its sub-menu.

    `moh_class` is the ringback class heard while the seats ring ("" = ordinary ringing); `prompt` is
    the sound of this department's sub-menu (used only when it has children).
    """

    hotline_number: str
    id: int | None
    path: str
    key: str
    name: str
    hunt: str
    max_attempts: int
    moh_class: str
    prompt: str
    targets: tuple[RenderTarget, ...] = ()
    children: tuple[RenderDepartment, ...] = ()

    @property
    def digits(self) -> str:
        return self.path.replace(".", "")

    @property
    def is_switchboard(self) -> bool:
        return self.path == ""

    @property
    def exten(self) -> str:
        """Extension of its hunt subroutine inside the hotline context (`d` = switchboard)."""
        return "d" + self.digits

    @property
    def keys(self) -> str:
        """Key path as IVR400_KEYS spells it ("2-1")."""
        return self.path.replace(".", "-")

    @property
    def has_menu(self) -> bool:
        return bool(self.children)

    @property
    def menu_key(self) -> str:
        """AstDB key prefix of its sub-menu's data (family ivr400)."""
        return f"m/{self.hotline_number}-{self.digits}"

    @property
    def dial_strategy(self) -> str:
        """What the hunt engine does: round robin is sequential from a rotating start."""
        return "simultaneous" if self.hunt == "simultaneous" else "sequential"

    @property
    def rr_global(self) -> str:
        """GLOBAL variable holding the static round-robin position."""
        return f"{RR_GLOBAL_PREFIX}{self.hotline_number}_{self.digits or 'SB'}"

    @property
    def marks_key(self) -> str:
        """Key (under the hotline's data key) of the seats bound to this department now (see marks_value)."""
        return f"b{self.id or 0}"

    def marks(self, version: str) -> str:
        """The value of :attr:`marks_key` for the hotline's plan `version`."""
        return marks_value(version, tuple(t.dial for t in self.targets))

    @property
    def group_timeout_s(self) -> int:
        """Simultaneous ring: the longest seat timeout of the group the hunt engine rings (the first
        ``max_attempts`` targets when capped), as the controller's ``Decision.dial_timeout_s``."""
        rung = self.targets[: self.max_attempts] if self.max_attempts else self.targets
        return max((t.ring_timeout_s for t in rung), default=DEFAULT_RING_TIMEOUT_S)

    def walk(self) -> Iterator[RenderDepartment]:
        """This department and every descendant, depth first, in key order."""
        yield self
        for child in self.children:
            yield from child.walk()


@dataclass(frozen=True)
class RenderHotline:
    """An active 400 number and everything its dialplan needs."""

    id: int
    number: str
    name: str
    enterprise: str
    welcome: str
    menu_timeout_s: int
    menu_retries: int
    voicemail: bool
    switchboard: RenderDepartment
    departments: tuple[RenderDepartment, ...] = ()
    record_calls: bool = False
    #: 满意度评价: the survey prompt (sound name) when the hotline surveys callers after the seat hung up, else "".
    survey: str = ""
    #: 传真: off | detect | key (then ``fax_key``, a top-menu digit no department uses).
    fax_mode: str = "off"
    fax_key: str = ""

    @property
    def data_key(self) -> str:
        """AstDB key prefix of the hotline's data (family ivr400): settings, hunt lists, bound seats."""
        return f"h/{self.number}"

    @property
    def menu_key(self) -> str:
        """AstDB key prefix of its top menu's data."""
        return f"m/{self.number}"

    @property
    def has_menu(self) -> bool:
        return bool(self.departments)

    @functools.cached_property
    def version(self) -> str:
        """This version of the hotline's plan: `v` + sha1 of everything rendered for it.

        A call keeps the version it read its hunt list from; while the department's marks (marks_value)
        still hold it, nothing of the hotline changed and any target of the list may be dialled.
        """
        return "v" + hashlib.sha1(repr(self).encode()).hexdigest()[:20]  # noqa: S324 - a name, not a secret

    def hunts(self) -> tuple[RenderDepartment, ...]:
        """The switchboard then every department, depth first in key order."""
        out = [self.switchboard]
        for dept in self.departments:
            out.extend(dept.walk())
        return tuple(out)

    def menus(self) -> tuple[RenderDepartment, ...]:
        """Departments that open a sub-menu, depth first in key order."""
        return tuple(d for top in self.departments for d in top.walk() if d.children)


@dataclass(frozen=True)
class RenderMohClass:
    """A music-on-hold class: a directory holding one tone, played as the ringback tone (彩铃).

    `tone` is None for the default class, whose file is the shipped sounds/ivr400-ringback.wav.
    """

    name: str
    comment: str
    file: str
    tone: RenderTone | None = None

    @property
    def directory(self) -> str:
        return f"{MOH_ROOT}/{self.name}"


@dataclass(frozen=True)
class RenderTrunk:
    """An outbound route the dial strings use; `endpoint` when the template is PJSIP/{number}@endpoint."""

    name: str
    template: str
    endpoint: str | None
    is_default: bool = False


@dataclass(frozen=True)
class RenderModel:
    """Everything the Asterisk templates render, in a deterministic order (hotlines by number)."""

    hotlines: tuple[RenderHotline, ...]
    tones: tuple[RenderTone, ...]
    trunks: tuple[RenderTrunk, ...]
    warnings: tuple[str, ...] = field(default=())

    @property
    def prompt_tones(self) -> tuple[RenderTone, ...]:
        used = {h.welcome for h in self.hotlines}
        used |= {d.prompt for h in self.hotlines for d in h.menus()}
        return tuple(t for t in self.tones if t.sound in used)

    @property
    def ringback_tones(self) -> tuple[RenderTone, ...]:
        used = {d.moh_class for h in self.hotlines for d in h.hunts()}
        return tuple(t for t in self.tones if t.moh_class in used)

    @property
    def moh_classes(self) -> tuple[RenderMohClass, ...]:
        classes = [RenderMohClass(DEFAULT_MOH_CLASS, "default ringback tone (sounds/ivr400-ringback.wav)",
                                  f"{RINGBACK_FILE}.wav")]
        classes += (RenderMohClass(tone.moh_class, f"tone {tone.id} {tone.name} sha256 {tone.sha256}",
                                   f"tone-{tone.id}.wav", tone) for tone in self.ringback_tones)
        return tuple(classes)
