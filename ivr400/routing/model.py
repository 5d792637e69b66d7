"""The routing configuration of one hotline and the decision taken for one call: frozen dataclasses.

Everything the routing functions need arrives in these objects; they hold no database handles and do
no I/O. The controller's loader builds a :class:`HotlineRouting` from database rows,
``ivr400.routing.decide.decide`` turns it plus (caller, now, calendar) into
a :class:`Decision`, and the FastAGI route turns the decision into channel variables.

Validation happens at construction, so a bad row fails when the configuration is loaded, never in the
middle of a call. Values that end up in the dialplan (dial strings, prompt and music-on-hold names) are
checked against strict character sets here, because they are interpolated into Asterisk applications.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from functools import cached_property
from typing import TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ivr400.db.enums import HuntStrategy
from ivr400.numbers import NumberError, NumberKind, normalize_number, region_name
from ivr400.pbx.asterisk.prompts import BLOCKED, CLOSED, sound_name
from ivr400.routing.calendar import DayKind
from ivr400.validators import DEST_NUMBER, has_unsafe_text

__all__ = [
    "Action",
    "ActionKind",
    "AnonymousPolicy",
    "BlockEntry",
    "BlockMode",
    "BlockPolicy",
    "CallerStatus",
    "DEFAULT_ANNOUNCEMENT_PROMPT",
    "DEFAULT_REFUSE_PROMPT",
    "DayKind",
    "Decision",
    "DepartmentRouting",
    "HotlineRouting",
    "HuntStrategy",
    "MAX_CALLER_CAP",
    "MAX_WEIGHT",
    "RefuseWith",
    "RegionOverride",
    "RegionRule",
    "SWITCHBOARD_KEY",
    "Target",
    "TimeRule",
    "TimeSegment",
]

# Prompts shipped in sounds/, used when a configuration names none (Asterisk sound names, the one form of
# ivr400.pbx.asterisk.prompts: every prompt below is stored in that form, see sound_name).
DEFAULT_REFUSE_PROMPT = BLOCKED
DEFAULT_ANNOUNCEMENT_PROMPT = CLOSED

# The department key of the hotline-level seats (总机): seats bound without a department. It cannot clash
# with a menu department, whose keys are DTMF digits.
SWITCHBOARD_KEY = "switchboard"

#: The largest seat weight (按比例分配) and the largest monthly caller cap (呼叫限制).
MAX_WEIGHT = 1000
MAX_CALLER_CAP = 100_000


class ActionKind(StrEnum):
    MENU = "menu"  # play the IVR navigation (welcome prompt, a key per department)
    DEPARTMENT = "department"  # ring a department's seats (the switchboard is a department too)
    VOICEMAIL = "voicemail"  # 语音留言
    ANNOUNCEMENT = "announcement"  # play a prompt and hang up (e.g. "we are closed")
    REFUSE = "refuse"  # call blocking (呼叫阻截): busy or a prompt


class BlockMode(StrEnum):
    OFF = "off"
    BLACKLIST = "blacklist"  # listed callers are refused
    WHITELIST_ONLY = "whitelist_only"  # only listed callers get in


class AnonymousPolicy(StrEnum):
    """What to do with a caller whose number is withheld, empty or unparseable."""

    ALLOW = "allow"
    REFUSE = "refuse"


class RefuseWith(StrEnum):
    BUSY = "busy"
    PROMPT = "prompt"


class CallerStatus(StrEnum):
    NUMBER = "number"  # a usable normalized number
    WITHHELD = "withheld"  # empty, 'anonymous', 'unknown', 'restricted', ...
    UNPARSEABLE = "unparseable"  # garbage, or characters that have no place in a caller ID


# --------------------------------------------------------------------------- validation helpers

_PROMPT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,119}")
_MOH_CLASS = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]{0,79}")
_KEY = re.compile(r"[A-Za-z0-9_*#.-]{1,32}")


_E = TypeVar("_E", bound=Enum)


def _check(pattern: re.Pattern[str], value: object, what: str) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value) or ".." in value:
        raise ValueError(f"{what}: {value!r} is not allowed (expected {pattern.pattern})")
    return value


def _check_optional(pattern: re.Pattern[str], value: object, what: str) -> str | None:
    return None if value is None else _check(pattern, value, what)


def _check_text(value: object, what: str) -> str:
    if not isinstance(value, str) or not value.strip() or has_unsafe_text(value):
        raise ValueError(f"{what}: {value!r} must be non-empty text without quotes or control characters")
    return value.strip()


def _check_int(value: object, what: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{what}: {value!r} must be an integer between {lo} and {hi}")
    return value


def _check_aware(value: object, what: str) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise ValueError(f"{what}: {value!r} must be a timezone-aware datetime")
    return value


def _enum(cls: type[_E], value: object, what: str) -> _E:
    try:
        return cls(value)
    except ValueError:
        allowed = ", ".join(m.value for m in cls)
        raise ValueError(f"{what}: {value!r} is not one of {allowed}") from None


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _short_province(text: object, what: str) -> str:
    province, _ = region_name(text) if isinstance(text, str) else (None, None)
    if province is None:
        raise ValueError(f"{what}: {text!r} is not a Chinese province-level region")
    return province


def _short_city(province: str, text: object, what: str) -> str:
    """'深圳市' → '深圳', '北京' → '北京' (region_name understands province + city)."""
    city = _check_text(text, what)
    _, short = region_name(province + city)
    return short or city


def _normalize_number(text: object, what: str, *, prefix: bool, kinds: frozenset[NumberKind] | None = None) -> str:
    """A number or prefix in canonical form (``ivr400.numbers.normalize_number``; docs/numbers.md):
    ``+86 10 8888`` → ``0108888``, ``+86 138`` → ``138``. Refused forms raise ValueError with the reason."""
    if not isinstance(text, str):
        raise ValueError(f"{what}: {text!r} is not a phone number or number prefix")
    try:
        number = normalize_number(text, prefix=prefix)
    except NumberError as exc:
        raise ValueError(f"{what}: {exc}") from None
    if kinds is not None and number.kind not in kinds:
        raise ValueError(f"{what}: {text!r} is a {number.kind.value} number; expected "
                         + " or ".join(sorted(k.value for k in kinds)))
    return number.value  # '+'? and at most 16 digits: fits the 20-character columns


#: Region overrides correct the geocoder (landlines, mobiles) or locate local numbers that a trunk sends
#: without area code; service, 400/800 and foreign numbers have no region.
_GEOGRAPHIC = frozenset({NumberKind.LANDLINE, NumberKind.MOBILE, NumberKind.LOCAL})


# --------------------------------------------------------------------------- seats and departments


@dataclass(frozen=True)
class Target:
    """A routable seat (坐席): a whitelisted destination at a hunt position.

    ``destination`` is the normalized destination number (目的码, for audit and CDR); ``dial`` what the
    dialplan sends on the trunk (usually the same digits). ``valid_from``/``valid_until`` are the
    whitelist authorization's validity (R7) when the loader knows them: the decision re-checks them at
    call time and leaves out a seat whose authorization lapsed since the configuration was loaded.
    ``seat_id``/``trunk_id`` are carried through for the audit trail and the dial string (the trunk is
    the destination's, else the hotline's, as ``ivr400.db.routable.RoutableSeat`` computes it).
    """

    destination: str
    dial: str
    ring_timeout_s: int = 15
    position: int = 1
    destination_id: int | None = None
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    seat_id: int | None = None
    trunk_id: int | None = None
    #: 按比例分配: relative share of first rings in a weighted hunt (0 = never drawn first), 0-1000.
    weight: int = 1

    def __post_init__(self) -> None:
        _check(DEST_NUMBER, self.destination, "target destination")
        _check_int(self.weight, "weight", 0, MAX_WEIGHT)
        _check(DEST_NUMBER, self.dial, "target dial")
        _check_int(self.ring_timeout_s, "ring_timeout_s", 5, 120)
        _check_int(self.position, "position", 1, 10_000)
        for name in ("destination_id", "seat_id", "trunk_id"):
            if getattr(self, name) is not None:
                _check_int(getattr(self, name), name, 1, 2**63 - 1)
        _check_aware(self.valid_from, "valid_from")
        _check_aware(self.valid_until, "valid_until")

    def routable_at(self, now: dt.datetime) -> bool:
        """Within its authorization's validity at ``now`` (from inclusive, until exclusive)."""
        if self.valid_from is not None and now < self.valid_from:
            return False
        return self.valid_until is None or now < self.valid_until




@dataclass(frozen=True)
class DepartmentRouting:
    """A department (部门) reached by a menu key, or the switchboard (key :data:`SWITCHBOARD_KEY`).

    ``key`` is unique within the hotline; for sub-menus the loader uses the key path (e.g. ``"21"`` for
    key 1 under key 2). ``ringback`` is the Asterisk music-on-hold class played as the enterprise
    ringback tone (彩铃) while the seats ring, or None for ordinary ringing. ``max_attempts`` > 0 caps the
    number of seats tried (or rung at once, for ``simultaneous``); 0 means all.
    """

    key: str
    name: str = ""
    hunt_strategy: HuntStrategy = HuntStrategy.SEQUENTIAL
    max_attempts: int = 0
    targets: tuple[Target, ...] = ()
    ringback: str | None = None

    def __post_init__(self) -> None:
        _check(_KEY, self.key, "department key")
        if not isinstance(self.name, str) or has_unsafe_text(self.name):
            raise ValueError(f"department name: {self.name!r} has quotes or control characters")
        _set(self, "hunt_strategy", _enum(HuntStrategy, self.hunt_strategy, "hunt_strategy"))
        _check_int(self.max_attempts, "max_attempts", 0, 1000)
        _set(self, "targets", tuple(self.targets))
        for t in self.targets:
            if not isinstance(t, Target):
                raise ValueError(f"department {self.key}: {t!r} is not a Target")
        _check_optional(_MOH_CLASS, self.ringback, "ringback music-on-hold class")




# --------------------------------------------------------------------------- actions and rules


@dataclass(frozen=True)
class Action:
    """What to do with a call: play the menu, ring a department, take a message, announce, refuse.

    ``department`` is required for DEPARTMENT (may name the switchboard) and optional for VOICEMAIL (the
    mailbox's department; None = the hotline's mailbox). ``prompt`` is the sound to play: required in
    effect for ANNOUNCEMENT (defaults to ``ivr400/ivr400-closed``), the greeting for VOICEMAIL, the refusal
    prompt for REFUSE; None lets the dialplan use its default.
    """

    kind: ActionKind
    department: str | None = None
    prompt: str | None = None

    def __post_init__(self) -> None:
        _set(self, "kind", _enum(ActionKind, self.kind, "action kind"))
        _check_optional(_KEY, self.department, "action department")
        prompt = _check_optional(_PROMPT, self.prompt, "action prompt")
        if prompt is not None:
            _set(self, "prompt", sound_name(prompt))
        if self.kind is ActionKind.DEPARTMENT and self.department is None:
            raise ValueError("a department action needs a department key")
        if self.kind in (ActionKind.MENU, ActionKind.ANNOUNCEMENT, ActionKind.REFUSE) and self.department:
            raise ValueError(f"a {self.kind.value} action names no department")
        if self.kind is ActionKind.ANNOUNCEMENT and self.prompt is None:
            _set(self, "prompt", DEFAULT_ANNOUNCEMENT_PROMPT)




def _parse_clock(text: object, what: str, *, allow_24: bool = False) -> dt.time:
    if isinstance(text, dt.time):
        return text
    m = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text.strip()) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"{what}: {text!r} is not a time of day like 09:00")
    h, mi, s = int(m[1]), int(m[2]), int(m[3] or 0)
    if allow_24 and (h, mi, s) == (24, 0, 0):
        return dt.time(0, 0)
    if h > 23 or mi > 59 or s > 59:
        raise ValueError(f"{what}: {text!r} is not a time of day like 09:00")
    return dt.time(h, mi, s)


def _clock(t: dt.time) -> str:
    return t.strftime("%H:%M:%S") if t.second else t.strftime("%H:%M")


@dataclass(frozen=True)
class TimeSegment:
    """Local wall-clock interval ``[start, end)``: start inclusive, end exclusive.

    ``end < start`` crosses midnight (22:00–02:00); the part after midnight belongs to the day the
    segment started on. ``start == end`` means the whole day (write ``00:00-24:00``).
    """

    start: dt.time
    end: dt.time

    def __post_init__(self) -> None:
        for name in ("start", "end"):
            value = getattr(self, name)
            if not isinstance(value, dt.time) or value.tzinfo is not None or value.microsecond:
                raise ValueError(f"segment {name}: {value!r} must be a naive time without microseconds")

    @property
    def whole_day(self) -> bool:
        return self.start == self.end

    @property
    def crosses_midnight(self) -> bool:
        return self.end < self.start

    def same_day_contains(self, t: dt.time) -> bool:
        """Whether ``t`` falls in the part of the segment on the day it starts."""
        if self.whole_day:
            return True
        if self.crosses_midnight:
            return t >= self.start
        return self.start <= t < self.end

    def next_day_contains(self, t: dt.time) -> bool:
        """Whether ``t`` falls in the part after midnight of a segment that started the day before."""
        return self.crosses_midnight and t < self.end

    def __str__(self) -> str:
        end = "24:00" if self.whole_day and self.end == dt.time(0) else _clock(self.end)
        return f"{_clock(self.start)}-{end}"

    @classmethod
    def parse(cls, text: str) -> TimeSegment:
        """``"09:00-12:00"``, ``"22:00-02:00"``, ``"00:00-24:00"`` (en dash and ～ accepted too)."""
        parts = re.split(r"\s*[-–~～]\s*", text.strip()) if isinstance(text, str) else []
        if len(parts) != 2:
            raise ValueError(f"time segment: {text!r} is not like 09:00-12:00")
        return cls(_parse_clock(parts[0], "segment start"), _parse_clock(parts[1], "segment end", allow_24=True))




@dataclass(frozen=True)
class TimeRule:
    """智能呼转 by time: on matching days, during one of the segments, take ``action``.

    A day matches when its kind is in ``days`` (empty = any kind) AND its ISO weekday (1 = Monday … 7 =
    Sunday) is in ``weekdays`` (empty = any weekday). ``WORKDAY`` in ``days`` also matches make-up working
    days (调休上班); name ``MAKEUP_WORKDAY`` alone to match only those. A weekend day inside a statutory
    holiday block is a HOLIDAY, not a WEEKEND: write ``{weekend, holiday}`` for "every day off".
    ``segments`` empty = all day. Rules are tried by ``(priority, id)``, lowest first; the first match wins.
    """

    id: int
    action: Action
    segments: tuple[TimeSegment, ...] = ()
    days: frozenset[DayKind] = frozenset()
    weekdays: frozenset[int] = frozenset()
    priority: int = 100
    name: str | None = None

    def __post_init__(self) -> None:
        _check_int(self.id, "time rule id", 0, 2**63 - 1)
        if not isinstance(self.action, Action):
            raise ValueError(f"time rule {self.id}: action must be an Action")
        if self.action.kind is ActionKind.REFUSE:
            raise ValueError(f"time rule {self.id}: refusing is call blocking's job, not a time rule's")
        _set(self, "segments", tuple(self.segments))
        for s in self.segments:
            if not isinstance(s, TimeSegment):
                raise ValueError(f"time rule {self.id}: {s!r} is not a TimeSegment")
        _set(self, "days", frozenset(_enum(DayKind, k, "day kind") for k in self.days))
        _set(self, "weekdays", frozenset(_check_int(w, "weekday", 1, 7) for w in self.weekdays))
        _check_int(self.priority, "priority", -(2**31), 2**31 - 1)
        if self.name is not None:
            _check_text(self.name, "time rule name")

    @cached_property
    def effective_days(self) -> frozenset[DayKind]:
        days = set(self.days or DayKind)
        if DayKind.WORKDAY in days:
            days.add(DayKind.MAKEUP_WORKDAY)
        return frozenset(days)

    def applies_to_day(self, kind: DayKind, iso_weekday: int) -> bool:
        return kind in self.effective_days and (not self.weekdays or iso_weekday in self.weekdays)

    def describe(self) -> str:
        """Short form for reasons and logs: ``time rule 3 [workday] 09:00-12:00 13:30-18:00``."""
        parts = [f"time rule {self.id}"]
        if self.days:
            parts.append("[" + "+".join(sorted(k.value for k in self.days)) + "]")
        if self.weekdays:
            parts.append("[weekday " + "+".join(str(w) for w in sorted(self.weekdays)) + "]")
        parts.append(" ".join(str(s) for s in self.segments) if self.segments else "all day")
        return " ".join(parts)




@dataclass(frozen=True)
class RegionRule:
    """智能呼转 by caller region: callers from ``province`` (and ``city``, if given) go to ``department``.

    Names are the short Chinese forms ``ivr400.numbers.region_name`` produces (北京, 广东/深圳); full forms
    (广东省, 深圳市) are shortened at construction. Rules are tried by ``(priority, city rules before
    province rules, id)``; the first match wins.
    """

    id: int
    department: str
    province: str
    city: str | None = None
    priority: int = 100

    def __post_init__(self) -> None:
        _check_int(self.id, "region rule id", 0, 2**63 - 1)
        _check(_KEY, self.department, "region rule department")
        _set(self, "province", _short_province(self.province, "region rule province"))
        if self.city is not None:
            _set(self, "city", _short_city(self.province, self.city, "region rule city"))
        _check_int(self.priority, "priority", -(2**31), 2**31 - 1)

    @property
    def sort_key(self) -> tuple[int, int, int]:
        return (self.priority, 0 if self.city else 1, self.id)

    def matches(self, province: str | None, city: str | None) -> bool:
        return province == self.province and (self.city is None or city == self.city)




@dataclass(frozen=True)
class RegionOverride:
    """A row of the region override table: callers whose normalized number starts with ``prefix`` are
    from (``province``, ``city``) whatever the geocoder says. The longest matching prefix wins."""

    prefix: str
    province: str
    city: str | None = None

    def __post_init__(self) -> None:
        _set(self, "prefix", _normalize_number(self.prefix, "region override prefix", prefix=True, kinds=_GEOGRAPHIC))
        _set(self, "province", _short_province(self.province, "region override province"))
        if self.city is not None:
            _set(self, "city", _short_city(self.province, self.city, "region override city"))




# --------------------------------------------------------------------------- call blocking


@dataclass(frozen=True)
class BlockEntry:
    """A blacklist/whitelist entry: an exact normalized number, or a prefix (area code ``010``, mobile
    prefix ``1380013``). Typed forms are normalized by ``ivr400.numbers.normalize_number``, the reading
    caller IDs get too (``+86 10`` → ``010``, ``+86 10 8888`` → ``0108888``; docs/numbers.md)."""

    number: str
    prefix: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.prefix, bool):
            raise ValueError(f"block entry prefix flag: {self.prefix!r} must be a bool")
        _set(self, "number", _normalize_number(self.number, "block entry", prefix=self.prefix))

    def matches(self, caller: str) -> bool:
        return caller.startswith(self.number) if self.prefix else caller == self.number

    def __str__(self) -> str:
        return self.number + ("*" if self.prefix else "")




@dataclass(frozen=True)
class BlockPolicy:
    """呼叫阻截 for one hotline.

    ``anonymous`` decides withheld, empty and unparseable caller IDs in every mode (they match no list
    entry, so the mode alone cannot decide them). ``refuse_with`` is how refused callers are turned away:
    BUSY (busy signal) or PROMPT (play ``refuse_prompt``, default ``ivr400/ivr400-blocked``, then hang up).
    """

    mode: BlockMode = BlockMode.OFF
    entries: tuple[BlockEntry, ...] = ()
    anonymous: AnonymousPolicy = AnonymousPolicy.ALLOW
    refuse_with: RefuseWith = RefuseWith.BUSY
    refuse_prompt: str | None = None

    def __post_init__(self) -> None:
        _set(self, "mode", _enum(BlockMode, self.mode, "block mode"))
        _set(self, "anonymous", _enum(AnonymousPolicy, self.anonymous, "anonymous policy"))
        _set(self, "refuse_with", _enum(RefuseWith, self.refuse_with, "refuse_with"))
        _set(self, "entries", tuple(self.entries))
        for e in self.entries:
            if not isinstance(e, BlockEntry):
                raise ValueError(f"{e!r} is not a BlockEntry")
        refuse_prompt = _check_optional(_PROMPT, self.refuse_prompt, "refuse prompt")
        if refuse_prompt is not None:
            _set(self, "refuse_prompt", sound_name(refuse_prompt))

    @cached_property
    def exact_numbers(self) -> frozenset[str]:
        return frozenset(e.number for e in self.entries if not e.prefix)

    @cached_property
    def prefixes(self) -> tuple[BlockEntry, ...]:
        """Prefix entries, longest first (so the reason names the most specific one)."""
        return tuple(sorted((e for e in self.entries if e.prefix), key=lambda e: (-len(e.number), e.number)))




# --------------------------------------------------------------------------- the hotline


@dataclass(frozen=True)
class HotlineRouting:
    """Everything routing needs to know about one 400 hotline, as loaded at some instant.

    ``departments`` are the menu departments (keys unique, the switchboard not among them);
    ``switchboard`` holds the seats bound without a department (总机). ``time_rules`` empty = always open.
    ``after_hours`` is taken when rules exist and none matches. ``voicemail_enabled`` False turns every
    voicemail outcome into the ``ivr400/ivr400-closed`` announcement. ``region_overrides`` is the (usually global)
    override table, copied into each hotline's configuration by the loader.
    """

    hotline: str
    timezone: str = "Asia/Shanghai"
    departments: tuple[DepartmentRouting, ...] = ()
    switchboard: DepartmentRouting | None = None
    time_rules: tuple[TimeRule, ...] = ()
    after_hours: Action = field(default_factory=lambda: Action(ActionKind.VOICEMAIL))
    region_rules: tuple[RegionRule, ...] = ()
    region_overrides: tuple[RegionOverride, ...] = ()
    block: BlockPolicy = field(default_factory=BlockPolicy)
    voicemail_enabled: bool = True
    #: 呼叫限制: at most this many calls per caller per calendar month (in ``timezone``); 0 = no cap.
    caller_cap_per_month: int = 0
    #: 话费余额: at zero balance ``keep`` (route, flagged) or ``prompt`` (余额不足, hang up); None = no billing
    #: account (the balance is not looked at).
    zero_balance: str | None = None

    def __post_init__(self) -> None:
        if self.zero_balance is not None and self.zero_balance not in ("keep", "prompt"):
            raise ValueError(f"zero_balance: {self.zero_balance!r} is not keep or prompt")
        _check_int(self.caller_cap_per_month, "caller_cap_per_month", 0, MAX_CALLER_CAP)
        if not isinstance(self.hotline, str) or not re.fullmatch(r"[0-9]{3,20}", self.hotline):
            raise ValueError(f"hotline: {self.hotline!r} must be the hotline's digits")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise ValueError(f"timezone: {self.timezone!r} is not an IANA time zone") from None
        for name in ("departments", "time_rules", "region_rules", "region_overrides"):
            _set(self, name, tuple(getattr(self, name)))
        keys = [d.key for d in self.departments]
        if len(set(keys)) != len(keys):
            raise ValueError(f"hotline {self.hotline}: duplicate department keys {sorted(keys)}")
        if SWITCHBOARD_KEY in keys:
            raise ValueError(f"hotline {self.hotline}: '{SWITCHBOARD_KEY}' is reserved for the switchboard")
        if self.switchboard is not None and self.switchboard.key != SWITCHBOARD_KEY:
            raise ValueError(f"hotline {self.hotline}: the switchboard's key must be '{SWITCHBOARD_KEY}'")
        if not isinstance(self.after_hours, Action) or self.after_hours.kind is ActionKind.REFUSE:
            raise ValueError(f"hotline {self.hotline}: after_hours must be an Action other than refuse")
        if not isinstance(self.block, BlockPolicy):
            raise ValueError(f"hotline {self.hotline}: block must be a BlockPolicy")
        known = set(keys) | {SWITCHBOARD_KEY}
        actions = [("after_hours", self.after_hours)] + [(f"time rule {r.id}", r.action) for r in self.time_rules]
        for where, action in actions:
            if action.department is not None and action.department not in known:
                raise ValueError(f"hotline {self.hotline}: {where} names unknown department {action.department!r}")
        for rule in self.region_rules:
            if rule.department not in known:
                raise ValueError(
                    f"hotline {self.hotline}: region rule {rule.id} names unknown department {rule.department!r}"
                )
        for kind, ids in (("time", [r.id for r in self.time_rules]), ("region", [r.id for r in self.region_rules])):
            if len(set(ids)) != len(ids):
                raise ValueError(f"hotline {self.hotline}: duplicate {kind} rule ids")
        _ = self.region_override_index  # validate now, not during a call

    # Derived lookups, computed once per loaded configuration (not per call).

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @cached_property
    def departments_by_key(self) -> Mapping[str, DepartmentRouting]:
        out = {d.key: d for d in self.departments}
        if self.switchboard is not None:
            out[SWITCHBOARD_KEY] = self.switchboard
        return out

    @cached_property
    def time_rules_in_order(self) -> tuple[TimeRule, ...]:
        return tuple(sorted(self.time_rules, key=lambda r: (r.priority, r.id)))

    @cached_property
    def region_rules_in_order(self) -> tuple[RegionRule, ...]:
        return tuple(sorted(self.region_rules, key=lambda r: r.sort_key))

    @cached_property
    def region_override_index(self) -> Mapping[str, RegionOverride]:
        out: dict[str, RegionOverride] = {}
        for o in self.region_overrides:
            if o.prefix in out and out[o.prefix] != o:
                raise ValueError(f"region overrides: two rows for prefix {o.prefix}")
            out[o.prefix] = o
        return out

    def department(self, key: str) -> DepartmentRouting | None:
        return self.departments_by_key.get(key)




# --------------------------------------------------------------------------- the decision


@dataclass(frozen=True)
class Decision:
    """What the controller tells the dialplan for one call.

    ``action`` is never MENU with targets: MENU plays the IVR and the key press is decided by
    ``decide_department``. For DEPARTMENT, ``targets`` are in hunt order (non-empty; an empty
    department becomes VOICEMAIL). ``reason`` is a one-line, quote-free explanation for logs and CDR;
    it never contains the raw caller ID. ``caller`` is the normalized number (None when withheld or
    unparseable). ``time_rule_id``/``region_rule_id`` are the rules that matched, if any.
    """

    action: ActionKind
    reason: str
    department: str | None = None
    targets: tuple[Target, ...] = ()
    hunt_strategy: HuntStrategy | None = None
    ringback: str | None = None
    prompt: str | None = None
    refuse_with: RefuseWith | None = None
    caller: str | None = None
    caller_status: CallerStatus = CallerStatus.NUMBER
    province: str | None = None
    city: str | None = None
    time_rule_id: int | None = None
    region_rule_id: int | None = None
    day_kind: DayKind | None = None
    calendar_source: str | None = None
    local_time: dt.datetime | None = None
    #: Why a REFUSE decision refused, as data: ``blocking`` (呼叫阻截) or ``caller_cap`` (呼叫限制); ``balance``
    #: for the ANNOUNCEMENT of a hotline whose balance ran out (余额不足, choice ``prompt``); else None.
    refused_by: str | None = None
    #: Routed although the hotline's balance is at or below zero (choice ``keep``): the call is flagged.
    balance_flagged: bool = False

    @property
    def matched_rule_id(self) -> str | None:
        """The rule that decided the route, as ``"region:5"`` or ``"time:3"`` (for a CDR field)."""
        if self.region_rule_id is not None:
            return f"region:{self.region_rule_id}"
        if self.time_rule_id is not None:
            return f"time:{self.time_rule_id}"
        return None

    @property
    def dial_timeout_s(self) -> int:
        """For simultaneous ringing: the longest ring timeout among the targets (0 without targets)."""
        return max((t.ring_timeout_s for t in self.targets), default=0)


