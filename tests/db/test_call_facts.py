"""CDR listener path → fact rows, hourly roll-ups and the callback list, on both databases, from the recorded
real-Asterisk events of tests/unit/test_cdr_model.py."""
from __future__ import annotations

from dataclasses import replace

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ivr400.cdr.cdr_model import leg_from_event, parse_csv_text
from ivr400.cdr.cdr_store import store_legs
from ivr400.cdr.fact_store import mark_called_back, rebuild, record_survey_score
from ivr400.db.models import CallbackEntry, CallFact, CallHour, WhitelistEvent
from tests.conftest import NOW
from tests.unit.test_cdr_model import CSV_TEXT, EVENTS, SEAT1

HOTLINE = "4008001234"


def facts(engine: Engine) -> dict[str, CallFact]:
    with Session(engine) as s:
        return {f.uniqueid: f for f in s.scalars(select(CallFact))}


def hours(engine: Engine) -> dict[tuple[str, str], tuple]:
    with Session(engine) as s:
        return {(h.dim, h.key): (h.offered, h.answered, h.abandoned, h.abandoned_menu, h.missed, h.talk_sum_s,
                                 h.survey_sum, h.survey_count)
                for h in s.scalars(select(CallHour).where(CallHour.hotline == HOTLINE))}


def test_recorded_calls_become_facts_and_roll_ups_once(engine: Engine) -> None:
    store_legs(engine, [leg_from_event(e) for e in EVENTS], "ami")
    f = facts(engine)
    assert sorted(f) == ["1795655789.34", "1795655792.44", "1795655793.47", "1795655795.54"]
    hunt = f["1795655789.34"]
    assert (hunt.disposition, hunt.seat, hunt.abandoned_in, hunt.talk_s) == ("answered", SEAT1, None, 1.0)
    assert hunt.seats_rung.split("&") == ["PJSIP/pstn/sip:seat@127.0.0.1:5071", "PJSIP/pstn/sip:seat@127.0.0.1:5072",
                                          "PJSIP/pstn/sip:seat@127.0.0.1:5073"]
    menu = f["1795655792.44"]
    assert (menu.disposition, menu.abandoned_in, menu.key_path, menu.wait_s) == ("abandoned", "menu", "2", None)
    assert f["1795655795.54"].disposition == "voicemail" and f["1795655795.54"].abandoned_in is None
    before = hours(engine)
    # hotline: 4 offered, 2 answered, menu abandon 1, missed 1 (the voicemail); talk 1 s + 1 s
    assert before[("hotline", "")] == (4, 2, 0, 1, 1, 2.0, 0, 0)
    # seat 5071 rang in calls A and C and answered both; 5073 rang in A, C and D and answered none
    assert before[("seat", SEAT1)][:2] == (2, 2)
    assert before[("seat", "PJSIP/pstn/sip:seat@127.0.0.1:5073")][:2] == (3, 0)
    assert before[("region", "广东|深圳")][0] == 4  # 0755: geocoded by ivr400.routing.region
    assert before[("department", "2.1")][:2] == (1, 1)

    # The same calls again, from the CSV and from AMI: nothing moves.
    store_legs(engine, parse_csv_text(CSV_TEXT).legs, "csv")
    store_legs(engine, [leg_from_event(e) for e in EVENTS], "ami")
    assert hours(engine) == before and len(facts(engine)) == 4

    # A later view with the dialplan's report variables: the seat answered 0.95 s before the end (792.116686).
    legs = [leg_from_event(e) for e in EVENTS[:3]]
    legs[2] = replace(legs[2], hunt="1795655789", seat_answer="1795655791.166686")
    store_legs(engine, legs, "ami")
    hunt = facts(engine)["1795655789.34"]
    assert hunt.talk_s == 0.95 and hunt.first_rung_at is not None and hunt.wait_s == 2.167
    after = hours(engine)
    assert after[("hotline", "")][:5] == before[("hotline", "")][:5]
    assert after[("hotline", "")][5] == 1.95

    # A survey score lands on the fact and the answering seat's row; rebuild gives the same roll-ups.
    with Session(engine) as s, s.begin():
        record_survey_score(s, "1795655789.34", 4)
    assert hours(engine)[("seat", SEAT1)][6:] == (4, 1)
    assert hours(engine)[("hotline", "")][6:] == (4, 1)
    snapshot = hours(engine)
    with Session(engine) as s, s.begin():
        assert rebuild(s) == 4
    assert hours(engine) == snapshot


def test_callback_list_follows_the_calls_and_marks_are_audited(engine: Engine) -> None:
    store_legs(engine, [leg_from_event(e) for e in EVENTS], "ami")
    with Session(engine) as s:
        entries = list(s.scalars(select(CallbackEntry).order_by(CallbackEntry.id)))
    # B hung up in the menu (92.44), then C got through (93.47): closed by the system; D went to voicemail: pending.
    assert [(e.status, e.handled_by, e.last_uniqueid) for e in entries] == [
        ("not_needed", "system", "1795655792.44"), ("pending", None, "1795655795.54")]
    with Session(engine) as s, s.begin():
        mark_called_back(s, entries[1].id, "alice", NOW, "called back")
    with Session(engine) as s:
        e = s.get(CallbackEntry, entries[1].id)
        assert (e.status, e.handled_by, e.handled_at) == ("called_back", "alice", NOW)
        audit = list(s.scalars(select(WhitelistEvent).where(WhitelistEvent.action == "callback_status")
                               .order_by(WhitelistEvent.id)))
        assert [(a.actor, a.detail["from"], a.detail["to"]) for a in audit] == [
            ("system", "pending", "not_needed"), ("alice", "pending", "called_back")]
    # Replaying the calls does not reopen or duplicate entries.
    store_legs(engine, parse_csv_text(CSV_TEXT).legs, "csv")
    with Session(engine) as s:
        assert s.query(CallbackEntry).count() == 2


def test_a_survey_score_stored_before_the_call_record_lands_on_the_fact(engine: Engine) -> None:
    """满意度评价: the survey_saved hook stores the score while the caller is still on the line; the call record
    (and so the fact) arrives at hangup and takes the score with it, in the seat's roll-up too."""
    from ivr400.db.models import SurveyResponse

    with Session(engine) as s, s.begin():
        s.add(SurveyResponse(uniqueid="1795655789.34", hotline="4008123456", seat=SEAT1, score=5, at=NOW))
    store_legs(engine, [leg_from_event(e) for e in EVENTS], "ami")
    f = facts(engine)
    assert f["1795655789.34"].survey_score == 5 and f["1795655792.44"].survey_score is None
    assert hours(engine)[("seat", SEAT1)][6:] == (5, 1)
    store_legs(engine, [leg_from_event(e) for e in EVENTS], "ami")  # replayed: counted once
    assert hours(engine)[("seat", SEAT1)][6:] == (5, 1)
