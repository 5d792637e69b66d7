"""Call blocking: caller-ID classification, blacklist, whitelist-only, anonymous policy."""

from __future__ import annotations

import pytest

from ivr400.routing.blocking import Caller, check_caller, parse_caller
from ivr400.routing.model import (
    AnonymousPolicy,
    BlockEntry,
    BlockMode,
    BlockPolicy,
    CallerStatus,
    RefuseWith,
)

# --------------------------------------------------------------------------- caller IDs


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("13800138000", "13800138000"),
        ("+8613800138000", "13800138000"),
        ("013800138000", "13800138000"),
        ("8613800138000", "13800138000"),
        ("01062345678", "01062345678"),
        ("010-6234 5678", "01062345678"),
        ("(010) 62345678", "01062345678"),
        ("+86 10 6234 5678", "01062345678"),
        ("00861062345678", "01062345678"),
        ("02162345678", "02162345678"),
        ("０１０６２３４５６７８", "01062345678"),  # full-width digits
        ("62345678", "62345678"),  # local number without area code
        ("95588", "95588"),
        ("+14155550123", "+14155550123"),
    ],
)
def test_numbers(raw: str, number: str) -> None:
    assert parse_caller(raw) == Caller(number, CallerStatus.NUMBER)


@pytest.mark.parametrize(
    "raw",
    [None, "", " ", "   ", "anonymous", "Anonymous", "ANONYMOUS", "unknown", "Unknown", "restricted", "private",
     "unavailable", "withheld"],
)
def test_withheld(raw: str | None) -> None:
    c = parse_caller(raw)
    assert c == Caller(None, CallerStatus.WITHHELD)
    assert c.label == "withheld"


@pytest.mark.parametrize(
    "raw",
    [
        "abc",
        "garbage!",
        "13800138000abc",
        "+",
        "()",
        "--",
        '"13800138000"',  # quotes: display-form junk or an injection attempt
        "'13800138000'",
        "138\n00138000",  # newline
        "13800138000\r\n",
        "1380013\t8000",
        "${EXTEN}",
        "1380013${X}",
        "$[1+1]",
        "13800138000;drop",
        '"Alice" <13800138000>',
        "1" * 40,
        "9" * 200,
        "\x00",
        "13800138000\x00",
        "sip:13800138000@example.com",
        "１３８\u200b００１３８０００",  # zero-width space
        b"13800138000",
        13800138000,
        ["13800138000"],
    ],
)
def test_unparseable_never_crashes(raw: object) -> None:
    c = parse_caller(raw)
    assert c == Caller(None, CallerStatus.UNPARSEABLE)
    assert c.label == "unparseable"


# --------------------------------------------------------------------------- policies

BLACK = BlockPolicy(
    BlockMode.BLACKLIST,
    (BlockEntry("13800138000"), BlockEntry("010", prefix=True), BlockEntry("1390013", prefix=True)),
)
WHITE = BlockPolicy(
    BlockMode.WHITELIST_ONLY,
    (BlockEntry("13912345678"), BlockEntry("021", prefix=True)),
)


def verdict(policy: BlockPolicy, raw: object) -> bool:
    return check_caller(policy, parse_caller(raw)).allowed


@pytest.mark.parametrize(
    ("raw", "allowed"),
    [
        ("13800138000", False),  # exact
        ("+86 138 0013 8000", False),  # exact, after normalization
        ("13800138001", True),  # exact entries do not act as prefixes
        ("1380013800", True),
        ("01062345678", False),  # area code prefix
        ("+861062345678", False),
        ("02162345678", True),
        ("13900131234", False),  # mobile prefix 1390013
        ("13900141234", True),
        ("0755 1234 5678", True),
    ],
)
def test_blacklist_exact_and_prefix(raw: str, allowed: bool) -> None:
    assert verdict(BLACK, raw) is allowed


def test_blacklist_reason_names_the_entry() -> None:
    v = check_caller(BLACK, parse_caller("01062345678"))
    assert v.entry == BlockEntry("010", prefix=True)
    assert "blacklist" in v.reason and "010*" in v.reason
    v = check_caller(BLACK, parse_caller("13800138000"))
    assert v.entry == BlockEntry("13800138000")


def test_longest_prefix_named() -> None:
    policy = BlockPolicy(BlockMode.BLACKLIST, (BlockEntry("0", prefix=True), BlockEntry("0755", prefix=True)))
    assert check_caller(policy, parse_caller("075512345678")).entry == BlockEntry("0755", prefix=True)


@pytest.mark.parametrize(
    ("raw", "allowed"),
    [
        ("13912345678", True),
        ("+8613912345678", True),
        ("13912345679", False),
        ("02162345678", True),
        ("021-6234 5678", True),
        ("01062345678", False),
        ("+14155550123", False),
        ("95588", False),
    ],
)
def test_whitelist_only(raw: str, allowed: bool) -> None:
    assert verdict(WHITE, raw) is allowed


@pytest.mark.parametrize("mode", list(BlockMode))
@pytest.mark.parametrize("anonymous", list(AnonymousPolicy))
@pytest.mark.parametrize(
    "raw", [None, "", "anonymous", "Anonymous", "unknown", "garbage", '"x"', "1\n2", "${CALLERID(num)}"]
)
def test_anonymous_policy_decides_in_every_mode(mode: BlockMode, anonymous: AnonymousPolicy, raw: object) -> None:
    policy = BlockPolicy(mode, (BlockEntry("010", prefix=True),), anonymous=anonymous)
    v = check_caller(policy, parse_caller(raw))
    assert v.allowed is (anonymous is AnonymousPolicy.ALLOW)
    assert "anonymous policy" in v.reason
    assert v.entry is None


def test_off_allows_numbers() -> None:
    assert verdict(BlockPolicy(BlockMode.OFF, (BlockEntry("13800138000"),)), "13800138000")


# --------------------------------------------------------------------------- entries and policies as data


@pytest.mark.parametrize(
    ("number", "prefix", "normalized", "shown"),
    [
        ("010", True, "010", "010*"),
        ("+86 755", True, "0755", "0755*"),
        ("+86 10", True, "010", "010*"),  # issue 8: was stored as 10*, matching 10086 and no Beijing caller
        ("+86 10 8888", True, "0108888", "0108888*"),
        ("1380013", True, "1380013", "1380013*"),
        ("010-62345678", False, "01062345678", "01062345678"),
        ("+86 138 0013 8000", False, "13800138000", "13800138000"),
    ],
)
def test_entry_forms(number: str, prefix: bool, normalized: str, shown: str) -> None:
    entry = BlockEntry(number, prefix)
    assert (entry.number, entry.prefix, str(entry)) == (normalized, prefix, shown)


@pytest.mark.parametrize("bad", ["", "*", "abc", "anonymous", "${X}", "010;1"])
def test_entry_refuses_non_numbers(bad: str) -> None:
    with pytest.raises(ValueError):
        BlockEntry(bad)


@pytest.mark.parametrize("ambiguous", ["10", "10 8888", "108888", "1"])
def test_entry_refuses_ambiguous_prefixes(ambiguous: str) -> None:
    with pytest.raises(ValueError, match="ambiguous prefix"):
        BlockEntry(ambiguous, prefix=True)


def test_policy_validation() -> None:
    p = BlockPolicy("blacklist", (BlockEntry("010", True), BlockEntry("13800138000")), "refuse",  # type: ignore[arg-type]
                    "prompt", "custom/blocked")  # type: ignore[arg-type]
    assert p.mode is BlockMode.BLACKLIST
    assert p.anonymous is AnonymousPolicy.REFUSE
    assert p.refuse_with is RefuseWith.PROMPT
    assert p.refuse_prompt == "custom/blocked"
    with pytest.raises(ValueError, match="block mode"):
        BlockPolicy(mode="greylist")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="anonymous"):
        BlockPolicy(anonymous="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="prompt"):
        BlockPolicy(refuse_with=RefuseWith.PROMPT, refuse_prompt="../../etc/passwd")
