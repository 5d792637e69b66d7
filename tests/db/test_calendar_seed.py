"""The national holiday calendar seeds itself once per year chinesecalendar knows, on SQLite and PostgreSQL.

What `ivr400 db upgrade` and the CLI's first use run (ivr400.provisioning.calendar.seed_known_years): every
known year, once; never a row changed or removed, so days an operator pinned or removed stay; a newer
chinesecalendar's new year is added at the next run; migration 0005 counts years present before it as seeded.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from ivr400.db import migrate
from ivr400.db.models import CalendarDay, CalendarSeed
from ivr400.provisioning import calendar
from ivr400.routing.calendar import chinesecalendar_years, seed_from_chinesecalendar
from tests.conftest import NOW

D = dt.date
KNOWN = chinesecalendar_years()


def national(s: Session) -> dict[dt.date, tuple[str, str | None]]:
    rows = s.execute(select(CalendarDay.day, CalendarDay.kind, CalendarDay.name)
                     .where(CalendarDay.enterprise_id.is_(None)))
    return {day: (kind, name) for day, kind, name in rows}


def seeds(s: Session) -> dict[int, tuple[str, int]]:
    return {r.year: (r.source, r.days) for r in s.scalars(select(CalendarSeed))}


def test_a_fresh_database_gets_every_known_year_once(session: Session) -> None:
    report = calendar.seed_known_years(session, now=NOW)
    session.commit()
    expected = seed_from_chinesecalendar(KNOWN)
    assert report.years_with_data == tuple(KNOWN) and report.days_written == len(expected.entries)
    days = national(session)
    assert days[D(2025, 10, 1)] == ("holiday", "国庆节")  # Wednesday, National Day
    assert days[D(2025, 10, 4)] == ("holiday", "国庆节")  # Saturday inside the block
    assert days[D(2025, 9, 28)] == ("makeup_workday", "国庆节")  # Sunday worked (调休)
    assert days[D(2024, 2, 12)] == ("holiday", "春节")
    assert len(days) == len(expected.entries)
    assert all(source == "auto" for source, _ in seeds(session).values()) and set(seeds(session)) == set(KNOWN)
    assert sum(n for _, n in seeds(session).values()) == len(days)

    again = calendar.seed_known_years(session, now=NOW)  # idempotent: nothing to do
    session.commit()
    assert (again.years_with_data, again.days_written) == ((), 0)
    assert national(session) == days


def test_operator_edits_are_never_overwritten(session: Session) -> None:
    # Pinned before the first seed: 2026-10-01 worked (a company that never closes, nationally pinned).
    calendar.add_calendar_day(session, D(2026, 10, 1), "workday", name="值班")
    session.commit()
    calendar.seed_known_years(session, now=NOW)
    session.commit()
    days = national(session)
    assert days[D(2026, 10, 1)] == ("workday", "值班")  # kept, not replaced by 国庆节
    assert days[D(2026, 10, 2)][0] == "holiday"  # the rest of the year was seeded around it
    # After the seed: one day removed, one changed; the next runs leave both alone.
    calendar.remove_calendar_day(session, D(2025, 10, 2))
    calendar.add_calendar_day(session, D(2025, 10, 3), "workday")
    session.commit()
    before = national(session)
    assert D(2025, 10, 2) not in before
    assert calendar.seed_known_years(session, now=NOW).days_written == 0
    session.commit()
    assert national(session) == before


def test_a_newer_chinesecalendar_adds_its_new_years_only(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    older = range(KNOWN.start, KNOWN.stop - 1)  # as if the library did not know its last year yet
    monkeypatch.setattr(calendar, "chinesecalendar_years", lambda: older)
    first = calendar.seed_known_years(session, now=NOW)
    session.commit()
    last = KNOWN.stop - 1
    assert last not in first.years_with_data and not any(d.year == last for d in national(session))
    before = national(session)
    monkeypatch.setattr(calendar, "chinesecalendar_years", lambda: KNOWN)  # pip install -U chinesecalendar
    second = calendar.seed_known_years(session, now=NOW)
    session.commit()
    assert second.years_with_data == (last,)
    after = national(session)
    assert {d: v for d, v in after.items() if d.year != last} == before
    assert len([d for d in after if d.year == last]) == second.days_written > 10


def test_calendar_seed_command_refreshes_and_is_remembered(session: Session) -> None:
    calendar.seed_known_years(session, now=NOW)
    calendar.add_calendar_day(session, D(2025, 10, 1), "workday")
    session.commit()
    report = calendar.seed_calendar(session, [2025], now=NOW)  # explicit: overwrites
    session.commit()
    assert national(session)[D(2025, 10, 1)] == ("holiday", "国庆节")
    assert report.days_removed == report.days_written
    assert seeds(session)[2025] == ("command", report.days_written)


def test_migration_counts_years_present_before_it_as_seeded(bare_engine: Engine, tmp_path: Path) -> None:
    migrate.upgrade(bare_engine, "0006")
    with bare_engine.begin() as conn:  # what `calendar seed --years 2025` and one pin left before 0007
        for entry in seed_from_chinesecalendar([2025]).entries:
            conn.execute(text("INSERT INTO calendar_day (enterprise_id, day, kind, name) VALUES (NULL, :d, :k, :n)"),
                         {"d": entry.day, "k": entry.kind.value, "n": entry.name})
        conn.execute(text("DELETE FROM calendar_day WHERE day = :d"), {"d": D(2025, 10, 2)})  # removed by hand
        conn.execute(text("INSERT INTO calendar_day (enterprise_id, day, kind, name) "
                          "VALUES (NULL, :d, 'holiday', '公司年会')"), {"d": D(2027, 3, 3)})
    migrate.upgrade(bare_engine)
    with Session(bare_engine) as s:
        marked = seeds(s)
        n2025 = len([d for d in national(s) if d.year == 2025])
        assert marked == {2025: ("existing", n2025), 2027: ("existing", 1)}
        calendar.seed_known_years(s, now=NOW)
        s.commit()
        days = national(s)
        assert D(2025, 10, 2) not in days  # 2025 counted as seeded: the removal stays
        assert days[D(2024, 10, 1)] == ("holiday", "国庆节")  # years never seeded are
        assert days[D(2027, 3, 3)] == ("holiday", "公司年会")
    # Down and up again: the days stay; the years are marked again from what is there.
    migrate.downgrade(bare_engine, "0006")
    with bare_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM calendar_day")).scalar_one() == len(days)
    migrate.upgrade(bare_engine)
    with Session(bare_engine) as s:
        assert national(s) == days
        assert set(seeds(s)) == set(KNOWN) | {2027}
        assert {source for source, _ in seeds(s).values()} == {"existing"}
        assert s.scalar(select(func.count()).select_from(CalendarSeed)) == len(KNOWN) + 1
