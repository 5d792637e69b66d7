"""The routing decision for one call: pure function of (hotline configuration, caller, now, calendar).

Order of evaluation:

1. **Blocking** (呼叫阻截): a refused caller gets ``refuse`` (busy or a prompt). Nothing else runs.
   **Caller cap** (呼叫限制): a caller with ``cap`` or more calls to the hotline this month (counted by the
   controller from the call records, passed as ``calls_this_month``) gets the same refuse action
   (``Decision.refused_by`` says which rule refused: ``blocking`` or ``caller_cap``).
2. **Time rules**: the first rule in force (by priority) gives the action; none in force → the hotline's
   ``after_hours`` action; no rules at all → always open: the menu when the hotline has departments,
   else the switchboard.
3. **Region rules**: when the action is the menu or the switchboard and a region rule matches the
   caller's province/city, the call goes straight to that rule's department (a rule whose department
   has nobody routable right now is skipped, so the caller still gets the menu).
4. **Targets**: the department's routable seats in hunt order (sequential by position; round robin
   rotated by ``rotation``; weighted (按比例分配) with the first seat drawn by weight from ``draw``, the
   rest by position; simultaneous all at once), capped by ``max_attempts``. A department with
   no routable seat → voicemail (or the closed announcement if the hotline has no voicemail).

The controller keeps the round-robin counter (in the database, since controllers are stateless) and
passes it as ``rotation``; it increments the counter after each decision that used it.
"""

from __future__ import annotations

import datetime as dt

from ivr400.pbx.asterisk.prompts import BALANCE_LOW, INVALID
from ivr400.routing.blocking import check_caller, parse_caller
from ivr400.routing.calendar import Calendar
from ivr400.routing.limits import balance_verdict, cap_verdict, weighted_first
from ivr400.routing.model import (
    DEFAULT_ANNOUNCEMENT_PROMPT,
    DEFAULT_REFUSE_PROMPT,
    SWITCHBOARD_KEY,
    Action,
    ActionKind,
    BlockMode,
    Decision,
    DepartmentRouting,
    HotlineRouting,
    HuntStrategy,
    RefuseWith,
    Target,
)
from ivr400.routing.region import NO_REGION, caller_region, match_region_rule
from ivr400.routing.schedule import evaluate, local_time
from ivr400.validators import UNSAFE_ARGUMENT

__all__ = ["decide", "decide_department", "hunt_order"]



def _reason(parts: list[str]) -> str:
    """Join the steps into one line that is safe in a log, a CDR field or a channel variable."""
    return UNSAFE_ARGUMENT.sub("?", " | ".join(p for p in parts if p))


def hunt_order(department: DepartmentRouting, now: dt.datetime, rotation: int = 0,
               draw: float | None = None) -> tuple[Target, ...]:
    """The department's seats routable at ``now``, in the order the dialplan should try them.

    Sequential and simultaneous: by position (ties by destination, for determinism). Round robin: the
    same list rotated to start at ``rotation`` modulo its length. Weighted: the seat ``draw`` (in [0, 1),
    see ``ivr400.routing.limits.split_draw``) lands on by weight first, the rest by position; no draw =
    by position (what the static plan does). Then capped by ``max_attempts`` if > 0.
    """
    targets = sorted((t for t in department.targets if t.routable_at(now)), key=lambda t: (t.position, t.destination))
    if department.hunt_strategy is HuntStrategy.ROUND_ROBIN and targets:
        start = rotation % len(targets)
        targets = targets[start:] + targets[:start]
    if department.hunt_strategy is HuntStrategy.WEIGHTED and targets and draw is not None:
        targets = list(weighted_first(targets, [t.weight for t in targets], draw))
    if department.max_attempts > 0:
        targets = targets[: department.max_attempts]
    return tuple(targets)


def _route(
    config: HotlineRouting,
    action: Action,
    now: dt.datetime,
    rotation: int,
    reasons: list[str],
    draw: float | None = None,
) -> dict[str, object]:
    """Turn an action into the Decision fields that depend on it (targets, prompt, fallbacks)."""
    kind = action.kind
    if kind is ActionKind.MENU:
        if config.departments:
            return {"action": ActionKind.MENU, "prompt": action.prompt}
        reasons.append("menu without departments: switchboard")
        action = Action(ActionKind.DEPARTMENT, SWITCHBOARD_KEY)
        kind = action.kind
    if kind is ActionKind.DEPARTMENT:
        assert action.department is not None  # Action enforces it
        dept = config.department(action.department)
        if dept is not None:
            targets = hunt_order(dept, now, rotation, draw)
            if targets:
                reasons.append(f"department {dept.key}: {len(targets)} target(s) {dept.hunt_strategy.value}")
                return {
                    "action": ActionKind.DEPARTMENT,
                    "department": dept.key,
                    "targets": targets,
                    "hunt_strategy": dept.hunt_strategy,
                    "ringback": dept.ringback,
                }
        reasons.append(f"department {action.department}: no routable targets now -> voicemail")
        action = Action(ActionKind.VOICEMAIL, action.department)
        kind = action.kind
    if kind is ActionKind.VOICEMAIL:
        if config.voicemail_enabled:
            return {"action": ActionKind.VOICEMAIL, "department": action.department, "prompt": action.prompt}
        reasons.append("voicemail disabled on this hotline: closed announcement")
        return {"action": ActionKind.ANNOUNCEMENT, "prompt": DEFAULT_ANNOUNCEMENT_PROMPT}
    # ANNOUNCEMENT (REFUSE never reaches here: configurations refuse it outside blocking)
    return {"action": ActionKind.ANNOUNCEMENT, "prompt": action.prompt or DEFAULT_ANNOUNCEMENT_PROMPT}


def decide(
    config: HotlineRouting,
    caller: str | None,
    now: dt.datetime,
    calendar: Calendar,
    *,
    rotation: int = 0,
    calls_this_month: int | None = None,
    draw: float | None = None,
    balance_fen: int | None = None,
) -> Decision:
    """Decide what happens to a call to ``config``'s hotline from ``caller`` at ``now``.

    ``caller`` is the raw caller ID as the channel presents it (any garbage is fine); ``now`` must be
    timezone-aware (ValueError otherwise); ``calendar`` carries national days and this enterprise's
    overrides; ``rotation`` is the round-robin counter; ``calls_this_month`` the caller's calls to this
    hotline already recorded this month (for the caller cap; None = not counted); ``draw`` in [0, 1) picks
    a weighted department's first seat; ``balance_fen`` the hotline's balance (top-ups − charges, fen; None =
    unknown), which with ``config.zero_balance`` = ``prompt`` and at or below zero gives the 余额不足
    ANNOUNCEMENT (``refused_by='balance'``), with ``keep`` a routed call marked ``balance_flagged``.
    Deterministic; never does I/O.
    """
    local = local_time(now, config.zone)  # raises on a naive now, before anything else
    who = parse_caller(caller)
    # Geocoding costs more than the rest of a decision; only region rules need it (the call
    # records derive the caller's region on their own).
    region = caller_region(who.number, config.region_override_index) if config.region_rules else NO_REGION
    common: dict[str, object] = {
        "caller": who.number,
        "caller_status": who.status,
        "province": region.province,
        "city": region.city,
        "local_time": local,
    }
    reasons: list[str] = [f"caller {who.number}"] if who.number is not None else []

    # 1. blocking, then the caller cap (same refuse action)
    verdict = check_caller(config.block, who)
    capped = cap_verdict(config.caller_cap_per_month, who.number, calls_this_month) if verdict.allowed else None
    if not verdict.allowed or (capped is not None and not capped.allowed):
        refused_by = "blocking" if not verdict.allowed else "caller_cap"
        reasons.append(verdict.reason if not verdict.allowed else capped.reason)  # type: ignore[union-attr]
        policy = config.block
        prompt = (policy.refuse_prompt or DEFAULT_REFUSE_PROMPT) if policy.refuse_with is RefuseWith.PROMPT else None
        reasons.append(f"refuse with {policy.refuse_with.value}")
        return Decision(
            action=ActionKind.REFUSE,
            refuse_with=policy.refuse_with,
            prompt=prompt,
            refused_by=refused_by,
            reason=_reason(reasons),
            **common,  # type: ignore[arg-type]
        )
    if who.number is None or config.block.mode is not BlockMode.OFF:
        reasons.append(verdict.reason)
    if capped is not None and capped.reason:
        reasons.append(capped.reason)
    # 1b. the balance (after blocking: a blocked caller hears the refusal, whatever the balance)
    money = balance_verdict(config.zero_balance, balance_fen)
    if money.reason:
        reasons.append(money.reason)
    if not money.allowed:
        return Decision(action=ActionKind.ANNOUNCEMENT, prompt=BALANCE_LOW, refused_by="balance",
                        reason=_reason(reasons), **common)  # type: ignore[arg-type]

    # 2. time rules
    time_rule_id: int | None = None
    match = evaluate(config.time_rules_in_order, now, config.zone, calendar)
    day = match.day
    if not config.time_rules:
        action = Action(ActionKind.MENU) if config.departments else Action(ActionKind.DEPARTMENT, SWITCHBOARD_KEY)
        reasons += [match.describe(), f"no time rules: always open -> {action.kind.value}"]
    elif match.rule is not None:
        action = match.rule.action
        time_rule_id = match.rule.id
        reasons.append(f"{match.describe()} -> {action.kind.value}")
    else:
        action = config.after_hours
        reasons += [match.describe(), f"no time rule in force: after hours -> {action.kind.value}"]
    if config.time_rules and match.no_calendar_data:
        reasons.append("calendar has no data for this year: classified by weekday/weekend only")

    # 3. region rules
    region_rule_id: int | None = None
    is_switchboard = action.kind is ActionKind.DEPARTMENT and action.department == SWITCHBOARD_KEY
    if (action.kind is ActionKind.MENU or is_switchboard) and config.region_rules:
        reasons.append(region.describe())
        rule = match_region_rule(config.region_rules_in_order, region)
        if rule is not None:
            dept = config.department(rule.department)
            if dept is not None and hunt_order(dept, now, rotation, draw):
                action = Action(ActionKind.DEPARTMENT, rule.department)
                region_rule_id = rule.id
                reasons.append(f"region rule {rule.id} -> department {rule.department}")
            else:
                reasons.append(f"region rule {rule.id} skipped: department {rule.department} has no routable targets")

    # 4. targets and fallbacks
    routed = _route(config, action, now, rotation, reasons, draw)
    return Decision(
        reason=_reason(reasons),
        balance_flagged=money.flagged,
        time_rule_id=time_rule_id,
        region_rule_id=region_rule_id,
        day_kind=day.kind,
        calendar_source=day.source,
        **common,  # type: ignore[arg-type]
        **routed,  # type: ignore[arg-type]
    )


def decide_department(
    config: HotlineRouting,
    key: str | None,
    now: dt.datetime,
    *,
    rotation: int = 0,
    draw: float | None = None,
) -> Decision:
    """After a menu key press: the department's targets (or its voicemail fallback).

    ``key`` comes from the dialplan (the digits pressed); an unknown key gives the ``ivr400/ivr400-invalid``
    announcement rather than an exception. ``draw``: as for :func:`decide`. Time rules are not re-evaluated:
    the caller was let in by :func:`decide` seconds ago.
    """
    local = local_time(now, config.zone)
    dept = config.department(key) if isinstance(key, str) else None
    if dept is None:
        return Decision(
            action=ActionKind.ANNOUNCEMENT,
            prompt=INVALID,
            reason="unknown menu key",
            local_time=local,
        )
    reasons = [f"menu key {dept.key}"]
    routed = _route(config, Action(ActionKind.DEPARTMENT, dept.key), now, rotation, reasons, draw)
    return Decision(reason=_reason(reasons), local_time=local, **routed)  # type: ignore[arg-type]
