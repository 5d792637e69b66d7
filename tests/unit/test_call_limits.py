"""呼叫限制 (caller cap) and 按比例分配 (weighted split): the pure rules, then the decision that uses them."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from zoneinfo import ZoneInfo

import pytest

from ivr400.routing.calendar import Calendar
from ivr400.routing.decide import decide, decide_department, hunt_order
from ivr400.routing.limits import cap_verdict, month_start, split_draw, weighted_first
from ivr400.routing.model import (
    ActionKind,
    DepartmentRouting,
    HotlineRouting,
    HuntStrategy,
    RefuseWith,
    Target,
)

SH = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2026, 6, 1, 10, 0, tzinfo=SH)


def test_month_start_is_midnight_of_the_first_in_the_hotline_zone() -> None:
    # 03:00 on 1 December in Beijing is still 30 November in UTC: the month is December's.
    now = dt.datetime(2026, 11, 30, 19, 0, tzinfo=dt.timezone.utc)
    assert month_start(now, SH) == dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.timezone.utc)
    assert month_start(dt.datetime(2026, 11, 30, 15, 59, tzinfo=dt.timezone.utc), SH) == dt.datetime(
        2026, 10, 31, 16, 0, tzinfo=dt.timezone.utc)
    with pytest.raises(ValueError, match="now"):
        month_start(dt.datetime(2026, 1, 1), SH)


@pytest.mark.parametrize(("cap", "caller", "calls", "allowed"), [
    (0, "13800138000", 10_000, True),   # no cap
    (3, "13800138000", 0, True),
    (3, "13800138000", 2, True),        # the third call of the month
    (3, "13800138000", 3, False),       # the fourth is refused
    (3, "13800138000", 9, False),
    (3, None, 99, True),                # withheld: cannot be counted
    (3, "13800138000", None, True),     # count unavailable: fail open
])
def test_cap_verdict(cap: int, caller: str | None, calls: int | None, allowed: bool) -> None:
    verdict = cap_verdict(cap, caller, calls)
    assert verdict.allowed is allowed
    if not allowed:
        assert f"cap {cap}" in verdict.reason and verdict.counted == calls


def test_weighted_first_moves_the_drawn_item_and_keeps_the_rest_in_order() -> None:
    items = ["a", "b", "c", "d"]
    assert weighted_first(items, [1, 1, 1, 1], 0.0) == ("a", "b", "c", "d")
    assert weighted_first(items, [1, 1, 1, 1], 0.6) == ("c", "a", "b", "d")
    assert weighted_first(items, [0, 0, 5, 0], 0.01) == ("c", "a", "b", "d")
    assert weighted_first(items, [0, 0, 0, 0], 0.9) == ("a", "b", "c", "d")  # nobody weighted: as they are
    assert weighted_first(items, [1, 0, 0, 0], 1.0) == ("a", "b", "c", "d")
    with pytest.raises(ValueError, match="one per item"):
        weighted_first(items, [1], 0.5)
    with pytest.raises(ValueError, match=">= 0"):
        weighted_first(items, [1, -1, 1, 1], 0.5)


def test_split_draw_is_deterministic_and_in_range() -> None:
    assert split_draw("1700000000.1") == split_draw("1700000000.1")
    assert split_draw("1700000000.1") != split_draw("1700000000.2")
    assert all(0.0 <= split_draw(f"1700000000.{i}") < 1.0 for i in range(1000))


def weighted_department(weights: list[int]) -> DepartmentRouting:
    return DepartmentRouting(
        key="switchboard", hunt_strategy=HuntStrategy.WEIGHTED,
        targets=tuple(Target(f"0106234567{i}", f"0106234567{i}", position=i + 1, weight=w)
                      for i, w in enumerate(weights)))


def test_ten_thousand_calls_land_within_two_percent_of_each_weight() -> None:
    weights = [50, 30, 15, 5]
    dept = weighted_department(weights)
    firsts = Counter(hunt_order(dept, NOW, draw=split_draw(f"17{i:08d}.{i % 97}"))[0].destination
                     for i in range(10_000))
    for i, w in enumerate(weights):
        share = firsts[f"0106234567{i}"] / 10_000
        assert abs(share - w / 100) <= 0.02, (i, share)


def test_weighted_hunt_rings_everyone_the_rest_by_position_and_static_without_a_draw() -> None:
    dept = weighted_department([1, 0, 3])
    order = [t.destination for t in hunt_order(dept, NOW, draw=0.9)]
    assert order == ["01062345672", "01062345670", "01062345671"]
    # No draw (what the static plan does): plain position order.
    assert [t.destination for t in hunt_order(dept, NOW)] == ["01062345670", "01062345671", "01062345672"]
    # A seat of weight 0 is never first.
    assert all(hunt_order(dept, NOW, draw=split_draw(str(i)))[0].destination != "01062345671" for i in range(500))


def capped(cap: int, refuse: RefuseWith = RefuseWith.BUSY) -> HotlineRouting:
    from ivr400.routing.model import BlockPolicy

    return HotlineRouting(hotline="4008000001", switchboard=weighted_department([1, 1]), caller_cap_per_month=cap,
                          block=BlockPolicy(refuse_with=refuse))


def test_decide_refuses_a_caller_over_the_cap_with_the_hotline_refuse_action() -> None:
    cal = Calendar()
    ok = decide(capped(3), "13800138000", NOW, cal, calls_this_month=2)
    assert ok.action is ActionKind.DEPARTMENT and ok.refused_by is None
    assert "caller cap: 2 of 3 this month" in ok.reason
    over = decide(capped(3), "13800138000", NOW, cal, calls_this_month=3)
    assert (over.action, over.refused_by, over.refuse_with) == (ActionKind.REFUSE, "caller_cap", RefuseWith.BUSY)
    assert "caller cap: 3 call(s) this month >= cap 3" in over.reason
    prompted = decide(capped(3, RefuseWith.PROMPT), "13800138000", NOW, cal, calls_this_month=5)
    assert prompted.prompt == "ivr400/ivr400-blocked" and prompted.refused_by == "caller_cap"
    # No cap, or not counted: never refused by the cap.
    assert decide(capped(0), "13800138000", NOW, cal, calls_this_month=10**6).action is ActionKind.DEPARTMENT
    assert decide(capped(3), "13800138000", NOW, cal).action is ActionKind.DEPARTMENT


def test_decide_department_uses_the_draw() -> None:
    config = HotlineRouting(hotline="4008000001", departments=(
        DepartmentRouting(key="1", hunt_strategy=HuntStrategy.WEIGHTED, targets=(
            Target("01062345670", "01062345670", position=1, weight=0),
            Target("01062345671", "01062345671", position=2, weight=1))),))
    decision = decide_department(config, "1", NOW, draw=0.3)
    assert [t.destination for t in decision.targets] == ["01062345671", "01062345670"]
    assert [t.destination for t in decide_department(config, "1", NOW).targets] == ["01062345670", "01062345671"]


def test_weight_out_of_range_is_refused_at_load() -> None:
    with pytest.raises(ValueError, match="weight"):
        Target("01062345670", "01062345670", weight=1001)
    with pytest.raises(ValueError, match="caller_cap_per_month"):
        HotlineRouting(hotline="4008000001", caller_cap_per_month=-1)


@pytest.mark.parametrize(("choice", "balance", "allowed", "flagged"), [
    (None, -500, True, False),       # no billing account: never looked at
    ("keep", 100, True, False), ("prompt", 1, True, False),
    ("keep", 0, True, True), ("keep", -30, True, True),
    ("prompt", 0, False, False), ("prompt", -30, False, False),
    ("prompt", None, True, False), ("keep", None, True, False),  # unavailable: routed, unflagged
])
def test_balance_verdict(choice: str | None, balance: int | None, allowed: bool, flagged: bool) -> None:
    from ivr400.routing.limits import balance_verdict

    verdict = balance_verdict(choice, balance)
    assert (verdict.allowed, verdict.flagged) == (allowed, flagged)
    if choice is not None and balance is None:
        assert "unavailable" in verdict.reason
    with pytest.raises(ValueError, match="zero_balance"):
        balance_verdict("stop", 0)


def test_decide_at_zero_balance_plays_the_prompt_or_routes_flagged() -> None:
    import dataclasses

    from ivr400.routing.model import BlockEntry, BlockMode, BlockPolicy

    cal = Calendar()
    prompt = dataclasses.replace(capped(0), zero_balance="prompt")
    stopped = decide(prompt, "13800138000", NOW, cal, balance_fen=0)
    assert (stopped.action, stopped.prompt, stopped.refused_by, stopped.targets) == (
        ActionKind.ANNOUNCEMENT, "ivr400/ivr400-balance-low", "balance", ())
    assert "余额不足" in stopped.reason
    paid = decide(prompt, "13800138000", NOW, cal, balance_fen=1)
    assert paid.action is ActionKind.DEPARTMENT and not paid.balance_flagged
    assert decide(prompt, "13800138000", NOW, cal).action is ActionKind.DEPARTMENT  # balance unknown
    keep = decide(dataclasses.replace(capped(0), zero_balance="keep"), "13800138000", NOW, cal, balance_fen=-1)
    assert keep.action is ActionKind.DEPARTMENT and keep.targets and keep.balance_flagged
    # A blocked caller hears the refusal, whatever the balance.
    blocked = dataclasses.replace(prompt, block=BlockPolicy(mode=BlockMode.BLACKLIST,
                                                            entries=(BlockEntry("13800138000", False),)))
    assert decide(blocked, "13800138000", NOW, cal, balance_fen=0).refused_by == "blocking"
    with pytest.raises(ValueError, match="zero_balance"):
        dataclasses.replace(capped(0), zero_balance="maybe")


def test_billing_choice_is_none_without_a_tariff() -> None:
    from ivr400.routing.limits import billing_choice

    assert [billing_choice(z, t) for z, t in ((None, None), ("keep", 0), ("prompt", 0), ("keep", None))] == [None] * 4
    assert (billing_choice("keep", 1), billing_choice("prompt", 12)) == ("keep", "prompt")
