"""What a route may use: the call (:class:`CallSession`), the controller (:class:`RouteContext`) and the PBX's
dial-string dialect (:class:`Dialect`), each a typed protocol.

A route runs the same over FastAGI (``ivr400.pbx.asterisk.fastagi.AGISession``) and over FreeSWITCH's outbound
event socket (``ivr400.pbx.freeswitch.esl.OutboundSession``): both are :class:`CallSession` s. What differs by
PBX in a decision — the dial string of a seat, the ringback, the voicemail spool — comes from the
:class:`Dialect` bound with the routes (``ivr400.controller.routes.dialect``).

Routes receive the controller as ``ctx``; :class:`ivr400.controller.app.Controller` implements it, tests may pass any
object that does (a recording fake, for instance). Routes never import the controller itself, so the
controller imports its routes at module level and nothing imports in a cycle.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ivr400.controller.loader import HotlineEntry, LoadedConfig
from ivr400.routing.model import Decision, Target

__all__ = ["CallSession", "Decided", "Dialect", "RouteContext", "StaticPlan"]


class CallSession(Protocol):
    """One hook of one call, whatever the PBX: the request's parameters, the caller, and the channel."""

    @property
    def params(self) -> Mapping[str, str]:
        """The hook request's parameters (``hotline``, ``dept``...), percent-decoded."""
        ...

    @property
    def callerid(self) -> str:
        """The raw caller number as the PBX sent it (normalise with ``ivr400.numbers``)."""
        ...

    @property
    def uniqueid(self) -> str:
        """The call's id on the PBX (Asterisk ``UNIQUEID``, FreeSWITCH ``Unique-ID``)."""
        ...

    @property
    def log(self) -> logging.Logger | logging.LoggerAdapter[Any]:
        """The session's logger (records carry the call's uniqueid)."""
        ...

    async def set_variable(self, name: str, value: str) -> None:
        """Set channel variable ``name`` (sent at once, in call order)."""
        ...

    async def set_variables(self, pairs: list[tuple[str, str]]) -> None:
        """Set every pair, in order, in as few round trips as the PBX allows (the last pair set last)."""
        ...

    async def get_variable(self, name: str) -> str | None:
        """A channel variable (None when unset)."""
        ...


@dataclass(frozen=True)
class Dialect:
    """What differs by PBX in a decision's variables.

    ``name``: ``asterisk`` | ``freeswitch``. ``dial(entry, target)``: the dial string of a target of a hotline
    (``IVR400_TARGET_<i>``); ``ringback(moh_class)``: ``IVR400_MOH`` for a ringback class ("" = ringing);
    ``voicemail_spool``: the directory the dialplan records voicemail in, as the PBX sees it;
    ``uniqueid``: the shape of the PBX's call id (what ``voicemail_saved`` accepts).
    """

    name: str
    dial: Callable[[HotlineEntry, Target], str]
    ringback: Callable[[str], str]
    voicemail_spool: str
    uniqueid: re.Pattern[str]



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

    async def hotline_balance(self, *, hotline_id: int, hotline: str) -> int | None:
        """话费余额: the hotline's balance in fen (top-ups − charges), or None when the database did not answer
        in time."""
        ...

    async def flag_balance(self, *, hotline: str, uniqueid: str, balance_fen: int | None) -> bool:
        """话费余额: note that the call ``uniqueid`` was routed at a zero balance (choice keep), for its call record
        and fact row. True if noted, False if the call already was or the database did not answer in time."""
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

    async def save_fax(self, *, hotline: str, uniqueid: str, caller: str | None, status: str, pages: int,
                       error: str | None, remote_station: str | None, file_path: str) -> bool:
        """Record the received fax ``file_path`` (as Asterisk sees it; already checked by the route).
        True if a row was created, False if it existed."""
        ...
