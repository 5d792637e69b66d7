"""Day classification: chinesecalendar seeding, enterprise overrides, years without data."""

from __future__ import annotations

import datetime as dt

import chinese_calendar as cc
import pytest

from ivr400.routing.calendar import (
    NON_WORKING_DAY_KINDS,
    WORKING_DAY_KINDS,
    Calendar,
    CalendarEntry,
    DayKind,
    chinesecalendar_years,
    classify,
    seed_from_chinesecalendar,
)

D = dt.date


@pytest.fixture(scope="module")
def seeded():
    return seed_from_chinesecalendar([2024, 2025, 2099])


@pytest.fixture(scope="module")
def cal(seeded) -> Calendar:
    return seeded.to_calendar()


def test_seed_reports_years_without_data_instead_of_raising(seeded) -> None:
    assert seeded.years_with_data == (2024, 2025)
    assert seeded.years_without_data == (2099,)
    with pytest.raises(NotImplementedError):  # what the library itself does
        cc.is_workday(D(2099, 1, 1))


@pytest.mark.parametrize("year", [1900, 2099, 9999])
def test_seed_only_unknown_years(year: int) -> None:
    result = seed_from_chinesecalendar([year])
    assert result.entries == ()
    assert result.years_without_data == (year,)
    assert result.to_calendar().known_years == frozenset()


@pytest.mark.parametrize(
    ("day", "kind", "name"),
    [
        (D(2025, 10, 1), DayKind.HOLIDAY, "国庆节"),  # Wednesday, National Day
        (D(2025, 10, 4), DayKind.HOLIDAY, "国庆节"),  # Saturday inside the holiday block
        (D(2025, 9, 28), DayKind.MAKEUP_WORKDAY, "国庆节"),  # Sunday, 调休上班
        (D(2025, 10, 11), DayKind.MAKEUP_WORKDAY, "国庆节"),  # Saturday, 调休上班
        (D(2025, 1, 1), DayKind.HOLIDAY, "元旦"),
        (D(2025, 1, 29), DayKind.HOLIDAY, "春节"),
        (D(2025, 9, 30), DayKind.WORKDAY, None),  # ordinary Tuesday
        (D(2025, 9, 27), DayKind.WEEKEND, None),  # ordinary Saturday
        (D(2024, 2, 12), DayKind.HOLIDAY, "春节"),  # a Monday that is a statutory holiday
    ],
)
def test_classification_agrees_with_chinesecalendar(cal: Calendar, day: dt.date, kind: DayKind, name) -> None:
    info = classify(day, cal)
    assert (info.kind, info.name) == (kind, name)
    assert info.is_working_day == cc.is_workday(day)
    assert info.year_known
    assert info.source == ("calendar" if name else "weekday-default")


def test_every_day_of_a_known_year_agrees_with_chinesecalendar(cal: Calendar) -> None:
    day = D(2025, 1, 1)
    while day.year == 2025:
        info = classify(day, cal)
        assert info.is_working_day == cc.is_workday(day), day
        assert (info.kind in WORKING_DAY_KINDS) == info.is_working_day
        day += dt.timedelta(days=1)


def test_every_day_of_every_known_year_agrees_with_the_library_per_day_api() -> None:
    """The seed reads the library's tables; its per-day API (is_workday, get_holiday_detail) must agree."""
    years = chinesecalendar_years()
    assert years.start <= 2004 and years.stop - 1 >= 2025
    seeded = seed_from_chinesecalendar(years)
    assert seeded.years_with_data == tuple(years) and seeded.years_without_data == ()
    cal = seeded.to_calendar()
    day = D(years.start, 1, 1)
    while day.year < years.stop:
        info = classify(day, cal)
        workday = cc.is_workday(day)
        assert info.is_working_day == workday, day
        english = cc.get_holiday_detail(day)[1]
        if info.source == "calendar":  # an entry: a named day, a holiday as the library says
            assert english is not None and info.name == cc.Holiday(english).chinese, day
            assert (info.kind is DayKind.HOLIDAY) == (not workday), day
        else:  # an ordinary weekday or weekend, unnamed (or a named weekday that is worked anyway)
            assert english is None or (workday and day.weekday() < 5), day
        day += dt.timedelta(days=1)


@pytest.mark.parametrize(
    ("day", "kind"),
    [(D(2099, 1, 1), DayKind.WORKDAY), (D(2099, 1, 3), DayKind.WEEKEND)],
)
def test_year_without_data_falls_back_to_weekdays(cal: Calendar, day: dt.date, kind: DayKind) -> None:
    info = classify(day, cal)
    assert info.kind is kind
    assert info.source == "no-data"
    assert not info.year_known
    assert "no calendar data" in info.describe()


def test_empty_calendar_is_all_no_data() -> None:
    info = classify(D(2025, 10, 1), Calendar())
    assert (info.kind, info.source) == (DayKind.WORKDAY, "no-data")


def test_enterprise_override_wins(cal: Calendar) -> None:
    ent = cal.with_overrides(
        [
            CalendarEntry(D(2025, 10, 1), DayKind.WORKDAY, "值班"),  # open on National Day
            CalendarEntry(D(2025, 9, 30), DayKind.HOLIDAY, "公司年会"),  # closed on a Tuesday
            CalendarEntry(D(2099, 1, 1), DayKind.HOLIDAY, "元旦"),  # fills a year without data
        ]
    )
    assert classify(D(2025, 10, 1), ent).kind is DayKind.WORKDAY
    assert classify(D(2025, 10, 1), ent).source == "override"
    assert classify(D(2025, 9, 30), ent).kind is DayKind.HOLIDAY
    assert "enterprise override" in classify(D(2025, 9, 30), ent).describe()
    assert classify(D(2099, 1, 1), ent).kind is DayKind.HOLIDAY
    assert classify(D(2099, 1, 1), ent).year_known is False
    # national data is shared, not changed
    assert classify(D(2025, 10, 1), cal).kind is DayKind.HOLIDAY


def test_classify_accepts_datetime(cal: Calendar) -> None:
    assert classify(dt.datetime(2025, 10, 1, 12, 0), cal).kind is DayKind.HOLIDAY


def test_entry_validation_and_round_trip() -> None:
    e = CalendarEntry(D(2025, 10, 1), DayKind.HOLIDAY, "国庆节")
    assert CalendarEntry.from_dict(e.to_dict()) == e
    assert e.to_dict() == {"day": "2025-10-01", "kind": "holiday", "name": "国庆节"}
    assert CalendarEntry(D(2025, 10, 1), "holiday").kind is DayKind.HOLIDAY  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CalendarEntry(dt.datetime(2025, 10, 1), DayKind.HOLIDAY)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CalendarEntry(D(2025, 10, 1), "party")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        CalendarEntry(D(2025, 10, 1), DayKind.HOLIDAY, 'x"\n${EVIL}')


def test_conflicting_entries_are_refused() -> None:
    a = CalendarEntry(D(2025, 10, 1), DayKind.HOLIDAY)
    b = CalendarEntry(D(2025, 10, 1), DayKind.WORKDAY)
    with pytest.raises(ValueError, match="two different entries"):
        Calendar.build([a, b])
    assert Calendar.build([a, a]).national[D(2025, 10, 1)] == a


def test_kind_sets_partition() -> None:
    assert WORKING_DAY_KINDS | NON_WORKING_DAY_KINDS == frozenset(DayKind)
    assert not WORKING_DAY_KINDS & NON_WORKING_DAY_KINDS
