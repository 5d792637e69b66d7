"""Tests for ivr400.numbers: hotlines (400电话), destinations (目的码), caller IDs, regions."""

from __future__ import annotations

import dataclasses
import random
import re

import pytest

from ivr400.numbers import (
    Carrier,
    DestinationNumber,
    HotlineNumber,
    NumberError,
    NumberKind,
    normalize_caller,
    parse_destination,
    parse_hotline_number,
    region_name,
)

# --------------------------------------------------------------------------- hotlines


@pytest.mark.parametrize(
    "text",
    ["4008123456", "400-812-3456", "400 812 3456", "+86 400 812 3456", "0086 400 812 3456",
     "４００８１２３４５６", " 400－812－3456 "],
)
def test_hotline_accepted_forms(text: str) -> None:
    h = parse_hotline_number(text)
    assert h == HotlineNumber("4008123456", Carrier.TELECOM, "")
    assert h.display == "400-812-3456"


@pytest.mark.parametrize(
    ("prefix", "carrier", "note"),
    [
        ("4000", Carrier.UNICOM, "new range"),
        ("4001", Carrier.MOBILE, "new range"),
        ("4006", Carrier.UNICOM, ""),
        ("4007", Carrier.MOBILE, "ex-Tietong"),
        ("4008", Carrier.TELECOM, ""),
        ("4009", Carrier.TELECOM, "new range"),
    ],
)
def test_hotline_carrier_per_prefix(prefix: str, carrier: Carrier, note: str) -> None:
    h = parse_hotline_number(prefix + "123456")
    assert (h.number, h.carrier, h.range_note) == (prefix + "123456", carrier, note)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("4005123456", "400 numbers start with 4000, 4001, 4006, 4007, 4008 or 4009 (got prefix 4005)"),
        ("4002123456", "got prefix 4002"),
        ("40081234", "10 digits (got 8)"),
        ("400812345678", "10 digits (got 12)"),
        ("8008123456", "start with 400"),
        ("400-ABC-3456", "only digits"),
        ("", "empty"),
        ("   ", "empty"),
        ("+1 400 812 3456", "only Chinese"),
    ],
)
def test_hotline_refusals_name_input_and_reason(text: str, reason: str) -> None:
    with pytest.raises(NumberError) as exc:
        parse_hotline_number(text)
    assert str(exc.value).startswith(repr(text) + ": ")
    assert reason in str(exc.value)


def test_number_error_is_value_error() -> None:
    assert issubclass(NumberError, ValueError)
    assert str(NumberError("plain message")) == "plain message"


def test_values_are_frozen() -> None:
    h = parse_hotline_number("4008123456")
    with pytest.raises(dataclasses.FrozenInstanceError):
        h.number = "4009123456"  # type: ignore[misc]
    d = parse_destination("13800138000")
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.number = "13900139000"  # type: ignore[misc]


def test_enums_are_strings() -> None:
    assert Carrier.MOBILE == "mobile" and NumberKind.LANDLINE == "landline"


# --------------------------------------------------------------------------- destinations

BEIJING_LANDLINE = DestinationNumber("01062345678", NumberKind.LANDLINE, "010", "北京", "北京")
BEIJING_MOBILE = DestinationNumber("13800138000", NumberKind.MOBILE, None, "北京", "北京")


@pytest.mark.parametrize(
    "text",
    ["010-62345678", "01062345678", "(010) 6234 5678", "(010)62345678", "+86 10 6234 5678",
     "+86 (0)10 6234 5678", "+861062345678", "0086-10-62345678", "０１０－６２３４５６７８",
     "０１０６２３４５６７８", "010—62345678", "010.6234.5678", "（010）62345678",
     "1062345678", "861062345678"],  # without the trunk 0, or with 86 but no +: one reading only
)
def test_beijing_landline_forms(text: str) -> None:
    assert parse_destination(text) == BEIJING_LANDLINE


@pytest.mark.parametrize(
    "text",
    ["13800138000", "013800138000", "+86 138 0013 8000", "+8613800138000", "0086 138 0013 8000",
     "138-0013-8000", "１３８００１３８０００", "０１３８００１３８０００"],
)
def test_beijing_mobile_forms(text: str) -> None:
    assert parse_destination(text) == BEIJING_MOBILE


@pytest.mark.parametrize(
    ("text", "number", "area", "province", "city", "display"),
    [
        ("021-64321234", "02164321234", "021", "上海", "上海", "021-64321234"),
        ("0755-88888888", "075588888888", "0755", "广东", "深圳", "0755-88888888"),
        ("+86 755 8888 8888", "075588888888", "0755", "广东", "深圳", "0755-88888888"),
        ("75588888888", "075588888888", "0755", "广东", "深圳", "0755-88888888"),
        ("0771-2345678", "07712345678", "0771", "广西", "南宁", "0771-2345678"),
        ("0311-12345678", "031112345678", "0311", "河北", "石家庄", "0311-12345678"),
    ],
)
def test_landline_region_and_area_code(
    text: str, number: str, area: str, province: str, city: str, display: str
) -> None:
    d = parse_destination(text)
    assert d == DestinationNumber(number, NumberKind.LANDLINE, area, province, city)
    assert d.display == display
    assert d.dial == number


def test_mobile_display_and_dial() -> None:
    d = parse_destination("013800138000")
    assert d.display == "138 0013 8000"
    assert d.dial == "13800138000"


def test_mobile_without_known_region() -> None:
    # The geocoder answers "中国" for some newer ranges: no region, still a valid mobile.
    d = parse_destination("17012345678")
    assert (d.kind, d.province, d.city) == (NumberKind.MOBILE, None, None)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("  ", "empty"),
        ("abc", "only digits"),
        ("010-6234567a", "only digits"),
        ("tel:01062345678", "only digits"),
        ("0106234", "too short"),
        ("010-6234567", "too short"),
        ("010623456789012", "too long"),
        ("4008123456", "a 400 or 800 number cannot be a destination"),
        ("400-812-3456", "a 400 or 800 number cannot be a destination"),
        ("+86 400 812 3456", "a 400 or 800 number cannot be a destination"),
        ("8001234567", "a 400 or 800 number cannot be a destination"),
        ("800-810-8888", "a 400 or 800 number cannot be a destination"),
        ("14012345678", "140 is not a Chinese mobile prefix"),
        ("12345678901", "123 is not a Chinese mobile prefix"),
        ("0755-8888888", "does not fit area code 0755"),
        ("+1 212 555 0123", "only Chinese"),
        ("001-212-555-0123", "only Chinese"),
        ("+852 2345 6789", "only Chinese"),
        ("62345678", "area code including the 0"),
        ("010-62345678-801", "extension 801"),
        ("010-62345678转801", "extension 801"),
        ("+86 0138 0013 8000", "no 0 after +86"),
        ("+86", "no digits"),
        ("95588", "a service number cannot be a destination"),
        ("10086", "a service number cannot be a destination"),
        ("00010-62345678", "country code"),
    ],
)
def test_destination_refusals_name_input_and_reason(text: str, reason: str) -> None:
    with pytest.raises(NumberError) as exc:
        parse_destination(text)
    message = str(exc.value)
    assert message.startswith(repr(text) + ": ")
    assert reason in message


def test_unknown_area_code_is_named() -> None:
    # Find a 3-digit area code phonenumbers does not know, instead of hard-coding one that may
    # become valid in a later metadata release.
    for code in range(300, 1000):
        text = f"0{code}-12345678"
        try:
            parse_destination(text)
        except NumberError as exc:
            if "is not a Chinese area code" in str(exc):
                assert f"0{code} is not a Chinese area code" in str(exc)
                return
    pytest.skip("every 3-digit area code is known to this phonenumbers release")


# --------------------------------------------------------------------------- caller IDs


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("anonymous", None),
        ("Anonymous", None),
        ("unknown", None),
        ("restricted", None),
        ("junk!!", None),
        ("<sip:123@example.com>", None),
        ("+", None),
        ("+86", None),
        ("1" * 30, None),
        ("+86 138-0013-8000", "13800138000"),
        ('"13800138000"\n', "13800138000"),
        ("'13800138000'", "13800138000"),
        ("\r\n13800138000\r\n", "13800138000"),
        ("8613800138000", "13800138000"),
        ("008613800138000", "13800138000"),
        ("013800138000", "13800138000"),
        ("13800138000", "13800138000"),
        ("+861062345678", "01062345678"),
        ("861062345678", "01062345678"),
        ("+86 010 6234 5678", "01062345678"),
        ("01062345678", "01062345678"),
        ("075588888888", "075588888888"),
        ("+8675588888888", "075588888888"),
        ("０１０－６２３４５６７８", "01062345678"),
        ("62345678", "62345678"),
        ("10086", "10086"),
        ("+8610086", "10086"),
        ("+8695588", "95588"),
        ("+12125550123", "+12125550123"),
        ("0012125550123", "+12125550123"),
    ],
)
def test_normalize_caller(text: str | None, expected: str | None) -> None:
    assert normalize_caller(text) == expected


def test_normalize_caller_never_raises() -> None:
    rng = random.Random(400)
    alphabet = "0123456789+-() \t\n\"'<>@:;*#.０１８６－＋abcxyz中国\x00\udcff"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20)))
        result = normalize_caller(text)
        assert result is None or re.fullmatch(r"\+?\d+", result), (text, result)
    for odd in (123, b"13800138000", object()):
        assert normalize_caller(odd) is None  # type: ignore[arg-type]


def test_normalize_caller_agrees_with_parse_destination() -> None:
    for text in ("+86 10 6234 5678", "013800138000", "0755-88888888", "+86 138 0013 8000"):
        assert normalize_caller(text) == parse_destination(text).number


# --------------------------------------------------------------------------- regions


@pytest.mark.parametrize(
    ("description", "expected"),
    [
        ("广东省深圳市", ("广东", "深圳")),
        ("北京市", ("北京", "北京")),
        ("上海市", ("上海", "上海")),
        ("广西壮族自治区南宁市、崇左市", ("广西", "南宁")),
        ("广西南宁市", ("广西", "南宁")),
        ("新疆维吾尔自治区乌鲁木齐市", ("新疆", "乌鲁木齐")),
        ("吉林省延边朝鲜族自治州、珲春市、延吉市", ("吉林", "延边")),
        ("青海省海西蒙古族藏族自治州", ("青海", "海西")),
        ("新疆伊犁哈萨克自治州", ("新疆", "伊犁")),
        ("西藏日喀则地区、仲巴县", ("西藏", "日喀则")),
        ("内蒙古锡林郭勒", ("内蒙古", "锡林郭勒")),
        ("黑龙江省大兴安岭地区", ("黑龙江", "大兴安岭")),
        ("青海省海南藏族自治州", ("青海", "海南")),
        ("香港", ("香港", "香港")),
        ("中国", (None, None)),
        ("", (None, None)),
        ("Atlantis", (None, None)),
    ],
)
def test_region_name(description: str, expected: tuple[str | None, str | None]) -> None:
    assert region_name(description) == expected


def test_region_name_covers_every_geocoded_landline_area() -> None:
    """Every zh description phonenumbers gives a valid landline maps to a short province."""
    import phonenumbers
    from phonenumbers import geocoder

    seen = set()
    for code in [*range(10, 30), *range(300, 1000)]:
        for local in ("62345678", "2345678"):
            p = phonenumbers.parse(f"+86{code}{local}")
            if phonenumbers.is_valid_number(p):
                seen.add(geocoder.description_for_number(p, "zh"))
    seen.discard("中国")
    assert len(seen) > 200
    for description in seen:
        province, city = region_name(description)
        assert province and city, description
        assert not re.search(r"省|市|自治区|自治州|地区|、|族", city), (description, city)
