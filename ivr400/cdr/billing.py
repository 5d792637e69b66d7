"""Usage and balance (话费余额) per hotline: tariff, top-ups, usage from the roll-ups, the reminder threshold.

Amounts are integer fen (分). Usage is the started minutes of answered forwarded time (the seat's talk time,
ivr400.cdr.metrics.billed_minutes) × the hotline's tariff as it was when each call was written; the balance is
the top-ups minus that usage. At zero balance a hotline either keeps routing and is flagged (`keep`) or plays a
余额不足 prompt and ends the call (`prompt`): the controller reads the balance at call entry and decides with
ivr400.routing.limits.balance_verdict; the static plan (controller down) routes.
"""
from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ivr400.db.models import BalanceTopup, CallHour, Hotline, HotlineAccount
from ivr400.routing.limits import balance_verdict, billing_choice

__all__ = ["ZERO_BALANCE", "BillingError", "account", "balance", "parse_yuan", "set_account", "topup", "usage"]

ZERO_BALANCE = ("keep", "prompt")


class BillingError(ValueError):
    """Refused input: ``FIELD: reason``."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name


#: Yuan as an operator types it: digits, at most two decimals (no exponent, sign, NaN or grouping).
_YUAN = re.compile(r"(\d{1,12})(?:\.(\d{1,2}))?")


def parse_yuan(text: str, field_name: str, *, positive: bool = False) -> int:
    """``12.5`` / ``12.50`` / ``0.01`` / ``100`` (yuan) → fen. Raises BillingError(field_name) for anything else:
    empty, an exponent (``1e3``), NaN, a sign, more than two decimals, 0 when `positive`, over 10**10 yuan."""
    value = text.strip() if isinstance(text, str) else ""
    if value.startswith("-") and _YUAN.fullmatch(value[1:]):
        raise BillingError(field_name, f"{text!r} is negative: give {'more than' if positive else 'at least'} 0")
    match = _YUAN.fullmatch(value)
    if match is None:
        if re.fullmatch(r"\d+\.\d{3,}", value):
            raise BillingError(field_name, f"{text!r}: at most two decimals (fen)")
        raise BillingError(field_name, f"{text!r} is not an amount in yuan: digits with at most two decimals "
                                       "(e.g. 100 or 0.15)")
    fen = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if positive and fen == 0:
        raise BillingError(field_name, f"{text!r} must be more than 0")
    if fen > 10**12:
        raise BillingError(field_name, f"{text!r} is too large")
    return fen


def _hotline(session: Session, number: str) -> Hotline:
    row = session.scalars(select(Hotline).where(Hotline.number == number)).first()
    if row is None:
        raise BillingError("hotline", f"no hotline {number}")
    return row


def account(session: Session, number: str, *, create: bool = True) -> HotlineAccount:
    """The hotline's settings row; when missing, a new one with the defaults (tariff 0: billing off), added and
    flushed if `create`, else left out of the session (what the hotline has without a row)."""
    hotline = _hotline(session, number)
    row = session.get(HotlineAccount, hotline.id)
    if row is None and not create:
        return HotlineAccount(hotline_id=hotline.id, service_level_s=20, abandon_ignore_s=5, tariff_fen_per_min=0,
                              reminder_fen=0, zero_balance="keep")
    if row is None:
        row = HotlineAccount(hotline_id=hotline.id, service_level_s=20, abandon_ignore_s=5, tariff_fen_per_min=0,
                             reminder_fen=0, zero_balance="keep")
        session.add(row)
        session.flush()
    return row


def set_account(session: Session, number: str, *, tariff_fen_per_min: int | None = None,
                reminder_fen: int | None = None, zero_balance: str | None = None, service_level_s: int | None = None,
                abandon_ignore_s: int | None = None) -> HotlineAccount:
    """Change what is given; raises BillingError naming the field (negative, unknown choice, T < 1). Nothing given:
    the settings as they are, and no row is written for a hotline that has none."""
    given = (tariff_fen_per_min, reminder_fen, zero_balance, service_level_s, abandon_ignore_s)
    row = account(session, number, create=any(v is not None for v in given))
    if zero_balance is not None and zero_balance not in ZERO_BALANCE:
        raise BillingError("zero_balance", f"{zero_balance!r} is not one of {', '.join(ZERO_BALANCE)}")
    for name, amount in (("tariff", tariff_fen_per_min), ("reminder", reminder_fen),
                         ("abandon_ignore_s", abandon_ignore_s)):
        if amount is not None and amount < 0:
            raise BillingError(name, f"{amount} is negative")
    if service_level_s is not None and not 1 <= service_level_s <= 3600:
        raise BillingError("service_level_s", f"{service_level_s} is not 1 to 3600 seconds")
    if abandon_ignore_s is not None and abandon_ignore_s > 3600:
        raise BillingError("abandon_ignore_s", f"{abandon_ignore_s} is over 3600 seconds")
    for name, value in (("tariff_fen_per_min", tariff_fen_per_min), ("reminder_fen", reminder_fen),
                        ("zero_balance", zero_balance), ("service_level_s", service_level_s),
                        ("abandon_ignore_s", abandon_ignore_s)):
        if value is not None:
            setattr(row, name, value)
    session.flush()
    return row


def topup(session: Session, number: str, amount_fen: int, by: str, now: datetime, note: str | None = None
          ) -> BalanceTopup:
    """Record a top-up; raises BillingError('amount' | 'by' | 'note')."""
    if amount_fen <= 0:
        raise BillingError("amount", "must be more than 0")
    if not by.strip():
        raise BillingError("by", "who recorded the top-up is required")
    if note is not None and len(note) > 200:
        raise BillingError("note", f"{len(note)} characters; at most 200")
    hotline = _hotline(session, number)
    row = BalanceTopup(hotline_id=hotline.id, amount_fen=amount_fen, at=now, by=by.strip()[:100], note=note)
    session.add(row)
    session.flush()
    return row


def balance(session: Session, number: str) -> dict[str, Any]:
    """{"hotline", "topups_fen", "charged_fen", "billed_min", "balance_fen", "tariff_fen_per_min", "reminder_fen",
    "billing" ("on": a tariff above 0 is set, else "off": free, never stopped nor flagged), "low" (billing on and
    balance ≤ reminder), "zero" (balance ≤ 0), "zero_balance", "zero_balance_enforced" (the controller acts on
    the choice: billing on), "verdict" (what the controller does with the next call at this balance:
    "routed" | "routed, flagged 欠费接通" | "stopped: 余额不足 prompt")}."""
    hotline = _hotline(session, number)
    acct = session.get(HotlineAccount, hotline.id)
    topups = session.scalar(select(func.coalesce(func.sum(BalanceTopup.amount_fen), 0))
                            .where(BalanceTopup.hotline_id == hotline.id)) or 0
    charged, minutes = session.execute(
        select(func.coalesce(func.sum(CallHour.charge_fen), 0), func.coalesce(func.sum(CallHour.billed_min), 0))
        .where(CallHour.dim == "hotline", CallHour.hotline == number)).one()
    left = int(topups) - int(charged)
    reminder = acct.reminder_fen if acct else 0
    choice = billing_choice(acct.zero_balance, acct.tariff_fen_per_min) if acct else None
    verdict = balance_verdict(choice, left)
    return {
        "hotline": number, "topups_fen": int(topups), "charged_fen": int(charged), "billed_min": int(minutes),
        "balance_fen": left, "tariff_fen_per_min": acct.tariff_fen_per_min if acct else 0,
        "reminder_fen": reminder, "billing": "on" if choice else "off", "low": choice is not None and left <= reminder,
        "zero": left <= 0, "zero_balance": acct.zero_balance if acct else "keep",
        "zero_balance_enforced": choice is not None,
        "verdict": ("routed, flagged 欠费接通" if verdict.flagged else "routed") if verdict.allowed
        else "stopped: 余额不足 prompt",
    }


def usage(session: Session, number: str, start: datetime | None = None, end: datetime | None = None
          ) -> dict[str, Any]:
    """Billed minutes and charge (fen) of a hotline in [start, end): {"hotline", "calls_answered", "billed_min",
    "charged_fen"}."""
    _hotline(session, number)
    stmt = select(func.coalesce(func.sum(CallHour.answered), 0), func.coalesce(func.sum(CallHour.billed_min), 0),
                  func.coalesce(func.sum(CallHour.charge_fen), 0)).where(CallHour.dim == "hotline",
                                                                          CallHour.hotline == number)
    if start is not None:
        stmt = stmt.where(CallHour.hour >= start)
    if end is not None:
        stmt = stmt.where(CallHour.hour < end)
    answered, minutes, charged = session.execute(stmt).one()
    return {"hotline": number, "calls_answered": int(answered), "billed_min": int(minutes),
            "charged_fen": int(charged)}
