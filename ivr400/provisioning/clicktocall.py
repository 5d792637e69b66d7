"""WEB呼叫 (click-to-call): a hotline's public callback settings and placing one callback, checked and recorded.

:func:`place_callback` is what the public form (``ivr400.web.clicktocall``), an operator calling back a
missed caller (the callback list; ``ivr400 call visitor``) and tests call. It refuses, in this order:
a hotline without click-to-call settings (or, for the public form, with them switched off), a number the
platform may not call (``ivr400.routing.clicktocall.check_target``), the hotline's blacklist (呼叫阻截),
the abuse limits, outside business hours; otherwise it asks Asterisk (AMI ``Originate``, async, with a
channel id) to call the visitor through the hotline's trunk showing the enterprise's outbound number
(400 numbers are inbound-only and cannot be a caller ID). The visitor's channel then runs the generic
``ivr400-clicktocall`` step: a consent prompt, and only on key 1 the hotline's normal inbound flow with
the visitor as the caller — the same controller decision and the same whitelisted seats.

Every attempt, accepted or refused, is one ``clicktocall_attempt`` row and one audit entry
(``whitelist_event``, action ``clicktocall``), written in the caller's transaction.
"""
from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import ClickToCallAttempt, ClickToCallSetting, Hotline
from ivr400.numbers import NumberError, normalize_number
from ivr400.pbx.asterisk import dialplan_variables as v
from ivr400.provisioning import audit
from ivr400.provisioning.errors import ProvisioningError
from ivr400.routing.blocking import Caller, check_caller
from ivr400.routing.calendar import Calendar
from ivr400.routing.clicktocall import Limits, Verdict, check_limits, check_target, open_now
from ivr400.routing.model import BlockPolicy, CallerStatus, TimeRule
from ivr400.validators import dial_string

__all__ = ["CONTEXT", "CallbackResult", "Originator", "configure", "place_callback"]

#: The generic dialplan context the visitor's channel enters once answered (EXTEN = the 400 number).
CONTEXT = "ivr400-clicktocall"
#: The channel variable carrying the visitor's number into that context.
TARGET_VARIABLE = v.C2C_TARGET
#: Seconds the visitor's phone rings before the callback gives up.
RING_S = 30
_DEFAULT_TEMPLATE = "PJSIP/{number}@ivr400-out"


class Originator(Protocol):
    """The AMI action the service needs (``ivr400.pbx.asterisk.ami.Ami`` has it)."""

    def action(self, name: str, timeout: float | None = None, **fields: str) -> Any: ...  # noqa: ANN401


@dataclass(frozen=True, slots=True)
class CallbackResult:
    """``accepted``: the visitor is being called (``channel_id``); else ``outcome`` and ``reason`` say why not."""

    accepted: bool
    outcome: str
    reason: str
    attempt_id: int
    channel_id: str | None = None


def configure(session: Session, hotline: Hotline, *, enabled: bool | None = None, origins: str | None = None,
              caller_id: str | None = None, max_concurrent: int | None = None,
              new_token: bool = False) -> ClickToCallSetting:
    """Create or change the hotline's click-to-call settings. ``origins``: space-separated ``https://host``
    origins allowed to post the form ("" = any); ``caller_id``: the enterprise's outbound number shown to
    the visitor (a mainland number, not a 400 number); a new row gets a random token (``new_token``
    replaces it). ProvisioningError naming the field for a bad value."""
    row = session.get(ClickToCallSetting, hotline.id)
    if row is None:
        row = ClickToCallSetting(hotline_id=hotline.id, token=secrets.token_urlsafe(24), origins="", max_concurrent=2,
                                 enabled=False)
        session.add(row)
    elif new_token:
        row.token = secrets.token_urlsafe(24)
    if origins is not None:
        items = origins.split()
        for item in items:
            if not item.startswith(("http://", "https://")) or any(c in item for c in "\"'<> ") or \
                    item.count("/") != 2:
                raise ProvisioningError("origins", f"{item!r} is not an origin like https://www.example.com")
        row.origins = " ".join(items)
    if caller_id is not None:
        verdict = check_target(caller_id)
        if not verdict.allowed or verdict.number is None:
            raise ProvisioningError("caller-id", verdict.reason.removeprefix("number: "))
        row.caller_id = verdict.number
    if max_concurrent is not None:
        if not 1 <= max_concurrent <= 100:
            raise ProvisioningError("max-concurrent", "must be between 1 and 100")
        row.max_concurrent = max_concurrent
    if enabled is not None:
        if enabled and not row.caller_id:
            raise ProvisioningError("caller-id", "set the outbound number shown to visitors first")
        row.enabled = enabled
    session.flush()
    return row


def _times(session: Session, *where: Any) -> list[datetime]:  # noqa: ANN401
    return list(session.scalars(select(ClickToCallAttempt.at).where(*where)))


def place_callback(session: Session, ami: Originator | None, *, hotline: Hotline, target: str, now: datetime,
                   block: BlockPolicy, time_rules: tuple[TimeRule, ...], calendar: Calendar, zone: ZoneInfo,
                   source: str = "web", actor: str = "web", client_ip: str | None = None,
                   origin: str | None = None, limits: Limits | None = None) -> CallbackResult:
    """Check and place one callback to ``target`` (as typed) for ``hotline``; see the module docstring.

    ``source``: ``web`` (the public form: settings must be enabled, the IP limit applies) or ``operator``
    (an operator calling back a missed caller: no IP limit). ``block``, ``time_rules``, ``calendar`` and
    ``zone`` are the hotline's routing (as the controller's loader builds them). ``ami`` None places
    nothing (the attempt is recorded as ``failed``). ``limits`` default: :class:`Limits` with the
    hotline's ``max_concurrent``. Returns the result; raises nothing for a refusal. The caller commits.
    """
    setting = session.get(ClickToCallSetting, hotline.id)
    number: str | None = None
    verdict: Verdict
    if setting is None or not setting.caller_id or (source == "web" and not setting.enabled):
        verdict = Verdict(False, "refused_disabled", "hotline: click-to-call is not enabled")
    else:
        verdict = check_target(target)
        number = verdict.number
    if verdict.allowed and number is not None:
        blocked = check_caller(block, Caller(number, CallerStatus.NUMBER))
        if not blocked.allowed:
            verdict = Verdict(False, "refused_blocked", "number: refused by the hotline's call blocking")
    if verdict.allowed and number is not None and setting is not None:
        lim = limits or Limits(max_concurrent=setting.max_concurrent)
        since = now - timedelta(days=1, seconds=lim.ip_window_s)
        placed = ClickToCallAttempt.outcome == "accepted"
        verdict = check_limits(
            lim, now, zone,
            number_placed=_times(session, ClickToCallAttempt.target == number, placed, ClickToCallAttempt.at >= since),
            ip_requests=None if source != "web" else _times(session, ClickToCallAttempt.client_ip == client_ip,
                                                            ClickToCallAttempt.at >= since),
            hotline_placed=session.execute(
                select(ClickToCallAttempt.at, ClickToCallAttempt.ended_at)
                .where(ClickToCallAttempt.hotline == hotline.number, placed, ClickToCallAttempt.ended_at.is_(None),
                       ClickToCallAttempt.at >= now - timedelta(seconds=lim.inflight_max_age_s))).tuples().all(),
        )
    if verdict.allowed:
        verdict = open_now(time_rules, now, zone, calendar)
    channel_id: str | None = None
    if verdict.allowed and number is not None and setting is not None:
        channel_id = str(uuid.uuid4())
        template = hotline.trunk.dial_template if hotline.trunk is not None else _DEFAULT_TEMPLATE
        try:
            if ami is None:
                raise RuntimeError("no AMI connection")
            ami.action("Originate", Channel=dial_string(template, number), Context=CONTEXT, Exten=hotline.number,
                       Priority="1", Async="true", Timeout=str(RING_S * 1000), CallerID=setting.caller_id or "",
                       ChannelId=channel_id, Variable=f"{TARGET_VARIABLE}={number}")
            verdict = Verdict(True, "accepted", "calling the visitor", number)
        except Exception as exc:  # noqa: BLE001 - AMI down or refused: recorded, told to the caller
            verdict = Verdict(False, "failed", f"pbx: the call could not be placed ({type(exc).__name__})")
            channel_id = None
    recorded_target = number or _readable(target)
    row = ClickToCallAttempt(hotline=hotline.number, target=recorded_target, client_ip=client_ip,
                             origin=(origin or None) and origin[:200], source=source, actor=actor,
                             outcome=verdict.outcome, reason=verdict.reason[:500], channel_id=channel_id, at=now)
    session.add(row)
    audit.record(session, "clicktocall", now=now, actor=actor, enterprise_id=hotline.enterprise_id,
                 reason=verdict.reason[:500],
                 detail={"hotline": hotline.number, "target": recorded_target, "outcome": verdict.outcome,
                         "source": source, "client_ip": client_ip, "channel_id": channel_id})
    session.flush()
    return CallbackResult(verdict.outcome == "accepted", verdict.outcome, verdict.reason, row.id, channel_id)


def _readable(raw: str) -> str:
    """What to record of a number that was refused: its normalized form if it has one, else its digits."""
    try:
        return normalize_number(raw).value[:32]
    except (NumberError, TypeError):
        return "".join(c for c in str(raw) if c.isdigit() or c == "+")[:32] or "?"
