"""Usage and balance: tariff, topup, balance, usage.

    ivr400 billing tariff 4008001234 --per-minute 0.12 --reminder 50 --zero-balance keep
    ivr400 billing topup 4008001234 500 --note "bank transfer 2026-11-30"
    ivr400 billing balance 4008001234
    ivr400 billing usage 4008001234 --since 2026-11-01 --until 2026-11-30

Amounts in yuan: digits with two decimals at most (100, 0.15; not 1e3, NaN or -5); stored in fen. Billing is
on for a hotline once its tariff is above 0; then the zero-balance choice (keep | prompt) is enforced by the
controller at call entry: `prompt` plays 余额不足 and ends the call, `keep` routes it and flags it 欠费接通 (the
static plan, controller down, routes). A hotline with no tariff is free: never stopped nor flagged, whatever its
balance (`billing balance` shows `billing: off` and the verdict the controller applies). `billing tariff N` alone
shows the settings and writes nothing.
"""
from __future__ import annotations

import click

from ivr400.cdr.billing import ZERO_BALANCE, BillingError
from ivr400.cli.cdr import Zones, _hotline, hotline_zones, parse_when
from ivr400.cli.common import CommandError, app, emit, handle_errors, json_option


@click.group()
def billing() -> None:
    """Usage and balance: tariff, topup, balance, usage."""


def _number(ref: str) -> str:
    number = _hotline(ref)
    assert number is not None
    return number


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


@billing.command("tariff")
@click.argument("hotline_ref")
@click.option("--per-minute", default=None, help="Tariff in yuan per started minute of answered forwarded time.")
@click.option("--reminder", default=None, help="Remind when the balance is at or below this (yuan).")
@click.option("--zero-balance", type=click.Choice(ZERO_BALANCE), default=None,
              help="At zero balance: keep routing and flag, or prompt 余额不足 (enforced at call entry).")
@click.option("--service-level-s", type=int, default=None, help="Service level threshold T (s, default 20).")
@click.option("--abandon-ignore-s", type=int, default=None, help="Abandons under A s are not counted (default 5).")
@json_option
@handle_errors
def tariff(hotline_ref: str, per_minute: str | None, reminder: str | None, zero_balance: str | None,
           service_level_s: int | None, abandon_ignore_s: int | None, as_json: bool) -> None:
    """Show or set a hotline's tariff, reminder threshold, zero-balance choice and report thresholds."""
    from ivr400.cdr.billing import parse_yuan, set_account

    number = _number(hotline_ref)
    try:
        with app().session() as s:
            row = set_account(
                s, number,
                tariff_fen_per_min=None if per_minute is None else parse_yuan(per_minute, "per_minute"),
                reminder_fen=None if reminder is None else parse_yuan(reminder, "reminder"), zero_balance=zero_balance,
                service_level_s=service_level_s, abandon_ignore_s=abandon_ignore_s)
            data = {"hotline": number, "tariff_yuan_per_min": _yuan(row.tariff_fen_per_min),
                    "reminder_yuan": _yuan(row.reminder_fen), "zero_balance": row.zero_balance,
                    "billing": "on" if row.tariff_fen_per_min > 0 else "off",
                    "zero_balance_enforced": row.tariff_fen_per_min > 0, "service_level_s": row.service_level_s,
                    "abandon_ignore_s": row.abandon_ignore_s}
    except BillingError as exc:
        raise CommandError(str(exc)) from exc
    emit(data, as_json)


@billing.command("topup", context_settings={"ignore_unknown_options": True})  # `topup N -5`: an amount, refused
@click.argument("hotline_ref")
@click.argument("amount")
@click.option("--note", default=None, help="Where the money came from (at most 200 characters).")
@json_option
@handle_errors
def topup_(hotline_ref: str, amount: str, note: str | None, as_json: bool) -> None:
    """Record a top-up of AMOUNT yuan."""
    from ivr400.cdr.billing import balance, parse_yuan, topup

    number = _number(hotline_ref)
    a = app()
    try:
        with a.session() as s:
            topup(s, number, parse_yuan(amount, "amount", positive=True), a.actor, a.now(), note)
            data = balance(s, number)
    except BillingError as exc:
        raise CommandError(str(exc)) from exc
    emit(_shown(data), as_json)


def _shown(data: dict) -> dict:
    shown = {k: v for k, v in data.items() if not k.endswith("_fen")}
    shown.update({k.replace("_fen", "_yuan"): _yuan(v) for k, v in data.items() if k.endswith("_fen")})
    if data.get("low"):
        shown["reminder"] = "余额不足: balance at or below the reminder threshold"
    return shown


@billing.command("balance")
@click.argument("hotline_ref")
@json_option
@handle_errors
def balance_(hotline_ref: str, as_json: bool) -> None:
    """Top-ups, usage so far, balance, reminder threshold and whether it is reached."""
    from ivr400.cdr.billing import balance

    number = _number(hotline_ref)
    try:
        with app().session() as s:
            data = balance(s, number)
    except BillingError as exc:
        raise CommandError(str(exc)) from exc
    emit(_shown(data), as_json)


@billing.command("usage")
@click.argument("hotline_ref")
@click.option("--since", default=None, help="From (YYYY-MM-DD in --tz).")
@click.option("--until", default=None, help="Before (a bare date includes that whole day).")
@click.option("--tz", "tz_name", default=None, help="Zone of the dates (default: the enterprise's).")
@json_option
@handle_errors
def usage_(hotline_ref: str, since: str | None, until: str | None, tz_name: str | None, as_json: bool) -> None:
    """Billed minutes and charge over a date range."""
    from ivr400.cdr.billing import usage

    number = _number(hotline_ref)
    try:
        with app().session() as s:
            zones = Zones(tz_name, hotline_zones(s), number)
            start = parse_when(since, "since", zones.default)
            end = parse_when(until, "until", zones.default, end_of_day=True)
            if start and end and end <= start:
                raise CommandError("until: must be after --since")
            data = usage(s, number, start, end)
    except BillingError as exc:
        raise CommandError(str(exc)) from exc
    emit(_shown(data), as_json)
