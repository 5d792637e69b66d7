"""Report definitions (报表口径), pure: a call's fact row from its call record, its contribution to the hourly
roll-ups, and the measures read from summed roll-ups. docs/reports.md states the same definitions in words.

    fact = derive_fact(call, Thresholds(service_level_s=20, abandon_ignore_s=5), tariff_fen_per_min=10)
    counts = contribution(fact)               # what the call adds to its hour's roll-ups
    total = Counts.sum([...]); service_level(total)  # → 0.0 .. 1.0, or None when nothing counts

No I/O and no clock: every time comes from the call.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from ivr400.cdr.cdr_model import Call

__all__ = [
    "COUNT_FIELDS",
    "FACT_FIELDS",
    "RINGING_DISPOSITIONS",
    "Counts",
    "Thresholds",
    "abandon_rate",
    "average_speed_of_answer",
    "average_talk_time",
    "billed_minutes",
    "contribution",
    "derive_fact",
    "fact_hour",
    "measures",
    "missed_calls",
    "service_level",
]

#: Dispositions of a call nobody answered although it wanted a seat (missed calls, 未接来电 in the reports):
#: every seat busy or ringing out, sent to voicemail, or abandoned while seats rang.
RINGING_DISPOSITIONS = ("noanswer", "busy", "voicemail")


@dataclass(frozen=True)
class Thresholds:
    """Per hotline: a call answered within `service_level_s` seconds of the hunt's start counts for the service
    level; a caller who hangs up while seats ring within `abandon_ignore_s` seconds is not counted at all."""

    service_level_s: int = 20
    abandon_ignore_s: int = 5


#: Columns of call_fact the derivation fills (all but id and survey_score, which others set).
FACT_FIELDS = (
    "uniqueid", "hotline", "caller", "caller_province", "caller_city", "arrived_at", "ivr_done_at",
    "first_rung_at", "answered_at", "ended_at", "disposition", "abandoned_in", "seat", "seats_rung",
    "department", "key_path", "wait_s", "talk_s", "billed_min", "charge_fen",
)


def billed_minutes(talk_s: float | None) -> int:
    """Started minutes of answered forwarded time: 0 s → 0, 0.2 s → 1, 60 s → 1, 60.5 s → 2."""
    if not talk_s or talk_s <= 0:
        return 0
    return math.ceil(round(talk_s, 3) / 60)


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    if a is None or b is None:
        return None
    return max(0.0, (b - a).total_seconds())


def derive_fact(call: Call, tariff_fen_per_min: int = 0) -> dict[str, Any]:
    """The fact row of a call (keys :data:`FACT_FIELDS`).

    - answered_at: when the seat answered: ``ivr400_seat_answer`` (noted by Dial's U() on the seat's channel);
      without it (an older dialplan) the call record's answer time, which may be the IVR's Answer().
    - talk_s: end − the seat's answer when known, else the answered leg's billsec; None when no seat answered.
    - first_rung_at = ivr_done_at: ``ivr400_hunt`` (the hunt's start), None when no seat was ever rung or the
      dialplan predates the variable.
    - abandoned_in: for an abandoned call, 'ringing' when a seat was rung, else 'menu'.
    - wait_s: for an answered call, seat answer − hunt start (arrival when the hunt start is unknown); for a
      call abandoned while ringing, end − hunt start (arrival when unknown); else None.
    - billed_min, charge_fen: started minutes of talk time × the tariff (fen per minute).
    """
    answered = call.disposition == "answered"
    talk: float | None = None
    answered_at: datetime | None = None
    if answered:
        if call.seat_answered_at is not None and call.ended_at is not None:
            answered_at = call.seat_answered_at
            talk = max(0.0, (call.ended_at - answered_at).total_seconds())
        else:
            talk = float(call.billsec or 0)
            answered_at = call.answered_at
    rung = call.hunt_at is not None or bool(call.seats_rung)
    abandoned_in = ("ringing" if rung else "menu") if call.disposition == "abandoned" else None
    start = call.hunt_at or call.started_at
    if answered:
        wait = _seconds(start, answered_at)
    elif abandoned_in == "ringing":
        wait = _seconds(start, call.ended_at)
    else:
        wait = None
    minutes = billed_minutes(talk)
    return {
        "uniqueid": call.uniqueid,
        "hotline": call.hotline,
        "caller": call.caller,
        "caller_province": call.caller_province,
        "caller_city": call.caller_city,
        "arrived_at": call.started_at,
        "ivr_done_at": call.hunt_at,
        "first_rung_at": call.hunt_at,
        "answered_at": answered_at,
        "ended_at": call.ended_at,
        "disposition": call.disposition,
        "abandoned_in": abandoned_in,
        "seat": call.seat if answered else None,
        "seats_rung": "&".join(call.seats_rung) or None,
        "department": call.department,
        "key_path": call.key_path,
        "wait_s": None if wait is None else round(wait, 3),
        "talk_s": None if talk is None else round(talk, 3),
        "billed_min": minutes,
        "charge_fen": minutes * tariff_fen_per_min,
    }


@dataclass
class Counts:
    """Additive counters of a set of calls: one roll-up row, a call's contribution, or their sum."""

    offered: int = 0
    answered: int = 0
    answered_in_t: int = 0
    abandoned: int = 0          # abandoned while seats rang, after at least A seconds
    abandoned_short: int = 0    # abandoned while seats rang within A seconds (excluded from the measures)
    abandoned_menu: int = 0     # hung up in the IVR, before any seat rang
    missed: int = 0
    wait_sum_s: float = 0.0     # over answered calls
    talk_sum_s: float = 0.0     # over answered calls
    billed_min: int = 0
    charge_fen: int = 0
    survey_sum: int = 0
    survey_count: int = 0

    def __add__(self, other: Counts) -> Counts:
        return Counts(**{f: getattr(self, f) + getattr(other, f) for f in COUNT_FIELDS})

    def __neg__(self) -> Counts:
        return Counts(**{f: -getattr(self, f) for f in COUNT_FIELDS})

    @classmethod
    def sum(cls, items: Iterable[Counts]) -> Counts:
        total = cls()
        for item in items:
            total = total + item
        return total

    def as_dict(self) -> dict[str, int | float]:
        return {f: getattr(self, f) for f in COUNT_FIELDS}


COUNT_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Counts))


def fact_hour(arrived_at: datetime) -> datetime:
    """The roll-up hour of a call: its arrival truncated to the hour (UTC)."""
    return arrived_at.replace(minute=0, second=0, microsecond=0)


def contribution(fact: dict[str, Any], thresholds: Thresholds, survey_score: int | None = None,
                 seat: str | None = None) -> Counts:
    """What one call adds to a roll-up row. With `seat` (a seat's own row): offered = the seat was rung,
    answered = that seat answered, missed = rung and not answered by it; the rest only when it answered."""
    disposition = fact["disposition"]
    answered = disposition == "answered"
    wait = fact.get("wait_s")
    if seat is not None:
        took = answered and fact.get("seat") == seat
        return Counts(
            offered=1, answered=int(took),
            answered_in_t=int(took and wait is not None and wait <= thresholds.service_level_s),
            missed=int(not took),
            wait_sum_s=float(wait or 0) if took else 0.0,
            talk_sum_s=float(fact.get("talk_s") or 0) if took else 0.0,
            billed_min=fact["billed_min"] if took else 0, charge_fen=fact["charge_fen"] if took else 0,
            survey_sum=(survey_score or 0) if took else 0, survey_count=int(took and survey_score is not None),
        )
    ringing_abandon = disposition == "abandoned" and fact.get("abandoned_in") == "ringing"
    short = ringing_abandon and wait is not None and wait < thresholds.abandon_ignore_s
    return Counts(
        offered=1,
        answered=int(answered),
        answered_in_t=int(answered and wait is not None and wait <= thresholds.service_level_s),
        abandoned=int(ringing_abandon and not short),
        abandoned_short=int(short),
        abandoned_menu=int(disposition == "abandoned" and not ringing_abandon),
        missed=int(disposition in RINGING_DISPOSITIONS or (ringing_abandon and not short)),
        wait_sum_s=float(wait or 0) if answered else 0.0,
        talk_sum_s=float(fact.get("talk_s") or 0) if answered else 0.0,
        billed_min=fact["billed_min"],
        charge_fen=fact["charge_fen"],
        survey_sum=survey_score or 0,
        survey_count=int(survey_score is not None),
    )


# -- the measures ------------------------------------------------------------------------------------
def _ratio(num: float, den: float) -> float | None:
    return None if den <= 0 else num / den


def service_level(c: Counts) -> float | None:
    """服务水平: answered within T s ÷ (answered + abandoned), short abandons (< A s) excluded; None if 0/0."""
    return _ratio(c.answered_in_t, c.answered + c.abandoned)


def abandon_rate(c: Counts) -> float | None:
    """放弃率: abandoned while ringing (≥ A s) ÷ (answered + abandoned); None if 0/0."""
    return _ratio(c.abandoned, c.answered + c.abandoned)


def average_speed_of_answer(c: Counts) -> float | None:
    """平均应答速度 (s): the sum of answered calls' waits (hunt start → seat answer) ÷ answered."""
    return _ratio(c.wait_sum_s, c.answered)


def average_talk_time(c: Counts) -> float | None:
    """平均通话时长 (s): the sum of answered calls' talk times ÷ answered."""
    return _ratio(c.talk_sum_s, c.answered)


def missed_calls(c: Counts) -> int:
    """未接来电: calls that wanted a seat and got none (busy, ring-out, voicemail, abandoned while ringing ≥ A s)."""
    return c.missed


def measures(c: Counts) -> dict[str, Any]:
    """Every measure of `c` plus its counters (rounded for display: ratios to 4 places, seconds to 1)."""

    def r(value: float | None, places: int) -> float | None:
        return None if value is None else round(value, places)

    return {
        **c.as_dict(),
        "service_level": r(service_level(c), 4),
        "abandon_rate": r(abandon_rate(c), 4),
        "asa_s": r(average_speed_of_answer(c), 1),
        "avg_talk_s": r(average_talk_time(c), 1),
        "missed_calls": missed_calls(c),
        "satisfaction": r(_ratio(c.survey_sum, c.survey_count), 2),
    }
