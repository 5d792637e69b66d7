"""The call-feature routes over the wire (tests/unit/test_routes.py's harness): the caller cap (呼叫限制) at call
entry, the weighted first seat (按比例分配), and ``survey_saved`` (满意度评价)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr400.cdr.cdr_model import Call
from ivr400.cdr.cdr_store import upsert_calls
from ivr400.db.engine import make_engine
from ivr400.db.migrate import upgrade
from ivr400.db.models import BalanceFlag, CallFact, CallRecord, Seat, SurveyResponse
from ivr400.pbx.asterisk import dialplan_variables as v
from ivr400.pbx.asterisk.agi_protocol import build_command
from ivr400.provisioning import blocking
from ivr400.provisioning.hotlines import apply_hunt, set_caller_cap
from ivr400.provisioning.seats import set_weight
from ivr400.routing.limits import split_draw
from tests.unit.test_routes import (
    D1,
    D2,
    D3,
    HOTLINE,
    NOW,
    Lab,
    _hotline,
    call,
    controller,
    lines,
    provision,
    run,
    sets,
    target_pairs,
)


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    eng = make_engine(f"sqlite:///{tmp_path / 'routes.db'}")
    upgrade(eng)
    yield Lab(eng, tmp_path)
    eng.dispose()


def _calls(lab: Lab, caller: str, *starts: dt.datetime) -> None:
    def add(s: Session) -> None:
        for i, at in enumerate(starts):
            s.add(CallRecord(uniqueid=f"1600000000.{caller[-4:]}{i}", hotline=HOTLINE, caller=caller, started_at=at,
                             disposition="answered", source="ami"))
    lab.edit(add)


def test_caller_over_the_monthly_cap_gets_the_refuse_action(lab: Lab) -> None:
    provision(lab)
    lab.edit(lambda s: set_caller_cap(s, _hotline(s), 2))
    # 13800138000 called twice this month (and once last month); 13900139000 once.
    _calls(lab, "13800138000", NOW - dt.timedelta(days=40), NOW.replace(hour=1), NOW - dt.timedelta(minutes=5))
    _calls(lab, "13900139000", NOW - dt.timedelta(hours=1))

    async def scenario() -> list:
        async with controller(lab) as (_, port):
            return [await call(port, callerid="13800138000"), await call(port, callerid="13900139000"),
                    await call(port, callerid="")]

    capped, under, withheld = run(scenario)
    assert capped.received == lines((v.REFUSE_WITH, "busy"), (v.ACTION, "refuse"))
    assert dict(sets(under))[v.ACTION] == "department"
    assert dict(sets(withheld))[v.ACTION] == "department"  # withheld callers are not counted

    # The refuse action is the hotline's: a prompt when call blocking says so.
    lab.edit(lambda s: blocking.set_block_mode(s, _hotline(s), "off", refuse_with="prompt"))

    async def prompted() -> list:
        async with controller(lab) as (_, port):
            return [await call(port, callerid="13800138000")]

    [fake] = run(prompted)
    assert fake.received == lines((v.REFUSE_WITH, "prompt"), (v.PROMPT, "ivr400/ivr400-blocked"), (v.ACTION, "refuse"))


def test_weighted_switchboard_rings_the_drawn_seat_first_then_the_rest_in_order(lab: Lab) -> None:
    provision(lab)

    def weights(s: Session) -> None:
        h = _hotline(s)
        apply_hunt(h, "weighted")
        for seat in s.scalars(select(Seat).where(Seat.hotline_id == h.id)):
            set_weight(s, seat, {D1: 0, D2: 0, D3: 5}[seat.destination.number])

    lab.edit(weights)

    async def scenario() -> list:
        async with controller(lab) as (_, port):
            return [await call(port, callerid="13800138000", uniqueid=f"1700000000.{i}") for i in range(3)]

    for fake in run(scenario):
        pairs = sets(fake)
        assert pairs[:7] == target_pairs((D3, 15), (D1, 15), (D2, 15))
        assert v.HUNT not in dict(pairs)  # the dialplan hunts the list sequentially


def test_weighted_department_hook_follows_the_calls_uniqueid(lab: Lab) -> None:
    provision(lab, departments=True, hunt="weighted")  # department 1: D1, D2 at weight 1 each
    uniqueids = ["1700000001.1", "1700000001.2", "1700000001.3", "1700000001.4"]

    async def scenario() -> list:
        async with controller(lab) as (_, port):
            return [await call(port, v.ROUTE_DEPARTMENT, f"hotline={HOTLINE}&dept=1", uniqueid=u) for u in uniqueids]

    for uid, fake in zip(uniqueids, run(scenario), strict=True):
        first = dict(sets(fake))[v.target(1)]
        expected = D1 if split_draw(uid) < 0.5 else D2
        assert first == f"PJSIP/{expected}@ivr400-out", uid


def test_survey_saved_stores_one_score_per_call_with_the_seat(lab: Lab) -> None:
    provision(lab)
    seat = f"PJSIP/{D1}@ivr400-out"

    async def scenario() -> list:
        async with controller(lab) as (_, port):
            out = [await call(port, v.ROUTE_SURVEY, f"hotline={HOTLINE}&score=4", uniqueid="1700000002.1",
                              variables={v.SEAT_REACHED: seat})]
            out.append(await call(port, v.ROUTE_SURVEY, f"hotline={HOTLINE}&score=2", uniqueid="1700000002.1",
                                  variables={v.SEAT_REACHED: seat}))  # the same call again: ignored
            out.extend([await call(port, v.ROUTE_SURVEY, query, uniqueid="1700000002.9",
                                   variables={v.SEAT_REACHED: seat})
                        for query in (f"hotline={HOTLINE}&score=6", f"hotline={HOTLINE}&score=",
                                      "hotline=12345&score=3")])
            out.append(await call(port, v.ROUTE_SURVEY, f"hotline={HOTLINE}&score=5", uniqueid="1700000002.3",
                                  variables={v.SEAT_REACHED: "PJSIP/x;rm -rf"}))
            return out

    first, again, *bad, odd_seat = run(scenario)
    assert first.received == [build_command("GET VARIABLE", v.SEAT_REACHED).decode().rstrip("\n"),
                              *lines()]
    for fake in bad:  # malformed: nothing asked, nothing stored
        assert fake.received == lines()
    with Session(lab.engine) as s:
        rows = {r.uniqueid: (r.hotline, r.seat, r.score) for r in s.scalars(select(SurveyResponse))}
    assert rows == {"1700000002.1": (HOTLINE, seat, 4), "1700000002.3": (HOTLINE, None, 5)}


def test_seat_satisfaction_reads_the_scores_back_by_destination(lab: Lab, tmp_path: Path) -> None:
    from ivr400.provisioning.survey import seat_number, seat_satisfaction

    assert seat_number(f"PJSIP/{D1}@ivr400-out") == D1
    assert seat_number(f"PJSIP/pstn/sip:{D2}@127.0.0.1:5071") == D2
    assert seat_number("PJSIP/seat@host") is None

    def scores(s: Session) -> None:
        for i, (seat, score) in enumerate([(f"PJSIP/{D1}@ivr400-out", 5), (f"PJSIP/{D1}@ivr400-out", 2),
                                           (f"PJSIP/pstn/sip:{D2}@127.0.0.1:5071", 4)]):
            s.add(SurveyResponse(uniqueid=f"1.{i}", hotline=HOTLINE, seat=seat, score=score, at=NOW))
    lab.edit(scores)
    with Session(lab.engine) as s:
        got = seat_satisfaction(s, HOTLINE)
    assert {n: (round(x.average, 2), x.count) for n, x in got.items()} == {D1: (3.5, 2), D2: (4.0, 1)}


def test_zero_balance_prompt_or_keep_at_call_entry(lab: Lab, caplog: pytest.LogCaptureFixture) -> None:
    """话费余额: the controller reads the hotline's balance (top-ups − charges) at call entry; at zero with the
    choice prompt the call gets the 余额不足 announcement, with keep it is routed and flagged."""
    import logging

    from ivr400.cdr import billing
    from ivr400.db.models import CallHour

    provision(lab)
    lab.edit(lambda s: billing.set_account(s, HOTLINE, tariff_fen_per_min=10, zero_balance="prompt"))

    async def one() -> list:
        # The balance read is bounded by rotation_timeout (0.5 s by default); a loaded test machine needs more.
        async with controller(lab, rotation_timeout=10.0) as (_, port):
            return [await call(port, callerid="13800138000")]

    [stopped] = run(one)  # no top-up: balance 0
    assert stopped.received == lines((v.PROMPT, "ivr400/ivr400-balance-low"), (v.FAX_MODE, "off"),
                                     (v.ACTION, "announcement"))

    lab.edit(lambda s: billing.topup(s, HOTLINE, 100, "test", NOW))
    [paid] = run(one)
    assert dict(sets(paid))[v.ACTION] == "department"

    # Calls charged 1.50 yuan against the 1.00 topped up: −50 fen. With keep: routed, and the log flags it.
    lab.edit(lambda s: s.add(CallHour(hour=NOW.replace(minute=0, second=0, microsecond=0), hotline=HOTLINE,
                                      dim="hotline", key="", offered=1, answered=1, billed_min=15, charge_fen=150)))
    [again] = run(one)
    assert dict(sets(again))[v.ACTION] == "announcement"
    lab.edit(lambda s: billing.set_account(s, HOTLINE, zero_balance="keep"))

    async def kept_call() -> list:
        async with controller(lab, rotation_timeout=10.0) as (_, port):
            return [await call(port, callerid="13800138000", uniqueid="1700000009.1")]

    with caplog.at_level(logging.WARNING):
        [kept] = run(kept_call)
    assert dict(sets(kept))[v.ACTION] == "department"
    assert any("balance-zero flag" in r.getMessage() and "-50 fen" in r.getMessage() for r in caplog.records)
    # The flag is noted for the call, and lands on its call record and fact row when the CDR is stored; the
    # paid call (the default uniqueid) was not flagged.
    with Session(lab.engine) as s:
        assert [(f.uniqueid, f.hotline, f.balance_fen) for f in s.scalars(select(BalanceFlag))] == [
            ("1700000009.1", HOTLINE, -50)]
    [again_kept] = run(kept_call)  # the same call again (a retried AGI): one flag
    assert dict(sets(again_kept))[v.ACTION] == "department"
    with Session(lab.engine) as s, s.begin():
        assert s.scalar(select(func.count()).select_from(BalanceFlag)) == 1
        upsert_calls(s, [Call(uniqueid=uid, linkedid=uid, started_at=NOW, disposition="answered", hotline=HOTLINE,
                              caller="13800138000", ended_at=NOW + dt.timedelta(seconds=30))
                         for uid in ("1700000009.1", "1700000000.1")], "ami")
    with Session(lab.engine) as s:
        assert dict(s.execute(select(CallRecord.uniqueid, CallRecord.balance_flagged)).tuples().all()) == {
            "1700000009.1": True, "1700000000.1": False}
        assert dict(s.execute(select(CallFact.uniqueid, CallFact.balance_flagged)).tuples().all()) == {
            "1700000009.1": True, "1700000000.1": False}


def test_a_hotline_without_a_tariff_is_neither_stopped_nor_flagged(lab: Lab) -> None:
    """An account holding only report thresholds (what `billing tariff N --service-level-s 30` writes: tariff 0,
    choice keep, no top-up, balance 0) is billing off: routed, no 欠费接通 flag; `billing balance` says the same."""
    from ivr400.cdr import billing

    provision(lab)
    lab.edit(lambda s: billing.set_account(s, HOTLINE, service_level_s=30))

    async def one(uniqueid: str) -> list:
        async with controller(lab, rotation_timeout=10.0) as (_, port):
            return [await call(port, callerid="13800138000", uniqueid=uniqueid)]

    [free] = run(lambda: one("1700000010.1"))
    assert dict(sets(free))[v.ACTION] == "department"
    lab.edit(lambda s: billing.set_account(s, HOTLINE, zero_balance="prompt"))
    [free] = run(lambda: one("1700000010.2"))
    assert dict(sets(free))[v.ACTION] == "department"
    with Session(lab.engine) as s:
        assert s.scalar(select(func.count()).select_from(BalanceFlag)) == 0
        shown = billing.balance(s, HOTLINE)
    assert (shown["billing"], shown["verdict"], shown["low"], shown["zero_balance_enforced"]) == (
        "off", "routed", False, False)
    # a tariff turns billing on: the same balance of 0 now stops the call, and the balance says so
    lab.edit(lambda s: billing.set_account(s, HOTLINE, tariff_fen_per_min=12))
    [stopped] = run(lambda: one("1700000010.3"))
    assert dict(sets(stopped))[v.ACTION] == "announcement"
    with Session(lab.engine) as s:
        assert billing.balance(s, HOTLINE)["verdict"] == "stopped: 余额不足 prompt"
