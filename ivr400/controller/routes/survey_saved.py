"""``agi://.../survey_saved?hotline=<400 number>&score=<1-5>``: the caller scored the seat (满意度评价).

Called by the generic ``ivr400-survey`` step after the seat hung up first (Dial option ``g``) and the
caller pressed 1-5 (5 = very satisfied). Reads ``IVR400_SEAT`` (one ``GET VARIABLE``: the seat as the
call record names it, ``PJSIP/<dialled number>``) and stores one ``survey_response`` row per call, keyed
by the call's uniqueid (``ctx.save_survey``; a second score for the same call is ignored). Sets nothing:
the dialplan thanks the caller whatever happens here; a failure is logged.
"""
from __future__ import annotations

import re

from ivr400.controller.routes.context import CallSession, Dialect, RouteContext
from ivr400.controller.routes.dialect import ASTERISK
from ivr400.pbx.asterisk import dialplan_variables as v
from ivr400.pbx.asterisk.fastagi import AGISession
from ivr400.validators import ASTERISK_UNIQUEID, HOTLINE_NUMBER

__all__ = ["SCORE", "survey_saved"]

#: The scores a caller can give: one key, 1 (very dissatisfied) to 5 (very satisfied).
SCORE = re.compile(r"[1-5]")
_UNIQUEID = ASTERISK_UNIQUEID
_SEAT = re.compile(r"[A-Za-z0-9_.:@/+=\-]{1,255}")


async def survey_saved(session: CallSession, ctx: RouteContext, dialect: Dialect = ASTERISK) -> None:
    if not isinstance(session, AGISession):
        session.log.warning("survey_saved: the survey runs on Asterisk only; nothing recorded")
        return
    params = session.params
    number = params.get("hotline", "")
    score = params.get("score", "")
    uniqueid = session.uniqueid
    if not HOTLINE_NUMBER.fullmatch(number) or not SCORE.fullmatch(score) or not _UNIQUEID.fullmatch(uniqueid):
        session.log.warning("survey_saved: malformed request (hotline=%r score=%r uniqueid=%r); not stored",
                            number[:40], score[:10], uniqueid[:40])
        return
    seat = await session.get_variable(v.SEAT_REACHED)
    if seat is not None and not _SEAT.fullmatch(seat):
        session.log.warning("survey_saved: %s: %s=%r is not a dial string; stored without the seat", number,
                            v.SEAT_REACHED, seat[:80])
        seat = None
    try:
        stored = await ctx.save_survey(hotline=number, uniqueid=uniqueid, seat=seat or None, score=int(score))
    except Exception as exc:  # noqa: BLE001 - the caller is thanked anyway; say why it was lost
        session.log.warning("survey_saved: %s: score %s not stored: %s: %s", number, score, type(exc).__name__, exc)
        return
    session.log.info("survey_saved: %s seat %s score %s %s", number, seat or "?", score,
                     "stored" if stored else "ignored (the call already has a score)")
