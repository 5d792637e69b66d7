"""Repeat callers (重复来电) on a hand-built day: the per-caller roll-up (call_caller) and each fact's previous call
(prev_call_at) kept by the fact writer, the report's walk over the one and its read of the other, give what
counting the fact rows gives; on both databases."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ivr400.cdr.cdr_model import Call
from ivr400.cdr.fact_store import apply_calls, rebuild
from ivr400.cdr.reports import (
    ReportFilter,
    repeat_callers,
    repeat_from_chain,
    repeat_from_facts,
    repeat_from_rollup,
)
from ivr400.db.models import CallCaller, CallFact

A, B = "4008001234", "4008005678"
DAY = datetime(2026, 11, 26, 1, tzinfo=timezone.utc)  # 09:00 in Shanghai


def _call(n: int, hotline: str | None, caller: str | None, minute: int, disposition: str = "answered",
          department: str = "1") -> Call:
    at = DAY + timedelta(minutes=minute)
    return Call(uniqueid=f"r{n}", linkedid=f"r{n}", started_at=at, disposition=disposition, hotline=hotline,
                caller=caller, ended_at=at + timedelta(seconds=60), department=department, key_path=department)


# The day, by hand:
#   hotline A: 138..01 calls 4 times (minutes 0, 30, 90, 300; the third abandoned, dept 2 at 300),
#              138..02 3 times (10, 40, 200), 138..03 twice (20, 250: one answered), 138..04 once,
#              a withheld caller twice (not counted: no number), an unknown_number call from 138..04.
#   hotline B: 138..01 twice (5, 15), 138..05 twice (60, 61).
CALLS = [
    _call(1, A, "13800000001", 0), _call(2, A, "13800000001", 30), _call(3, A, "13800000001", 90, "abandoned"),
    _call(4, A, "13800000001", 300, department="2"),
    _call(5, A, "13800000002", 10), _call(6, A, "13800000002", 40), _call(7, A, "13800000002", 200),
    _call(8, A, "13800000003", 20, "noanswer"), _call(9, A, "13800000003", 250),
    _call(10, A, "13800000004", 50),
    _call(11, A, None, 55), _call(12, A, None, 56),
    _call(13, A, "13800000004", 57, "unknown_number"),
    _call(14, B, "13800000001", 5), _call(15, B, "13800000001", 15),
    _call(16, B, "13800000005", 60, "busy"), _call(17, B, "13800000005", 61, "busy"),
]


def _load(engine: Engine) -> None:
    with Session(engine) as s, s.begin():
        apply_calls(s, CALLS)


def _pairs(rows: list[dict]) -> list[tuple[str, str, int, int]]:
    return [(r["hotline"], r["caller"], r["calls"], r["answered"]) for r in rows]


def test_repeat_callers_of_a_hand_built_day(engine: Engine) -> None:
    _load(engine)
    whole = ReportFilter(hotlines=None)
    with Session(engine) as s:
        rows = repeat_callers(s, whole)
        assert _pairs(rows) == [
            (A, "13800000001", 4, 3), (A, "13800000002", 3, 3),
            (B, "13800000001", 2, 2), (A, "13800000003", 2, 1), (B, "13800000005", 2, 0),
        ]
        first = rows[0]
        assert (first["first_call"], first["last_call"]) == (DAY, DAY + timedelta(minutes=300))
        # Minutes [25, 95): 138..01 twice (30, 90) on A; 138..05 twice on B; nobody else repeats.
        part = ReportFilter(hotlines=[A, B], start=DAY + timedelta(minutes=25), end=DAY + timedelta(minutes=95))
        assert _pairs(repeat_callers(s, part)) == [(A, "13800000001", 2, 1), (B, "13800000005", 2, 0)]
        # The same by each path: the previous-call chain (30 has prev 0, before 25: F; 90 has prev 30; 61 has
        # prev 60) and the per-caller walk.
        assert _pairs(repeat_from_chain(s, part) or []) == _pairs(repeat_from_rollup(s, part) or []) == [
            (A, "13800000001", 2, 1), (B, "13800000005", 2, 0)]
        # Department 1 of hotline A: 138..01 has 3 calls there (the fourth went to department 2).
        dept = ReportFilter(hotlines=[A], department="1")
        assert _pairs(repeat_callers(s, dept, 3)) == [(A, "13800000001", 3, 2), (A, "13800000002", 3, 3)]
        assert _pairs(repeat_callers(s, ReportFilter(hotlines=[A]), 2, 1)) == [(A, "13800000001", 4, 3)]
        assert repeat_callers(s, ReportFilter(hotlines=[])) == []


def test_rollup_walk_agrees_with_counting_the_facts(engine: Engine) -> None:
    _load(engine)
    filters = [
        ReportFilter(hotlines=None), ReportFilter(hotlines=[A]), ReportFilter(hotlines=[B]),
        ReportFilter(hotlines=[A], department="1"), ReportFilter(hotlines=[A], department="2"),
        ReportFilter(hotlines=None, start=DAY + timedelta(minutes=25), end=DAY + timedelta(minutes=95)),
        ReportFilter(hotlines=[A], start=DAY + timedelta(minutes=35)),
        ReportFilter(hotlines=None, end=DAY + timedelta(minutes=12)),
    ]
    with Session(engine) as s:
        for f in filters:
            for min_calls, limit in ((2, 100), (3, 100), (2, 2), (2, 1), (1, 3)):
                facts = repeat_from_facts(s, f, min_calls, limit)
                assert repeat_from_rollup(s, f, min_calls, limit) == facts, (f, min_calls, limit)
                chain = repeat_from_chain(s, f, min_calls, limit)
                if f.department is None and min_calls >= 2:
                    assert chain == facts, (f, min_calls, limit)
                else:  # the chain is per hotline, and lists repeat callers only
                    assert chain is None
        # Too many candidates for the walk's budget: it says so and the report counts the facts instead.
        assert repeat_from_rollup(s, ReportFilter(hotlines=None), 1, 100, walk_max=2) is None


def _caller_rows(engine: Engine) -> dict[tuple[str, str, str, str], int]:
    with Session(engine) as s:
        return {(r.hotline, r.dim, r.key, r.caller): r.calls for r in s.scalars(select(CallCaller)) if r.calls}


def test_caller_rollup_follows_rewrites_and_rebuild(engine: Engine) -> None:
    _load(engine)
    before = _caller_rows(engine)
    assert before[(A, "hotline", "", "13800000001")] == 4
    assert before[(A, "department", "1", "13800000001")] == 3
    assert before[(A, "department", "2", "13800000001")] == 1
    assert (A, "hotline", "", "13800000004") in before and before[(A, "hotline", "", "13800000004")] == 1
    # The same calls again change nothing; a call moved to another department moves its count.
    _load(engine)
    assert _caller_rows(engine) == before
    moved = [c for c in CALLS if c.uniqueid == "r2"][0]
    from dataclasses import replace

    with Session(engine) as s, s.begin():
        apply_calls(s, [replace(moved, department="2", key_path="2")])
    after = _caller_rows(engine)
    assert after[(A, "department", "1", "13800000001")] == 2 and after[(A, "department", "2", "13800000001")] == 2
    assert after[(A, "hotline", "", "13800000001")] == 4
    with Session(engine) as s, s.begin():
        rebuild(s)  # no call records here: every fact goes, and with them every caller row
    assert _caller_rows(engine) == {}


def test_caller_rollup_migration_fills_from_existing_facts(bare_engine: Engine) -> None:
    """0017 (call_caller) down and up on a database with facts: the other tables keep their rows, and the upgrade
    counts the existing facts exactly as the writer had."""
    from alembic.script import ScriptDirectory
    from sqlalchemy import inspect, text

    from ivr400.db import migrate

    migrate.upgrade(bare_engine)
    _load(bare_engine)
    written = _caller_rows(bare_engine)
    with bare_engine.connect() as conn:
        facts = conn.execute(text("SELECT COUNT(*) FROM call_fact")).scalar_one()
    below = ScriptDirectory.from_config(migrate.alembic_config(bare_engine)).get_revision("0017").down_revision
    migrate.downgrade(bare_engine, str(below))
    assert "call_caller" not in inspect(bare_engine).get_table_names()
    with bare_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM call_fact")).scalar_one() == facts
    t = DAY.replace(tzinfo=None)
    with bare_engine.begin() as conn:  # a callback placed before 0017: nothing followed it, it is closed
        conn.execute(text("INSERT INTO clicktocall_attempt (hotline, target, source, outcome, channel_id, at) "
                          "VALUES (:h, '13800138000', 'web', 'accepted', 'c-1', :t)"), {"h": A, "t": t})
    migrate.upgrade(bare_engine)
    assert _caller_rows(bare_engine) == written
    with bare_engine.connect() as conn:
        ended, final = conn.execute(text("SELECT ended_at, final FROM clicktocall_attempt")).one()
    assert final == "unknown" and ended is not None
    with Session(bare_engine) as s:
        assert repeat_from_rollup(s, ReportFilter(hotlines=None)) == repeat_from_facts(s, ReportFilter(hotlines=None))


def _prev_calls(engine: Engine) -> dict[str, datetime | None]:
    with Session(engine) as s:
        return dict(s.execute(select(CallFact.uniqueid, CallFact.prev_call_at)).tuples().all())


def _expected_prev(engine: Engine) -> dict[str, datetime | None]:
    """prev_call_at by its definition, from the facts as stored: the caller's previous counted call to the
    hotline in (arrival, uniqueid) order; None for the first and for facts not counted."""
    with Session(engine) as s:
        facts = s.scalars(select(CallFact)).all()
        out: dict[str, datetime | None] = {f.uniqueid: None for f in facts}
        counted = sorted((f for f in facts if f.hotline and f.caller and f.disposition != "unknown_number"),
                         key=lambda f: (f.hotline, f.caller, f.arrived_at, f.uniqueid))
        for before, after in zip(counted, counted[1:], strict=False):
            if (before.hotline, before.caller) == (after.hotline, after.caller):
                out[after.uniqueid] = before.arrived_at
        return out


def test_previous_call_chain_follows_out_of_order_writes_rewrites_and_rebuild(engine: Engine) -> None:
    """prev_call_at whatever order the calls come in (one by one backwards, one batch shuffled), after a call
    moves to another caller, hotline or time, becomes unknown_number, or ties another's arrival; rebuild and
    the bulk relink agree."""
    from dataclasses import replace

    for call in reversed(CALLS):  # newest first: every write inserts before the stored calls
        with Session(engine) as s, s.begin():
            apply_calls(s, [call])
    assert _prev_calls(engine) == _expected_prev(engine)
    by_uid = _prev_calls(engine)
    assert by_uid["r1"] is None and by_uid["r2"] == DAY and by_uid["r4"] == DAY + timedelta(minutes=90)
    assert by_uid["r14"] is None and by_uid["r15"] == DAY + timedelta(minutes=5)  # hotline B: its own chain
    assert by_uid["r11"] is None and by_uid["r13"] is None  # no caller; unknown_number
    c = {call.uniqueid: call for call in CALLS}
    rewrites = [
        replace(c["r2"], caller="13800000005"),                              # another caller
        replace(c["r6"], hotline=B),                                        # another hotline
        replace(c["r9"], started_at=DAY - timedelta(minutes=1)),             # now the caller's first call
        replace(c["r3"], disposition="unknown_number"),                     # no longer counted
        replace(c["r13"], disposition="answered"),                          # counted now
        replace(c["r16"], started_at=DAY + timedelta(minutes=61)),           # ties r17's arrival
    ]
    with Session(engine) as s, s.begin():
        apply_calls(s, rewrites[:3])
    assert _prev_calls(engine) == _expected_prev(engine)
    with Session(engine) as s, s.begin():
        apply_calls(s, rewrites[3:])
    assert _prev_calls(engine) == _expected_prev(engine)
    assert _prev_calls(engine)["r17"] == DAY + timedelta(minutes=61)  # r16 < r17 by uniqueid at the same time
    expected = _expected_prev(engine)
    with Session(engine) as s, s.begin():
        from ivr400.cdr.fact_store import relink_all

        relink_all(s)
    assert _prev_calls(engine) == expected


def test_previous_call_chain_of_a_shuffled_batch(engine: Engine) -> None:
    import random

    calls = list(CALLS)
    random.Random(3).shuffle(calls)
    with Session(engine) as s, s.begin():
        apply_calls(s, calls)
    assert _prev_calls(engine) == _expected_prev(engine)
    with Session(engine) as s:
        for f in (ReportFilter(hotlines=None), ReportFilter(hotlines=[A], start=DAY + timedelta(minutes=35))):
            assert repeat_from_chain(s, f) == repeat_from_facts(s, f)


def test_migration_0018_fills_previous_calls_and_keeps_the_facts(bare_engine: Engine) -> None:
    """0018 down and up on a database with facts and a flagged call: the upgrade's fill of prev_call_at equals
    what the writer kept, the report's chain read agrees with counting the facts, and going down keeps every
    fact and call record (the balance flags go with their columns)."""
    from sqlalchemy import inspect, text

    from ivr400.cdr.cdr_store import upsert_calls
    from ivr400.db import migrate
    from ivr400.db.models import BalanceFlag, CallRecord

    migrate.upgrade(bare_engine)
    with Session(bare_engine) as s, s.begin():
        s.add(BalanceFlag(uniqueid="r5", hotline=A, balance_fen=-20, at=DAY))
        s.flush()
        upsert_calls(s, CALLS, "ami")
    written = _prev_calls(bare_engine)
    assert written == _expected_prev(bare_engine)
    assert sum(v is not None for v in written.values()) == 8  # 3 + 2 + 1 calls after a first on A, 1 + 1 on B
    with Session(bare_engine) as s:
        assert s.scalars(select(CallRecord.uniqueid).where(CallRecord.balance_flagged)).all() == ["r5"]
        assert s.scalars(select(CallFact.uniqueid).where(CallFact.balance_flagged)).all() == ["r5"]
    migrate.downgrade(bare_engine, "0017")
    columns = {c["name"] for c in inspect(bare_engine).get_columns("call_fact")}
    assert "prev_call_at" not in columns and "balance_flagged" not in columns
    assert "balance_flag" not in inspect(bare_engine).get_table_names()
    with bare_engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM call_fact")).scalar_one() == len(CALLS)
        assert conn.execute(text("SELECT COUNT(*) FROM call_record")).scalar_one() == len(CALLS)
    migrate.upgrade(bare_engine)
    assert _prev_calls(bare_engine) == written
    with Session(bare_engine) as s:
        assert s.scalar(select(CallRecord.uniqueid).where(CallRecord.balance_flagged)) is None
        for f in (ReportFilter(hotlines=None), ReportFilter(hotlines=[A, B], start=DAY + timedelta(minutes=25),
                                                             end=DAY + timedelta(minutes=95))):
            assert repeat_from_chain(s, f) == repeat_from_facts(s, f)
