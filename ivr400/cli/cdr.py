"""`ivr400 cdr`: call records (通话详单) from Asterisk's own CDRs.

    ivr400 cdr listen                 # AMI Cdr events → call records, until SIGTERM (backfills on login)
    ivr400 cdr import                 # backfill from cdr-custom/ivr400.csv since the last import
    ivr400 cdr list --hotline 4008001234 --since 2026-06-01 --disposition noanswer
    ivr400 cdr missed --since 2026-06-01       # callers to call back
"""
from __future__ import annotations

import asyncio
import logging
import os
import signal
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click
from sqlalchemy import select

from ivr400.cdr.cdr_model import DISPOSITIONS, seat_label
from ivr400.cdr.cdr_store import missed_callers
from ivr400.cli.common import CommandError, app, emit, emit_json, handle_errors, json_option
from ivr400.db.models import CallRecord
from ivr400.numbers import NumberError, normalize_caller, parse_hotline_number

if TYPE_CHECKING:  # imported when a command needs it (start-up time)
    from ivr400.cdr.cdr_listener import AmiSettings

LIST_COLUMNS = ["id", "started", "hotline", "caller", "region", "keys", "dept", "seat", "disposition",
                "talk_s", "duration_s"]
MISSED_COLUMNS = ["hotline", "caller", "region", "missed", "first_missed", "last_missed", "last_disposition"]
DEFAULT_TZ = "Asia/Shanghai"


@click.group()
def cdr() -> None:
    """Call records: listen (AMI), import (CSV backfill), list, missed."""


# -- helpers ------------------------------------------------------------------------------------------
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise CommandError(f"tz: unknown time zone {name!r}") from exc


def parse_when(value: str | None, field_name: str, tz: ZoneInfo, *, end_of_day: bool = False) -> datetime | None:
    """`YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]` (in `tz`) or ISO 8601 with an offset → aware UTC.

    A bare date as an upper bound means the end of that day (`--until 2026-06-01` includes the 1st).
    """
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1) if end_of_day else day, time(0), tzinfo=tz)
        else:
            moment = datetime.fromisoformat(text.replace(" ", "T", 1))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=tz)
    except ValueError as exc:
        raise CommandError(f"{field_name}: {value!r} is not a date (YYYY-MM-DD) or time (YYYY-MM-DD HH:MM)") from exc
    return moment.astimezone(timezone.utc)


def _hotline(ref: str | None) -> str | None:
    if ref is None:
        return None
    try:
        return parse_hotline_number(ref).number
    except NumberError as exc:
        raise CommandError(f"hotline: {exc}") from exc


def _caller(ref: str | None) -> str | None:
    if ref is None:
        return None
    number = normalize_caller(ref)
    if number is None:
        raise CommandError(f"caller: {ref!r} is not a phone number")
    return number


def _region(province: str | None, city: str | None) -> str | None:
    if not province:
        return None
    return province if not city or city == province else f"{province}/{city}"


def _local(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return None if moment is None else moment.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def record_view(row: CallRecord) -> dict[str, Any]:
    """A call record as JSON: every column, times in UTC ISO 8601."""
    return {
        "id": row.id,
        "uniqueid": row.uniqueid,
        "linkedid": row.linkedid,
        "hotline": row.hotline,
        "caller": row.caller,
        "caller_province": row.caller_province,
        "caller_city": row.caller_city,
        "started_at": row.started_at,
        "answered_at": row.answered_at,
        "ended_at": row.ended_at,
        "duration_s": row.duration_s,
        "billsec": row.billsec,
        "key_path": row.key_path,
        "department": row.department,
        "seat": row.seat,
        "disposition": row.disposition,
        "recording_path": row.recording_path,
        "source": row.source,
    }


def _row_for_table(row: CallRecord, tz: ZoneInfo) -> dict[str, Any]:
    return {
        "id": row.id,
        "started": _local(row.started_at, tz),
        "hotline": row.hotline,
        "caller": row.caller,
        "region": _region(row.caller_province, row.caller_city),
        "keys": row.key_path,
        "dept": row.department,
        "seat": seat_label(row.seat),
        "disposition": row.disposition,
        "talk_s": row.billsec if row.answered_at is not None else None,
        "duration_s": row.duration_s,
    }


# -- listen / import ------------------------------------------------------------------------------
def _ami_settings(host: str | None, port: int | None, user: str | None,
                 secret: str | None) -> AmiSettings:
    from ivr400.cdr.cdr_listener import AmiSettings

    if user and secret:
        return AmiSettings(host=host or "127.0.0.1", port=port or 5038, username=user, secret=secret)
    if user or secret:
        raise CommandError("ami: pass both --ami-user and --ami-secret")
    from ivr400.lab import Lab, LabError

    try:
        lab = Lab.load()
    except LabError as exc:
        raise CommandError(
            "ami: no credentials: pass --ami-user/--ami-secret (and --ami-host/--ami-port), "
            "or run `ivr400 lab up` to use the lab's"
        ) from exc
    creds = dict(lab.ami_credentials)
    if host:
        creds["host"] = host
    if port:
        creds["port"] = port
    return AmiSettings.from_mapping(creds)


def _csv_option(func: Any) -> Any:  # noqa: ANN401
    func = click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Where the import offset is kept (default: $IVR400_CDR_STATE or the data dir).")(func)
    return click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="cdr_custom's ivr400.csv (default: $IVR400_CDR_CSV, the lab's, or "
                             "/var/log/asterisk/cdr-custom/ivr400.csv).")(func)


@cdr.command("listen")
@click.option("--ami-host", envvar="IVR400_AMI_HOST", default=None, help="AMI host (default: the lab's).")
@click.option("--ami-port", envvar="IVR400_AMI_PORT", type=int, default=None, help="AMI port (default 5038).")
@click.option("--ami-user", envvar="IVR400_AMI_USER", default=None, help="AMI user (default: the lab's).")
@click.option("--ami-secret", envvar="IVR400_AMI_SECRET", default=None, help="AMI secret (default: the lab's).")
@_csv_option
@click.option("--no-backfill", is_flag=True, help="Do not import the CSV at login and periodically.")
@click.option("--flush-delay", type=click.FloatRange(0.05, 60), default=0.5, show_default=True,
              help="Seconds a call stays quiet before its CDRs are stored together.")
@click.option("--import-interval", type=click.FloatRange(0), default=60.0, show_default=True,
              help="Seconds between CSV imports while listening (0 = only at login).")
@click.option("--pbx-tz", default="UTC", show_default=True,
              help="Asterisk's time zone, used only for events without the epoch mappings.")
@json_option
@handle_errors
def listen(ami_host: str | None, ami_port: int | None, ami_user: str | None, ami_secret: str | None,
           csv_path: Path | None, state_file: Path | None, no_backfill: bool, flush_delay: float,
           import_interval: float, pbx_tz: str, as_json: bool) -> None:
    """Store every call from AMI Cdr events until SIGTERM/SIGINT; reconnects on its own and
    backfills from the CSV at every login, so calls that ended while it was down are not lost."""
    from ivr400.cdr.cdr_listener import CdrListener, ListenerError

    settings = _ami_settings(ami_host, ami_port, ami_user, ami_secret)
    tz = _zone(pbx_tz)
    a = app()
    engine = a.engine
    listener = CdrListener(
        engine, settings, csv_path=csv_path, state_path=state_file, backfill=not no_backfill,
        flush_delay=flush_delay, import_interval=import_interval, pbx_tz=tz,
    )
    logging.basicConfig(level=os.environ.get("IVR400_LOG_LEVEL", "INFO"),
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    click.echo(f"listening for CDRs on AMI {settings.host}:{settings.port} as {settings.username} "
               f"(pid {os.getpid()}; SIGTERM to stop)", err=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        try:
            await listener.run(stop)
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)

    try:
        asyncio.run(main())
    except ListenerError as exc:
        raise CommandError(str(exc)) from exc
    stats = listener.stats.to_dict()
    if as_json:
        emit_json(stats)
    else:
        click.echo("stopped: " + ", ".join(f"{k}={v}" for k, v in stats.items() if v), err=True)


@cdr.command("import")
@_csv_option
@click.option("--from-start", is_flag=True, help="Read the whole file again (upserts are idempotent).")
@json_option
@handle_errors
def import_(csv_path: Path | None, state_file: Path | None, from_start: bool, as_json: bool) -> None:
    """Backfill call records from cdr_custom's CSV, from the remembered offset to the end."""
    from ivr400.cdr.cdr_store import import_csv

    a = app()
    try:
        result = import_csv(a.engine, csv_path, state_path=state_file, from_start=from_start)
    except PermissionError as exc:
        raise CommandError(f"csv: cannot read {exc.filename}: permission denied") from exc
    except IsADirectoryError as exc:
        raise CommandError(f"csv: {exc.filename} is a directory") from exc
    data = result.to_dict()
    if as_json:
        emit_json(data)
        return
    if result.reset == "missing" or (not Path(result.path).exists()):
        click.echo(f"{result.path}: no such file yet (nothing to import)")
        return
    emit({k: v for k, v in data.items() if k != "errors"}, False)
    for line in result.errors[:20]:
        click.echo(f"warning: {line}", err=True)
    if len(result.errors) > 20:
        click.echo(f"warning: ... and {len(result.errors) - 20} more unreadable line(s)", err=True)


# -- list / missed --------------------------------------------------------------------------------------
@cdr.command("list")
@click.option("--hotline", "hotline_ref", default=None, help="Only this 400 number.")
@click.option("--since", default=None, help="From (YYYY-MM-DD, 'YYYY-MM-DD HH:MM' in --tz, or ISO 8601).")
@click.option("--until", default=None, help="Before (a bare date includes that whole day).")
@click.option("--disposition", type=click.Choice(DISPOSITIONS), multiple=True,
              help="Only these outcomes (repeatable).")
@click.option("--caller", "caller_ref", default=None, help="Only calls from this number.")
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True)
@click.option("--tz", "tz_name", default=DEFAULT_TZ, show_default=True,
              help="Time zone for --since/--until and the table (JSON is UTC).")
@json_option
@handle_errors
def list_(hotline_ref: str | None, since: str | None, until: str | None, disposition: tuple[str, ...],
          caller_ref: str | None, limit: int, tz_name: str, as_json: bool) -> None:
    """Call records, newest first."""
    tz = _zone(tz_name)
    hotline = _hotline(hotline_ref)
    caller = _caller(caller_ref)
    start = parse_when(since, "since", tz)
    end = parse_when(until, "until", tz, end_of_day=True)
    if start and end and end <= start:
        raise CommandError("until: must be after --since")
    stmt = select(CallRecord)
    if hotline:
        stmt = stmt.where(CallRecord.hotline == hotline)
    if caller:
        stmt = stmt.where(CallRecord.caller == caller)
    if start:
        stmt = stmt.where(CallRecord.started_at >= start)
    if end:
        stmt = stmt.where(CallRecord.started_at < end)
    if disposition:
        stmt = stmt.where(CallRecord.disposition.in_(disposition))
    stmt = stmt.order_by(CallRecord.started_at.desc(), CallRecord.id.desc()).limit(limit)
    with app().session() as s:
        rows = list(s.scalars(stmt))
    if as_json:
        emit_json([record_view(r) for r in rows])
    else:
        emit([_row_for_table(r, tz) for r in rows], False, LIST_COLUMNS)


@cdr.command("missed")
@click.option("--hotline", "hotline_ref", default=None, help="Only this 400 number.")
@click.option("--since", default=None, help="Missed calls from (YYYY-MM-DD, 'YYYY-MM-DD HH:MM' in --tz, ISO).")
@click.option("--tz", "tz_name", default=DEFAULT_TZ, show_default=True, help="Time zone for --since and the table.")
@json_option
@handle_errors
def missed(hotline_ref: str | None, since: str | None, tz_name: str, as_json: bool) -> None:
    """Callers to call back (未接来电): not answered, and not reached by a later answered call."""
    tz = _zone(tz_name)
    hotline = _hotline(hotline_ref)
    start = parse_when(since, "since", tz)
    with app().session() as s:
        data = missed_callers(s, hotline, start)
    if as_json:
        emit_json(data)
        return
    table = [
        {
            "hotline": r["hotline"],
            "caller": r["caller"],
            "region": _region(r["caller_province"], r["caller_city"]),
            "missed": r["missed"],
            "first_missed": _local(r["first_missed"], tz),
            "last_missed": _local(r["last_missed"], tz),
            "last_disposition": r["last_disposition"],
        }
        for r in data["callers"]
    ]
    emit(table, False, MISSED_COLUMNS)
    summary = f"{data['callers_count']} caller(s) to call back, {data['missed_calls']} missed call(s)"
    if data["anonymous_calls"]:
        summary += f"; {data['anonymous_calls']} missed call(s) without a caller number"
    click.echo(summary)
