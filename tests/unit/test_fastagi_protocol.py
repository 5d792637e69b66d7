"""Pure AGI protocol: header lines, replies, argument quoting (injection safety), dialplan_safe."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # for tests.fakes when run as `pytest`

from ivr400.pbx.asterisk.agi_protocol import (  # noqa: E402
    MAX_COMMAND_BYTES,
    MSET_MAX_PAIRS,
    AGIArgumentError,
    AGIHangup,
    AGIProtocolError,
    AGIResponse,
    ResponseAssembler,
    build_command,
    dialplan_safe,
    mset_batches,
    parse_args,
    parse_header_line,
    parse_mset,
    parse_request,
    parse_response_line,
    quote_arg,
    strip_control,
)
from tests.fakes.fake_asterisk import USAGE_520, split_like_fgets  # noqa: E402

# --------------------------------------------------------------------------- header lines


@pytest.mark.parametrize(
    "line, expected",
    [
        ("agi_channel: PJSIP/carrier-00000001", ("channel", "PJSIP/carrier-00000001")),
        ("agi_request: agi://127.0.0.1:4573/incoming?a=1", ("request", "agi://127.0.0.1:4573/incoming?a=1")),
        ("agi_accountcode: ", ("accountcode", "")),
        ("agi_accountcode:", ("accountcode", "")),
        ("agi_calleridname: 张三: \"boss\"", ("calleridname", '张三: "boss"')),
        ("agi_arg_1:  two spaces", ("arg_1", " two spaces")),
        ("agi_Channel: x", ("channel", "x")),
    ],
)
def test_parse_header_line(line: str, expected: tuple[str, str]) -> None:
    assert parse_header_line(line) == expected


@pytest.mark.parametrize("line", ["garbage", "agi_: x", "channel: x", "agi channel: x", " agi_x: y", "agi_x-y: z"])
def test_parse_header_line_rejects_malformed(line: str) -> None:
    with pytest.raises(AGIProtocolError):
        parse_header_line(line)


def test_parse_request_from_network_script() -> None:
    headers = {
        "network_script": "incoming?hotline=4008123456&name=%E5%BC%A0&empty=",
        "request": "agi://127.0.0.1:4573/ignored",
        "arg_2": "b",
        "arg_10": "j",
        "arg_1": "a",
        "arg_x": "not an arg",
    }
    req = parse_request(headers)
    assert req.route == "incoming"
    assert req.params == {"hotline": "4008123456", "name": "张", "empty": ""}
    assert req.args == ["a", "b", "j"]


@pytest.mark.parametrize(
    "headers, route, params",
    [
        ({"request": "agi://10.0.0.1:4573/menu/select?key=1"}, "menu/select", {"key": "1"}),
        ({"request": "agi://10.0.0.1/menu"}, "menu", {}),
        ({"network_script": "/slashed"}, "slashed", {}),
        ({"network_script": ""}, "", {}),
        ({}, "", {}),
        ({"request": "hagi://agi.example/route?a=1&a=2"}, "route", {"a": "2"}),
    ],
)
def test_parse_request_variants(headers: dict[str, str], route: str, params: dict[str, str]) -> None:
    req = parse_request(headers)
    assert (req.route, req.params) == (route, params)


# --------------------------------------------------------------------------- replies


@pytest.mark.parametrize(
    "line, expected",
    [
        ("200 result=1", AGIResponse(200, "1")),
        ("200 result=0", AGIResponse(200, "0")),
        ("200 result=-1", AGIResponse(200, "-1")),
        ("200 result=1 (4008123456)", AGIResponse(200, "1", "4008123456")),
        ("200 result=1 ()", AGIResponse(200, "1", "")),
        ("200 result=1 (a (nested) value) )", AGIResponse(200, "1", "a (nested) value) ")),
        ("200 result=0 endpos=12345", AGIResponse(200, "0", None, 12345)),
        ("200 result=49 endpos=800", AGIResponse(200, "49", None, 800)),
        ("200 result=1 (speech) endpos=0", AGIResponse(200, "1", "speech", 0)),
        ("200 result= (timeout)", AGIResponse(200, "", "timeout")),
        ("200 result=1 (value endpos=3)", AGIResponse(200, "1", "value endpos=3")),
        ("510 Invalid or unknown command", AGIResponse(510, message="Invalid or unknown command")),
        ("511 Command Not Permitted on a dead channel",
         AGIResponse(511, message="Command Not Permitted on a dead channel")),
        ("520 Invalid command syntax.  Proper usage not available.",
         AGIResponse(520, message="Invalid command syntax.  Proper usage not available.")),
    ],
)
def test_parse_response_line(line: str, expected: AGIResponse) -> None:
    response, more = parse_response_line(line)
    assert response == expected
    assert more is False


def test_result_int() -> None:
    assert AGIResponse(200, "-1").result_int == -1
    assert AGIResponse(200, "").result_int is None
    assert AGIResponse(510).result_int is None


@pytest.mark.parametrize("line", ["HANGUP", "HANGUP\r"])
def test_hangup_notification(line: str) -> None:
    with pytest.raises(AGIHangup):
        parse_response_line(line)


@pytest.mark.parametrize("line", ["", "20 result=1", "abc result=1", "200result=1", "OK", "2000 x"])
def test_malformed_reply(line: str) -> None:
    with pytest.raises(AGIProtocolError):
        parse_response_line(line)


def test_assembler_multiline_520() -> None:
    asm = ResponseAssembler()
    results = [asm.feed(line + "\n") for line in USAGE_520]
    assert results[:-1] == [None] * (len(USAGE_520) - 1)
    final = results[-1]
    assert final is not None and final.code == 520
    assert "Usage: SET VARIABLE" in final.message
    assert final.message.endswith("End of proper usage.")


def test_assembler_single_line_and_hangup() -> None:
    assert ResponseAssembler().feed("200 result=1\r\n") == AGIResponse(200, "1")
    with pytest.raises(AGIHangup):
        ResponseAssembler().feed("HANGUP\n")


def test_assembler_bounds_usage() -> None:
    asm = ResponseAssembler(max_lines=5)
    asm.feed("520-Invalid command syntax.  Proper usage follows:")
    with pytest.raises(AGIProtocolError):
        for i in range(10):
            asm.feed(f"usage line {i}")


# --------------------------------------------------------------------------- parse_args (Asterisk port)


@pytest.mark.parametrize(
    "line, argv",
    [
        ("SET VARIABLE X 1", ["SET", "VARIABLE", "X", "1"]),
        ("a  b\tc", ["a", "b", "c"]),
        ('"a b" c', ["a b", "c"]),
        (r"a\ b", ["a b"]),
        ('""', [""]),
        ('a "" b', ["a", "", "b"]),
        ('a"b c"d', ["ab cd"]),
        (r'"say \"hi\""', ['say "hi"']),
        (r'"back\\slash"', ["back\\slash"]),
        ("", []),
    ],
)
def test_parse_args_matches_asterisk(line: str, argv: list[str]) -> None:
    assert parse_args(line) == argv


# --------------------------------------------------------------------------- quoting / injection

NASTY = [
    "",
    " ",
    '"',
    "\\",
    "trailing backslash\\",
    'a" "b',
    'x" ; HANGUP ; "',
    "semi;colons;here",
    "${SHELL(rm -rf /)}",
    "$[1+1]",
    "${CALLERID(num)}&PJSIP/premium@trunk,,tTwW",
    "tab\there",
    "张三 (总机) 400-812-3456",
    "emoji 📞",
    "\\\" \\\\ \"\"",
    "HANGUP",
    "agi_x: y",
]


@pytest.mark.parametrize("value", NASTY)
def test_quote_round_trips_through_asterisk_parser(value: str) -> None:
    line = build_command("SET VARIABLE", "NAME", value)
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and b"\r" not in line and b"\0" not in line
    assert parse_args(line.decode("utf-8").rstrip("\n")) == ["SET", "VARIABLE", "NAME", value]


def test_quote_round_trip_fuzz() -> None:
    rng = random.Random(400)
    alphabet = ' "\\\t$[]{}();,&|\'`abc张'
    for _ in range(2000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        line = build_command("VERBOSE", value, 1).decode("utf-8")
        assert line.count("\n") == 1
        assert parse_args(line.rstrip("\n")) == ["VERBOSE", value, "1"]


@pytest.mark.parametrize(
    "value", ["line\nbreak", "cr\rhere", "nul\0byte", "\n", "x\r\nHANGUP", "ok\nEXEC System \"rm -rf /\""]
)
def test_line_breaking_values_are_rejected(value: str) -> None:
    with pytest.raises(ValueError):
        quote_arg(value)
    with pytest.raises(AGIArgumentError):
        build_command("SET VARIABLE", "X", value)


@pytest.mark.parametrize("value", [None, True, 1.5, b"bytes", ["list"]])
def test_non_text_arguments_are_rejected(value: object) -> None:
    with pytest.raises(AGIArgumentError):
        quote_arg(value)


def test_ints_are_accepted() -> None:
    assert quote_arg(0) == '"0"'
    assert quote_arg(-5) == '"-5"'


def test_lone_surrogate_is_rejected() -> None:
    with pytest.raises(AGIArgumentError):
        quote_arg("bad \udcff")


@pytest.mark.parametrize("verb", ["", "SET\nVARIABLE", "SET  VARIABLE", " EXEC", "EXEC ", "SET_VARIABLE", "ＥＸＥＣ"])
def test_bad_verbs_are_rejected(verb: str) -> None:
    with pytest.raises(AGIArgumentError):
        build_command(verb)


def test_verb_is_upper_cased_and_unquoted() -> None:
    assert build_command("set variable", "X", "1") == b'SET VARIABLE "X" "1"\n'
    assert build_command("ANSWER") == b"ANSWER\n"


def test_length_limit_boundary() -> None:
    overhead = len(build_command("VERBOSE", ""))
    exact = "a" * (MAX_COMMAND_BYTES - overhead)
    assert len(build_command("VERBOSE", exact)) == MAX_COMMAND_BYTES
    with pytest.raises(AGIArgumentError):
        build_command("VERBOSE", exact + "a")
    # escaping and UTF-8 count: each quote becomes two bytes, each CJK char three
    with pytest.raises(AGIArgumentError):
        build_command("VERBOSE", '"' * ((MAX_COMMAND_BYTES - overhead) // 2 + 1))
    with pytest.raises(AGIArgumentError):
        build_command("VERBOSE", "张" * ((MAX_COMMAND_BYTES - overhead) // 3 + 1))


@pytest.mark.parametrize("size", [8 * 1024 + 1, 64 * 1024, 1024 * 1024])
def test_very_long_values_are_rejected(size: int) -> None:
    with pytest.raises(AGIArgumentError):
        build_command("SET VARIABLE", "X", "x" * size)


def test_too_many_arguments() -> None:
    build_command("EXEC", *["a"] * 100)
    with pytest.raises(AGIArgumentError):
        build_command("EXEC", *["a"] * 127)


def test_why_the_limit_matters() -> None:
    """Asterisk would run the tail of an over-long line as a second command."""
    evil = b'VERBOSE "' + b"x" * (MAX_COMMAND_BYTES - 9) + b'HANGUP\n'
    chunks = split_like_fgets(evil)
    assert len(chunks) == 2 and chunks[1] == b"HANGUP\n"
    assert split_like_fgets(b"ANSWER\n") == [b"ANSWER\n"]


# --------------------------------------------------------------------------- dialplan_safe


@pytest.mark.parametrize(
    "value",
    [
        "${SHELL(rm -rf /)}",
        "$[1+1]",
        "$${{x}}",
        "$$[[1]]",
        "1&PJSIP/premium@trunk",
        "1,,tTwW",
        'a"b\'c\\d;e`f|g^h',
        "line\nbreak\r\0",
    ],
)
def test_dialplan_safe_neutralises(value: str) -> None:
    out = dialplan_safe(value)
    assert "${" not in out and "$[" not in out
    assert not set(out) & set("${}[](),&|\"'\\;`^\n\r\0")
    # and it is then always sendable
    build_command("SET VARIABLE", "X", out)


def test_dialplan_safe_keeps_ordinary_text() -> None:
    ordinary = "张三 +86 400-812-3456 sales@example.com #1*2"
    assert dialplan_safe(ordinary) == ordinary
    assert dialplan_safe("${X}") == "__X_"
    assert dialplan_safe("${X}", replacement="") == "X"
    assert dialplan_safe("abcdef", max_len=3) == "abc"


def test_dialplan_safe_fuzz_never_leaves_substitution() -> None:
    rng = random.Random(7)
    alphabet = "${}[]()\n,&ab 张"
    for _ in range(2000):
        value = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        out = dialplan_safe(value, replacement="")
        assert "$" not in out and "{" not in out and "[" not in out


def test_dialplan_safe_refuses_unsafe_replacement() -> None:
    with pytest.raises(ValueError):
        dialplan_safe("x", replacement="$")
    with pytest.raises(ValueError):
        dialplan_safe("x", replacement="\n")


def test_strip_control() -> None:
    assert strip_control("a\r\nb\0c\td\x7fe") == "abcde"
    assert strip_control("张三") == "张三"


# --------------------------------------------------------------------------- several variables in one command


def test_mset_batches_one_command_for_a_decision_in_order() -> None:
    pairs = [("IVR400_TARGET_1", "PJSIP/01062345678@carrier"), ("IVR400_TIMEOUT_1", "15"), ("IVR400_MOH", ""),
             ("IVR400_TARGET_COUNT", "1")]
    assert mset_batches(pairs) == [
        "IVR400_TARGET_1=PJSIP/01062345678@carrier,IVR400_TIMEOUT_1=15,IVR400_MOH=,IVR400_TARGET_COUNT=1"]
    assert build_command("EXEC", "MSet", mset_batches(pairs)[0]) == (
        b'EXEC "MSet" "IVR400_TARGET_1=PJSIP/01062345678@carrier,IVR400_TIMEOUT_1=15,IVR400_MOH=,'
        b'IVR400_TARGET_COUNT=1"\n')
    assert parse_mset(mset_batches(pairs)[0]) == pairs


@pytest.mark.parametrize("value", ["a,b", 'say "hi"', "x\\y", "${SHELL(id)}", "a(b)", "[1]", "a b", "a&b", "中文"])
def test_mset_batches_send_any_other_value_alone_keeping_the_order(value: str) -> None:
    pairs = [("A", "1"), ("B", value), ("C", "3")]
    assert mset_batches(pairs) == ["A=1", ("B", value), "C=3"]


def test_mset_batches_respect_the_line_and_pair_limits() -> None:
    many = [(f"V{i}", "x" * 10) for i in range(60)]
    batches = mset_batches(many)
    assert [len(parse_mset(b)) for b in batches] == [MSET_MAX_PAIRS, MSET_MAX_PAIRS, 60 - 2 * MSET_MAX_PAIRS]
    assert [p for b in batches for p in parse_mset(b)] == many
    long = [(f"V{i}", "9" * 300) for i in range(20)]
    lines = [build_command("EXEC", "MSet", b) for b in mset_batches(long)]
    assert all(len(line) <= MAX_COMMAND_BYTES for line in lines) and len(lines) > 1
    assert [p for b in mset_batches(long) for p in parse_mset(b)] == long
    with pytest.raises(AGIArgumentError, match="too long"):
        mset_batches([("V", "1" * MAX_COMMAND_BYTES)])


def test_parse_mset_mirrors_msets_split_and_first_equals() -> None:
    assert parse_mset("A=1,B=x=y,C=") == [("A", "1"), ("B", "x=y"), ("C", "")]
    with pytest.raises(ValueError):
        parse_mset("A=1,B")
