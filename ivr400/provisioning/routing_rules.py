"""Routing rules an operator edits: time rules, region rules, region overrides, call blocking, the
after-hours action, and the holiday calendar.

Each service validates its input with the very dataclasses the controller builds at load time
(``ivr400.routing.model``), so what is accepted here is what the controller can route; a refusal is a
:class:`ProvisioningError` naming the field. Rows are written in the caller's transaction (the CLI
commits once per command, or rolls everything back). Every table touched here bumps
``config_generation`` through its triggers, so a running controller sees the edit on its next poll.

Actions are written ``menu[:PROMPT]`` (the top menu, with PROMPT instead of the welcome tone),
``department[:PATH]`` (no path: the switchboard), ``voicemail[:PATH]``
(a department's mailbox), ``announcement[:PROMPT]``. A PROMPT is the name of a tone of the enterprise
(played as ``ivr400/tone-<id>``) or an Asterisk sound name such as ``ivr400-closed`` or
``ivr400/ivr400-closed``.
"""
from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr400.db.models import (
    BlockEntry as BlockEntryRow,
)
from ivr400.db.models import (
    CalendarDay,
    Department,
    Enterprise,
    Hotline,
    Tone,
)
from ivr400.db.models import (
    RegionOverride as RegionOverrideRow,
)
from ivr400.db.models import (
    RegionRule as RegionRuleRow,
)
from ivr400.db.models import (
    TimeRule as TimeRuleRow,
)
from ivr400.numbers import NumberError, normalize_number
from ivr400.provisioning import lookup
from ivr400.provisioning.errors import ProvisioningError, from_integrity_error
from ivr400.render.model import tone_sound
from ivr400.routing.calendar import CalendarEntry, DayKind, seed_from_chinesecalendar
from ivr400.routing.model import (
    SWITCHBOARD_KEY,
    Action,
    ActionKind,
    AnonymousPolicy,
    BlockEntry,
    BlockMode,
    RefuseWith,
    RegionOverride,
    RegionRule,
    TimeRule,
    TimeSegment,
)

__all__ = [
    "ActionSpec",
    "SeedReport",
    "add_block_entry",
    "add_calendar_day",
    "add_region_override",
    "add_region_rule",
    "add_time_rule",
    "block_settings",
    "list_block_entries",
    "list_calendar",
    "list_region_overrides",
    "list_rules",
    "parse_action",
    "parse_days",
    "parse_segments",
    "parse_weekdays",
    "parse_years",
    "remove_block_entry",
    "remove_calendar_day",
    "remove_region_override",
    "remove_rule",
    "seed_calendar",
    "set_after_hours",
    "set_block_mode",
]

MAX_SEGMENTS = 8
_MAX_YEARS = 50
_TEXT_UNSAFE = re.compile(r"[\x00-\x1f\x7f\"'\\$;`{}]")


# --------------------------------------------------------------------------- parsing helpers


def _values(text: str | Iterable[str] | None) -> list[str]:
    if text is None:
        return []
    items = text.split(",") if isinstance(text, str) else list(text)
    return [i.strip() for i in items if i and i.strip()]


def parse_days(text: str | Iterable[str] | None) -> list[str]:
    """``workday,holiday`` → sorted DayKind values; empty = any kind of day."""
    allowed = [k.value for k in DayKind]
    out = set()
    for item in _values(text):
        value = item.lower().replace("-", "_")
        if value not in allowed:
            raise ProvisioningError("days", f"{item!r} is not one of {', '.join(allowed)}")
        out.add(value)
    return sorted(out)


def parse_weekdays(text: str | Iterable[int | str] | None) -> list[int]:
    """``1-5``, ``6,7``, ``1-3,5`` (ISO: 1 = Monday … 7 = Sunday) → sorted list; empty = every weekday."""
    if text is None:
        return []
    items = _values(text) if isinstance(text, str) else [str(x) for x in text]
    out: set[int] = set()
    for item in items:
        m = re.fullmatch(r"([1-7])(?:\s*-\s*([1-7]))?", item)
        if m is None:
            raise ProvisioningError("weekdays", f"{item!r} is not a weekday 1-7 (1 = Monday) or a range like 1-5")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if hi < lo:
            raise ProvisioningError("weekdays", f"{item!r}: a range goes from the smaller day to the larger")
        out.update(range(lo, hi + 1))
    return sorted(out)


def parse_segments(text: str | Iterable[str] | None) -> list[str]:
    """``09:00-12:00,13:30-18:00`` → normalized ``HH:MM-HH:MM`` strings; empty = all day."""
    out: list[str] = []
    for item in _values(text):
        try:
            segment = TimeSegment.parse(item)
        except ValueError as exc:
            raise ProvisioningError("segments", str(exc)) from None
        if str(segment) in out:
            raise ProvisioningError("segments", f"{item!r} is given twice")
        out.append(str(segment))
    if len(out) > MAX_SEGMENTS:
        raise ProvisioningError("segments", f"at most {MAX_SEGMENTS} segments per rule (got {len(out)})")
    return out


def parse_years(text: str | None, default_around: int) -> list[int]:
    """``2024-2026``, ``2025``, ``2024,2026``; None → the year before, this one and the next."""
    if text is None or not text.strip():
        return [default_around - 1, default_around, default_around + 1]
    out: set[int] = set()
    for item in _values(text):
        m = re.fullmatch(r"([0-9]{4})(?:\s*-\s*([0-9]{4}))?", item)
        if m is None:
            raise ProvisioningError("years", f"{item!r} is not a year or a range like 2024-2026")
        lo, hi = int(m[1]), int(m[2] or m[1])
        if hi < lo or not 1900 <= lo <= 2200 or not 1900 <= hi <= 2200:
            raise ProvisioningError("years", f"{item!r} is not a range of years between 1900 and 2200")
        out.update(range(lo, hi + 1))
    if len(out) > _MAX_YEARS:
        raise ProvisioningError("years", f"at most {_MAX_YEARS} years at once")
    return sorted(out)


def _priority(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value <= 2**31 - 1:
        raise ProvisioningError("priority", f"{value!r} is not a 32-bit integer")
    return value


def _text(value: str | None, field: str, limit: int) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _TEXT_UNSAFE.search(text):
        raise ProvisioningError(field, "no quotes, backslashes, $ ; ` { } or control characters")
    if len(text) > limit:
        raise ProvisioningError(field, f"at most {limit} characters")
    return text


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True)
class ActionSpec:
    """A parsed action: what the rows store (``department`` None = the switchboard)."""

    kind: ActionKind
    department: Department | None = None
    prompt: str | None = None

    def describe(self) -> str:
        return describe_action(self.kind.value, lookup.key_path(self.department) if self.department else None,
                               self.prompt)


def describe_action(kind: str, path: str | None, prompt: str | None) -> str:
    """``department:2``, ``department`` (switchboard), ``announcement:ivr400-closed``, ``menu``."""
    if kind in (ActionKind.DEPARTMENT.value, ActionKind.VOICEMAIL.value) and path:
        return f"{kind}:{path}"
    if prompt:
        return f"{kind}:{prompt}"
    return kind


def resolve_prompt(session: Session, hotline: Hotline, text: str, field: str) -> str:
    """A tone of the enterprise (or a shared one) by name → its sound; else a validated sound name."""
    name = text.strip()
    for owner in (Tone.enterprise_id == hotline.enterprise_id, Tone.enterprise_id.is_(None)):
        tone_id = session.scalar(select(Tone.id).where(Tone.name == name, owner))
        if tone_id is not None:
            return tone_sound(tone_id)
    try:
        Action(ActionKind.ANNOUNCEMENT, prompt=name)
    except ValueError:
        raise ProvisioningError(field, f"{name!r} is neither a tone of this enterprise nor a sound name "
                                "(letters, digits, _ . / -)") from None
    return name


def parse_action(session: Session, hotline: Hotline, text: str, field: str = "action", *,
                 allow_menu: bool = True) -> ActionSpec:
    """``menu[:PROMPT] | department[:PATH] | voicemail[:PATH] | announcement[:PROMPT]`` for ``hotline``."""
    if not isinstance(text, str) or not text.strip():
        raise ProvisioningError(field, "empty action")
    kind_text, _, arg = text.strip().partition(":")
    kinds = [ActionKind.MENU, ActionKind.DEPARTMENT, ActionKind.VOICEMAIL, ActionKind.ANNOUNCEMENT]
    if not allow_menu:
        kinds.remove(ActionKind.MENU)
    try:
        kind = ActionKind(kind_text.strip().lower())
    except ValueError:
        kind = None
    if kind not in kinds:
        allowed = " | ".join(k.value + (":PATH" if k in (ActionKind.DEPARTMENT, ActionKind.VOICEMAIL) else "")
                             + ("[:PROMPT]" if k in (ActionKind.ANNOUNCEMENT, ActionKind.MENU) else "")
                             for k in kinds)
        raise ProvisioningError(field, f"{text!r} is not {allowed}")
    assert kind is not None
    arg = arg.strip()
    if kind in (ActionKind.DEPARTMENT, ActionKind.VOICEMAIL):
        if not arg or arg == SWITCHBOARD_KEY:
            return ActionSpec(kind)
        return ActionSpec(kind, department=lookup.department(session, hotline, arg, field))
    if not arg:
        return ActionSpec(kind)
    return ActionSpec(kind, prompt=resolve_prompt(session, hotline, arg, field))


def _model_action(spec: ActionSpec) -> Action:
    department = None
    if spec.kind is ActionKind.DEPARTMENT:
        department = lookup.key_path(spec.department) if spec.department else SWITCHBOARD_KEY
    elif spec.kind is ActionKind.VOICEMAIL and spec.department is not None:
        department = lookup.key_path(spec.department)
    return Action(spec.kind, department, spec.prompt)


# --------------------------------------------------------------------------- time and region rules


def add_time_rule(session: Session, hotline: Hotline, *, action: str, days: str | Iterable[str] | None = None,
                  weekdays: str | Iterable[int | str] | None = None, segments: str | Iterable[str] | None = None,
                  priority: int = 100, name: str | None = None) -> TimeRuleRow:
    """智能呼转 by time: on matching days, during a segment, take ``action`` (first rule by priority wins)."""
    day_values = parse_days(days)
    weekday_values = parse_weekdays(weekdays)
    segment_values = parse_segments(segments)
    priority = _priority(priority)
    name = _text(name, "name", 100)
    spec = parse_action(session, hotline, action)
    try:
        TimeRule(id=0, action=_model_action(spec), segments=tuple(TimeSegment.parse(s) for s in segment_values),
                 days=frozenset(day_values), weekdays=frozenset(weekday_values), priority=priority, name=name)
    except ValueError as exc:
        raise ProvisioningError("action", str(exc)) from None
    row = TimeRuleRow(hotline_id=hotline.id, priority=priority, name=name, days=day_values, weekdays=weekday_values,
                      segments=segment_values, action_kind=spec.kind.value,
                      action_department_id=spec.department.id if spec.department else None,
                      action_prompt=spec.prompt)
    session.add(row)
    session.flush()
    return row


def add_region_rule(session: Session, hotline: Hotline, *, province: str, department: str, city: str | None = None,
                    priority: int = 100) -> RegionRuleRow:
    """来电地区路由: callers from ``province`` (and ``city``) go straight to the department at key path
    ``department`` (when the call would otherwise get the menu or the switchboard)."""
    priority = _priority(priority)
    if not isinstance(department, str) or not department.strip():
        raise ProvisioningError("department", "give the department's key path, e.g. 2 or 2.1")
    dept = lookup.department(session, hotline, department.strip())
    city = _text(city, "city", 20)
    try:
        model = RegionRule(id=0, department=lookup.key_path(dept), province=(province or "").strip(), city=city,
                           priority=priority)
    except ValueError as exc:
        field = "province" if "province" in str(exc) else "city" if "city" in str(exc) else "department"
        raise ProvisioningError(field, str(exc).split(": ", 1)[-1]) from None
    dup = select(RegionRuleRow.id).where(RegionRuleRow.hotline_id == hotline.id,
                                         RegionRuleRow.province == model.province,
                                         RegionRuleRow.department_id == dept.id,
                                         RegionRuleRow.priority == priority)
    dup = dup.where(RegionRuleRow.city.is_(None) if model.city is None else RegionRuleRow.city == model.city)
    if session.scalar(dup) is not None:
        raise ProvisioningError("province", "the same region rule already exists")
    row = RegionRuleRow(hotline_id=hotline.id, priority=priority, province=model.province, city=model.city,
                        department_id=dept.id)
    session.add(row)
    session.flush()
    return row


def set_after_hours(session: Session, hotline: Hotline, action: str) -> Hotline:
    """What a call gets when the hotline has time rules and none is in force (default: voicemail)."""
    spec = parse_action(session, hotline, action)
    try:
        _model_action(spec)
    except ValueError as exc:
        raise ProvisioningError("action", str(exc)) from None
    hotline.after_hours_kind = spec.kind.value
    hotline.after_hours_department_id = spec.department.id if spec.department else None
    hotline.after_hours_prompt = spec.prompt
    session.flush()
    return hotline


def department_paths(session: Session, hotline: Hotline) -> dict[int, str]:
    return {d.id: lookup.key_path(d) for d in session.scalars(select(Department).where(Department.hotline_id == hotline.id))}


def time_rule_view(row: TimeRuleRow, paths: dict[int, str]) -> dict[str, Any]:
    path = paths.get(row.action_department_id) if row.action_department_id is not None else None
    when = []
    if row.days:
        when.append("+".join(row.days))
    if row.weekdays:
        when.append("weekday " + ",".join(str(w) for w in row.weekdays))
    when.append(" ".join(row.segments) if row.segments else "all day")
    return {"id": f"time:{row.id}", "type": "time", "priority": row.priority, "name": row.name,
            "days": list(row.days or []), "weekdays": list(row.weekdays or []), "segments": list(row.segments or []),
            "when": " ".join(when), "action": describe_action(row.action_kind, path, row.action_prompt)}


def region_rule_view(row: RegionRuleRow, paths: dict[int, str]) -> dict[str, Any]:
    where = row.province + (f"/{row.city}" if row.city else "")
    path = paths.get(row.department_id, f"#{row.department_id}")
    return {"id": f"region:{row.id}", "type": "region", "priority": row.priority, "name": None,
            "province": row.province, "city": row.city, "department": path,
            "when": f"caller from {where}", "action": f"department:{path}"}


def after_hours_view(hotline: Hotline, paths: dict[int, str]) -> str:
    path = paths.get(hotline.after_hours_department_id) if hotline.after_hours_department_id is not None else None
    return describe_action(hotline.after_hours_kind, path, hotline.after_hours_prompt)


def list_rules(session: Session, hotline: Hotline) -> dict[str, Any]:
    """Time rules by (priority, id), region rules by (priority, city first, id), and the after-hours action."""
    paths = department_paths(session, hotline)
    times = session.scalars(select(TimeRuleRow).where(TimeRuleRow.hotline_id == hotline.id)
                            .order_by(TimeRuleRow.priority, TimeRuleRow.id))
    regions = sorted(session.scalars(select(RegionRuleRow).where(RegionRuleRow.hotline_id == hotline.id)),
                     key=lambda r: (r.priority, 0 if r.city else 1, r.id))
    return {
        "hotline": hotline.number,
        "time_rules": [time_rule_view(r, paths) for r in times],
        "region_rules": [region_rule_view(r, paths) for r in regions],
        "after_hours": after_hours_view(hotline, paths),
    }


def remove_rule(session: Session, ref: str) -> str:
    """Remove ``time:N`` or ``region:N`` (a bare N when only one kind of rule has that id)."""
    text = (ref or "").strip().lower()
    m = re.fullmatch(r"(?:(time|region|t|r):)?([0-9]{1,18})", text)
    if m is None:
        raise ProvisioningError("id", f"{ref!r} is not a rule id like time:3 or region:5")
    kind, rule_id = m[1], int(m[2])
    candidates: list[tuple[str, Any]] = []
    if kind in (None, "time", "t"):
        row = session.get(TimeRuleRow, rule_id)
        if row is not None:
            candidates.append(("time", row))
    if kind in (None, "region", "r"):
        row = session.get(RegionRuleRow, rule_id)
        if row is not None:
            candidates.append(("region", row))
    if not candidates:
        raise ProvisioningError("id", f"no rule {ref}")
    if len(candidates) > 1:
        raise ProvisioningError("id", f"both time:{rule_id} and region:{rule_id} exist; say which")
    name, row = candidates[0]
    session.delete(row)
    session.flush()
    return f"{name}:{rule_id}"


# --------------------------------------------------------------------------- region overrides


def add_region_override(session: Session, prefix: str, province: str, city: str | None = None) -> RegionOverrideRow:
    """Callers whose number starts with ``prefix`` are from ``province``/``city`` whatever the geocoder says."""
    city = _text(city, "city", 20)
    try:
        model = RegionOverride(prefix, (province or "").strip(), city)
    except ValueError as exc:
        message = str(exc)
        field = "prefix" if "prefix" in message else "province" if "province" in message else "city"
        raise ProvisioningError(field, message.split(": ", 1)[-1]) from None
    if len(model.prefix) > 20:
        raise ProvisioningError("prefix", "at most 20 characters")
    if session.scalar(select(RegionOverrideRow.id).where(RegionOverrideRow.prefix == model.prefix)) is not None:
        raise ProvisioningError("prefix", f"an override for {model.prefix} already exists")
    row = RegionOverrideRow(prefix=model.prefix, province=model.province, city=model.city)
    session.add(row)
    session.flush()
    return row


def list_region_overrides(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(RegionOverrideRow).order_by(RegionOverrideRow.prefix))
    return [{"id": r.id, "prefix": r.prefix, "province": r.province, "city": r.city} for r in rows]


def remove_region_override(session: Session, prefix: str) -> str:
    try:
        normalized = normalize_number(prefix, prefix=True).value
    except NumberError as exc:
        raise ProvisioningError("prefix", str(exc)) from None
    row = session.scalar(select(RegionOverrideRow).where(RegionOverrideRow.prefix == normalized))
    if row is None:
        raise ProvisioningError("prefix", f"no override for {normalized}")
    session.delete(row)
    session.flush()
    return normalized


# --------------------------------------------------------------------------- call blocking


def set_block_mode(session: Session, hotline: Hotline, mode: str, *, anonymous: str | None = None,
                   refuse_with: str | None = None, refuse_prompt: str | None = None) -> Hotline:
    """呼叫阻截: off, blacklist (listed callers refused) or whitelist_only (only listed callers get in)."""
    choices = {"mode": (BlockMode, mode), "anonymous": (AnonymousPolicy, anonymous),
               "refuse-with": (RefuseWith, refuse_with)}
    values: dict[str, str | None] = {}
    for field, (enum, value) in choices.items():
        if value is None:
            values[field] = None
            continue
        try:
            values[field] = enum(value.strip().lower().replace("-", "_")).value
        except ValueError:
            raise ProvisioningError(field, f"{value!r} is not one of {', '.join(m.value for m in enum)}") from None
    prompt = resolve_prompt(session, hotline, refuse_prompt, "prompt") if refuse_prompt else None
    hotline.block_mode = values["mode"] or hotline.block_mode
    if values["anonymous"] is not None:
        hotline.anonymous_policy = values["anonymous"]
    if values["refuse-with"] is not None:
        hotline.refuse_with = values["refuse-with"]
    if prompt is not None:
        hotline.refuse_prompt = prompt
    session.flush()
    return hotline


def block_settings(hotline: Hotline) -> dict[str, Any]:
    return {"hotline": hotline.number, "mode": hotline.block_mode, "anonymous": hotline.anonymous_policy,
            "refuse_with": hotline.refuse_with, "refuse_prompt": hotline.refuse_prompt}


def _block_entry(number: str, prefix: bool) -> BlockEntry:
    try:
        entry = BlockEntry(number, bool(prefix))
    except ValueError as exc:
        raise ProvisioningError("number", str(exc).removeprefix("block entry: ")) from None
    if len(entry.number) > 20:
        raise ProvisioningError("number", "at most 20 digits")
    return entry


def add_block_entry(session: Session, hotline: Hotline, number: str, *, prefix: bool = False,
                    note: str | None = None) -> BlockEntryRow:
    """Add a caller number (or, with ``prefix``, an area code / number prefix) to the hotline's list."""
    entry = _block_entry(number, prefix)
    note = _text(note, "note", 200)
    exists = select(BlockEntryRow.id).where(BlockEntryRow.hotline_id == hotline.id,
                                            BlockEntryRow.number == entry.number, BlockEntryRow.prefix == entry.prefix)
    if session.scalar(exists) is not None:
        raise ProvisioningError("number", f"{entry} is already on the list of {hotline.number}")
    row = BlockEntryRow(hotline_id=hotline.id, number=entry.number, prefix=entry.prefix, note=note)
    session.add(row)
    try:
        session.flush()
    except IntegrityError as exc:
        raise from_integrity_error(exc, "number") from exc
    return row


def remove_block_entry(session: Session, hotline: Hotline, number: str, *, prefix: bool = False) -> str:
    entry = _block_entry(number, prefix)
    row = session.scalar(select(BlockEntryRow).where(BlockEntryRow.hotline_id == hotline.id,
                                                     BlockEntryRow.number == entry.number,
                                                     BlockEntryRow.prefix == entry.prefix))
    if row is None:
        raise ProvisioningError("number", f"{entry} is not on the list of {hotline.number}")
    session.delete(row)
    session.flush()
    return str(entry)


def list_block_entries(session: Session, hotline: Hotline | None = None) -> list[dict[str, Any]]:
    stmt = (select(BlockEntryRow, Hotline.number).join(Hotline, Hotline.id == BlockEntryRow.hotline_id)
            .order_by(Hotline.number, BlockEntryRow.prefix, BlockEntryRow.number))
    if hotline is not None:
        stmt = stmt.where(BlockEntryRow.hotline_id == hotline.id)
    return [{"id": row.id, "hotline": number, "number": row.number, "prefix": row.prefix,
             "entry": row.number + ("*" if row.prefix else ""), "note": row.note}
            for row, number in session.execute(stmt)]


# --------------------------------------------------------------------------- calendar


@dataclass(frozen=True)
class SeedReport:
    years_with_data: tuple[int, ...]
    years_without_data: tuple[int, ...]
    days_written: int
    days_removed: int

    def to_dict(self) -> dict[str, Any]:
        return {"years_with_data": list(self.years_with_data), "years_without_data": list(self.years_without_data),
                "days_written": self.days_written, "days_removed": self.days_removed}


def seed_calendar(session: Session, years: Iterable[int]) -> SeedReport:
    """Replace the national days of ``years`` with chinesecalendar's; years it has no data for are
    reported (and their rows kept), never an error."""
    result = seed_from_chinesecalendar(years)
    removed = written = 0
    for year in result.years_with_data:
        removed += session.execute(
            delete(CalendarDay).where(CalendarDay.enterprise_id.is_(None),
                                      CalendarDay.day >= dt.date(year, 1, 1), CalendarDay.day <= dt.date(year, 12, 31))
        ).rowcount or 0
    session.flush()
    for entry in result.entries:
        session.add(CalendarDay(enterprise_id=None, day=entry.day, kind=entry.kind.value, name=entry.name))
        written += 1
    session.flush()
    return SeedReport(result.years_with_data, result.years_without_data, written, removed)


def _kind(kind: str) -> DayKind:
    value = (kind or "").strip().lower().replace("-", "_")
    try:
        return DayKind(value)
    except ValueError:
        raise ProvisioningError("kind", f"{kind!r} is not one of {', '.join(k.value for k in DayKind)}") from None


def add_calendar_day(session: Session, day: dt.date, kind: str, *, enterprise: Enterprise | None = None,
                     name: str | None = None) -> CalendarDay:
    """Pin one day's kind: nationally (enterprise None) or for one enterprise (an override that wins over
    the national calendar). An existing row for that day and owner is replaced."""
    day_kind = _kind(kind)
    name = _text(name, "name", 64)
    try:
        CalendarEntry(day, day_kind, name)
    except ValueError as exc:
        raise ProvisioningError("date", str(exc)) from None
    owner = CalendarDay.enterprise_id.is_(None) if enterprise is None else CalendarDay.enterprise_id == enterprise.id
    row = session.scalar(select(CalendarDay).where(owner, CalendarDay.day == day))
    if row is None:
        row = CalendarDay(enterprise_id=enterprise.id if enterprise else None, day=day, kind=day_kind.value, name=name)
        session.add(row)
    else:
        row.kind = day_kind.value
        row.name = name
    session.flush()
    return row


def remove_calendar_day(session: Session, day: dt.date, *, enterprise: Enterprise | None = None) -> None:
    owner = CalendarDay.enterprise_id.is_(None) if enterprise is None else CalendarDay.enterprise_id == enterprise.id
    row = session.scalar(select(CalendarDay).where(owner, CalendarDay.day == day))
    if row is None:
        whose = "national" if enterprise is None else f"enterprise {enterprise.id}"
        raise ProvisioningError("date", f"no {whose} calendar entry on {day.isoformat()}")
    session.delete(row)
    session.flush()


def calendar_view(row: CalendarDay, enterprise_name: str | None) -> dict[str, Any]:
    return {"id": row.id, "day": row.day.isoformat(), "weekday": row.day.isoweekday(), "kind": row.kind,
            "name": row.name, "enterprise_id": row.enterprise_id, "enterprise": enterprise_name or "national"}


def list_calendar(session: Session, *, year: int | None = None, enterprise: Enterprise | None = None) -> list[dict[str, Any]]:
    """National days and enterprise overrides (only ``enterprise``'s when given), by day."""
    stmt = (select(CalendarDay, Enterprise.name).outerjoin(Enterprise, Enterprise.id == CalendarDay.enterprise_id)
            .order_by(CalendarDay.day, CalendarDay.enterprise_id.is_not(None), CalendarDay.enterprise_id))
    if year is not None:
        if not 1900 <= year <= 2200:
            raise ProvisioningError("year", f"{year} is not a year between 1900 and 2200")
        stmt = stmt.where(CalendarDay.day >= dt.date(year, 1, 1), CalendarDay.day <= dt.date(year, 12, 31))
    if enterprise is not None:
        stmt = stmt.where(CalendarDay.enterprise_id == enterprise.id)
    return [calendar_view(row, name) for row, name in session.execute(stmt)]

