"""The controller's answers at a FreeSWITCH ``socket`` hook, computed by the code the FastAGI routes use.

Which variables a hook sets, in which order, comes from the routes themselves
(:func:`ivr400.controller.routes.route.decision_variables`, :func:`ivr400.controller.routes.department.hunt_variables`)
on decisions of the pure decision code (:func:`ivr400.routing.decide.decide`, :func:`decide_department`) over the
controller's loader (:func:`ivr400.controller.loader.load_config`). Only the two values the contract
(:mod:`ivr400.pbx.freeswitch.contract`) says differ by PBX are translated: ``IVR400_TARGET_<i>`` to the FreeSWITCH
dial string of the seat's trunk, ``IVR400_MOH`` to the ringback file. Then ``IVR400_HOOK_STATUS=OK``, as the ESL
controller does once its decision is set. Round robin rotates with a local counter per department (the
controller's own fallback when its database counter is unavailable), starting at 0.

This is a test double of the ESL controller (the ESL half of issue 12 runs the same routes over a socket); it is
also the Asterisk side of the equivalence test: :meth:`asterisk_variables` gives the same answers untranslated.
"""
from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

from ivr400.controller.loader import LoadedConfig, dept_key
from ivr400.controller.routes.department import hunt_variables
from ivr400.controller.routes.route import UNKNOWN_HOTLINE_VARIABLES, decision_variables
from ivr400.pbx.asterisk import dialplan_variables as v
from ivr400.pbx.freeswitch import contract
from ivr400.pbx.freeswitch.esl_contract import ringback_for_class
from ivr400.render.model import RenderModel
from ivr400.routing.decide import decide, decide_department, hunt_order
from ivr400.routing.model import ActionKind, Decision, HuntStrategy, Target
from ivr400.tree import DEFAULT_DIAL_TEMPLATE


class FsController:
    """Callable as the evaluator's ``controller``: ``(hook, channel variables) -> variables | None``."""

    def __init__(self, config: LoadedConfig, model: RenderModel, now: datetime, *, down: bool = False,
                 routes: frozenset[str] | None = None) -> None:
        """``down``: every hook finds nobody listening; ``routes``: only these hooks are answered (the others
        fail as if the controller had gone away meanwhile)."""
        self.config = config
        self.now = now
        self.down = down
        self.routes = routes
        self.templates = {t.seat_id: t.template for h in model.hotlines for d in h.hunts() for t in d.targets}
        self.positions: dict[tuple[str, str], int] = defaultdict(int)
        self.decisions: list[Decision] = []

    def _rotate(self, number: str, decision: Decision) -> Decision:
        if decision.action is not ActionKind.DEPARTMENT or decision.hunt_strategy is not HuntStrategy.ROUND_ROBIN:
            return decision
        entry = self.config.get(number)
        assert entry is not None
        dept = entry.routing.department(decision.department) if decision.department is not None else None
        if dept is None or sum(1 for t in dept.targets if t.routable_at(self.now)) < 2:
            return decision
        position = self.positions[(number, dept.key)]
        self.positions[(number, dept.key)] += 1
        return dataclasses.replace(decision, targets=hunt_order(dept, self.now, position))

    def asterisk_variables(self, hook: str, caller: str) -> list[tuple[str, str]] | None:
        """The (name, value) pairs the FastAGI route would set for ``hook`` (``route?hotline=..``); None when
        the route leaves the static plan in charge (sets nothing)."""
        route, params = contract.parse_hook(hook)
        number = params.get("hotline", "")
        entry = self.config.get(number)
        if route == v.ROUTE_VOICEMAIL:
            return []
        if entry is None:
            if number in self.config.skipped:
                return None
            return list(UNKNOWN_HOTLINE_VARIABLES) if route == v.ROUTE_CALL else [(v.TARGET_COUNT, "0")]
        if route == v.ROUTE_CALL:
            if not entry.rules_ok:
                return None
            decision = self._rotate(number, decide(entry.routing, caller, self.now, entry.calendar))
            self.decisions.append(decision)
            return decision_variables(entry, decision)
        if route == v.ROUTE_DEPARTMENT:
            decision = self._rotate(number, decide_department(entry.routing, dept_key(params.get("dept", "")),
                                                              self.now))
            self.decisions.append(decision)
            return hunt_variables(entry, decision)
        raise AssertionError(f"unknown hook {hook}")

    def __call__(self, hook: str, variables: Mapping[str, str]) -> dict[str, str] | None:
        if self.down or (self.routes is not None and contract.parse_hook(hook)[0] not in self.routes):
            return None
        pairs = self.asterisk_variables(hook, variables.get("_caller", ""))
        out: dict[str, str] = {}
        if pairs is not None:
            targets = self.decisions[-1].targets if self.decisions else ()
            for name, value in pairs:
                if name.startswith(v.TARGET_PREFIX) and name[len(v.TARGET_PREFIX):].isdigit():
                    value = self.fs_dial(targets[int(name[len(v.TARGET_PREFIX):]) - 1])
                elif name == v.MOH_CLASS:
                    value = ringback_for_class(value)
                out[name] = value
        out[contract.HOOK_STATUS] = "OK"
        return out

    def fs_dial(self, target: Target) -> str:
        template = self.templates.get(target.seat_id) if target.seat_id is not None else None
        return contract.dial_string(template or DEFAULT_DIAL_TEMPLATE, target.dial)
