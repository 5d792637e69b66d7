"""``agi://.../department?hotline=<400 number>&dept=<key path, "" = switchboard>``: who rings now.

Called by the rendered department step (``ivr400-department``) just before it hunts, after it
cleared ``IVR400_TARGET_COUNT`` and ``IVR400_HUNT_START``. The channel may still carry the hunt
variables of an earlier hunt in the same call, so this hook sets all of them from the cache:

* ``IVR400_TARGET_1..N`` (Asterisk dial strings, in hunt order, round robin already rotated),
  ``IVR400_TIMEOUT_1..N``, ``IVR400_DEPT_ID`` (the department's row id, 0 = switchboard),
  ``IVR400_HUNT`` (sequential | simultaneous), ``IVR400_MOH`` (ringback class, "" = ringing),
  ``IVR400_MAX_ATTEMPTS`` = 0 (the list is already capped), ``IVR400_RING_TIMEOUT`` (simultaneous only),
  then ``IVR400_TARGET_COUNT`` **last**: a session that dies earlier leaves it empty and the dialplan rings
  its static targets.
* A department that exists no more, a hotline that is gone, a department with nobody routable now:
  ``IVR400_TARGET_COUNT=0`` (ring nobody: the controller knows the current whitelist state, the static
  plan may not). The dialplan then goes on to voicemail or goodbye.
* No configuration loaded, a hotline the loader had to skip, a malformed request: nothing is set, the
  static plan runs.

No database access except the round-robin counter (``ctx.rotate``). A weighted department (按比例分配)
draws its first seat from the call's uniqueid (the same draw as at call entry). Every decision is logged at INFO
(who rings, in order, and why); the route returns :class:`Decided` or :class:`StaticPlan` for the metrics.
"""
from __future__ import annotations

from ivr400.controller.loader import HotlineEntry, dept_key, dept_path
from ivr400.controller.routes.context import CallSession, Decided, Dialect, RouteContext, StaticPlan
from ivr400.controller.routes.dialect import ASTERISK
from ivr400.pbx.asterisk import dialplan_variables as v
from ivr400.routing.decide import decide_department
from ivr400.routing.limits import split_draw
from ivr400.routing.model import ActionKind, Decision, HuntStrategy
from ivr400.validators import DEPT_PATH, HOTLINE_NUMBER

__all__ = ["department", "hunt_variables", "set_all", "target_variables"]


def target_variables(entry: HotlineEntry, decision: Decision, dialect: Dialect = ASTERISK) -> list[tuple[str, str]]:
    """``IVR400_TARGET_i`` / ``IVR400_TIMEOUT_i`` pairs of a department decision, in hunt order (dial strings
    in ``dialect``), then ``IVR400_DEPT_ID``: the department's row id (0 = the switchboard), which the hunt
    uses to skip a seat a deploy has unbound from that department meanwhile."""
    out: list[tuple[str, str]] = []
    for i, target in enumerate(decision.targets, start=1):
        out.append((v.target(i), dialect.dial(entry, target)))
        out.append((v.timeout(i), str(target.ring_timeout_s)))
    out.append((v.DEPT_ID, str(entry.department_ids.get(dept_path(decision.department)) or 0)))
    return out


def dial_mode(decision: Decision) -> str:
    """What the hunt engine does: round robin arrives rotated, so it hunts sequentially."""
    return "simultaneous" if decision.hunt_strategy is HuntStrategy.SIMULTANEOUS else "sequential"


def hunt_variables(entry: HotlineEntry, decision: Decision, dialect: Dialect = ASTERISK) -> list[tuple[str, str]]:
    """Everything the hunt subroutine needs, ``IVR400_TARGET_COUNT`` last (0 when nobody rings)."""
    if decision.action is not ActionKind.DEPARTMENT or not decision.targets:
        return [(v.TARGET_COUNT, "0")]
    out = target_variables(entry, decision, dialect)
    out.append((v.HUNT, dial_mode(decision)))
    out.append((v.MOH_CLASS, dialect.ringback(decision.ringback or "")))
    out.append((v.MAX_ATTEMPTS, "0"))
    if decision.hunt_strategy is HuntStrategy.SIMULTANEOUS:
        out.append((v.RING_TIMEOUT, str(decision.dial_timeout_s)))
    out.append((v.TARGET_COUNT, str(len(decision.targets))))
    return out


async def set_all(session: CallSession, variables: list[tuple[str, str]]) -> None:
    """Every pair, in order, in as few round trips as the PBX allows: Asterisk gets ``EXEC MSet`` batches
    (:meth:`AGISession.set_variables`), so a whole decision is usually one command and ``IVR400_TARGET_COUNT``
    (last) arrives with the targets it counts; FreeSWITCH one ``set`` per pair."""
    await session.set_variables(variables)


async def department(session: CallSession, ctx: RouteContext, dialect: Dialect = ASTERISK) -> Decided | StaticPlan:
    params = session.params
    number = params.get("hotline", "")
    path = params.get("dept", "")
    if not HOTLINE_NUMBER.fullmatch(number) or not DEPT_PATH.fullmatch(path):
        session.log.warning("department: malformed request (hotline=%r dept=%r); static plan", number[:40], path[:40])
        return StaticPlan("malformed_request")
    config = ctx.config
    if config is None:
        session.log.warning("department: no configuration loaded; static plan for %s dept %r", number, path)
        return StaticPlan("no_config")
    entry = config.get(number)
    if entry is None:
        if number in config.skipped:
            session.log.warning("department: hotline %s is left to the static plan (%s)", number,
                                config.skipped[number])
            return StaticPlan("skipped_hotline")
        session.log.warning("department: hotline %s is not active; nobody rings", number)
        await session.set_variable(v.TARGET_COUNT, "0")
        return Decided("unknown_number")
    now = ctx.now()
    draw = split_draw(session.uniqueid) if session.uniqueid else None
    decision = decide_department(entry.routing, dept_key(path), now, draw=draw)
    decision = await ctx.rotate(entry, decision, now)
    if decision.action is ActionKind.DEPARTMENT and decision.targets:
        session.log.info("department: %s dept %r -> %s %s: %s", number, path, dial_mode(decision),
                         " ".join(t.destination for t in decision.targets), decision.reason)
    else:
        session.log.info("department: %s dept %r -> nobody rings (%s): %s", number, path, decision.action.value,
                         decision.reason)
    await set_all(session, hunt_variables(entry, decision, dialect))
    return Decided(decision.action.value)
