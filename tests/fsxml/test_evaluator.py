"""The evaluator on small hand-written dialplans whose FreeSWITCH behaviour is known.

Sources: ``src/mod/dialplans/mod_dialplan_xml/mod_dialplan_xml.c`` (``parse_exten``, ``dialplan_hunt``) and
``src/switch_utils.c`` (``switch_dow_cmp``, ``switch_number_cmp``, ``switch_tod_cmp``, ``switch_fulldate_cmp``)
of signalwire/freeswitch; the wiki pages "XML Dialplan" (conditions, break, anti-action, regex any/all/xor,
time of day) and "Variables" (inline execution). Each test names the behaviour it pins.
"""
from __future__ import annotations

from datetime import datetime

import pytest

from tests.fsxml.evaluator import Dialplan, EvaluationError, dow_cmp, number_cmp, run_call, tod_cmp


def plan(body: str) -> Dialplan:
    return Dialplan([f'<include><context name="t">{body}</context></include>'])


def ran(p: Dialplan, dest: str = "100", **kw: object) -> list[str]:
    """The playback files of a call (what each test uses as its observable)."""
    return run_call(p, dest, context="t", **kw).played  # type: ignore[arg-type]


def test_regex_is_unanchored_and_captures_substitute() -> None:
    p = plan('''
      <extension name="a"><condition field="destination_number" expression="00">
        <action application="playback" data="matched-unanchored"/></condition></extension>''')
    assert ran(p, "1003") == ["matched-unanchored"]
    p = plan('''
      <extension name="a"><condition field="destination_number" expression="^1(\\d)(\\d)$">
        <action application="playback" data="x-$2-$1-$3"/></condition></extension>''')
    assert ran(p, "123") == ["x-3-2-"]
    p = plan('''
      <extension name="a"><condition field="destination_number" expression="^(1)(2)">
        <action application="playback" data="${2}${1}-${destination_number}"/></condition></extension>''')
    assert ran(p, "12") == ["21-12"]


def test_first_matching_extension_wins_unless_continue() -> None:
    body = '''
      <extension name="a" {cont}><condition field="destination_number" expression="^1">
        <action application="playback" data="a"/></condition></extension>
      <extension name="b"><condition field="destination_number" expression="^10">
        <action application="playback" data="b"/></condition></extension>'''
    assert ran(plan(body.format(cont=""))) == ["a"]
    assert ran(plan(body.format(cont='continue="true"'))) == ["a", "b"]


def test_break_default_on_false_runs_anti_actions_and_stops() -> None:
    p = plan('''
      <extension name="a">
        <condition field="destination_number" expression="^9"><action application="playback" data="no"/>
          <anti-action application="playback" data="anti"/></condition>
        <condition field="destination_number" expression="^1"><action application="playback" data="never"/></condition>
      </extension>
      <extension name="b"><condition><action application="playback" data="b"/></condition></extension>''')
    # The anti-action ran, so the extension proceeded: b is not hunted.
    assert ran(p) == ["anti"]


def test_last_false_condition_without_anti_action_lets_the_hunt_go_on() -> None:
    p = plan('''
      <extension name="a">
        <condition field="destination_number" expression="^1"><action application="playback" data="a1"/></condition>
        <condition field="destination_number" expression="^9" break="never">
          <action application="playback" data="a2"/></condition>
      </extension>
      <extension name="b"><condition><action application="playback" data="b"/></condition></extension>''')
    assert ran(p) == ["a1", "b"]


@pytest.mark.parametrize(("brk", "expected"), [
    ("on-true", ["t1"]), ("on-false", ["t1", "t2"]), ("always", ["t1"]), ("never", ["t1", "t2"]),
])
def test_break_on_a_true_condition(brk: str, expected: list[str]) -> None:
    p = plan(f'''
      <extension name="a">
        <condition field="destination_number" expression="^1" break="{brk}">
          <action application="playback" data="t1"/></condition>
        <condition field="destination_number" expression="0"><action application="playback" data="t2"/></condition>
      </extension>''')
    assert ran(p) == expected


@pytest.mark.parametrize(("brk", "expected"), [
    ("on-true", ["f1", "t2"]), ("on-false", ["f1"]), ("always", ["f1"]), ("never", ["f1", "t2"]),
])
def test_break_on_a_false_condition(brk: str, expected: list[str]) -> None:
    p = plan(f'''
      <extension name="a">
        <condition field="destination_number" expression="^9" break="{brk}">
          <anti-action application="playback" data="f1"/></condition>
        <condition field="destination_number" expression="0"><action application="playback" data="t2"/></condition>
      </extension>''')
    assert ran(p) == expected


@pytest.mark.parametrize(("rule", "fields", "expected"), [
    ("all", ("1", "2"), "yes"), ("all", ("1", "x"), "no"),
    ("any", ("x", "2"), "yes"), ("any", ("x", "y"), "no"),
    ("xor", ("1", "y"), "yes"), ("xor", ("1", "2"), "no"), ("xor", ("x", "y"), "no"),
])
def test_regex_any_all_xor(rule: str, fields: tuple[str, str], expected: str) -> None:
    p = plan(f'''
      <extension name="a"><condition regex="{rule}">
        <regex field="${{A}}" expression="^1$"/><regex field="${{B}}" expression="^2$"/>
        <action application="playback" data="yes"/><anti-action application="playback" data="no"/>
      </condition></extension>''')
    assert ran(p, variables={"A": fields[0], "B": fields[1]}) == [expected]


def test_regex_all_keeps_the_captures_of_the_last_regex_with_a_group() -> None:
    p = plan('''
      <extension name="a"><condition regex="all">
        <regex field="destination_number" expression="^(1)(0)"/><regex field="${B}" expression="^(b+)$"/>
        <action application="playback" data="$1"/></condition></extension>''')
    assert ran(p, variables={"B": "bbb"}) == ["bbb"]


def test_inline_set_is_seen_by_later_conditions_and_a_queued_one_is_not() -> None:
    body = '''
      <extension name="a">
        <condition field="destination_number" expression="^1">
          <action application="set" data="X=1" {inline}/></condition>
        <condition field="${{X}}" expression="^1$"><action application="playback" data="seen"/>
          <anti-action application="playback" data="not-seen"/></condition>
      </extension>'''
    assert ran(plan(body.format(inline='inline="true"'))) == ["seen"]
    assert ran(plan(body.format(inline=""))) == ["not-seen"]


def test_queued_actions_expand_variables_when_they_run() -> None:
    p = plan('''
      <extension name="a"><condition field="destination_number" expression="^1">
        <action application="set" data="X=first"/><action application="playback" data="${X}"/>
        <action application="set" data="X=second"/><action application="playback" data="${X}-${UNSET}"/>
      </condition></extension>''')
    assert ran(p) == ["first", "second-"]


def test_transfer_hunts_again_and_drops_the_rest() -> None:
    p = plan('''
      <extension name="a"><condition field="destination_number" expression="^100$">
        <action application="set" data="V=kept"/>
        <action application="transfer" data="200 XML t"/><action application="playback" data="dropped"/>
      </condition></extension>
      <extension name="b"><condition field="destination_number" expression="^200$">
        <action application="playback" data="b-${V}-${destination_number}"/></condition></extension>''')
    assert ran(p) == ["b-kept-200"]


def test_global_variables_are_read_when_the_channel_has_none() -> None:
    p = plan('''
      <extension name="a"><condition field="destination_number" expression="^1">
        <action application="set_global" data="G=${G}x"/><action application="playback" data="${G}"/>
      </condition></extension>''')
    shared: dict[str, str] = {}
    assert ran(p, globals_=shared) == ["x"]
    assert ran(p, globals_=shared) == ["xx"]


def test_time_conditions() -> None:
    p = plan('''
      <extension name="work"><condition wday="2-6" time-of-day="09:00-18:00">
        <action application="playback" data="open"/></condition></extension>
      <extension name="lunch"><condition minute-of-day="721-780"><action application="playback" data="lunch"/>
        </condition></extension>
      <extension name="holiday"><condition date-time="2026-10-01 00:00~2026-10-08 00:00">
        <action application="playback" data="holiday"/></condition></extension>
      <extension name="closed"><condition hour="0-23"><action application="playback" data="closed"/></condition>
      </extension>''')
    monday_10 = datetime(2026, 6, 1, 10, 0)  # 2026-06-01 is a Monday: wday 2
    assert ran(p, now=monday_10) == ["open"]
    assert ran(p, now=datetime(2026, 6, 1, 18, 0)) == ["closed"]  # the end of time-of-day is exclusive
    assert ran(p, now=datetime(2026, 6, 6, 12, 0)) == ["lunch"]  # Saturday 12:00 = minute 721
    assert ran(p, now=datetime(2026, 10, 1, 12, 0, 1)) == ["open"]  # a Thursday: the first extension wins
    assert ran(p, now=datetime(2026, 10, 3, 20, 0)) == ["holiday"]  # a Saturday evening in the range
    assert ran(p, now=datetime(2026, 10, 7, 23, 59)) == ["holiday"]
    assert ran(p, now=datetime(2026, 10, 8, 0, 0)) == ["closed"]


def test_time_and_regex_helpers() -> None:
    assert dow_cmp("mon-fri", 2) and not dow_cmp("mon-fri", 1) and dow_cmp("1,7", 7) and not dow_cmp("2,4", 3)
    assert number_cmp("8-17", 17) and not number_cmp("8-17", 18) and number_cmp("1,5,9", 9)
    assert tod_cmp("08:30-12:00:30", 12 * 3600 + 30 - 1) and not tod_cmp("08:30-12:00", 12 * 3600)


def test_bridge_sequential_and_simultaneous() -> None:
    p = plan('''
      <extension name="a"><condition field="destination_number" expression="^1">
        <action application="set" data="continue_on_fail=true"/>
        <action application="bridge" data="{x=1}[leg_timeout=5]sofia/gateway/g/1|[leg_timeout=9]sofia/gateway/g/2"/>
        <action application="playback" data="after-${originate_disposition}"/>
        <action application="bridge" data="[leg_timeout=7]sofia/gateway/g/3,[leg_timeout=7]sofia/gateway/g/4"/>
      </condition></extension>''')
    outcomes = {"sofia/gateway/g/1": ("busy", 0), "sofia/gateway/g/2": ("busy", 0),
                "sofia/gateway/g/3": ("answer", 2.0), "sofia/gateway/g/4": ("answer", 1.0)}
    r = run_call(p, "1", context="t", seats=lambda d: outcomes[d])
    assert r.played == ["after-USER_BUSY"]
    seq, sim = r.bridges
    assert [leg.timeout for leg in seq.legs] == [5, 9] and seq.variables == {"x": "1"}
    assert sim.mode == "simultaneous" and sim.answered_by is not None and sim.answered_by.dial.endswith("/4")


def test_unmodelled_things_fail_loudly() -> None:
    with pytest.raises(EvaluationError, match="not modelled"):
        run_call(plan('<extension name="a"><condition><action application="lua" data="x"/></condition></extension>'),
                 "1", context="t")
    with pytest.raises(EvaluationError, match="cannot run inline"):
        run_call(plan('<extension name="a"><condition><action application="playback" data="x" inline="true"/>'
                      '</condition></extension>'), "1", context="t")
    with pytest.raises(EvaluationError, match="loops"):
        run_call(plan('<extension name="a"><condition><action application="transfer" data="1 XML t"/>'
                      '</condition></extension>'), "1", context="t")


def test_socket_goes_on_only_with_socket_resume_or_when_refused() -> None:
    body = '''
      <extension name="a"><condition field="destination_number" expression="^1">
        {resume}<action application="socket" data="127.0.0.1:8084 async full"/>
        <action application="playback" data="after-${{X}}"/></condition></extension>'''
    up = lambda _hook, _vars: {"X": "set"}  # noqa: E731
    assert ran(plan(body.format(resume='<action application="set" data="socket_resume=true"/>')),
               controller=up) == ["after-set"]
    assert ran(plan(body.format(resume="")), controller=up) == []  # hung up when the controller closed
    assert ran(plan(body.format(resume="")), controller=lambda _h, _v: None) == ["after-"]  # connection refused
