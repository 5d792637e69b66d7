"""Call records (通话详单) from FreeSWITCH: ``CHANNEL_HANGUP_COMPLETE`` events read as the Asterisk path's legs.

FreeSWITCH fires ``CHANNEL_HANGUP_COMPLETE`` once per channel when it is gone, with every channel variable as
``variable_<name>`` (URL-decoded by ``ivr400.pbx.freeswitch.esl_protocol.decode_event``). The caller's own
channel (``Call-Direction: inbound``) carries the whole call: the ``ivr400_*`` variables the dialplan set (the
names of the Asterisk CDR variables, ``dialplan_variables.CDR_*``) and the channel timestamps FreeSWITCH sets
(``switch_channel_set_timestamps``: ``start_uepoch``, ``bridge_uepoch``, ``end_uepoch`` in microseconds since
the epoch, 0 when it never happened; ``originate_disposition`` of the last bridge attempt;
``bridge_channel`` / ``last_bridge_to`` of the seat that answered). Seats' outbound legs are skipped: the caller's
channel already says what they did.

:func:`leg_from_hangup` maps that channel to one :class:`~ivr400.cdr.cdr_model.Leg`, so
:func:`~ivr400.cdr.cdr_model.call_from_legs` gives the same :class:`Call` fields as the AMI and CSV paths
(disposition, seat, key path, department, decided_by, recording...). Pure: no I/O.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from ivr400.cdr.cdr_model import Call, CdrParseError, Leg, RegionLookup, _no_region, call_from_legs
from ivr400.pbx.asterisk.dialplan_variables import (
    CDR_DECIDED_BY,
    CDR_DEPT,
    CDR_DISPOSITION,
    CDR_HOTLINE,
    CDR_KEYS,
    CDR_RECORDING,
    CDR_SEAT,
)

__all__ = ["HANGUP_EVENT", "call_from_hangup", "leg_from_hangup"]

HANGUP_EVENT = "CHANNEL_HANGUP_COMPLETE"
#: FreeSWITCH's originate_disposition (hangup cause names) → the Asterisk CDR disposition of a dialed leg.
_DIAL_DISPOSITION = {"SUCCESS": "ANSWERED", "USER_BUSY": "BUSY", "NO_ANSWER": "NO ANSWER",
                     "NO_USER_RESPONSE": "NO ANSWER", "ORIGINATOR_CANCEL": "NO ANSWER"}


def _uepoch(value: str, name: str) -> datetime | None:
    """``1780279200123456`` (µs since the epoch, as ``*_uepoch`` variables hold it) → aware UTC; 0/"" → None."""
    if not value:
        return None
    if not value.isdigit():
        raise CdrParseError(f"{name}: {value[:30]!r} is not a microsecond epoch")
    micros = int(value)
    if micros <= 0:
        return None
    return datetime.fromtimestamp(micros // 1_000_000, tz=timezone.utc).replace(microsecond=micros % 1_000_000)


def leg_from_hangup(event: Mapping[str, str]) -> Leg | None:
    """The caller's channel of a ``CHANNEL_HANGUP_COMPLETE`` event as a leg; None for any other event and
    for outbound (seat) channels. Raises CdrParseError when Unique-ID or start_uepoch is missing or bad."""
    if event.get("Event-Name") != HANGUP_EVENT:
        return None
    direction = event.get("Call-Direction") or event.get("Caller-Direction") or event.get("variable_direction", "")
    if direction != "inbound":
        return None

    def var(name: str) -> str:
        return event.get(f"variable_{name}", "").strip()

    uuid = event.get("Unique-ID", "")
    if not uuid:
        raise CdrParseError("Unique-ID: missing")
    start = _uepoch(var("start_uepoch"), "start_uepoch")
    if start is None:
        raise CdrParseError("start_uepoch: missing")
    bridged = _uepoch(var("bridge_uepoch"), "bridge_uepoch")
    end = _uepoch(var("end_uepoch"), "end_uepoch")
    attempt = var("originate_disposition")
    seat_channel = var("bridge_channel") or var("last_bridge_to")
    if bridged is not None:
        disposition, dstchannel = "ANSWERED", seat_channel or "bridged"
    elif attempt:
        disposition, dstchannel = _DIAL_DISPOSITION.get(attempt, "FAILED"), seat_channel or f"attempt:{attempt}"
    else:
        disposition, dstchannel = "", ""
    billsec = max(0, round((end - bridged).total_seconds())) if bridged is not None and end is not None else 0
    return Leg(
        linkedid=uuid,
        uniqueid=uuid,
        sequence=None,
        start=start,
        answer=bridged,
        end=end,
        disposition=disposition,
        src=event.get("Caller-Caller-ID-Number", ""),
        clid=event.get("Caller-Caller-ID-Name", ""),
        dst=event.get("Caller-Destination-Number", ""),
        dcontext=event.get("Caller-Context", ""),
        channel=event.get("Channel-Name", ""),
        dstchannel=dstchannel,
        lastapp="bridge" if dstchannel else var("last_app"),
        lastdata=var("last_bridge_data") if dstchannel else var("last_arg"),
        duration=max(0, round((end - start).total_seconds())) if end is not None else 0,
        billsec=billsec,
        hotline=var(CDR_HOTLINE),
        keys=var(CDR_KEYS),
        dept=var(CDR_DEPT),
        seat=var(CDR_SEAT),
        disp=var(CDR_DISPOSITION),
        rec=var(CDR_RECORDING),
        decided_by=var(CDR_DECIDED_BY),
    )


def call_from_hangup(event: Mapping[str, str], region: RegionLookup = _no_region) -> Call | None:
    """The call record of a caller's ``CHANNEL_HANGUP_COMPLETE`` (None when the event is not one)."""
    leg = leg_from_hangup(event)
    return None if leg is None else call_from_legs([leg], region)
