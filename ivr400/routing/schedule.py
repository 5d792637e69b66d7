"""Time rules (智能呼转 by time): which rule, if any, is in force at an instant, in the enterprise's zone.

Pure functions of (rules, aware ``now``, time zone, calendar). The instant is converted to the
enterprise's local wall clock with ``zoneinfo``; the local date is classified with the calendar
(workday, weekend, statutory holiday, make-up working day); rules are tried by ``(priority, id)``.

A segment that crosses midnight (22:00–02:00) belongs to the day it starts on: at 01:00 on a Saturday the
rule is checked against Friday's classification and weekday. That is what "Friday night 22:00–02:00"
means to the people who write such rules.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ivr400.routing.calendar import Calendar, DayInfo, classify
from ivr400.routing.model import TimeRule

__all__ = ["ScheduleMatch", "evaluate", "local_time", "rule_matches"]


def local_time(now: dt.datetime, zone: ZoneInfo | str) -> dt.datetime:
    """``now`` on the enterprise's wall clock. A naive ``now`` is refused: its zone would be a guess."""
    if not isinstance(now, dt.datetime):
        raise ValueError(f"now: expected a datetime, got {now!r}")
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"now: {now!r} is naive; pass a timezone-aware datetime")
    return now.astimezone(zone if isinstance(zone, ZoneInfo) else ZoneInfo(zone))


@dataclass(frozen=True, slots=True)
class ScheduleMatch:
    """Result of evaluating the time rules at one instant.

    ``rule`` is the first rule in force or None. ``day`` classifies the local date; ``matched_day`` is
    the classification the rule matched against, which is the previous day's when the match came from the
    after-midnight part of a segment (``from_previous_day``).
    """

    rule: TimeRule | None
    local: dt.datetime
    day: DayInfo
    matched_day: DayInfo | None = None
    from_previous_day: bool = False

    @property
    def no_calendar_data(self) -> bool:
        """The classification that mattered came from a year the calendar has no data for."""
        relevant = self.matched_day if self.matched_day is not None else self.day
        return relevant.source == "no-data" or self.day.source == "no-data"

    def describe(self) -> str:
        """One line for the decision's reason."""
        text = f"{self.local:%Y-%m-%d %H:%M} {self.local.tzname()} {self.day.describe()}"
        if self.rule is None:
            return text
        text += f" | {self.rule.describe()} matched"
        if self.from_previous_day and self.matched_day is not None:
            text += f" (segment started the previous day: {self.matched_day.describe()})"
        return text


def rule_matches(rule: TimeRule, t: dt.time, today: dt.date, day: DayInfo, yesterday: DayInfo | None) -> str | None:
    """Whether ``rule`` is in force at local time ``t`` on ``today``.

    Returns ``"today"`` or ``"yesterday"`` (the after-midnight part of a segment started the day before),
    or None. ``yesterday`` may be None when no rule crosses midnight.
    """
    if rule.applies_to_day(day.kind, today.isoweekday()):
        if not rule.segments or any(s.same_day_contains(t) for s in rule.segments):
            return "today"
    if yesterday is not None and any(s.next_day_contains(t) for s in rule.segments):
        if rule.applies_to_day(yesterday.kind, (today - dt.timedelta(days=1)).isoweekday()):
            return "yesterday"
    return None


def evaluate(rules: Iterable[TimeRule], now: dt.datetime, zone: ZoneInfo | str, calendar: Calendar) -> ScheduleMatch:
    """The first rule in force at ``now`` (rules sorted by ``(priority, id)``), evaluated in ``zone``."""
    local = local_time(now, zone)
    today = local.date()
    t = local.time().replace(tzinfo=None)
    day = classify(today, calendar)
    ordered = sorted(rules, key=lambda r: (r.priority, r.id))
    yesterday: DayInfo | None = None
    if any(s.crosses_midnight for r in ordered for s in r.segments):
        yesterday = classify(today - dt.timedelta(days=1), calendar)
    for rule in ordered:
        which = rule_matches(rule, t, today, day, yesterday)
        if which == "today":
            return ScheduleMatch(rule, local, day, day, False)
        if which == "yesterday":
            return ScheduleMatch(rule, local, day, yesterday, True)
    return ScheduleMatch(None, local, day)
