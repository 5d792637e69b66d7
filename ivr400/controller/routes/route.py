"""``agi://.../route?hotline=<400 number>``: what happens to a call, decided at call entry.

Sets, from the cached configuration and the caller ID, the variables the hotline's entry context
reads, ``IVR400_ACTION`` **last** so a session that dies halfway leaves the static plan in charge:

* ``menu``: ``IVR400_PROMPT`` (only when a time rule names one instead of the welcome), ``IVR400_ACTION``;
* ``department``: the hunt variables (see ``department.py``: targets, timeouts, ``IVR400_HUNT`` when
  simultaneous, ``IVR400_MOH`` when there is a ringback class, ``IVR400_RING_TIMEOUT``),
  ``IVR400_ACTION_DEPT`` (omitted for the switchboard: empty), ``IVR400_TARGET_COUNT``,
  ``IVR400_ACTION``. Variables the entry context never set are not sent when their empty value already
  means the right thing (one round trip each);
* ``voicemail``: ``IVR400_ACTION_DEPT`` and ``IVR400_DEPT_PATH`` for a department's mailbox, the greeting
  in ``IVR400_PROMPT`` if configured, ``IVR400_ACTION``;
* ``announcement``: ``IVR400_PROMPT``, ``IVR400_ACTION``;
* ``refuse``: ``IVR400_REFUSE_WITH``, ``IVR400_PROMPT`` (prompt only), ``IVR400_ACTION``.

On Asterisk, every action but ``refuse`` also sends ``IVR400_FAX_MODE`` (传真: off | detect | key) just
before ``IVR400_ACTION``, from the same tree reader as the static plan, so fax detection follows the
database even before the next deploy. FreeSWITCH's plan receives no fax (res_fax is Asterisk's): nothing
is sent there, the rest of the decision is the same.

The decision's reason (which never echoes the raw caller ID, only the normalized number) goes to the
log: INFO for refusals, DEBUG otherwise. Nothing in the dialplan reads it, so it costs no round trip.

A 400 number the database does not know (deleted or deactivated since the dialplan was rendered) gets
the polite unknown-number announcement and a log line. No configuration, a hotline the loader skipped
or whose rules are invalid, a malformed request: nothing is set (static plan), with a log line.
Every decision is logged at INFO with its reason; the route returns :class:`Decided` or
:class:`StaticPlan` for the metrics.

A hotline with a caller cap (呼叫限制) costs one count of the caller's call records this month
(``ctx.count_caller_calls``, bounded in time; unanswered = let through). A weighted department (按比例分配)
draws its first seat from the call's uniqueid (``ivr400.routing.limits.split_draw``), so a call is decided
the same way by any controller. A hotline with a billing account (话费余额) costs one read of its balance
(``ctx.hotline_balance``, bounded in time; unanswered = routed): at or below zero with the choice ``prompt``
the caller hears ``ivr400/ivr400-balance-low`` and the call ends (an announcement, so no seat is rung); with
``keep`` the call is routed and flagged: a WARNING ``balance-zero flag`` line and, once its variables are set,
a ``balance_flag`` row for the call (``ctx.flag_balance``, bounded in time), which the call record writer copies
onto the call's record and fact row (``balance_flagged``).
"""
from __future__ import annotations

from ivr400.controller.loader import HotlineEntry, dept_path
from ivr400.controller.routes.context import CallSession, Decided, Dialect, RouteContext, StaticPlan
from ivr400.controller.routes.department import set_all, target_variables
from ivr400.controller.routes.dialect import ASTERISK
from ivr400.pbx.asterisk import dialplan_variables as v
from ivr400.pbx.asterisk.prompts import UNKNOWN_NUMBER
from ivr400.routing.blocking import parse_caller
from ivr400.routing.decide import decide
from ivr400.routing.limits import month_start, split_draw
from ivr400.routing.model import ActionKind, Decision, HuntStrategy
from ivr400.validators import HOTLINE_NUMBER

__all__ = ["UNKNOWN_HOTLINE_VARIABLES", "decision_variables", "route"]

#: What a call to a 400 number the controller does not know gets.
UNKNOWN_HOTLINE_VARIABLES: tuple[tuple[str, str], ...] = (
    (v.PROMPT, UNKNOWN_NUMBER),
    (v.DISPOSITION, "unknown_number"),
    (v.ACTION, ActionKind.ANNOUNCEMENT.value),
)


def decision_variables(entry: HotlineEntry, decision: Decision, dialect: Dialect = ASTERISK) -> list[tuple[str, str]]:
    """The ``SET VARIABLE`` pairs for a call-entry decision, in the order they must be sent."""
    action = decision.action
    out: list[tuple[str, str]] = []
    if action is ActionKind.DEPARTMENT:
        out += target_variables(entry, decision, dialect)
        if decision.hunt_strategy is HuntStrategy.SIMULTANEOUS:
            out.append((v.HUNT, "simultaneous"))
            out.append((v.RING_TIMEOUT, str(decision.dial_timeout_s)))
        if decision.ringback:
            out.append((v.MOH_CLASS, dialect.ringback(decision.ringback)))
        path = dept_path(decision.department)
        if path:
            out.append((v.ACTION_DEPT, path))
        out.append((v.TARGET_COUNT, str(len(decision.targets))))
    else:
        if action is ActionKind.VOICEMAIL:
            path = dept_path(decision.department)
            if path:
                out.append((v.ACTION_DEPT, path))
                out.append((v.DEPT_PATH, path))
        elif action is ActionKind.REFUSE and decision.refuse_with is not None:
            out.append((v.REFUSE_WITH, decision.refuse_with.value))
        if decision.prompt:
            out.append((v.PROMPT, decision.prompt))
    if action is not ActionKind.REFUSE and dialect.name == ASTERISK.name:
        out.append((v.FAX_MODE, entry.fax_mode))
    out.append((v.ACTION, action.value))
    return out


async def route(session: CallSession, ctx: RouteContext, dialect: Dialect = ASTERISK) -> Decided | StaticPlan:
    number = session.params.get("hotline", "")
    if not HOTLINE_NUMBER.fullmatch(number):
        session.log.warning("route: hotline parameter %r is not a 400 number; static plan", number[:40])
        return StaticPlan("malformed_request")
    config = ctx.config
    if config is None:
        session.log.warning("route: no configuration loaded; static plan for %s", number)
        return StaticPlan("no_config")
    entry = config.get(number)
    if entry is None:
        if number in config.skipped:
            session.log.warning("route: hotline %s is left to the static plan (%s)", number, config.skipped[number])
            return StaticPlan("skipped_hotline")
        session.log.warning("route: call to %s, which is not an active hotline: unknown-number announcement", number)
        await set_all(session, list(UNKNOWN_HOTLINE_VARIABLES))
        return Decided("unknown_number")
    if not entry.rules_ok:
        session.log.warning("route: hotline %s has invalid rules (%s); static plan", number, entry.problem)
        return StaticPlan("invalid_rules")
    now = ctx.now()
    calls: int | None = None
    caller = parse_caller(session.callerid).number if entry.routing.caller_cap_per_month > 0 else None
    if caller is not None:
        calls = await ctx.count_caller_calls(hotline=number, caller=caller,
                                             since=month_start(now, entry.routing.zone))
    balance: int | None = None
    if entry.routing.zero_balance is not None:
        balance = await ctx.hotline_balance(hotline_id=entry.hotline_id, hotline=number)
    draw = split_draw(session.uniqueid) if session.uniqueid else None
    decision = decide(entry.routing, session.callerid, now, entry.calendar, calls_this_month=calls, draw=draw,
                      balance_fen=balance)
    decision = await ctx.rotate(entry, decision, now)
    ctx.count_decision()
    session.log.info("route: %s -> %s: %s", number, decision.action.value, decision.reason)
    if decision.balance_flagged:
        session.log.warning("route: %s balance-zero flag: routed at a balance of %s fen (zero-balance choice keep)",
                            number, balance)
    await set_all(session, decision_variables(entry, decision, dialect))
    if decision.balance_flagged and session.uniqueid:
        await ctx.flag_balance(hotline=number, uniqueid=session.uniqueid, balance_fen=balance)
    return Decided(decision.action.value)
