"""The render model: validation of database values and the naming the dialplan relies on."""
from __future__ import annotations

import dataclasses
import re

import pytest

from ivr400.render.model import (
    DEFAULT_DIAL_TEMPLATE,
    WELCOME,
    RenderDepartment,
    RenderHotline,
    RenderModel,
    RenderTarget,
    RenderTone,
    RenderValueError,
    check_agi_url,
    check_dial_template,
    check_hotline_number,
    check_key,
    clamp,
    comment_text,
    dial_string,
    marks_value,
    pjsip_endpoint,
    tone_moh_class,
    tone_sound,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("客服热线", "客服热线"),
    ("a\nb", "a b"),
    ("a\r\n[evil]\nexten => 1,1,Hangup()", "a [evil] exten => 1,1,Hangup()"),
    ("tab\there\u2028line sep\u2029para\x00nul\x1besc", "tab here line sep para nul esc"),
    ("  spaced   out  ", "spaced out"),
    (None, ""),
    (42, "42"),
])
def test_comment_text_is_one_clean_line(raw: object, expected: str) -> None:
    assert comment_text(raw) == expected


def test_comment_text_truncates() -> None:
    assert comment_text("x" * 100, 10) == "x" * 9 + "…"
    assert len(comment_text("销" * 200)) == 80


@pytest.mark.parametrize("template", [
    DEFAULT_DIAL_TEMPLATE,
    "PJSIP/pstn/sip:{number}@127.0.0.1:5071",
    "PJSIP/+86{number}@carrier",
    "Local/{number}@ivr400-test",
    "IAX2/carrier/{number}",
])
def test_good_dial_templates(template: str) -> None:
    assert check_dial_template(template) == template
    assert "{" not in dial_string(template, "01062345678")


@pytest.mark.parametrize("template", [
    "PJSIP/carrier",                      # no {number}
    "PJSIP/{number}@x,60,A(x)",           # extra Dial arguments
    "PJSIP/{number}@a&PJSIP/666@b",       # a second target
    "PJSIP/{number}@${EVIL}",             # variable expansion
    "PJSIP/{number}@x;comment",           # config comment
    "PJSIP/{number} @x",                  # space
    "PJSIP/{number}@x\nexten => 1",       # newline
    "PJSIP/{number}{other}@x",            # another placeholder
    "Foo/{number}",                       # unknown technology
    None,
])
def test_bad_dial_templates(template: object) -> None:
    with pytest.raises(RenderValueError):
        check_dial_template(template)


@pytest.mark.parametrize("number", ["", "12", "0106234567a", "010,1", "010 6234", "+", "1" * 21])
def test_dial_string_refuses_non_numbers(number: str) -> None:
    with pytest.raises(RenderValueError):
        dial_string(DEFAULT_DIAL_TEMPLATE, number)


def test_dial_string() -> None:
    assert dial_string(DEFAULT_DIAL_TEMPLATE, "01062345678") == "PJSIP/01062345678@ivr400-out"
    assert dial_string("PJSIP/{number}@x", "+8613800138000") == "PJSIP/+8613800138000@x"


def test_pjsip_endpoint() -> None:
    assert pjsip_endpoint(DEFAULT_DIAL_TEMPLATE) == "ivr400-out"
    assert pjsip_endpoint("PJSIP/pstn/sip:{number}@127.0.0.1:5071") is None
    assert pjsip_endpoint("Local/{number}@ctx") is None


def test_hotline_number_and_key() -> None:
    assert check_hotline_number("4008123456") == "4008123456"
    for bad in ("400812345", "40081234567", "5008123456", "400812345a", None, "4008123456\n"):
        with pytest.raises(RenderValueError):
            check_hotline_number(bad)
    assert check_key("0") == "0"
    for bad in ("", "10", "a", "*", "#", None):
        with pytest.raises(RenderValueError):
            check_key(bad)


def test_agi_url() -> None:
    assert check_agi_url("agi://127.0.0.1:4573") == "agi://127.0.0.1:4573"
    assert check_agi_url("agi://127.0.0.1:4573/") == "agi://127.0.0.1:4573"
    assert check_agi_url("hagi://_agi._tcp.example.net") == "hagi://_agi._tcp.example.net"
    assert check_agi_url("agi://controller:4573/ivr400") == "agi://controller:4573/ivr400"
    for bad in ("http://x", "agi://x:4573/a,b", "agi://x/${EVIL}", "agi://x?y=1", "agi://x y", 4573):
        with pytest.raises(RenderValueError):
            check_agi_url(bad)


def test_clamp() -> None:
    assert clamp(15, 5, 120, 15) == 15
    assert clamp(1, 5, 120, 15) == 5
    assert clamp(999, 5, 120, 15) == 120
    assert clamp(None, 5, 120, 15) == 15
    assert clamp(True, 5, 120, 15) == 15
    assert clamp("20", 5, 120, 15) == 15


def test_tone_names() -> None:
    assert tone_sound(7) == "ivr400/tone-7"
    assert tone_moh_class(7) == "ivr400-tone-7"
    tone = RenderTone(7, "welcome", "welcome", "a" * 64, "tones/a.wav")
    assert tone.sound == "ivr400/tone-7" and tone.moh_class == "ivr400-tone-7"


def _dept(path: str, *, targets: tuple[RenderTarget, ...] = (), children: tuple[RenderDepartment, ...] = (),
          hunt: str = "sequential", moh: str = "") -> RenderDepartment:
    return RenderDepartment(hotline_number="4008123456", id=None if not path else len(path), path=path,
                            key=path[-1:] if path else "", name=f"dept {path}", hunt=hunt, max_attempts=0,
                            moh_class=moh, prompt=WELCOME, targets=targets, children=children)


def test_department_naming() -> None:
    sb = _dept("")
    assert sb.is_switchboard and sb.exten == "d" and sb.keys == "" and sb.rr_global == "IVR400_RR_4008123456_SB"
    leaf = _dept("2.2.1")
    assert leaf.digits == "221" and leaf.exten == "d221" and leaf.keys == "2-2-1"
    assert leaf.menu_key == "m/4008123456-221" and leaf.rr_global == "IVR400_RR_4008123456_221"
    assert not leaf.has_menu


def test_department_strategies_and_group_timeout() -> None:
    targets = (RenderTarget("PJSIP/1@x", 15, "1", 1, 1), RenderTarget("PJSIP/2@x", 40, "2", 2, 2))
    assert _dept("1", hunt="round_robin").dial_strategy == "sequential"
    assert _dept("1", hunt="simultaneous").dial_strategy == "simultaneous"
    assert _dept("1", targets=targets).group_timeout_s == 40
    assert _dept("1").group_timeout_s == 15


def test_hotline_walks_depth_first_in_key_order() -> None:
    d221 = _dept("2.2.1")
    d22 = _dept("2.2", children=(d221,))
    d21 = _dept("2.1")
    d2 = _dept("2", children=(d21, d22))
    d1 = _dept("1")
    h = RenderHotline(id=1, number="4008123456", name="n", enterprise="e", welcome=WELCOME, menu_timeout_s=5,
                      menu_retries=3, voicemail=True, switchboard=_dept(""), departments=(d1, d2))
    assert [d.path for d in h.hunts()] == ["", "1", "2", "2.1", "2.2", "2.2.1"]
    assert [d.path for d in h.menus()] == ["2", "2.2"]
    assert h.data_key == "h/4008123456" and h.menu_key == "m/4008123456" and h.has_menu
    assert not dataclasses.replace(h, departments=()).has_menu


def test_model_tones_and_moh_classes() -> None:
    welcome = RenderTone(1, "welcome", "welcome", "1" * 64, "tones/1.wav")
    ringback = RenderTone(2, "ringback", "ringback", "2" * 64, "tones/2.wav")
    unused = RenderTone(3, "unused", "ringback", "3" * 64, "tones/3.wav")
    h = RenderHotline(id=1, number="4008123456", name="n", enterprise="e", welcome=welcome.sound, menu_timeout_s=5,
                      menu_retries=3, voicemail=True, switchboard=_dept("", moh=ringback.moh_class))
    model = RenderModel(hotlines=(h,), tones=(welcome, ringback, unused), trunks=())
    assert model.prompt_tones == (welcome,)
    assert model.ringback_tones == (ringback,)
    classes = model.moh_classes
    assert [c.name for c in classes] == ["ivr400-default", "ivr400-tone-2"]
    assert classes[0].tone is None and classes[0].file == "ivr400-ringback.wav"
    assert classes[1].directory == "/var/lib/asterisk/moh/ivr400/ivr400-tone-2" and classes[1].tone is ringback


def test_model_objects_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        _dept("1").path = "2"  # type: ignore[misc]


def test_seat_marks_and_plan_version() -> None:
    """The names the hunt checks before a Dial once a deploy changed the hotline (docs/live-deploys.md)."""

    targets = (RenderTarget("PJSIP/1@x", 15, "1", 1, 1), RenderTarget("PJSIP/2@x", 40, "2", 2, 2))
    sales = _dept("1", targets=targets)  # row id 1
    assert marks_value("v1", ("PJSIP/1@x", "PJSIP/2@x")) == "v1&PJSIP/1@x&PJSIP/2@x"
    assert sales.marks_key == "b1" and _dept("").marks_key == "b0"
    assert sales.marks("v9") == "v9&PJSIP/1@x&PJSIP/2@x" and _dept("2").marks("v9") == "v9"
    h = RenderHotline(id=1, number="4008123456", name="n", enterprise="e", welcome=WELCOME, menu_timeout_s=5,
                      menu_retries=3, voicemail=True, switchboard=_dept(""), departments=(sales,))
    assert re.fullmatch(r"v[0-9a-f]{20}", h.version) and h.version == dataclasses.replace(h).version
    for changed in (dataclasses.replace(h, voicemail=False), dataclasses.replace(h, menu_timeout_s=6),
                    dataclasses.replace(h, departments=(dataclasses.replace(sales, targets=targets[::-1]),))):
        assert changed.version != h.version


def test_a_hunt_list_too_long_for_one_dialplan_step_is_refused() -> None:
    from ivr400.render import RenderError
    from ivr400.render.asterisk import render_model

    long_dial = "PJSIP/" + "x" * 150 + "@carrier"
    targets = tuple(RenderTarget(long_dial + str(i), 15, str(i), i, i) for i in range(20))
    h = RenderHotline(id=1, number="4008123456", name="n", enterprise="e", welcome=WELCOME, menu_timeout_s=5,
                      menu_retries=3, voicemail=True, switchboard=_dept("", targets=targets))
    with pytest.raises(RenderError, match=r"hotline 4008123456 switchboard: 20 seats .* at most 4000"):
        render_model(RenderModel(hotlines=(h,), tones=(), trunks=()))
    short = dataclasses.replace(h, switchboard=_dept("", targets=targets[:5]))
    assert render_model(RenderModel(hotlines=(short,), tones=(), trunks=())).files
