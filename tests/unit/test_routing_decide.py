"""The top-level routing decision: blocking, time rules, region rules, hunt order, fallbacks."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from zoneinfo import ZoneInfo

import chinese_calendar as cc
import pytest

from ivr400.routing.calendar import Calendar, CalendarEntry, DayKind, seed_from_chinesecalendar
from ivr400.routing.decide import decide, decide_department, hunt_order
from ivr400.routing.model import (
    SWITCHBOARD_KEY,
    Action,
    ActionKind,
    AnonymousPolicy,
    BlockEntry,
    BlockMode,
    BlockPolicy,
    CallerStatus,
    Decision,
    DepartmentRouting,
    HotlineRouting,
    HuntStrategy,
    RefuseWith,
    RegionOverride,
    RegionRule,
    Target,
    TimeRule,
    TimeSegment,
)

SH = ZoneInfo("Asia/Shanghai")
UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def cal() -> Calendar:
    # The days the tests rely on, checked against chinesecalendar itself.
    assert cc.is_holiday(dt.date(2025, 10, 1)) and dt.date(2025, 10, 1).weekday() == 2  # Wednesday
    assert cc.is_workday(dt.date(2025, 9, 28)) and dt.date(2025, 9, 28).weekday() == 6  # Sunday, 调休上班
    assert cc.is_workday(dt.date(2025, 9, 30))
    return seed_from_chinesecalendar([2025]).to_calendar()


def at(y: int, mo: int, d: int, h: int, mi: int = 0) -> dt.datetime:
    return dt.datetime(y, mo, d, h, mi, tzinfo=SH)


WORKING_TUESDAY = at(2025, 9, 30, 10)
TUESDAY_NIGHT = at(2025, 9, 30, 20)


def target(number: str, position: int, timeout: int = 15, **kw) -> Target:
    return Target(number, number, timeout, position, **kw)


BEIJING = DepartmentRouting(
    "1", "北京销售", HuntStrategy.SEQUENTIAL, 0,
    (target("01062345678", 2), target("01062345679", 1), target("13800138000", 3)), ringback="sales-tone",
)
SHANGHAI = DepartmentRouting("2", "上海销售", HuntStrategy.SIMULTANEOUS, 0,
                             (target("02162345678", 1), target("02162345679", 2, 30)))
SUPPORT = DepartmentRouting(
    "3", "售后", HuntStrategy.ROUND_ROBIN, 0,
    (target("075512345671", 1), target("075512345672", 2), target("075512345673", 3)),
)
EMPTY = DepartmentRouting("9", "无人值守")
SWITCHBOARD = DepartmentRouting(SWITCHBOARD_KEY, "总机", targets=(target("01087654321", 1),))

OFFICE = TimeRule(1, Action(ActionKind.MENU), (TimeSegment.parse("09:00-12:00"), TimeSegment.parse("13:30-18:00")),
                  frozenset({DayKind.WORKDAY}))
EVENING = TimeRule(2, Action(ActionKind.DEPARTMENT, "3"), (TimeSegment.parse("18:00-22:00"),),
                   frozenset({DayKind.WORKDAY}))

BASE = HotlineRouting(
    hotline="4008123456",
    departments=(BEIJING, SHANGHAI, SUPPORT, EMPTY),
    switchboard=SWITCHBOARD,
    time_rules=(OFFICE, EVENING),
    after_hours=Action(ActionKind.VOICEMAIL, prompt="after-hours-greeting"),
    region_rules=(RegionRule(11, "1", "北京"), RegionRule(12, "2", "上海"), RegionRule(13, "9", "广东")),
)


def cfg(**changes) -> HotlineRouting:
    return dataclasses.replace(BASE, **changes)


# --------------------------------------------------------------------------- time rules and calendar


def test_holiday_weekday_routes_after_hours(cal: Calendar) -> None:
    d = decide(BASE, "057187654321", at(2025, 10, 1, 10), cal)  # National Day, Wednesday 10:00
    assert d.action is ActionKind.VOICEMAIL
    assert d.prompt == "ivr400/after-hours-greeting"  # a bare name is one of ours: the one form
    assert d.time_rule_id is None
    assert d.day_kind is DayKind.HOLIDAY
    assert "after hours" in d.reason and "国庆节" in d.reason


def test_makeup_working_day_routes_to_working_hours(cal: Calendar) -> None:
    d = decide(BASE, "057187654321", at(2025, 9, 28, 10), cal)  # Sunday, 调休上班
    assert d.action is ActionKind.MENU
    assert d.time_rule_id == 1
    assert d.day_kind is DayKind.MAKEUP_WORKDAY


def test_ordinary_sunday_is_after_hours(cal: Calendar) -> None:
    assert decide(BASE, "057187654321", at(2025, 9, 21, 10), cal).action is ActionKind.VOICEMAIL


@pytest.mark.parametrize(
    ("now", "action", "rule"),
    [
        (dt.datetime(2025, 9, 30, 1, 30, tzinfo=UTC), ActionKind.MENU, 1),  # 09:30 Shanghai
        (dt.datetime(2025, 9, 30, 0, 59, tzinfo=UTC), ActionKind.VOICEMAIL, None),  # 08:59
        (dt.datetime(2025, 9, 30, 10, 0, tzinfo=UTC), ActionKind.DEPARTMENT, 2),  # 18:00: evening rule
        (dt.datetime(2025, 9, 30, 14, 0, tzinfo=UTC), ActionKind.VOICEMAIL, None),  # 22:00
    ],
)
def test_time_zone_evaluation(cal: Calendar, now: dt.datetime, action: ActionKind, rule: int | None) -> None:
    d = decide(BASE, "057187654321", now, cal)
    assert d.action is action
    assert d.time_rule_id == rule
    assert d.local_time is not None and d.local_time.tzinfo == SH
    if rule == 1:
        assert (d.local_time.hour, d.local_time.minute) == (9, 30)


@pytest.mark.parametrize(
    ("hm", "action"),
    [((9, 0), ActionKind.MENU), ((11, 59), ActionKind.MENU), ((12, 0), ActionKind.VOICEMAIL),
     ((13, 30), ActionKind.MENU), ((17, 59), ActionKind.MENU), ((18, 0), ActionKind.DEPARTMENT),
     ((21, 59), ActionKind.DEPARTMENT), ((22, 0), ActionKind.VOICEMAIL), ((8, 59), ActionKind.VOICEMAIL)],
)
def test_segment_boundaries(cal: Calendar, hm: tuple[int, int], action: ActionKind) -> None:
    assert decide(BASE, "057187654321", at(2025, 9, 30, *hm), cal).action is action


@pytest.mark.parametrize(
    ("now", "action"),
    [
        (at(2025, 9, 30, 23), ActionKind.DEPARTMENT),  # Tuesday night
        (at(2025, 10, 1, 1), ActionKind.DEPARTMENT),  # holiday 01:00, still Tuesday's night shift
        (at(2025, 10, 1, 2), ActionKind.VOICEMAIL),
        (at(2025, 10, 1, 23), ActionKind.VOICEMAIL),  # holiday night: no night shift
    ],
)
def test_cross_midnight_segment(cal: Calendar, now: dt.datetime, action: ActionKind) -> None:
    night = TimeRule(5, Action(ActionKind.DEPARTMENT, "3"), (TimeSegment.parse("22:00-02:00"),),
                     frozenset({DayKind.WORKDAY}))
    d = decide(cfg(time_rules=(OFFICE, night)), "057187654321", now, cal)
    assert d.action is action
    if action is ActionKind.DEPARTMENT:
        assert d.time_rule_id == 5


def test_year_without_calendar_data(cal: Calendar) -> None:
    d = decide(BASE, "057187654321", at(2099, 1, 1, 10), cal)  # New Year's Day, but unknown year: a Thursday
    assert d.action is ActionKind.MENU
    assert d.calendar_source == "no-data"
    assert "no data for this year" in d.reason


def test_enterprise_override_day(cal: Calendar) -> None:
    ent = cal.with_overrides([CalendarEntry(dt.date(2025, 10, 1), DayKind.WORKDAY, "值班"),
                              CalendarEntry(dt.date(2025, 9, 30), DayKind.HOLIDAY, "公司活动")])
    assert decide(BASE, "057187654321", at(2025, 10, 1, 10), ent).action is ActionKind.MENU
    d = decide(BASE, "057187654321", WORKING_TUESDAY, ent)
    assert d.action is ActionKind.VOICEMAIL
    assert d.calendar_source == "override" and "enterprise override" in d.reason


def test_holiday_rule_with_announcement(cal: Calendar) -> None:
    holiday = TimeRule(0, Action(ActionKind.ANNOUNCEMENT, prompt="holiday-notice"), (),
                       frozenset({DayKind.HOLIDAY}), priority=1)
    d = decide(cfg(time_rules=(OFFICE, holiday)), "057187654321", at(2025, 10, 1, 10), cal)
    assert (d.action, d.prompt, d.time_rule_id) == (ActionKind.ANNOUNCEMENT, "ivr400/holiday-notice", 0)
    assert d.targets == ()


def test_after_hours_announcement_default_prompt(cal: Calendar) -> None:
    d = decide(cfg(after_hours=Action(ActionKind.ANNOUNCEMENT)), "057187654321", TUESDAY_NIGHT.replace(hour=23), cal)
    assert (d.action, d.prompt) == (ActionKind.ANNOUNCEMENT, "ivr400/ivr400-closed")


def test_no_time_rules_is_always_open(cal: Calendar) -> None:
    for now in (at(2025, 10, 1, 3), at(2025, 9, 28, 23), at(2099, 1, 1, 0)):
        d = decide(cfg(time_rules=(), region_rules=()), "057187654321", now, cal)
        assert d.action is ActionKind.MENU
        assert "always open" in d.reason
        d = decide(cfg(time_rules=(), departments=(), region_rules=()), "057187654321", now, cal)
        assert (d.action, d.department) == (ActionKind.DEPARTMENT, SWITCHBOARD_KEY)
        assert [t.destination for t in d.targets] == ["01087654321"]


def test_no_departments_no_switchboard_is_voicemail(cal: Calendar) -> None:
    d = decide(HotlineRouting("4008123456"), "13800138000", WORKING_TUESDAY, cal)
    assert (d.action, d.department) == (ActionKind.VOICEMAIL, SWITCHBOARD_KEY)
    assert "no routable targets" in d.reason


@pytest.mark.parametrize("now", [dt.datetime(2025, 9, 30, 10, 0), dt.datetime.now()])
def test_naive_now_raises(cal: Calendar, now: dt.datetime) -> None:
    with pytest.raises(ValueError, match="naive"):
        decide(BASE, "13800138000", now, cal)
    with pytest.raises(ValueError, match="naive"):
        decide_department(BASE, "1", now)


# --------------------------------------------------------------------------- region rules


@pytest.mark.parametrize(
    ("caller", "department", "rule", "province", "city"),
    [
        ("010-62345678", "1", 11, "北京", "北京"),  # Beijing landline
        ("+86 21 6234 5678", "2", 12, "上海", "上海"),  # Shanghai landline
        ("13800138000", "1", 11, "北京", "北京"),  # Beijing mobile prefix, via phonenumbers
        ("057187654321", None, None, "浙江", "杭州"),  # no rule: menu
        ("13912345678", None, None, "江苏", "常州"),
    ],
)
def test_region_rules_route_menu_callers(cal: Calendar, caller, department, rule, province, city) -> None:
    d = decide(BASE, caller, WORKING_TUESDAY, cal)
    assert (d.province, d.city) == (province, city)
    assert d.region_rule_id == rule
    if department is None:
        assert d.action is ActionKind.MENU
    else:
        assert (d.action, d.department) == (ActionKind.DEPARTMENT, department)
        assert d.matched_rule_id == f"region:{rule}"
        assert d.time_rule_id == 1


def test_beijing_and_shanghai_callers_reach_different_departments(cal: Calendar) -> None:
    bj = decide(BASE, "01062345678", WORKING_TUESDAY, cal)
    sh = decide(BASE, "02162345678", WORKING_TUESDAY, cal)
    assert bj.department == "1" and sh.department == "2"
    assert bj.hunt_strategy is HuntStrategy.SEQUENTIAL and sh.hunt_strategy is HuntStrategy.SIMULTANEOUS
    assert bj.ringback == "sales-tone" and sh.ringback is None


def test_region_override_wins(cal: Calendar) -> None:
    # The enterprise knows 1380013xxxx callers are its Shanghai customers.
    c = cfg(region_overrides=(RegionOverride("1380013", "上海", "上海"),))
    d = decide(c, "13800138000", WORKING_TUESDAY, cal)
    assert (d.province, d.department, d.region_rule_id) == ("上海", "2", 12)
    assert "override" in d.reason


def test_region_rules_apply_to_switchboard_action(cal: Calendar) -> None:
    c = cfg(time_rules=(TimeRule(1, Action(ActionKind.DEPARTMENT, SWITCHBOARD_KEY)),))
    assert decide(c, "02162345678", WORKING_TUESDAY, cal).department == "2"
    assert decide(c, "057187654321", WORKING_TUESDAY, cal).department == SWITCHBOARD_KEY


@pytest.mark.parametrize("now", [TUESDAY_NIGHT, at(2025, 10, 1, 10)])
def test_region_rules_do_not_override_other_actions(cal: Calendar, now: dt.datetime) -> None:
    d = decide(BASE, "02162345678", now, cal)  # evening department 3 / holiday voicemail
    assert d.region_rule_id is None
    assert d.department in ("3", None)


def test_region_rule_to_empty_department_is_skipped(cal: Calendar) -> None:
    d = decide(BASE, "075512345678", WORKING_TUESDAY, cal)  # Guangdong -> department 9, nobody there
    assert d.action is ActionKind.MENU
    assert d.region_rule_id is None
    assert "region rule 13 skipped" in d.reason


# --------------------------------------------------------------------------- blocking


BLOCKING = BlockPolicy(BlockMode.BLACKLIST, (BlockEntry("13800138000"), BlockEntry("021", prefix=True)))


@pytest.mark.parametrize(
    ("caller", "refused"),
    [("13800138000", True), ("+86 138 0013 8000", True), ("02162345678", True), ("01062345678", False),
     ("13800138001", False)],
)
@pytest.mark.parametrize("refuse_with", list(RefuseWith))
def test_blacklist(cal: Calendar, caller: str, refused: bool, refuse_with: RefuseWith) -> None:
    c = cfg(block=dataclasses.replace(BLOCKING, refuse_with=refuse_with))
    d = decide(c, caller, WORKING_TUESDAY, cal)
    if refused:
        assert d.action is ActionKind.REFUSE
        assert d.refuse_with is refuse_with
        assert d.prompt == ("ivr400/ivr400-blocked" if refuse_with is RefuseWith.PROMPT else None)
        assert d.targets == () and d.time_rule_id is None
        assert "blacklist" in d.reason
    else:
        assert d.action is not ActionKind.REFUSE


def test_refuse_custom_prompt(cal: Calendar) -> None:
    c = cfg(block=BlockPolicy(BlockMode.WHITELIST_ONLY, (), refuse_with=RefuseWith.PROMPT, refuse_prompt="vip-only"))
    d = decide(c, "01062345678", WORKING_TUESDAY, cal)
    assert (d.action, d.prompt) == (ActionKind.REFUSE, "ivr400/vip-only")


@pytest.mark.parametrize(
    ("caller", "allowed"),
    [("01062345678", True), ("010-6234-5679", True), ("13912345678", True), ("02162345678", False),
     ("13800138000", False)],
)
def test_whitelist_only(cal: Calendar, caller: str, allowed: bool) -> None:
    c = cfg(block=BlockPolicy(BlockMode.WHITELIST_ONLY, (BlockEntry("010", prefix=True), BlockEntry("13912345678"))))
    d = decide(c, caller, WORKING_TUESDAY, cal)
    assert (d.action is not ActionKind.REFUSE) is allowed


CALLER_GARBAGE = [
    (None, CallerStatus.WITHHELD),
    ("", CallerStatus.WITHHELD),
    ("anonymous", CallerStatus.WITHHELD),
    ("Anonymous", CallerStatus.WITHHELD),
    ("unknown", CallerStatus.WITHHELD),
    ("garbage", CallerStatus.UNPARSEABLE),
    ("!!!", CallerStatus.UNPARSEABLE),
    ('"13800138000"', CallerStatus.UNPARSEABLE),
    ("138001\n38000", CallerStatus.UNPARSEABLE),
    ("${CALLERID(num)}", CallerStatus.UNPARSEABLE),
    ('"; EXEC System(rm -rf /)', CallerStatus.UNPARSEABLE),
    ("1" * 500, CallerStatus.UNPARSEABLE),
]


@pytest.mark.parametrize(("caller", "status"), CALLER_GARBAGE)
@pytest.mark.parametrize("mode", list(BlockMode))
@pytest.mark.parametrize("anonymous", list(AnonymousPolicy))
def test_anonymous_and_garbage_callers(cal: Calendar, caller, status, mode: BlockMode,
                                       anonymous: AnonymousPolicy) -> None:
    c = cfg(block=BlockPolicy(mode, (BlockEntry("13800138000"),), anonymous=anonymous))
    d = decide(c, caller, WORKING_TUESDAY, cal)
    assert d.caller is None and d.caller_status is status
    assert (d.province, d.city, d.region_rule_id) == (None, None, None)
    if anonymous is AnonymousPolicy.REFUSE:
        assert d.action is ActionKind.REFUSE
    else:
        assert d.action is ActionKind.MENU
    assert "anonymous policy" in d.reason
    assert_reason_safe(d, caller)


def assert_reason_safe(d: Decision, raw: object) -> None:
    assert not re.search(r"[\x00-\x1f\x7f\"'\\$;,`{}]", d.reason), d.reason
    if isinstance(raw, str) and len(raw) > 3 and d.caller_status is CallerStatus.UNPARSEABLE:
        assert raw not in d.reason


# --------------------------------------------------------------------------- hunt order


def dials(d: Decision) -> list[str]:
    return [t.dial for t in d.targets]


def test_sequential_by_position(cal: Calendar) -> None:
    d = decide(BASE, "01062345678", WORKING_TUESDAY, cal)
    assert dials(d) == ["01062345679", "01062345678", "13800138000"]
    assert [t.position for t in d.targets] == [1, 2, 3]


def test_simultaneous_all_at_once(cal: Calendar) -> None:
    d = decide(BASE, "02162345678", WORKING_TUESDAY, cal)
    assert dials(d) == ["02162345678", "02162345679"]
    assert d.dial_timeout_s == 30


@pytest.mark.parametrize(
    ("rotation", "expected"),
    [
        (0, ["075512345671", "075512345672", "075512345673"]),
        (1, ["075512345672", "075512345673", "075512345671"]),
        (2, ["075512345673", "075512345671", "075512345672"]),
        (3, ["075512345671", "075512345672", "075512345673"]),
        (7, ["075512345672", "075512345673", "075512345671"]),
        (-1, ["075512345673", "075512345671", "075512345672"]),
    ],
)
def test_round_robin_rotation(cal: Calendar, rotation: int, expected: list[str]) -> None:
    d = decide(BASE, "057187654321", TUESDAY_NIGHT, cal, rotation=rotation)  # evening rule -> department 3
    assert (d.action, d.department, d.hunt_strategy) == (ActionKind.DEPARTMENT, "3", HuntStrategy.ROUND_ROBIN)
    assert dials(d) == expected
    assert decide_department(BASE, "3", TUESDAY_NIGHT, rotation=rotation).targets == d.targets


@pytest.mark.parametrize("strategy", list(HuntStrategy))
@pytest.mark.parametrize(("max_attempts", "count"), [(0, 3), (1, 1), (2, 2), (3, 3), (10, 3)])
def test_max_attempts_cap(strategy: HuntStrategy, max_attempts: int, count: int) -> None:
    dept = dataclasses.replace(SUPPORT, hunt_strategy=strategy, max_attempts=max_attempts)
    targets = hunt_order(dept, WORKING_TUESDAY, rotation=1)
    assert len(targets) == count
    first = "075512345672" if strategy is HuntStrategy.ROUND_ROBIN else "075512345671"
    assert targets[0].dial == first


def test_lapsed_authorization_is_not_dialled(cal: Calendar) -> None:
    lapsed = target("01062345670", 1, valid_until=at(2025, 9, 1, 0))
    future = target("01062345671", 1, valid_from=at(2025, 12, 1, 0))
    valid = target("01062345672", 5, valid_from=at(2025, 1, 1, 0), valid_until=at(2026, 1, 1, 0))
    dept = dataclasses.replace(BEIJING, targets=(lapsed, future, valid))
    d = decide(cfg(departments=(dept, SHANGHAI, SUPPORT, EMPTY)), "01062345678", WORKING_TUESDAY, cal)
    assert dials(d) == ["01062345672"]


@pytest.mark.parametrize("voicemail_enabled", [True, False])
def test_no_routable_targets_falls_back_to_voicemail(cal: Calendar, voicemail_enabled: bool) -> None:
    c = cfg(time_rules=(TimeRule(1, Action(ActionKind.DEPARTMENT, "9")),), voicemail_enabled=voicemail_enabled)
    d = decide(c, "057187654321", WORKING_TUESDAY, cal)
    if voicemail_enabled:
        assert (d.action, d.department) == (ActionKind.VOICEMAIL, "9")
    else:
        assert (d.action, d.prompt) == (ActionKind.ANNOUNCEMENT, "ivr400/ivr400-closed")
    assert d.targets == ()
    assert "no routable targets" in d.reason


def test_all_authorizations_lapsed_falls_back_to_voicemail(cal: Calendar) -> None:
    dept = dataclasses.replace(SUPPORT, targets=(target("075512345671", 1, valid_until=at(2025, 1, 1, 0)),))
    d = decide(cfg(departments=(BEIJING, SHANGHAI, dept, EMPTY)), "057187654321", TUESDAY_NIGHT, cal)
    assert (d.action, d.department) == (ActionKind.VOICEMAIL, "3")


def test_decide_department_after_key_press() -> None:
    d = decide_department(BASE, "1", WORKING_TUESDAY)
    assert (d.action, d.department) == (ActionKind.DEPARTMENT, "1")
    assert dials(d)[0] == "01062345679"
    assert decide_department(BASE, "9", WORKING_TUESDAY).action is ActionKind.VOICEMAIL
    for junk in ("7", "", None, "${X}", "1\n", 1):
        d = decide_department(BASE, junk, WORKING_TUESDAY)  # type: ignore[arg-type]
        assert (d.action, d.prompt) == (ActionKind.ANNOUNCEMENT, "ivr400/ivr400-invalid")


# --------------------------------------------------------------------------- determinism, reasons, data


@pytest.mark.parametrize("caller", ["01062345678", "02162345678", "13800138000", None, "garbage"])
@pytest.mark.parametrize("now", [WORKING_TUESDAY, TUESDAY_NIGHT, at(2025, 10, 1, 10), at(2099, 6, 1, 10)])
def test_deterministic_and_reason_safe(cal: Calendar, caller, now: dt.datetime) -> None:
    a = decide(BASE, caller, now, cal, rotation=4)
    b = decide(BASE, caller, now, cal, rotation=4)
    assert a == b
    assert_reason_safe(a, caller)
    assert "\n" not in a.reason


def test_decision_names_the_matched_rule(cal: Calendar) -> None:
    d = decide(BASE, "01062345678", WORKING_TUESDAY, cal)
    assert d.matched_rule_id == "region:11"
    assert d.action is ActionKind.DEPARTMENT and d.hunt_strategy is HuntStrategy.SEQUENTIAL


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"timezone": "Mars/Olympus"}, "time zone"),
        ({"hotline": "400-812-3456"}, "digits"),
        ({"departments": (BEIJING, BEIJING)}, "duplicate department"),
        ({"departments": (dataclasses.replace(BEIJING, key=SWITCHBOARD_KEY),)}, "reserved"),
        ({"time_rules": (TimeRule(1, Action(ActionKind.DEPARTMENT, "8")),)}, "unknown department"),
        ({"after_hours": Action(ActionKind.VOICEMAIL, "8")}, "unknown department"),
        ({"after_hours": Action(ActionKind.REFUSE)}, "after_hours"),
        ({"region_rules": (RegionRule(1, "8", "北京"),)}, "unknown department"),
        ({"time_rules": (OFFICE, OFFICE)}, "duplicate time rule ids"),
        ({"region_overrides": (RegionOverride("010", "北京"), RegionOverride("010", "上海"))}, "two rows"),
    ],
)
def test_config_validation(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cfg(**changes)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Target("010${X}", "010"), "destination"),
        (lambda: Target("01062345678", "01062345678&PJSIP/evil"), "dial"),
        (lambda: Target("01062345678", "01062345678", ring_timeout_s=3), "ring_timeout_s"),
        (lambda: Target("01062345678", "01062345678", position=0), "position"),
        (lambda: Target("01062345678", "01062345678", valid_until=dt.datetime(2026, 1, 1)), "aware"),
        (lambda: DepartmentRouting("1", ringback="tone,with,commas"), "ringback"),
        (lambda: DepartmentRouting("1", hunt_strategy="random"), "hunt_strategy"),  # type: ignore[arg-type]
        (lambda: DepartmentRouting("1", name='a"b'), "name"),
        (lambda: Action(ActionKind.DEPARTMENT), "needs a department"),
        (lambda: Action(ActionKind.MENU, "1"), "names no department"),
        (lambda: Action(ActionKind.ANNOUNCEMENT, prompt="../secret"), "prompt"),
        (lambda: Action("dance"), "action kind"),  # type: ignore[arg-type]
    ],
)
def test_dataclass_validation(make, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make()
