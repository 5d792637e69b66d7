"""The holiday calendar (法定节假日 and 调休 make-up working days): national days seeded from
chinesecalendar (automatically, once per year it knows: :func:`seed_known_years`; on demand: ``ivr400
calendar seed``), and days pinned nationally or per enterprise: ``ivr400 calendar``.

Rows are written in the caller's transaction; the table bumps ``config_generation`` through its triggers.
"""
from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.orm import Session

from ivr400.db.models import CalendarDay, CalendarSeed, Enterprise
from ivr400.provisioning.actions import optional_text, split_values
from ivr400.provisioning.errors import ProvisioningError, check_calendar_year
from ivr400.provisioning.views import calendar_view
from ivr400.routing.calendar import CalendarEntry, DayKind, chinesecalendar_years, seed_from_chinesecalendar

__all__ = [
    "SeedReport",
    "add_calendar_day",
    "list_calendar",
    "parse_years",
    "remove_calendar_day",
    "seed_calendar",
    "seed_known_years",
]

_MAX_YEARS = 50


def parse_years(text: str | None, default_around: int) -> list[int]:
    """``2024-2026``, ``2025``, ``2024,2026``; None → the year before, this one and the next."""
    if text is None or not text.strip():
        return [default_around - 1, default_around, default_around + 1]
    out: set[int] = set()
    for item in split_values(text):
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


@dataclass(frozen=True)
class SeedReport:
    years_with_data: tuple[int, ...]
    years_without_data: tuple[int, ...]
    days_written: int
    days_removed: int

    def to_dict(self) -> dict[str, Any]:
        return {"years_with_data": list(self.years_with_data), "years_without_data": list(self.years_without_data),
                "days_written": self.days_written, "days_removed": self.days_removed}


def seed_calendar(session: Session, years: Iterable[int], *, now: dt.datetime | None = None) -> SeedReport:
    """Replace the national days of ``years`` with chinesecalendar's (``ivr400 calendar seed``: an explicit
    refresh, which does overwrite); years it has no data for are reported (and their rows kept), never an
    error. The seeded years are remembered (``calendar_seed``, source ``command``) at ``now`` (UTC)."""
    result = seed_from_chinesecalendar(years)
    removed = written = 0
    for year in result.years_with_data:
        deleted = session.execute(
            delete(CalendarDay).where(CalendarDay.enterprise_id.is_(None),
                                      CalendarDay.day >= dt.date(year, 1, 1), CalendarDay.day <= dt.date(year, 12, 31))
        )
        removed += cast("CursorResult[Any]", deleted).rowcount or 0
    session.flush()
    per_year: Counter[int] = Counter()
    for entry in result.entries:
        session.add(CalendarDay(enterprise_id=None, day=entry.day, kind=entry.kind.value, name=entry.name))
        per_year[entry.day.year] += 1
        written += 1
    _remember(session, result.years_with_data, per_year, "command", now)
    session.flush()
    return SeedReport(result.years_with_data, result.years_without_data, written, removed)


def seed_known_years(session: Session, *, now: dt.datetime | None = None) -> SeedReport:
    """Seed, once, every year the installed chinesecalendar knows that this database never seeded.

    For each such year: its holidays and make-up working days, except on days that already have a national
    entry (no row is ever changed or removed); the year is then remembered in ``calendar_seed`` (source
    ``auto``), so it is not seeded again and days an operator pins or removes later stay as they are. Run by
    ``ivr400 db upgrade`` and when the CLI creates a database, so a fresh install routes 国庆节 and 调休
    days without a manual step; a newer chinesecalendar adds its new years at the next ``db upgrade``.
    Idempotent. ``days_removed`` is always 0.
    """
    done = set(session.scalars(select(CalendarSeed.year)))
    todo = [year for year in chinesecalendar_years() if year not in done]
    if not todo:
        return SeedReport((), (), 0, 0)
    result = seed_from_chinesecalendar(todo)
    taken = set(session.scalars(select(CalendarDay.day).where(
        CalendarDay.enterprise_id.is_(None), CalendarDay.day >= dt.date(min(todo), 1, 1),
        CalendarDay.day <= dt.date(max(todo), 12, 31))))
    per_year: Counter[int] = Counter()
    for entry in result.entries:
        if entry.day not in taken:
            session.add(CalendarDay(enterprise_id=None, day=entry.day, kind=entry.kind.value, name=entry.name))
            per_year[entry.day.year] += 1
    _remember(session, result.years_with_data, per_year, "auto", now)
    session.flush()
    return SeedReport(result.years_with_data, result.years_without_data, sum(per_year.values()), 0)


def _remember(session: Session, years: Iterable[int], days: Counter[int], source: str,
              now: dt.datetime | None) -> None:
    at = now or dt.datetime.now(dt.timezone.utc)
    for year in years:
        row = session.get(CalendarSeed, year)
        if row is None:
            session.add(CalendarSeed(year=year, source=source, days=days[year], seeded_at=at))
        else:
            row.source, row.days, row.seeded_at = source, days[year], at


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
    name = optional_text(name, "name", 64)
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


def list_calendar(session: Session, *, year: int | None = None,
                  enterprise: Enterprise | None = None) -> list[dict[str, Any]]:
    """National days and enterprise overrides (only ``enterprise``'s when given), by day."""
    stmt = (select(CalendarDay, Enterprise.name).outerjoin(Enterprise, Enterprise.id == CalendarDay.enterprise_id)
            .order_by(CalendarDay.day, CalendarDay.enterprise_id.is_not(None), CalendarDay.enterprise_id))
    if year is not None:
        check_calendar_year(year)
        stmt = stmt.where(CalendarDay.day >= dt.date(year, 1, 1), CalendarDay.day <= dt.date(year, 12, 31))
    if enterprise is not None:
        stmt = stmt.where(CalendarDay.enterprise_id == enterprise.id)
    return [calendar_view(row, name) for row, name in session.execute(stmt)]
