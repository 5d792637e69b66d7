"""WEB呼叫 (click-to-call): the number rule and each abuse limit, pure (``now`` and the past attempts passed in)."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from ivr400.routing.calendar import Calendar
from ivr400.routing.clicktocall import (
    Limits,
    check_limits,
    check_target,
    concurrency_limit,
    in_flight,
    ip_limit,
    number_limit,
    open_now,
)
from ivr400.routing.model import Action, ActionKind, TimeRule, TimeSegment

SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=SH)  # a Monday, working day
L = Limits()


@pytest.mark.parametrize(("typed", "number"), [
    ("13800138000", "13800138000"), ("+86 138 0013 8000", "13800138000"), ("19001234567", "19001234567"),
    ("010-62345678", "01062345678"), ("0755 2345 6789", "075523456789"),
])
def test_mainland_mobiles_and_fixed_lines_are_called(typed: str, number: str) -> None:
    verdict = check_target(typed)
    assert verdict.allowed and verdict.number == number


@pytest.mark.parametrize(("typed", "why"), [
    ("+1 212 555 0100", "international"), ("0044 20 7946 0000", "international"),
    ("4008001234", "400/800"), ("8008001234", "400/800"),
    ("95588", "service"), ("10086", "service"), ("12345", "service"),
    ("010-16812345", "2-8"),     # 168 声讯 premium line behind an area code
    ("021-96123456", "2-8"),     # 96xxx local service numbers
    ("62345678", "area code"),   # a local number without its area code
    ("1900123456", "11 digits"), ("abc", "only digits"), ("", "empty"),
])
def test_everything_else_is_refused_with_a_reason(typed: str, why: str) -> None:
    verdict = check_target(typed)
    assert not verdict.allowed and verdict.outcome == "refused_number"
    assert verdict.reason.startswith("number: ") and why in verdict.reason, verdict.reason


def test_per_number_one_call_per_60_seconds() -> None:
    assert not number_limit(L, NOW, SH, [NOW - dt.timedelta(seconds=59)]).allowed
    assert number_limit(L, NOW, SH, [NOW - dt.timedelta(seconds=60)]).allowed
    assert number_limit(L, NOW, SH, []).allowed


def test_per_number_three_calls_per_day_in_the_hotline_zone() -> None:
    today = [NOW.replace(hour=h) for h in (8, 9)]
    assert number_limit(L, NOW, SH, today).allowed
    refused = number_limit(L, NOW, SH, [*today, NOW.replace(hour=0, minute=1)])
    assert not refused.allowed and "3 times today" in refused.reason
    # Yesterday's calls (23:59 local, already 15:59 UTC the day before) do not count.
    assert number_limit(L, NOW, SH, [*today, NOW - dt.timedelta(hours=10, minutes=1)]).allowed


def test_per_ip_five_requests_per_ten_minutes() -> None:
    recent = [NOW - dt.timedelta(minutes=m) for m in (1, 2, 3, 4)]
    assert ip_limit(L, NOW, recent).allowed
    assert not ip_limit(L, NOW, [*recent, NOW - dt.timedelta(minutes=9)]).allowed
    assert ip_limit(L, NOW, [*recent, NOW - dt.timedelta(minutes=10)]).allowed


def test_per_hotline_concurrency_counts_callbacks_in_flight() -> None:
    ago = lambda s: NOW - dt.timedelta(seconds=s)  # noqa: E731
    two = [(ago(30), None), (ago(900), None)]  # still going after 15 min: in flight, however long
    assert not concurrency_limit(L, NOW, two).allowed
    assert concurrency_limit(Limits(max_concurrent=3), NOW, two).allowed
    ended = [(ago(900), ago(600)), (ago(30), None)]  # one callback ended (its CDR came): one in flight
    assert concurrency_limit(L, NOW, ended).allowed
    assert in_flight(L, NOW, [*ended, (ago(10), None)]) == 2
    # Never closed (the CDR listener was down): it stops counting after inflight_max_age_s.
    stale = [(ago(L.inflight_max_age_s + 1), None), (ago(5), None)]
    assert in_flight(L, NOW, stale) == 1 and concurrency_limit(L, NOW, stale).allowed


def test_check_limits_skips_the_ip_limit_for_operators_and_names_the_first_refusal() -> None:
    many = [NOW - dt.timedelta(minutes=1)] * 9
    web = check_limits(L, NOW, SH, number_placed=[], ip_requests=many, hotline_placed=[])
    assert web.outcome == "refused_rate_ip"
    assert check_limits(L, NOW, SH, number_placed=[], ip_requests=None, hotline_placed=[]).allowed
    assert check_limits(L, NOW, SH, number_placed=[NOW], ip_requests=None, hotline_placed=[]).outcome == \
        "refused_rate_number"


def test_business_hours_from_the_time_rules() -> None:
    cal = Calendar()
    assert open_now((), NOW, SH, cal).allowed  # no rules: always open
    office = TimeRule(id=1, action=Action(ActionKind.MENU), segments=(TimeSegment.parse("09:00-18:00"),))
    assert open_now((office,), NOW, SH, cal).allowed
    closed = open_now((office,), NOW.replace(hour=20), SH, cal)
    assert not closed.allowed and closed.outcome == "refused_closed"
    announce = TimeRule(id=2, action=Action(ActionKind.ANNOUNCEMENT), segments=(TimeSegment.parse("00:00-24:00"),),
                        priority=1)
    assert not open_now((announce, office), NOW, SH, cal).allowed
