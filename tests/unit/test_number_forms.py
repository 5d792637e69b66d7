"""Every written form of a number × every area-code length and mobiles, in exact and prefix mode (issue 8).

One normalizer (``ivr400.numbers.normalize_number``) reads what people type; ``normalize_caller`` gives
caller IDs the same reading. The expected values here are written by hand from the Chinese numbering
plan; docs/numbers.md shows the same table, and ``test_docs_table_is_what_the_normalizer_does`` keeps
that page true.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from ivr400.numbers import (
    NormalizedNumber,
    NumberError,
    NumberKind,
    normalize_caller,
    normalize_number,
    parse_destination,
)
from ivr400.routing.blocking import check_caller, parse_caller
from ivr400.routing.model import BlockEntry, BlockMode, BlockPolicy, RegionOverride
from ivr400.routing.region import caller_region

L, M, S, H, LOC, F = (NumberKind.LANDLINE, NumberKind.MOBILE, NumberKind.SERVICE, NumberKind.HOTLINE,
                      NumberKind.LOCAL, NumberKind.FOREIGN)

# One landline per area-code shape: (area code with its 0, local number, a second caller in the same
# 4-digit block, the short prefix after the area code used in prefix mode).
AREAS = {
    "010 (2 digits, Beijing)": ("010", "88881234", "88885678", "8888"),
    "021 (02x, Shanghai)": ("021", "64321234", "64329876", "6432"),
    "020 (02x, Guangzhou)": ("020", "87654321", "87659999", "8765"),
    "0311 (3 digits, 8-digit local, Shijiazhuang)": ("0311", "87654321", "87650000", "8765"),
    "0771 (3 digits, 7-digit local, Nanning)": ("0771", "2345678", "2349999", "234"),
    "0755 (3 digits, Shenzhen)": ("0755", "88881234", "88885678", "8888"),
    "0951 (09xx, next to the 95xxx service numbers, Yinchuan)": ("0951", "6012345", "6019999", "601"),
}


def landline_forms(area: str, local: str) -> list[str]:
    """Every way people write one landline; all must give 0 + area + local."""
    a = area[1:]
    mid = len(local) // 2
    return [
        f"{area}{local}", f"{area}-{local}", f"{area} {local[:mid]} {local[mid:]}", f"({area}) {local}",
        f"({area}){local[:mid]}-{local[mid:]}", f"{area}.{local[:mid]}.{local[mid:]}", f"（{area}）{local}",
        f"{area}—{local}", f"+86 {a} {local}", f"+86{a}{local}", f"+86 ({area[0]}){a} {local}",
        f"+86 {area} {local}", f"+86-{a}-{local}", f"0086 {a} {local}", f"0086{a}{local}",
        f"86 {a} {local}", f"86{a}{local}", f"{a}{local}",  # 86 without + / without the 0: one reading only
        "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in f"{area}-{local}"),  # full-width
    ]


def landline_prefix_forms(area: str, block: str) -> list[str]:
    a = area[1:]
    return [f"{area}{block}", f"{area}-{block}", f"{area} {block}", f"({area}) {block}", f"+86 {a} {block}",
            f"+86{a}{block}", f"+86 (0){a} {block}", f"0086 {a} {block}", f"0086-{a}-{block}", f"86 {a} {block}",
            f"86{a}{block}"]


def area_prefix_forms(area: str) -> list[str]:
    a = area[1:]
    return [area, f"({area})", f"+86 {a}", f"+86{a}", f"+86 ({area[0]}){a}", f"0086 {a}", f"86 {a}", f"86-{a}"]


# --------------------------------------------------------------------------- landlines × area-code length


@pytest.mark.parametrize("name", list(AREAS))
def test_landline_exact_forms(name: str) -> None:
    area, local, _, _ = AREAS[name]
    for text in landline_forms(area, local):
        n = normalize_number(text)
        assert (n.value, n.kind, n.area_code) == (area + local, L, area), text
        assert normalize_caller(text) == area + local, text
    assert parse_destination(f"+86 {area[1:]} {local}").number == area + local


@pytest.mark.parametrize("name", list(AREAS))
def test_landline_prefix_forms_match_the_area_callers(name: str) -> None:
    area, local, other, block = AREAS[name]
    for text in landline_prefix_forms(area, block):
        n = normalize_number(text, prefix=True)
        assert (n.value, n.kind, n.prefix) == (area + block, L, True), text
    for text in area_prefix_forms(area):
        n = normalize_number(text, prefix=True)
        assert (n.value, n.kind) == (area, L), text
    # The prefix matches every way the carrier may present a caller of that block, and only those.
    entry = BlockEntry(f"+86 {area[1:]} {block}", prefix=True)
    for caller in (area + local, f"+86{area[1:]}{other}", f"0086{area[1:]}{local}", f"86{area[1:]}{other}",
                   f"{area[1:]}{local}"):
        assert parse_caller(caller).number.startswith(entry.number), caller
    assert not parse_caller("01062345678" if area != "010" else "02162345678").number.startswith(entry.number)


@pytest.mark.parametrize("name", [n for n in AREAS if not n.startswith("095")])
def test_area_code_without_its_0_is_refused_as_a_prefix(name: str) -> None:
    area, _, _, block = AREAS[name]
    for text in (area[1:], f"{area[1:]} {block}"):
        with pytest.raises(NumberError, match=rf"ambiguous.*0{area[1:]}"):
            normalize_number(text, prefix=True)


def test_95_without_0_is_the_service_number_family() -> None:
    """Written without 0 or +86, 95… is the 95xxx service numbers (95588), as dialled; the areas
    0951-0955 are written with their 0 or +86."""
    assert normalize_number("951", prefix=True) == NormalizedNumber("951", S, True)
    assert normalize_number("0951", prefix=True) == normalize_number("+86 951", prefix=True) == \
        NormalizedNumber("0951", L, True)


# The issue's four cases, literally.
@pytest.mark.parametrize(
    ("text", "value"),
    [("+86 10 8888", "0108888"), ("+86 10", "010"), ("+86 21", "021"), ("010-8888", "0108888"),
     ("138", "138"), ("+86 138", "138"), ("10086", "10086")],
)
def test_issue_8_prefixes(text: str, value: str) -> None:
    assert normalize_number(text, prefix=True).value == value
    assert BlockEntry(text, prefix=True).number == value


def test_plus86_10_8888_blocks_beijing_8888_callers_and_not_10086() -> None:
    policy = BlockPolicy(BlockMode.BLACKLIST, (BlockEntry("+86 10 8888", prefix=True),))
    for raw in ("01088881234", "+861088881234", "00861088881234", "861088881234", "1088881234", "010-8888-1234"):
        assert not check_caller(policy, parse_caller(raw)).allowed, raw
    for raw in ("10086", "+8610086", "01062345678", "02188881234", "13888881234"):
        assert check_caller(policy, parse_caller(raw)).allowed, raw
    beijing = BlockPolicy(BlockMode.BLACKLIST, (BlockEntry("+86 10", prefix=True),))
    assert not check_caller(beijing, parse_caller("+861062345678")).allowed
    assert check_caller(beijing, parse_caller("10086")).allowed  # 10086 is not a Beijing number


# --------------------------------------------------------------------------- mobiles


MOBILE_FORMS = ["13800138000", "138 0013 8000", "138-0013-8000", "+86 138 0013 8000", "+8613800138000",
                "+86-138-0013-8000", "0086 138 0013 8000", "008613800138000", "86 138 0013 8000", "8613800138000",
                "013800138000", "0138-0013-8000", "１３８００１３８０００"]


@pytest.mark.parametrize("text", MOBILE_FORMS)
def test_mobile_exact_forms(text: str) -> None:
    n = normalize_number(text)
    assert (n.value, n.kind, n.area_code) == ("13800138000", M, None)
    assert normalize_caller(text) == "13800138000"


@pytest.mark.parametrize(
    ("text", "value"),
    [("138", "138"), ("+86 138", "138"), ("+86138", "138"), ("0086 138", "138"), ("86 138", "138"),
     ("0138", "138"), ("138 0013", "1380013"), ("+86 138-0013", "1380013"), ("19", "19"), ("+86 199", "199")],
)
def test_mobile_prefix_forms(text: str, value: str) -> None:
    n = normalize_number(text, prefix=True)
    assert (n.value, n.kind) == (value, M)


def test_mobile_with_0_after_plus86_is_refused_when_typed_but_read_from_a_caller() -> None:
    for mode in (False, True):
        with pytest.raises(NumberError, match="no 0 after \\+86"):
            normalize_number("+86 0138 0013 8000", prefix=mode)
    assert normalize_caller("+86 0138 0013 8000") == "13800138000"


# --------------------------------------------------------------------------- service, 400/800, local, foreign


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("10086", "10086", S), ("+86 10086", "10086", S), ("+8610086", "10086", S), ("10000", "10000", S),
        ("10010", "10010", S), ("12345", "12345", S), ("12306", "12306", S), ("114", "114", S), ("110", "110", S),
        ("95588", "95588", S), ("+86 95588", "95588", S), ("955 88", "95588", S), ("96777", "96777", S),
        ("1010-1234", "10101234", S), ("95012345678", "95012345678", S),
        ("400-812-3456", "4008123456", H), ("400 812 3456", "4008123456", H), ("+86 400 812 3456", "4008123456", H),
        ("0086 4008123456", "4008123456", H), ("800-810-8888", "8008108888", H),
        ("6234 5678", "62345678", LOC), ("623-4567", "6234567", LOC), ("86108888", "86108888", LOC),
        ("+1 212 555 0123", "+12125550123", F), ("001-212-555-0123", "+12125550123", F),
        ("+852 2345 6789", "+85223456789", F),
    ],
)
def test_other_kinds_exact(text: str, value: str, kind: NumberKind) -> None:
    n = normalize_number(text)
    assert (n.value, n.kind) == (value, kind)
    assert normalize_caller(text) == value


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("10086", "10086", S), ("100", "100", S), ("101", "101", S), ("12", "12", S), ("123", "123", S),
        ("114", "114", S), ("95", "95", S), ("955", "955", S), ("96", "96", S),
        ("400", "400", H), ("4008", "4008", H), ("400-812", "400812", H), ("+86 400", "400", H), ("800", "800", H),
        ("62", "62", LOC), ("6234", "6234", LOC),
        ("+1", "+1", F), ("001", "+1", F), ("+852", "+852", F),
        ("+86 95", "095", L), ("+86 951", "0951", L), ("0", "0", L), ("01", "01", L), ("02", "02", L),
        ("+86 2", "02", L),
    ],
)
def test_other_kinds_prefix(text: str, value: str, kind: NumberKind) -> None:
    n = normalize_number(text, prefix=True)
    assert (n.value, n.kind) == (value, kind)


def test_the_095x_area_codes_and_the_95xxx_service_numbers_do_not_collide() -> None:
    assert normalize_caller("+869516012345") == "09516012345"  # Yinchuan, sent with +86
    assert normalize_caller("9516012345") == "09516012345"  # ... and without its 0
    assert normalize_caller("95516") == "95516"  # a 95xxx service number
    policy = BlockPolicy(BlockMode.BLACKLIST, (BlockEntry("95", prefix=True),))
    assert not check_caller(policy, parse_caller("95588")).allowed
    assert check_caller(policy, parse_caller("+869516012345")).allowed


# --------------------------------------------------------------------------- refusals


@pytest.mark.parametrize(
    ("text", "prefix", "reason"),
    [
        ("10", True, "ambiguous prefix: for Beijing numbers write 010"),
        ("10 8888", True, "ambiguous prefix: for Beijing numbers write 0108888"),
        ("108888", True, "ambiguous prefix"),
        ("1", True, "ambiguous prefix"),
        ("+86 1", True, "ambiguous prefix"),
        ("21", True, "write 021"),
        ("755", True, "write 0755"),
        ("4", True, "400 and 800 prefixes start with 400 or 800"),
        ("40", True, "400 and 800 prefixes start with 400 or 800"),
        ("+86 40", True, "no Chinese area code starts with 040"),
        ("+86 12", True, "service numbers are written without +86"),
        ("+86 10086", True, "never starts with 0"),
        ("026", True, "026 is not a Chinese area code"),
        ("+86", True, "no digits after the country code"),
        ("86", True, "no digits after the country code"),
        ("+", False, "no digits after +"),
        ("00010-62345678", False, "country code"),
        ("010-62345678-801", False, "extension 801"),
        ("010-62345678转801", False, "extension 801"),
        ("010 6234 5678 ext. 801", False, "extension 801"),
        ("010-62345678 x801", False, "extension 801"),
        ("010-62345678#801", False, "extension 801"),
        ("13800138000 分机 12", False, "extension 12"),
        ("010-8888 转 801", True, "extension 801"),
        ("010-6234567", False, "too short"),
        ("010-623456789", False, "too long"),
        ("0999-1234", False, "too short"),
        ("1380013800", False, "a mobile number has 11 digits"),
        ("12345678901", False, "123 is not a Chinese mobile prefix"),
        ("40081234", False, "400 and 800 numbers have 10 digits"),
        ("8888", False, "too short"),
        ("+86 6234 5678", False, "after the country code"),
        ("abc", False, "only digits"),
        ("", False, "empty"),
    ],
)
def test_refusals_say_why(text: str, prefix: bool, reason: str) -> None:
    with pytest.raises(NumberError) as exc:
        normalize_number(text, prefix=prefix)
    assert str(exc.value).startswith(repr(text) + ": ")
    assert reason in str(exc.value)


def test_extension_refusal_names_the_number_to_write() -> None:
    with pytest.raises(NumberError, match=r"write the number alone \(01062345678\)"):
        normalize_number("010-62345678转801")


# --------------------------------------------------------------------------- one result everywhere


@pytest.mark.parametrize("name", list(AREAS))
def test_canonical_values_are_fixed_points(name: str) -> None:
    """What is stored reads back as itself: a stored entry never drifts when the controller reloads it."""
    area, local, _, block = AREAS[name]
    for value in (area + local, "13800138000", "10086", "95588", "4008123456", "62345678", "+12125550123"):
        assert normalize_number(value).value == value
        assert normalize_caller(value) == value
    for value in (area + local, area + block, area, "13800138000", "1380013", "10086", "95", "4008", "62", "+1"):
        assert normalize_number(value, prefix=True).value == value


def test_destinations_caller_ids_and_entries_agree() -> None:
    for text in ("+86 10 6234 5678", "013800138000", "0755-88888888", "+86 138 0013 8000", "75588888888",
                 "0086 311 8765 4321"):
        dest = parse_destination(text).number
        assert normalize_number(text).value == dest == normalize_caller(text) == BlockEntry(text).number


def test_region_override_typed_with_plus86_locates_the_callers() -> None:
    override = RegionOverride("+86 10 8888", "上海")
    assert override.prefix == "0108888"
    assert caller_region(parse_caller("+861088881234").number, (override,)).province == "上海"
    assert caller_region(parse_caller("+861062345678").number, (override,)).province == "北京"  # geocoder
    for bad in ("10086", "+1", "400"):
        with pytest.raises(ValueError, match="expected landline or local or mobile"):
            RegionOverride(bad, "北京")


# --------------------------------------------------------------------------- docs/numbers.md stays true

DOC = Path(__file__).resolve().parents[2] / "docs" / "numbers.md"
_ROW = re.compile(r"^\| `(?P<text>[^`]*)` \| (?P<exact>[^|]+) \| (?P<prefix>[^|]+) \|")
_CALLER_ROW = re.compile(r"^\| caller `(?P<text>[^`]*)` \| (?P<result>[^|]+) \|")


def _check_cell(text: str, cell: str, prefix: bool) -> None:
    cell = cell.strip()
    got = re.fullmatch(r"`(?P<value>[^`]+)` (?P<kind>\w+)", cell)
    if got:
        n = normalize_number(text, prefix=prefix)
        assert (n.value, n.kind.value) == (got["value"], got["kind"]), (text, prefix, cell)
        return
    refused = re.fullmatch(r"refused: (?P<reason>.+)", cell)
    assert refused, f"docs/numbers.md: cannot read cell {cell!r} for {text!r}"
    with pytest.raises(NumberError) as exc:
        normalize_number(text, prefix=prefix)
    assert refused["reason"].strip() in str(exc.value), (text, prefix, str(exc.value))


def test_docs_table_is_what_the_normalizer_does() -> None:
    rows = callers = 0
    text = DOC.read_text(encoding="utf-8")
    for line in text[text.index("\n## The table"):].splitlines():
        if m := _ROW.match(line):
            _check_cell(m["text"], m["exact"], False)
            _check_cell(m["text"], m["prefix"], True)
            rows += 1
        elif m := _CALLER_ROW.match(line):
            expected = m["result"].strip()
            result = normalize_caller(m["text"])
            assert (f"`{result}`" if result is not None else "none") == expected, (m["text"], result)
            callers += 1
    assert rows >= 60 and callers >= 15


# --------------------------------------------------------------------------- trunk 0 after the country code

@pytest.mark.parametrize("domestic", [
    "013800138000", "01062345678", "02164321234", "075588888888", "09516012345", "07712345678",
    "0755123", "0109999", "010086", "04008123456", "0123",
])
@pytest.mark.parametrize("cc", ["+86", "+86 ", "0086", "0086 ", "86"])
def test_a_trunk_0_after_the_country_code_is_read_as_the_domestic_form(cc: str, domestic: str) -> None:
    written = cc + domestic
    if cc == "86" and len(written) < 12:  # 86 without + or 00 is a country code only on 12+ digits
        return
    assert normalize_caller(written) == normalize_caller(domestic), written
    assert normalize_caller(written) is not None, written


def test_a_blacklisted_mobile_sent_as_0086_0_is_blocked() -> None:
    policy = BlockPolicy(BlockMode.BLACKLIST, (BlockEntry("13800138000", prefix=False),))
    assert not check_caller(policy, parse_caller("0086013800138000")).allowed
