"""满意度评价 (post-call satisfaction survey): a hotline's survey setting and the seats' average scores.

The dialplan asks the caller after the seat hung up first; the controller's ``survey_saved`` hook stores
one ``survey_response`` per call (score 1-5, 5 = very satisfied) with the seat as the call record names it
(its dial string, ``PJSIP/<number>@<trunk>`` or ``PJSIP/<trunk>/sip:<number>@<host>``). Here: switching
the survey on and off, and reading each seat's average back by its destination number.
"""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Hotline, SurveyResponse
from ivr400.pbx.asterisk.prompts import sound_name
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.status import Satisfaction, satisfaction_by_number, seat_number

__all__ = ["Satisfaction", "seat_number", "seat_satisfaction", "set_survey"]

_SOUND = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]{0,119}")


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


def seat_satisfaction(session: Session, hotline_number: str) -> dict[str, Satisfaction]:
    """Per destination number, the average survey score its seat got on ``hotline_number`` (all time)."""
    rows = session.execute(select(SurveyResponse.seat, SurveyResponse.score)
                           .where(SurveyResponse.hotline == hotline_number))
    return satisfaction_by_number([(seat, score) for seat, score in rows])
