"""Time rules (智能呼转 by time) and the after-hours action of a hotline: ``ivr400 rule time``,
``ivr400 rule after-hours``.

Rows are written in the caller's transaction (the CLI commits once per command, or rolls everything
back); the tables touched bump ``config_generation`` through their triggers, so a running controller sees
the edit on its next poll. Actions: see :mod:`ivr400.provisioning.actions`.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy.orm import Session

from ivr400.db.models import Hotline
from ivr400.db.models import TimeRule as TimeRuleRow
from ivr400.provisioning.actions import (
    check_priority,
    model_action,
    optional_text,
    parse_action,
    split_values,
)
from ivr400.provisioning.errors import ProvisioningError
from ivr400.routing.calendar import DayKind
from ivr400.routing.model import TimeRule, TimeSegment

__all__ = [
    "add_time_rule",
    "parse_days",
    "parse_segments",
    "parse_weekdays",
    "set_after_hours",
]

MAX_SEGMENTS = 8


def parse_days(text: str | Iterable[str] | None) -> list[str]:
    """``workday,holiday`` → sorted DayKind values; empty = any kind of day."""
    allowed = [k.value for k in DayKind]
    out = set()
    for item in split_values(text):
        value = item.lower().replace("-", "_")
        if value not in allowed:
            raise ProvisioningError("days", f"{item!r} is not one of {', '.join(allowed)}")
        out.add(value)
    return sorted(out)


def parse_weekdays(text: str | Iterable[int | str] | None) -> list[int]:
    """``1-5``, ``6,7``, ``1-3,5`` (ISO: 1 = Monday … 7 = Sunday) → sorted list; empty = every weekday."""
    if text is None:
        return []
    items = split_values(text) if isinstance(text, str) else [str(x) for x in text]
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
    for item in split_values(text):
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


def add_time_rule(session: Session, hotline: Hotline, *, action: str, days: str | Iterable[str] | None = None,
                  weekdays: str | Iterable[int | str] | None = None, segments: str | Iterable[str] | None = None,
                  priority: int = 100, name: str | None = None) -> TimeRuleRow:
    """智能呼转 by time: on matching days, during a segment, take ``action`` (first rule by priority wins)."""
    day_values = parse_days(days)
    weekday_values = parse_weekdays(weekdays)
    segment_values = parse_segments(segments)
    priority = check_priority(priority)
    name = optional_text(name, "name", 100)
    spec = parse_action(session, hotline, action)
    try:
        TimeRule(id=0, action=model_action(spec), segments=tuple(TimeSegment.parse(s) for s in segment_values),
                 days=frozenset(DayKind(d) for d in day_values), weekdays=frozenset(weekday_values),
                 priority=priority, name=name)
    except ValueError as exc:
        raise ProvisioningError("action", str(exc)) from None
    row = TimeRuleRow(hotline_id=hotline.id, priority=priority, name=name, days=day_values, weekdays=weekday_values,
                      segments=segment_values, action_kind=spec.kind.value,
                      action_department_id=spec.department.id if spec.department else None,
                      action_prompt=spec.prompt)
    session.add(row)
    session.flush()
    return row


def set_after_hours(session: Session, hotline: Hotline, action: str) -> Hotline:
    """What a call gets when the hotline has time rules and none is in force (default: voicemail)."""
    spec = parse_action(session, hotline, action)
    try:
        model_action(spec)
    except ValueError as exc:
        raise ProvisioningError("action", str(exc)) from None
    hotline.after_hours_kind = spec.kind.value
    hotline.after_hours_department_id = spec.department.id if spec.department else None
    hotline.after_hours_prompt = spec.prompt
    session.flush()
    return hotline
