"""Time rules: segments, day kinds, 调休, time zones, midnight crossing, priorities."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import chinese_calendar as cc
import pytest

from ivr400.routing.calendar import Calendar, CalendarEntry, DayKind, seed_from_chinesecalendar
from ivr400.routing.model import Action, ActionKind, TimeRule, TimeSegment
from ivr400.routing.schedule import evaluate, local_time

SH = ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc
MENU = Action(ActionKind.MENU)
CLOSED = Action(ActionKind.ANNOUNCEMENT, prompt="holiday-greeting")


@pytest.fixture(scope="module")
def cal() -> Calendar:
    return seed_from_chinesecalendar([2025]).to_calendar()


def seg(text: str) -> TimeSegment:
    return TimeSegment.parse(text)


def at(y: int, mo: int, d: int, h: int, mi: int = 0, s: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, s, tzinfo=SH)


OFFICE = TimeRule(1, MENU, (seg("09:00-12:00"), seg("13:30-18:00")), frozenset({DayKind.WORKDAY}))
NIGHT = TimeRule(2, Action(ActionKind.VOICEMAIL), (seg("22:00-02:00"),), frozenset({DayKind.WORKDAY}))


def test_calendar_facts_used_below() -> None:
    assert cc.is_holiday(dt.date(2025, 10, 1)) and dt.date(2025, 10, 1).weekday() == 2
    assert cc.is_workday(dt.date(2025, 9, 28)) and dt.date(2025, 9, 28).weekday() == 6
    assert cc.is_holiday(dt.date(2025, 10, 4)) and dt.date(2025, 10, 4).weekday() == 5


@pytest.mark.parametrize(
    ("hms", "open_"),
    [
        ((8, 59, 59), False),
        ((9, 0, 0), True),  # start inclusive
        ((11, 59, 59), True),
        ((12, 0, 0), False),  # end exclusive
        ((13, 29, 59), False),
        ((13, 30, 0), True),
        ((17, 59, 59), True),
        ((18, 0, 0), False),
        ((0, 0, 0), False),
    ],
)
def test_segment_boundaries(cal: Calendar, hms: tuple[int, int, int], open_: bool) -> None:
    m = evaluate([OFFICE], at(2025, 9, 30, *hms), SH, cal)  # an ordinary Tuesday
    assert (m.rule is OFFICE) is open_


@pytest.mark.parametrize(
    ("now", "open_"),
    [
        (dt.datetime(2025, 9, 30, 1, 30, tzinfo=UTC), True),  # 09:30 in Shanghai
        (dt.datetime(2025, 9, 30, 0, 59, tzinfo=UTC), False),  # 08:59 in Shanghai
        (dt.datetime(2025, 9, 30, 10, 0, tzinfo=UTC), False),  # 18:00 in Shanghai
        (dt.datetime(2025, 9, 29, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5))), True),  # 09:00 next day
        (dt.datetime(2025, 9, 30, 3, 30, tzinfo=ZoneInfo("Europe/Berlin")), True),  # 09:30 Shanghai
    ],
)
def test_aware_now_is_converted_to_the_enterprise_zone(cal: Calendar, now: dt.datetime, open_: bool) -> None:
    m = evaluate([OFFICE], now, "Asia/Shanghai", cal)
    assert (m.rule is OFFICE) is open_
    assert m.local.tzinfo == SH


def test_utc_0130_is_0930_in_shanghai(cal: Calendar) -> None:
    m = evaluate([OFFICE], dt.datetime(2025, 9, 30, 1, 30, tzinfo=UTC), SH, cal)
    assert (m.local.hour, m.local.minute) == (9, 30)
    assert m.rule is OFFICE


def test_utc_date_differs_from_local_date(cal: Calendar) -> None:
    # 2025-09-30 16:30 UTC is already 2025-10-01 00:30 in Shanghai: National Day, not a Tuesday.
    m = evaluate([TimeRule(1, MENU, (), frozenset({DayKind.WORKDAY}))], dt.datetime(2025, 9, 30, 16, 30, tzinfo=UTC),
                 SH, cal)
    assert m.day.kind is DayKind.HOLIDAY
    assert m.rule is None


def test_other_enterprise_zone(cal: Calendar) -> None:
    ny = ZoneInfo("America/New_York")
    now = dt.datetime(2025, 9, 30, 13, 30, tzinfo=UTC)  # 09:30 in New York, 21:30 in Shanghai
    assert evaluate([OFFICE], now, ny, cal).rule is OFFICE
    assert evaluate([OFFICE], now, SH, cal).rule is None


@pytest.mark.parametrize(
    "now",
    [dt.datetime(2025, 9, 30, 9, 30), dt.datetime(2025, 9, 30, 9, 30, tzinfo=None)],
)
def test_naive_now_raises(cal: Calendar, now: dt.datetime) -> None:
    with pytest.raises(ValueError, match="naive"):
        evaluate([OFFICE], now, SH, cal)
    with pytest.raises(ValueError):
        local_time(now, SH)


@pytest.mark.parametrize(
    ("now", "matched", "kind"),
    [
        (at(2025, 10, 1, 10), None, DayKind.HOLIDAY),  # National Day, a Wednesday
        (at(2025, 10, 4, 10), None, DayKind.HOLIDAY),  # Saturday inside the holiday block
        (at(2025, 9, 28, 10), OFFICE, DayKind.MAKEUP_WORKDAY),  # Sunday, 调休上班
        (at(2025, 10, 11, 14), OFFICE, DayKind.MAKEUP_WORKDAY),  # Saturday, 调休上班
        (at(2025, 9, 27, 10), None, DayKind.WEEKEND),  # ordinary Saturday
        (at(2025, 9, 29, 10), OFFICE, DayKind.WORKDAY),
    ],
)
def test_holidays_and_makeup_days(cal: Calendar, now: dt.datetime, matched, kind: DayKind) -> None:
    m = evaluate([OFFICE], now, SH, cal)
    assert m.rule is matched
    assert m.day.kind is kind
    assert not m.no_calendar_data


def test_rule_for_makeup_days_only(cal: Calendar) -> None:
    rule = TimeRule(5, MENU, (), frozenset({DayKind.MAKEUP_WORKDAY}))
    assert evaluate([rule], at(2025, 9, 28, 10), SH, cal).rule is rule
    assert evaluate([rule], at(2025, 9, 29, 10), SH, cal).rule is None


@pytest.mark.parametrize(
    ("now", "matches"),
    [
        (at(2025, 9, 27, 10), True),  # ordinary Saturday
        (at(2025, 10, 4, 10), False),  # Saturday, but a holiday
        (at(2025, 10, 11, 10), False),  # Saturday, but a working day (its own rule applies)
        (at(2025, 9, 28, 10), False),  # Sunday
    ],
)
def test_explicit_weekdays_and_kinds_combine(cal: Calendar, now: dt.datetime, matches: bool) -> None:
    saturday_mornings = TimeRule(3, MENU, (seg("09:00-12:00"),), frozenset({DayKind.WEEKEND}), frozenset({6}))
    assert (evaluate([saturday_mornings], now, SH, cal).rule is saturday_mornings) is matches


def test_weekdays_without_kinds_match_any_kind(cal: Calendar) -> None:
    wednesdays = TimeRule(4, MENU, (), weekdays=frozenset({3}))
    assert evaluate([wednesdays], at(2025, 10, 1, 10), SH, cal).rule is wednesdays  # holiday Wednesday
    assert evaluate([wednesdays], at(2025, 9, 30, 10), SH, cal).rule is None


@pytest.mark.parametrize(
    ("now", "matched", "previous"),
    [
        (at(2025, 9, 26, 21, 59), False, False),  # Friday
        (at(2025, 9, 26, 22, 0), True, False),  # Friday 22:00, start inclusive
        (at(2025, 9, 26, 23, 59), True, False),
        (at(2025, 9, 27, 0, 0), True, True),  # Saturday 00:00 belongs to Friday's segment
        (at(2025, 9, 27, 1, 59, 59), True, True),
        (at(2025, 9, 27, 2, 0), False, False),  # end exclusive
        (at(2025, 9, 27, 23, 0), False, False),  # Saturday night: not a workday
        (at(2025, 9, 28, 1, 0), False, False),  # Sunday early: Saturday was not a workday
        (at(2025, 9, 28, 23, 0), True, False),  # Sunday night, but 调休 working day
        (at(2025, 9, 29, 1, 0), True, True),  # Monday early, from the 调休 Sunday
        (at(2025, 10, 1, 1, 0), True, True),  # holiday early morning, from Tuesday night
        (at(2025, 10, 1, 23, 0), False, False),  # holiday night
        (at(2025, 10, 2, 1, 0), False, False),  # from the holiday night
    ],
)
def test_cross_midnight_segment(cal: Calendar, now: dt.datetime, matched: bool, previous: bool) -> None:
    m = evaluate([NIGHT], now, SH, cal)
    assert (m.rule is NIGHT) is matched
    assert m.from_previous_day is previous
    if previous:
        assert m.matched_day is not None and m.matched_day.is_working_day
        assert "previous day" in m.describe()


def test_whole_day_segments(cal: Calendar) -> None:
    allday = TimeRule(1, MENU, (seg("00:00-24:00"),), frozenset({DayKind.HOLIDAY}))
    no_segments = TimeRule(2, MENU, (), frozenset({DayKind.HOLIDAY}))
    for rule in (allday, no_segments):
        for h in (0, 12, 23):
            assert evaluate([rule], at(2025, 10, 1, h, 59), SH, cal).rule is rule
        assert evaluate([rule], at(2025, 9, 30, 12), SH, cal).rule is None


def test_priority_then_id_decides(cal: Calendar) -> None:
    any_day = TimeRule(10, MENU, (seg("08:00-20:00"),), priority=50)
    holiday = TimeRule(20, CLOSED, (), frozenset({DayKind.HOLIDAY}), priority=1)
    same_prio_low_id = TimeRule(5, Action(ActionKind.VOICEMAIL), (seg("08:00-20:00"),), priority=50)
    assert evaluate([any_day, holiday], at(2025, 10, 1, 10), SH, cal).rule is holiday
    assert evaluate([any_day, holiday], at(2025, 9, 30, 10), SH, cal).rule is any_day
    assert evaluate([any_day, same_prio_low_id], at(2025, 9, 30, 10), SH, cal).rule is same_prio_low_id


@pytest.mark.parametrize(
    ("now", "matched", "kind"),
    [
        (at(2099, 1, 1, 10), True, DayKind.WORKDAY),  # New Year's Day, but no data: a plain Thursday
        (at(2099, 1, 3, 10), False, DayKind.WEEKEND),
    ],
)
def test_year_without_calendar_data(cal: Calendar, now: dt.datetime, matched: bool, kind: DayKind) -> None:
    m = evaluate([OFFICE], now, SH, cal)
    assert (m.rule is OFFICE) is matched
    assert m.day.kind is kind
    assert m.day.source == "no-data"
    assert m.no_calendar_data
    assert "no calendar data" in m.describe()


def test_enterprise_override_day(cal: Calendar) -> None:
    ent = cal.with_overrides(
        [CalendarEntry(dt.date(2025, 10, 1), DayKind.WORKDAY, "值班"), CalendarEntry(dt.date(2025, 9, 30),
                                                                                   DayKind.HOLIDAY)]
    )
    assert evaluate([OFFICE], at(2025, 10, 1, 10), SH, ent).rule is OFFICE
    assert evaluate([OFFICE], at(2025, 9, 30, 10), SH, ent).rule is None
    assert evaluate([OFFICE], at(2025, 10, 1, 10), SH, ent).day.source == "override"


def test_no_rules() -> None:
    m = evaluate([], at(2025, 9, 30, 10), SH, Calendar())
    assert m.rule is None


# --------------------------------------------------------------------------- segments and rules as data


@pytest.mark.parametrize(
    ("text", "start", "end", "canonical"),
    [
        ("09:00-12:00", dt.time(9), dt.time(12), "09:00-12:00"),
        (" 9:00 - 12:00 ", dt.time(9), dt.time(12), "09:00-12:00"),
        ("13:30–18:00", dt.time(13, 30), dt.time(18), "13:30-18:00"),
        ("22:00~02:00", dt.time(22), dt.time(2), "22:00-02:00"),
        ("00:00-24:00", dt.time(0), dt.time(0), "00:00-24:00"),
        ("08:00:30-09:00", dt.time(8, 0, 30), dt.time(9), "08:00:30-09:00"),
    ],
)
def test_segment_parse(text: str, start: dt.time, end: dt.time, canonical: str) -> None:
    s = TimeSegment.parse(text)
    assert (s.start, s.end, str(s)) == (start, end, canonical)
    assert TimeSegment.parse(str(s)) == s


@pytest.mark.parametrize("text", ["", "9-12", "25:00-26:00", "09:00", "09:60-10:00", "09:00-12:00-13:00",
                                  "24:00-01:00"])
def test_segment_parse_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        TimeSegment.parse(text)


def test_rule_validation() -> None:
    with pytest.raises(ValueError, match="weekday"):
        TimeRule(1, MENU, weekdays=frozenset({0}))
    with pytest.raises(ValueError, match="day kind"):
        TimeRule(1, MENU, days=frozenset({"weekdays"}))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="blocking"):
        TimeRule(1, Action(ActionKind.REFUSE))
    assert TimeRule(1, MENU, days=frozenset({"workday"})).days == {DayKind.WORKDAY}  # type: ignore[arg-type]


def test_rule_describes_itself() -> None:
    rule = TimeRule(7, CLOSED, (seg("22:00-02:00"), seg("09:00-12:00")), frozenset({DayKind.WEEKEND, DayKind.HOLIDAY}),
                    frozenset({6, 7}), priority=3, name="周末夜间")
    assert rule.describe() == "time rule 7 [holiday+weekend] [weekday 6+7] 22:00-02:00 09:00-12:00"
