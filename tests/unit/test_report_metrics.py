"""Report definitions (docs/reports.md) on a hand-built day of calls; every expected value is worked out by hand
in the comments, never computed by the code under test."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from ivr400.cdr.cdr_model import Call
from ivr400.cdr.metrics import (
    Counts,
    Thresholds,
    abandon_rate,
    average_speed_of_answer,
    average_talk_time,
    billed_minutes,
    contribution,
    derive_fact,
    measures,
    missed_calls,
    service_level,
)

H = "4008001234"
SEAT_A = "PJSIP/01062345678@out"
SEAT_B = "PJSIP/01062345679@out"
DAY = datetime(2026, 11, 26, tzinfo=timezone.utc)


def at(hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return DAY + timedelta(hours=hh, minutes=mm, seconds=ss)


def call(uid: str, start: datetime, disposition: str, *, hunt: datetime | None = None, end: datetime | None = None,
         talk: float | None = None, seat: str | None = None, rung: tuple[str, ...] = (),
         answered_at: datetime | None = None, billsec: int = 0) -> Call:
    """`talk`: seconds the seat talked before `end` (the dialplan notes the seat's answer at end − talk)."""
    seat_answer = end - timedelta(seconds=talk) if talk is not None and end is not None else None
    return Call(uniqueid=uid, linkedid=uid, started_at=start, disposition=disposition, hotline=H, caller="13800000001",
                ended_at=end, hunt_at=hunt, seat_answered_at=seat_answer, seat=seat, seats_rung=rung,
                answered_at=answered_at, billsec=billsec)


# One day of eight calls (T = 20 s, A = 5 s):
DAY_CALLS = [
    # 1: hunt 10 s after arrival, seat answers 15 s later (within T), talks 100 s
    call("c1", at(9), "answered", hunt=at(9, 0, 10), end=at(9, 2, 5), talk=100, seat=SEAT_A, rung=(SEAT_A,)),
    # 2: waits 30 s (over T), talks 50 s
    call("c2", at(10), "answered", hunt=at(10, 0, 5), end=at(10, 1, 25), talk=50, seat=SEAT_B, rung=(SEAT_A, SEAT_B)),
    # 3: waits exactly 20 s (within T: "within" includes T), talks 60 s
    call("c3", at(11), "answered", hunt=at(11), end=at(11, 1, 20), talk=60, seat=SEAT_A, rung=(SEAT_A,)),
    # 4: hangs up after 12 s of ringing (an abandon that counts)
    call("c4", at(12), "abandoned", hunt=at(12, 0, 8), end=at(12, 0, 20), rung=(SEAT_A,)),
    # 5: hangs up after 3 s of ringing (under A: excluded)
    call("c5", at(13), "abandoned", hunt=at(13, 0, 5), end=at(13, 0, 8), rung=(SEAT_A,)),
    # 6: hangs up in the menu, no seat rung
    call("c6", at(14), "abandoned", end=at(14, 0, 9)),
    # 7: every seat rang out
    call("c7", at(15), "noanswer", hunt=at(15, 0, 5), end=at(15, 0, 35), rung=(SEAT_B,)),
    # 8: to voicemail after ringing
    call("c8", at(16), "voicemail", hunt=at(16, 0, 5), end=at(16, 1), rung=(SEAT_B,)),
]
T = Thresholds(service_level_s=20, abandon_ignore_s=5)


def day_total(thresholds: Thresholds = T, tariff: int = 12) -> Counts:
    return Counts.sum(contribution(derive_fact(c, tariff), thresholds) for c in DAY_CALLS)


def test_counts_of_the_day() -> None:
    c = day_total()
    # answered 1,2,3; within T: 1 (15 s) and 3 (20 s); abandoned ≥ A: 4; short: 5; menu: 6
    assert (c.offered, c.answered, c.answered_in_t) == (8, 3, 2)
    assert (c.abandoned, c.abandoned_short, c.abandoned_menu) == (1, 1, 1)


def test_service_level() -> None:
    # answered within 20 s (2) ÷ (answered 3 + abandoned 1) = 0.5; the 3 s abandon and the menu abandon not counted
    assert service_level(day_total()) == pytest.approx(0.5)
    # with T = 30 call 2 (30 s) counts too: 3 ÷ 4
    assert service_level(day_total(Thresholds(30, 5))) == pytest.approx(0.75)
    # with A = 2 the 3 s abandon counts: 2 ÷ (3 + 2)
    assert service_level(day_total(Thresholds(20, 2))) == pytest.approx(0.4)
    assert service_level(Counts()) is None


def test_abandon_rate() -> None:
    # abandoned while ringing ≥ 5 s (1) ÷ (answered 3 + abandoned 1)
    assert abandon_rate(day_total()) == pytest.approx(0.25)
    assert abandon_rate(day_total(Thresholds(20, 0))) == pytest.approx(2 / 5)


def test_average_speed_of_answer() -> None:
    # (15 + 30 + 20) ÷ 3
    assert average_speed_of_answer(day_total()) == pytest.approx(65 / 3)


def test_average_talk_time() -> None:
    # (100 + 50 + 60) ÷ 3
    assert average_talk_time(day_total()) == pytest.approx(70.0)


def test_missed_calls() -> None:
    # 4 (ringing abandon ≥ A), 7 (rang out), 8 (voicemail); not 5 (under A), not 6 (menu)
    assert missed_calls(day_total()) == 3


def test_billing_counts_started_minutes_of_talk() -> None:
    # 100 s → 2 min, 50 s → 1, 60 s → 1: 4 minutes × 12 fen
    c = day_total(tariff=12)
    assert (c.billed_min, c.charge_fen) == (4, 48)
    assert [billed_minutes(s) for s in (None, 0, 0.2, 59.9, 60, 60.5, 120)] == [0, 0, 1, 1, 1, 2, 2]


def test_per_seat_offered_answered_missed() -> None:
    facts = [derive_fact(c) for c in DAY_CALLS]
    per_seat = {s: Counts.sum(contribution(f, T, seat=s) for f in facts
                              if s in (f["seats_rung"] or "").split("&")) for s in (SEAT_A, SEAT_B)}
    a, b = per_seat[SEAT_A], per_seat[SEAT_B]
    # A rang on 1, 2, 3, 4, 5 and answered 1 and 3 (waits 15 and 20, talks 100 and 60)
    assert (a.offered, a.answered, a.missed, a.wait_sum_s, a.talk_sum_s) == (5, 2, 3, 35.0, 160.0)
    # B rang on 2, 7, 8 and answered 2
    assert (b.offered, b.answered, b.missed) == (3, 1, 2)


def test_talk_time_is_the_seats_not_the_ivrs() -> None:
    # The CDR's answer time is the IVR's Answer() at 09:00:01; billsec (124) counts the IVR; the seat talked 100 s.
    c = call("x", at(9), "answered", hunt=at(9, 0, 10), end=at(9, 2, 5), talk=100, seat=SEAT_A,
             answered_at=at(9, 0, 1), billsec=124)
    fact = derive_fact(c)
    assert fact["answered_at"] == at(9, 0, 25) and fact["talk_s"] == 100 and fact["wait_s"] == 15
    # Without the dialplan's seat answer time (an older dialplan), the record's billsec is all there is.
    old = derive_fact(call("y", at(9), "answered", end=at(9, 2, 5), seat=SEAT_A, answered_at=at(9, 0, 1), billsec=124))
    assert old["talk_s"] == 124 and old["abandoned_in"] is None


def test_measures_rounds_for_display() -> None:
    m = measures(day_total())
    assert (m["service_level"], m["abandon_rate"], m["asa_s"], m["avg_talk_s"], m["missed_calls"]) == (
        0.5, 0.25, 21.7, 70.0, 3)
    assert m["satisfaction"] is None
