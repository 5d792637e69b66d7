"""Caller cap (呼叫限制) and percentage split (按比例分配): pure rules, ``now`` and the draw passed in.

* :func:`month_start` — the first instant of ``now``'s calendar month in the hotline's zone (aware UTC),
  from which the controller counts a caller's earlier calls to the hotline.
* :func:`cap_verdict` — whether a caller with ``calls_this_month`` earlier calls may call again under a cap
  of ``cap`` calls a month; the verdict carries its reason as data.
* :func:`balance_verdict` — what a call gets at zero balance (话费余额): the operator's choice ``keep`` (route
  it, flagged) or ``prompt`` (the 余额不足 announcement, then hang-up), from the balance passed in as data.
* :func:`split_draw` — a number in [0, 1) from the call's Asterisk uniqueid (SHA-256), so a call always
  draws the same seat whichever controller decides it, and no state is kept between calls.
* :func:`weighted_first` — the seats in hunt order with the one the draw lands on (by weight) moved first.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar
from zoneinfo import ZoneInfo

__all__ = ["ZERO_BALANCE_CHOICES", "BalanceVerdict", "CapVerdict", "balance_verdict", "billing_choice", "cap_verdict",
           "month_start", "split_draw", "weighted_first"]

#: The operator's choices at zero balance: keep routing and flag the call, or play the 余额不足 prompt.
ZERO_BALANCE_CHOICES = ("keep", "prompt")

_T = TypeVar("_T")


def month_start(now: dt.datetime, zone: ZoneInfo) -> dt.datetime:
    """Midnight of the first day of ``now``'s month in ``zone``, as an aware UTC datetime.

    ValueError for a naive ``now``. Example: 2026-12-01 03:00 Asia/Shanghai (2026-11-30 19:00 UTC) is in
    December there, so the month started at 2026-11-30 16:00 UTC.
    """
    if now.utcoffset() is None:
        raise ValueError(f"now: {now!r} must be timezone-aware")
    local = now.astimezone(zone)
    first = dt.datetime(local.year, local.month, 1, tzinfo=zone)
    return first.astimezone(dt.timezone.utc)


@dataclass(frozen=True, slots=True)
class CapVerdict:
    """``allowed``; ``reason`` one line for the log and the decision; ``counted`` the calls the rule saw
    (None when they could not be counted)."""

    allowed: bool
    reason: str
    counted: int | None = None


def cap_verdict(cap: int, caller: str | None, calls_this_month: int | None) -> CapVerdict:
    """The caller cap rule. ``cap`` 0 = no cap. A withheld caller (``caller`` None) cannot be counted and
    is let through (the anonymous policy of call blocking decides about those). ``calls_this_month`` is the
    number of the caller's calls to this hotline already recorded this month (this call not included);
    None = the count was unavailable (database down): the call is let through and the reason says so
    (failing open: a cap is a courtesy limit, not a whitelist). Refused when ``calls_this_month >= cap``.
    """
    if cap <= 0:
        return CapVerdict(True, "")
    if caller is None:
        return CapVerdict(True, f"caller cap {cap}/month: withheld caller not counted")
    if calls_this_month is None:
        return CapVerdict(True, f"caller cap {cap}/month: count unavailable: let through")
    if calls_this_month >= cap:
        return CapVerdict(False, f"caller cap: {calls_this_month} call(s) this month >= cap {cap}", calls_this_month)
    return CapVerdict(True, f"caller cap: {calls_this_month} of {cap} this month", calls_this_month)


@dataclass(frozen=True, slots=True)
class BalanceVerdict:
    """``allowed``: the call is routed; ``flagged``: routed although the balance is at or below zero
    (``keep``); ``reason`` one line for the log and the decision ('' when billing says nothing)."""

    allowed: bool
    flagged: bool
    reason: str


def billing_choice(zero_balance: str | None, tariff_fen_per_min: int | None) -> str | None:
    """The zero-balance choice the call rules apply: the hotline's ``zero_balance`` when billing is on for it (an
    account with a tariff above 0 fen/min), else None (``balance_verdict`` then never stops nor flags a call).

    A hotline nobody set a tariff for — no account, or an account holding only report thresholds or a choice — is
    free: nothing is charged, so a balance of 0 says nothing about money owed.
    """
    if zero_balance is None or not tariff_fen_per_min or tariff_fen_per_min <= 0:
        return None
    return zero_balance


def balance_verdict(choice: str | None, balance_fen: int | None) -> BalanceVerdict:
    """The zero-balance rule (话费余额). ``choice``: the hotline's ``zero_balance`` (``keep`` | ``prompt``), None
    when billing is off for it (``billing_choice``: no tariff; never stopped nor flagged). ``balance_fen``:
    top-ups minus charges in fen; None = unavailable (database down or slow): the call is routed, unflagged, and
    the reason says so (failing open, like the caller cap: a lost call costs the enterprise more than a late charge).
    At or below zero: ``prompt`` stops the call, ``keep`` routes it flagged. ValueError for another choice."""
    if choice is None:
        return BalanceVerdict(True, False, "")
    if choice not in ZERO_BALANCE_CHOICES:
        raise ValueError(f"zero_balance: {choice!r} is not one of {', '.join(ZERO_BALANCE_CHOICES)}")
    if balance_fen is None:
        return BalanceVerdict(True, False, "balance unavailable: let through")
    if balance_fen > 0:
        return BalanceVerdict(True, False, f"balance {balance_fen} fen")
    if choice == "prompt":
        return BalanceVerdict(False, False, f"balance {balance_fen} fen <= 0: 余额不足 prompt")
    return BalanceVerdict(True, True, f"balance {balance_fen} fen <= 0: keep routing, flagged")


def split_draw(uniqueid: str) -> float:
    """A uniform number in [0, 1) determined by ``uniqueid`` (any text): the first 8 bytes of its SHA-256."""
    digest = hashlib.sha256(uniqueid.encode("utf-8", "replace")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def weighted_first(items: Sequence[_T], weights: Sequence[int], draw: float) -> tuple[_T, ...]:
    """``items`` (in hunt order) with the one chosen by ``draw`` ∈ [0, 1) over ``weights`` moved to the front,
    the others keeping their order. Item *i* comes first with probability ``weights[i] / sum(weights)``;
    every weight 0 (or no items) leaves the order as it is. ValueError if the lengths differ or a weight is
    negative."""
    if len(items) != len(weights):
        raise ValueError("weights: one per item")
    if any(w < 0 for w in weights):
        raise ValueError("weights: must be >= 0")
    total = sum(weights)
    if total <= 0 or not items:
        return tuple(items)
    point = min(max(draw, 0.0), 1.0) * total
    running = 0
    chosen = len(items) - 1
    for i, w in enumerate(weights):
        running += w
        if w > 0 and point < running:
            chosen = i
            break
    else:  # draw == 1.0 (clamped): the last seat with a weight
        chosen = max(i for i, w in enumerate(weights) if w > 0)
    return (items[chosen], *items[:chosen], *items[chosen + 1:])
