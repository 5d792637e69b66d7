"""满意度评价 (post-call satisfaction survey): a hotline's survey setting and the seats' average scores.

The dialplan asks the caller after the seat hung up first; the controller's ``survey_saved`` hook stores
one ``survey_response`` per call (score 1-5, 5 = very satisfied) with the seat as the call record names it
(its dial string, ``PJSIP/<number>@<trunk>`` or ``PJSIP/<trunk>/sip:<number>@<host>``). Here: switching
the survey on and off, and reading each seat's average back by its destination number.
"""
from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Hotline, SurveyResponse
from ivr400.pbx.asterisk.prompts import sound_name
from ivr400.provisioning.errors import ProvisioningError

__all__ = ["Satisfaction", "seat_number", "seat_satisfaction", "set_survey"]

_SOUND = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,119}")
_NUMBER_IN_DIAL = re.compile(r"(?:^|/|sip:)(\+?[0-9]{3,20})(?:@|$)")


def set_survey(session: Session, hotline: Hotline, enabled: bool | None = None, prompt: str | None = None) -> Hotline:
    """Turn the survey on or off and/or set its prompt (an Asterisk sound name, ``""`` = the shipped
    ``ivr400/ivr400-survey``). ProvisioningError ``survey-prompt`` for a name that is not a sound name."""
    if prompt is not None:
        name = prompt.strip()
        if name and (not _SOUND.fullmatch(name) or ".." in name):
            raise ProvisioningError("survey-prompt", f"{prompt!r} is not a sound name (letters, digits, _ . / -)")
        hotline.survey_prompt = sound_name(name) if name else None
    if enabled is not None:
        hotline.survey_enabled = enabled
    session.flush()
    return hotline


def seat_number(seat: str | None) -> str | None:
    """The destination number a stored seat dial string rings (``PJSIP/01062345678@ivr400-out`` →
    ``01062345678``), None if it names none."""
    if not seat:
        return None
    m = _NUMBER_IN_DIAL.search(seat)
    return m.group(1) if m else None


@dataclass(frozen=True, slots=True)
class Satisfaction:
    """A seat's survey result: ``average`` of ``count`` scores (1-5)."""

    average: float
    count: int

    def __str__(self) -> str:
        return f"{self.average:.1f} ({self.count})"


def seat_satisfaction(session: Session, hotline_number: str) -> dict[str, Satisfaction]:
    """Per destination number, the average survey score its seat got on ``hotline_number`` (all time)."""
    scores: dict[str, list[int]] = defaultdict(list)
    rows = session.execute(select(SurveyResponse.seat, SurveyResponse.score)
                           .where(SurveyResponse.hotline == hotline_number))
    for seat, score in rows:
        number = seat_number(seat)
        if number is not None:
            scores[number].append(int(score))
    return {n: Satisfaction(sum(v) / len(v), len(v)) for n, v in scores.items()}
