"""What a FastAGI route may use of the controller: :class:`RouteContext`, a typed protocol.

Routes receive it as ``ctx``; :class:`ivr400.controller.app.Controller` implements it, tests may pass any
object that does (a recording fake, for instance). Routes never import the controller itself, so the
controller imports its routes at module level and nothing imports in a cycle.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from ivr400.controller.loader import HotlineEntry, LoadedConfig
from ivr400.routing.model import Decision

__all__ = ["Decided", "RouteContext", "StaticPlan"]


@dataclass(frozen=True, slots=True)
class Decided:
    """What a decision route returns when it sent the dialplan a decision; ``outcome`` names it (the action:
    ``menu``, ``department``..., or ``unknown_number``). The server hands it to the controller's metrics."""

    outcome: str


@dataclass(frozen=True, slots=True)
class StaticPlan:
    """What a decision route returns when it deliberately set nothing, so the dialplan runs its static plan;
    ``reason``: no_config, malformed_request, skipped_hotline or invalid_rules."""

    reason: str


class RouteContext(Protocol):
    """The cached configuration, the clock, the round-robin counter and the voicemail insert."""

    @property
    def config(self) -> LoadedConfig | None:
        """The routing configuration loaded last (None until the first load succeeded)."""
        ...

    def now(self) -> datetime:
        """The current instant (aware)."""
        ...

    async def rotate(self, entry: HotlineEntry, decision: Decision, now: datetime) -> Decision:
        """A round-robin department decision with its targets rotated to the next position; others as given."""
        ...

    def count_decision(self) -> None:
        """One more call-entry decision taken (for the controller's counters)."""
        ...

    async def count_caller_calls(self, *, hotline: str, caller: str, since: datetime) -> int | None:
        """呼叫限制: the caller's calls to ``hotline`` recorded since ``since`` (call records), or None when the
        database did not answer in time."""
        ...

    async def save_survey(self, *, hotline: str, uniqueid: str, seat: str | None, score: int) -> bool:
        """满意度评价: store one score (1-5) for the call ``uniqueid``. True if stored, False if the call
        already had one."""
        ...

    async def save_voicemail(self, *, hotline: str, dept: str, uniqueid: str, caller: str | None,
                             file_path: str) -> bool:
        """Record the voicemail file ``file_path`` (as Asterisk sees it; already checked by the route).
        True if a row was created, False if it existed."""
        ...
