"""WEB呼叫 (click-to-call): which numbers the platform may call back, the abuse limits, business hours — pure.

A public callback form is what call-bombing services (呼死你) abuse, so a request is refused unless every
rule here lets it through. Everything takes ``now`` and the past attempts as data; the service
(``ivr400.provisioning.clicktocall``) reads them from the ``clicktocall_attempt`` table.

**Numbers** (:func:`check_target`): read with ``ivr400.numbers.normalize_number``; only its kinds
``mobile`` (11 digits, 1[3-9]) and ``landline`` (0 + a known area code + local number) are accepted, and a
landline whose local number starts with 1 or 9 is refused: in the national numbering plan
(工业和信息化部《电信网编号计划》) local subscriber numbers start with 2-8, while 1 and 9 lead the special and
service codes (114, 12345, 168 声讯 premium lines, 95xxx/96xxx service numbers). Refused as well, by their
kind: service numbers (10086, 95588, 1010xxxx, 950xxxxxxxx), 400/800 numbers, local numbers without an
area code and every international number (+ or 00 with another country code).

**Limits** (:class:`Limits`, defaults as issue 10 asks): per target number at most 1 call per 60 s and
3 per calendar day (the hotline's zone); per client IP at most 5 requests per 10 min (every request
counts, refused ones too); per hotline at most ``max_concurrent`` callbacks **in flight**: placed and with
no final outcome yet. The CDR listener closes an attempt when the CDR of its originated channel arrives
(the channel's uniqueid is the Originate's ``ChannelId``), which Asterisk posts when that channel ends —
the visitor did not answer, or the call through the hotline is over. An attempt never closed (the listener
was down) stops counting after ``inflight_max_age_s``.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ivr400.numbers import NumberError, NumberKind, normalize_number
from ivr400.routing.calendar import Calendar
from ivr400.routing.model import ActionKind, TimeRule
from ivr400.routing.schedule import evaluate

__all__ = ["Limits", "Verdict", "check_limits", "check_target", "concurrency_limit", "ip_limit", "number_limit",
           "open_now"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """``allowed``; ``outcome`` the attempt's recorded outcome when refused (``refused_number``,
    ``refused_rate_number``, ``refused_rate_ip``, ``refused_busy``, ``refused_closed``...); ``reason`` one
    line for the visitor, the operator and the audit trail; ``number`` the normalized target when read."""

    allowed: bool
    outcome: str
    reason: str
    number: str | None = None


OK = "accepted"


def check_target(raw: str) -> Verdict:
    """Whether ``raw`` (as typed) is a mainland mobile or fixed-line number the platform may call (see the
    module docstring for the rule and its source); the verdict carries the normalized number."""
    try:
        parsed = normalize_number(raw, what="phone number")
    except NumberError as exc:
        return Verdict(False, "refused_number", f"number: {exc}")
    if parsed.kind is NumberKind.MOBILE:
        return Verdict(True, OK, "mainland mobile", parsed.value)
    if parsed.kind is NumberKind.LANDLINE:
        code = parsed.area_code
        local = parsed.value[len(code):] if code else ""
        if not code or not local or local[0] not in "2345678":
            return Verdict(False, "refused_number",
                           "number: a fixed line's local number starts with 2-8 (1 and 9 lead service numbers)")
        return Verdict(True, OK, "mainland fixed line", parsed.value)
    what = {NumberKind.FOREIGN: "international numbers are not called", NumberKind.HOTLINE: "400/800 numbers "
            "are not called", NumberKind.SERVICE: "service and premium numbers are not called",
            NumberKind.LOCAL: "give the area code with a fixed-line number"}.get(parsed.kind, "not callable")
    return Verdict(False, "refused_number", f"number: {what}")


@dataclass(frozen=True, slots=True)
class Limits:
    """The abuse limits (seconds, counts); the defaults are issue 10's."""

    number_interval_s: int = 60
    number_per_day: int = 3
    ip_window_s: int = 600
    ip_max: int = 5
    max_concurrent: int = 2
    inflight_max_age_s: int = 7200


def _day_start(now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    local = now.astimezone(zone)
    return dt.datetime(local.year, local.month, local.day, tzinfo=zone)


def number_limit(limits: Limits, now: dt.datetime, zone: ZoneInfo, placed: Iterable[dt.datetime]) -> Verdict:
    """Per target: ``placed`` = when calls to this number were placed (any hotline's form may be abused
    against one victim, so the service passes them all). Refused if one is younger than
    ``number_interval_s`` or ``number_per_day`` were placed since midnight (``zone``)."""
    times = list(placed)
    if any(now - t < dt.timedelta(seconds=limits.number_interval_s) for t in times):
        return Verdict(False, "refused_rate_number",
                       f"number: called less than {limits.number_interval_s} s ago; try again later")
    today = _day_start(now, zone)
    if sum(1 for t in times if t >= today) >= limits.number_per_day:
        return Verdict(False, "refused_rate_number", f"number: already called {limits.number_per_day} times today")
    return Verdict(True, OK, "")


def ip_limit(limits: Limits, now: dt.datetime, requests: Iterable[dt.datetime]) -> Verdict:
    """Per client IP: ``requests`` = when this address asked before (whatever came of it)."""
    window = now - dt.timedelta(seconds=limits.ip_window_s)
    if sum(1 for t in requests if t > window) >= limits.ip_max:
        return Verdict(False, "refused_rate_ip",
                       f"client: at most {limits.ip_max} requests per {limits.ip_window_s // 60} min")
    return Verdict(True, OK, "")


def in_flight(limits: Limits, now: dt.datetime, placed: Iterable[tuple[dt.datetime, dt.datetime | None]]) -> int:
    """How many of ``placed`` — (placed at, ended at or None) of a hotline's accepted callbacks — are still in
    flight at ``now``: not ended, and placed less than ``inflight_max_age_s`` ago."""
    oldest = now - dt.timedelta(seconds=limits.inflight_max_age_s)
    return sum(1 for at, ended in placed if ended is None and at > oldest)


def concurrency_limit(limits: Limits, now: dt.datetime,
                      placed: Iterable[tuple[dt.datetime, dt.datetime | None]]) -> Verdict:
    """Per hotline: ``placed`` = (placed at, ended at or None) of this hotline's accepted callbacks; refused
    when ``max_concurrent`` are in flight (:func:`in_flight`)."""
    if in_flight(limits, now, placed) >= limits.max_concurrent:
        return Verdict(False, "refused_busy", f"hotline: {limits.max_concurrent} callbacks already in progress")
    return Verdict(True, OK, "")


def check_limits(limits: Limits, now: dt.datetime, zone: ZoneInfo, *, number_placed: Iterable[dt.datetime],
                 ip_requests: Iterable[dt.datetime] | None,
                 hotline_placed: Iterable[tuple[dt.datetime, dt.datetime | None]]) -> Verdict:
    """All three limits, IP first (``ip_requests`` None: an operator's callback, no IP limit)."""
    checks = [] if ip_requests is None else [ip_limit(limits, now, ip_requests)]
    checks += [number_limit(limits, now, zone, number_placed), concurrency_limit(limits, now, hotline_placed)]
    return next((c for c in checks if not c.allowed), Verdict(True, OK, ""))


def open_now(rules: tuple[TimeRule, ...], now: dt.datetime, zone: ZoneInfo, calendar: Calendar) -> Verdict:
    """Business hours from the hotline's time rules (智能呼转): open when it has none, or when the rule in force
    sends callers to the menu or a department; closed when no rule is in force (after hours) or the rule
    in force plays voicemail or an announcement."""
    if not rules:
        return Verdict(True, OK, "no time rules: always open")
    match = evaluate(rules, now, zone, calendar)
    if match.rule is not None and match.rule.action.kind in (ActionKind.MENU, ActionKind.DEPARTMENT):
        return Verdict(True, OK, match.describe())
    return Verdict(False, "refused_closed", "hotline: outside business hours")
