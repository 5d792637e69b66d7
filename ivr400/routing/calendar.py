"""Day classification: workdays, weekends, statutory holidays and make-up working days.

China's holiday calendar (法定节假日) is published year by year and shifts weekends around: some weekend
days become make-up working days (调休上班) so that a holiday block is contiguous. A rule like "open on
working days" therefore cannot be expressed with weekdays alone; it needs this calendar.

The national calendar is seeded from ``chinesecalendar`` (which only knows a bounded range of years) and
each enterprise may override single days (e.g. a company closes on an extra day). Everything here is pure:
the database layer loads rows into :class:`CalendarEntry` and builds a :class:`Calendar`.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

from ivr400.validators import UNSAFE_TEXT, has_unsafe_text

__all__ = [
    "DayKind",
    "WORKING_DAY_KINDS",
    "NON_WORKING_DAY_KINDS",
    "CalendarEntry",
    "Calendar",
    "DayInfo",
    "DaySource",
    "classify",
    "SeedResult",
    "chinesecalendar_years",
    "seed_from_chinesecalendar",
]


class DayKind(enum.Enum):
    """What kind of day a date is, for routing purposes."""

    WORKDAY = "workday"
    WEEKEND = "weekend"
    HOLIDAY = "holiday"  # statutory holiday (法定节假日), including weekend days inside the holiday block
    MAKEUP_WORKDAY = "makeup_workday"  # weekend day worked in exchange for a holiday (调休上班)


WORKING_DAY_KINDS: frozenset[DayKind] = frozenset({DayKind.WORKDAY, DayKind.MAKEUP_WORKDAY})
NON_WORKING_DAY_KINDS: frozenset[DayKind] = frozenset({DayKind.WEEKEND, DayKind.HOLIDAY})

DaySource = Literal["override", "calendar", "weekday-default", "no-data"]

# Holiday names end up in decision reasons (logs, CDR); keep them free of quoting/control characters.


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """One day that differs from the plain Mon–Fri rhythm (or that an enterprise pins explicitly)."""

    day: dt.date
    kind: DayKind
    name: str | None = None

    def __post_init__(self) -> None:
        # datetime is a subclass of date; a datetime key would never match a date lookup.
        if not isinstance(self.day, dt.date) or isinstance(self.day, dt.datetime):
            raise ValueError(f"day: expected a datetime.date, got {self.day!r}")
        if not isinstance(self.kind, DayKind):
            try:  # accept the stored string form ("holiday") as well as the enum
                object.__setattr__(self, "kind", DayKind(self.kind))
            except ValueError:
                raise ValueError(f"kind: expected a DayKind, got {self.kind!r}") from None
        if self.name is not None and (not isinstance(self.name, str) or has_unsafe_text(self.name)):
            raise ValueError(f"name: {self.name!r} must be text without quotes or control characters")

    def to_dict(self) -> dict[str, str | None]:
        """JSON-able form, also the natural shape of a ``calendar`` table row."""
        return {"day": self.day.isoformat(), "kind": self.kind.value, "name": self.name}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> CalendarEntry:
        day = d["day"]
        if isinstance(day, str):
            day = dt.date.fromisoformat(day)
        name = d.get("name")
        return cls(day, DayKind(d["kind"]), name if isinstance(name, str) else None)  # type: ignore[arg-type]


def _index(entries: Iterable[CalendarEntry], layer: str) -> Mapping[dt.date, CalendarEntry]:
    out: dict[dt.date, CalendarEntry] = {}
    for entry in entries:
        if entry.day in out and out[entry.day] != entry:
            raise ValueError(f"{layer}: two different entries for {entry.day.isoformat()}")
        out[entry.day] = entry
    return MappingProxyType(out)


@dataclass(frozen=True)
class Calendar:
    """National entries plus per-enterprise overrides; an override for a date always wins.

    ``known_years`` are the years the national source has data for. A date outside them with no entry is
    classified by weekday but flagged ``source="no-data"`` so callers can warn instead of silently
    treating a future Spring Festival as a normal workday.
    """

    national: Mapping[dt.date, CalendarEntry] = field(default_factory=lambda: MappingProxyType({}))
    overrides: Mapping[dt.date, CalendarEntry] = field(default_factory=lambda: MappingProxyType({}))
    known_years: frozenset[int] = frozenset()

    @classmethod
    def build(
        cls,
        national: Iterable[CalendarEntry] = (),
        overrides: Iterable[CalendarEntry] = (),
        known_years: Iterable[int] | None = None,
    ) -> Calendar:
        """Build from entry lists; ``known_years`` defaults to the years present in ``national``."""
        nat = _index(national, "national")
        years = frozenset(known_years) if known_years is not None else frozenset(d.year for d in nat)
        return cls(national=nat, overrides=_index(overrides, "overrides"), known_years=years)

    def with_overrides(self, overrides: Iterable[CalendarEntry]) -> Calendar:
        """The same national calendar with another enterprise's overrides (national data is shared)."""
        return Calendar(self.national, _index(overrides, "overrides"), self.known_years)


@dataclass(frozen=True, slots=True)
class DayInfo:
    """Classification of one local date and where the answer came from."""

    kind: DayKind
    name: str | None
    is_working_day: bool
    source: DaySource
    year_known: bool  # False: the national calendar has no data for this year

    def describe(self) -> str:
        """Short form for reasons and logs: ``holiday 国庆节``, ``workday (no calendar data)``."""
        text = self.kind.value + (f" {self.name}" if self.name else "")
        if self.source == "override":
            text += " (enterprise override)"
        elif self.source == "no-data":
            text += " (no calendar data)"
        return text


def _weekday_kind(day: dt.date) -> DayKind:
    return DayKind.WEEKEND if day.weekday() >= 5 else DayKind.WORKDAY


def classify(day: dt.date, calendar: Calendar) -> DayInfo:
    """Classify a local date: override, then national entry, then the Mon–Fri default."""
    if isinstance(day, dt.datetime):
        day = day.date()
    year_known = day.year in calendar.known_years
    entry = calendar.overrides.get(day)
    source: DaySource
    if entry is not None:
        source = "override"
    else:
        entry = calendar.national.get(day)
        source = "calendar"
    if entry is not None:
        return DayInfo(entry.kind, entry.name, entry.kind in WORKING_DAY_KINDS, source, year_known)
    kind = _weekday_kind(day)
    return DayInfo(
        kind,
        None,
        kind in WORKING_DAY_KINDS,
        "weekday-default" if year_known else "no-data",
        year_known,
    )


@dataclass(frozen=True, slots=True)
class SeedResult:
    """Entries derived from ``chinesecalendar`` and the requested years it had no data for."""

    entries: tuple[CalendarEntry, ...]
    years_with_data: tuple[int, ...]
    years_without_data: tuple[int, ...]

    def to_calendar(self, overrides: Iterable[CalendarEntry] = ()) -> Calendar:
        return Calendar.build(self.entries, overrides, known_years=self.years_with_data)


def _chinese_name(english: str | None) -> str | None:
    """chinesecalendar reports English holiday names; routing rules and prompts use the Chinese ones."""
    if english is None:
        return None
    from chinese_calendar import Holiday

    try:
        return Holiday(english).chinese
    except ValueError:  # a name added to the library after this code was written
        return UNSAFE_TEXT.sub("", english) or None


def chinesecalendar_years() -> range:
    """The years the installed ``chinesecalendar`` has data for (it raises outside them)."""
    import chinese_calendar as cc

    years = [d.year for d in cc.holidays]
    return range(min(years), max(years) + 1) if years else range(0)


def seed_from_chinesecalendar(years: Iterable[int]) -> SeedResult:
    """Holidays and make-up working days for ``years``; unknown years are reported, never raised.

    Only days that differ from the Mon–Fri default become entries: named off days (including weekend days
    inside a holiday block and 调休 weekdays off) as HOLIDAY, and weekend days that are worked as
    MAKEUP_WORKDAY (named after the holiday they compensate for). Read from the library's published
    ``holidays``/``workdays`` tables (what its ``is_workday`` and ``get_holiday_detail`` consult), so
    23 years take milliseconds rather than a second of per-day calls.
    """
    import chinese_calendar as cc

    known = chinesecalendar_years()
    wanted = sorted(set(years))
    with_data = tuple(y for y in wanted if y in known)
    selected = set(with_data)
    entries: list[CalendarEntry] = []
    for day, english in cc.workdays.items():
        if day.year in selected and day.weekday() >= 5:
            entries.append(CalendarEntry(day, DayKind.MAKEUP_WORKDAY, _chinese_name(english)))
    for day, english in cc.holidays.items():
        if day.year in selected and day not in cc.workdays:
            entries.append(CalendarEntry(day, DayKind.HOLIDAY, _chinese_name(english)))
    entries.sort(key=lambda e: e.day)
    return SeedResult(tuple(entries), with_data, tuple(y for y in wanted if y not in known))
