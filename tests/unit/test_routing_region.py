"""Caller region: geocoder by area code and mobile prefix, the override table, region rules."""

from __future__ import annotations

import phonenumbers
import pytest
from phonenumbers import geocoder

from ivr400.numbers import region_name
from ivr400.routing.blocking import parse_caller
from ivr400.routing.model import RegionOverride, RegionRule
from ivr400.routing.region import CallerRegion, caller_region, geocode, match_region_rule


def mobile_region(number: str) -> tuple[str | None, str | None]:
    """What phonenumbers itself says about a mobile's 7-digit prefix (号段)."""
    return region_name(geocoder.description_for_number(phonenumbers.parse("+86" + number), "zh"))


@pytest.mark.parametrize(
    ("raw", "province", "city"),
    [
        ("01062345678", "北京", "北京"),
        ("+86 10 6234 5678", "北京", "北京"),
        ("02162345678", "上海", "上海"),
        ("075512345678", "广东", "深圳"),
        ("02087654321", "广东", "广州"),
        ("09911234567", "新疆", "乌鲁木齐"),
        ("057187654321", "浙江", "杭州"),
    ],
)
def test_landline_by_area_code(raw: str, province: str, city: str) -> None:
    number = parse_caller(raw).number
    assert caller_region(number) == CallerRegion(province, city, "geocoder")


@pytest.mark.parametrize("number", ["13800138000", "13912345678", "15012345678", "18612345678", "13510001000"])
def test_mobile_by_prefix_agrees_with_phonenumbers(number: str) -> None:
    expected = mobile_region(number)
    assert expected[0] is not None  # phonenumbers knows these prefixes
    assert caller_region(number) == CallerRegion(*expected, "geocoder")


def test_known_mobile_prefixes() -> None:
    assert caller_region("13800138000") == CallerRegion("北京", "北京", "geocoder")
    assert caller_region("13912345678") == CallerRegion("江苏", "常州", "geocoder")


@pytest.mark.parametrize(
    "number",
    [None, "", "62345678", "95588", "10086", "4008123456", "8008123456", "+14155550123", "+442079460000",
     "010", "0101234", "1380013", "00000000000", "99999999999"],
)
def test_no_region(number: str | None) -> None:
    assert caller_region(number) == CallerRegion(None, None, "none")
    assert "unknown" in caller_region(number).describe()


def test_geocode_is_defensive() -> None:
    for junk in ("", "abc", "0", "+86", "1" * 30):
        assert geocode(junk) == (None, None)


OVERRIDES = (
    RegionOverride("1380013", "上海", "上海"),  # this 号段 block is used in Shanghai by the enterprise
    RegionOverride("13800138000", "广东省", "深圳市"),  # longest prefix wins
    RegionOverride("62", "北京"),  # local numbers without area code come from Beijing
)


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("13800138000", CallerRegion("广东", "深圳", "override")),
        ("13800138001", CallerRegion("上海", "上海", "override")),
        ("13800148000", CallerRegion(*mobile_region("13800148000"), "geocoder")),
        ("62345678", CallerRegion("北京", None, "override")),
        ("01062345678", CallerRegion("北京", "北京", "geocoder")),
    ],
)
def test_override_table_wins(number: str, expected: CallerRegion) -> None:
    index = {o.prefix: o for o in OVERRIDES}
    assert caller_region(number, index) == expected
    assert caller_region(number, OVERRIDES) == expected  # an iterable works too


def test_override_normalizes_names_and_prefix() -> None:
    o = RegionOverride("+86 755", "广东省", "深圳市")
    assert (o.prefix, o.province, o.city) == ("0755", "广东", "深圳")
    for bad in (("abc", "北京", None), ("010", "火星", None), ("010", "北京", 'x"y')):
        with pytest.raises(ValueError):
            RegionOverride(*bad)


# --------------------------------------------------------------------------- region rules

RULES = (
    RegionRule(1, department="1", province="北京"),
    RegionRule(2, department="2", province="上海市"),
    RegionRule(3, department="3", province="广东"),
    RegionRule(4, department="4", province="广东省", city="深圳市"),  # city rule beats province rule
    RegionRule(5, department="5", province="江苏", priority=200),
    RegionRule(6, department="6", province="江苏", city="常州", priority=300),  # but priority comes first
)


@pytest.mark.parametrize(
    ("raw", "rule_id"),
    [
        ("01062345678", 1),
        ("02162345678", 2),
        ("02087654321", 3),  # Guangzhou: province rule
        ("075512345678", 4),  # Shenzhen: city rule
        ("13912345678", 5),  # Changzhou mobile: priority 200 before 300
        ("13800138000", 1),  # Beijing mobile
        ("057187654321", None),  # Zhejiang: no rule
        ("+14155550123", None),
        (None, None),
    ],
)
def test_region_rules(raw: str | None, rule_id: int | None) -> None:
    region = caller_region(parse_caller(raw).number)
    rule = match_region_rule(RULES, region)
    assert (rule.id if rule else None) == rule_id


def test_beijing_and_shanghai_go_to_different_departments() -> None:
    bj = match_region_rule(RULES, caller_region(parse_caller("010-62345678").number))
    sh = match_region_rule(RULES, caller_region(parse_caller("021-62345678").number))
    assert bj is not None and sh is not None
    assert bj.department != sh.department


def test_rule_names_are_normalized() -> None:
    assert (RULES[1].province, RULES[1].city) == ("上海", None)
    assert (RULES[3].province, RULES[3].city) == ("广东", "深圳")
    r = RegionRule(9, "1", "广西壮族自治区", "南宁市")
    assert (r.province, r.city) == ("广西", "南宁")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"province": "Atlantis"},
        {"province": ""},
        {"province": "北京", "city": ""},
        {"province": "北京", "city": "${X}"},
        {"province": "北京", "department": "a b"},
    ],
)
def test_rule_validation(kwargs: dict) -> None:
    args = {"id": 1, "department": "1", **kwargs}
    with pytest.raises(ValueError):
        RegionRule(**args)
