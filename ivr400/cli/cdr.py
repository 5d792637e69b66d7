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
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from ivr400.cdr.cdr_model import DECIDED_BY, DISPOSITIONS, record_view, seat_label
from ivr400.cli.common import CommandError, app, emit, emit_json, handle_errors, json_option
from ivr400.localtime import DEFAULT_ZONE, format_moment, iana_zone, parse_bound, to_zone, zone_name
from ivr400.numbers import NumberError, normalize_number, parse_hotline_number

if TYPE_CHECKING:  # SQLAlchemy and the models only for the commands that open a session: `list` reads through
    # the database driver alone (ivr400.db.lite)
    from ivr400.db.models import CallRecord

LIST_COLUMNS = ["id", "started", "hotline", "caller", "region", "keys", "dept", "seat", "disposition",
                "talk_s", "duration_s", "decided_by", "flag"]
MISSED_COLUMNS = ["hotline", "caller", "region", "missed", "first_missed", "last_missed", "last_disposition"]
TZ_HELP = ("Time zone for --since/--until and the times shown (default: each hotline's enterprise's; "
           "for input, that of --hotline or the one all enterprises share, else Asia/Shanghai).")


@click.group()
def cdr() -> None:
    """Call records: listen (AMI), import (CSV backfill), list, missed."""


# -- helpers ------------------------------------------------------------------------------------------
def _zone(name: str) -> ZoneInfo:
    try:
        return iana_zone(name)
    except ValueError as exc:
        raise CommandError(f"tz: {exc}") from exc


def parse_when(value: str | None, field_name: str, tz: ZoneInfo, *, end_of_day: bool = False) -> datetime | None:
    """`YYYY-MM-DD`, `YYYY-MM-DD HH:MM[:SS]` (in `tz`) or ISO 8601 with an offset → aware UTC.

    A bare date as an upper bound means the end of that day (`--until 2026-06-01` includes the 1st).
    """
    if value is None:
        return None
    try:
        return parse_bound(value, tz, end_of_day=end_of_day)
    except ValueError as exc:
        raise CommandError(f"{field_name}: {exc}") from exc


def _hotline(ref: str | None) -> str | None:
    if ref is None:
        return None
    try:
        return parse_hotline_number(ref).number
    except NumberError as exc:
        raise CommandError(f"hotline: {exc}") from exc


def _caller(ref: str | None) -> str | None:
    """The typed caller in the form call records store it (``+86 10 6234 5678`` → ``01062345678``)."""
    if ref is None:
        return None
    try:
        return normalize_number(ref, what="caller").value
    except NumberError as exc:
        raise CommandError(f"caller: {exc}") from exc


def _region(province: str | None, city: str | None) -> str | None:
    if not province:
        return None
    return province if not city or city == province else f"{province}/{city}"


def hotline_zones(session: Any) -> dict[str, str]:  # noqa: ANN401
    """Hotline number → its enterprise's time zone (IANA name)."""
    from sqlalchemy import select

    from ivr400.db.models import Enterprise, Hotline

    return dict(session.execute(select(Hotline.number, Enterprise.timezone).join(Enterprise)).all())


class Zones:
    """Which zone a call's times are read and shown in: `--tz` when given, else its hotline's enterprise's.

    `default` is for input (--since/--until) and for hotlines no enterprise has: the zone of `--hotline`,
    else the one zone every enterprise shares, else Asia/Shanghai.
    """

    def __init__(self, explicit: str | None, by_hotline: dict[str, str], hotline: str | None) -> None:
        self.explicit = _zone(explicit) if explicit is not None else None  # --tz '' is refused
        self.by_hotline = by_hotline
        shared = set(by_hotline.values())
        name = by_hotline.get(hotline or "") or (shared.pop() if len(shared) == 1 else DEFAULT_ZONE)
        self.default = self.explicit or _zone(name)

    def of(self, hotline: str | None) -> ZoneInfo:
        if self.explicit:
            return self.explicit
        name = self.by_hotline.get(hotline or "")
        return _zone(name) if name else self.default


def _local(moment: datetime | None, tz: ZoneInfo) -> str | None:
    return None if moment is None else format_moment(moment.astimezone(tz), seconds=True)


def _row_for_table(row: CallRecord | SimpleNamespace, tz: ZoneInfo) -> dict[str, Any]:
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
        "decided_by": row.decided_by,
        "flag": "欠费接通" if row.balance_flagged else "",  # routed at a zero balance (choice keep)
    }


# -- listen / import ------------------------------------------------------------------------------
def _csv_option(func: Any) -> Any:  # noqa: ANN401
    func = click.option("--state-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Where the import offset is kept: cdr.state "
                             "(default <data.dir>/cdr-import-state.json).")(func)
    return click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="cdr_custom's ivr400.csv: cdr.csv (default "
                             "<asterisk.root><astlogdir>/cdr-custom/ivr400.csv).")(func)


@cdr.command("listen")
@click.option("--ami-host", default=None, help="AMI host: ami.host.")
@click.option("--ami-port", type=int, default=None, help="AMI port: ami.port.")
@click.option("--ami-user", default=None, help="AMI user: ami.user.")
@click.option("--ami-secret", default=None,
              help="AMI secret: ami.secret (prefer the configuration file or IVR400_AMI_SECRET: "
                   "arguments are visible to other users).")
@_csv_option
@click.option("--no-backfill", is_flag=True, help="Do not import the CSV at login and periodically.")
@click.option("--flush-delay", type=click.FloatRange(0.05, 60), default=0.5, show_default=True,
              help="Seconds a call stays quiet before its CDRs are stored together.")
@click.option("--import-interval", type=click.FloatRange(0), default=60.0, show_default=True,
              help="Seconds between CSV imports while listening (0 = only at login).")
@click.option("--pbx-tz", default="UTC", show_default=True,
              help="Asterisk's time zone, used only for events without the epoch mappings.")
@click.option("--node", default=None, help="The cluster node this Asterisk is (written to each new call record).")
@click.option("--stats-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the listener's counters as JSON there every second (calls stored, held, ...).")
@json_option
@handle_errors
def listen(ami_host: str | None, ami_port: int | None, ami_user: str | None, ami_secret: str | None,
           csv_path: Path | None, state_file: Path | None, no_backfill: bool, flush_delay: float,
           import_interval: float, pbx_tz: str, node: str | None, stats_file: Path | None, as_json: bool) -> None:
    """Store every call from AMI Cdr events until SIGTERM/SIGINT; reconnects on its own and
    backfills from the CSV at every login, so calls that ended while it was down are not lost.
    Prints `ready: pid N, ami HOST:PORT` once logged in and backfilled (on stdout; stderr with --json)."""
    from ivr400.cdr.cdr_listener import CdrListener, ListenerError
    from ivr400.config import ConfigError

    a = app()
    settings = a.settings_with(ami_host=ami_host, ami_port=ami_port, ami_user=ami_user, ami_secret=ami_secret,
                               cdr_csv=csv_path, cdr_state=state_file)
    try:
        ami = settings.require_ami()
    except ConfigError as exc:
        raise CommandError(str(exc)) from exc
    tz = _zone(pbx_tz)
    engine = a.engine
    listener = CdrListener(
        engine, ami, csv_path=settings.cdr_csv, state_path=settings.cdr_state, backfill=not no_backfill,
        flush_delay=flush_delay, import_interval=import_interval, pbx_tz=tz, node=node, stats_path=stats_file,
    )
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(name)s %(levelname)s %(message)s")
    click.echo(f"listening for CDRs on AMI {ami.host}:{ami.port} as {ami.username}, backfill from "
               f"{settings.cdr_csv} (pid {os.getpid()}; SIGTERM to stop)", err=True)

    async def announce_ready(stop: asyncio.Event) -> None:
        """`ready:` once logged in (and the login's backfill is done), for supervisors; on stderr with
        --json, so stdout stays one JSON document."""
        while not stop.is_set():
            if await listener.wait_logged_in(timeout=1.0):
                click.echo(f"ready: pid {os.getpid()}, ami {ami.host}:{ami.port}", err=as_json)
                return

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        ready = asyncio.create_task(announce_ready(stop))
        try:
            await listener.run(stop)
        finally:
            ready.cancel()
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
    settings = a.settings_with(cdr_csv=csv_path, cdr_state=state_file)
    try:
        result = import_csv(a.engine, settings.cdr_csv, state_path=settings.cdr_state, from_start=from_start)
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
@click.option("--decided-by", type=click.Choice(DECIDED_BY), multiple=True,
              help="Only calls routed by the controller, the static plan (controller down, slow or declining), "
                   "or both (repeatable).")
@click.option("--limit", type=click.IntRange(1, 100000), default=100, show_default=True)
@click.option("--tz", "tz_name", default=None, help=TZ_HELP)
@json_option
@handle_errors
def list_(hotline_ref: str | None, since: str | None, until: str | None, disposition: tuple[str, ...],
          caller_ref: str | None, decided_by: tuple[str, ...], limit: int, tz_name: str | None,
          as_json: bool) -> None:
    """Call records, newest first; times in the zone of each hotline's enterprise (or --tz), with the zone."""
    from ivr400.provisioning import listing

    hotline = _hotline(hotline_ref)
    caller = _caller(caller_ref)
    with app().reader() as db:
        zones = Zones(tz_name, listing.hotline_zones(db), hotline)
        start = parse_when(since, "since", zones.default)
        end = parse_when(until, "until", zones.default, end_of_day=True)
        if start and end and end <= start:
            raise CommandError("until: must be after --since")
        rows = listing.call_records(db, hotline=hotline, caller=caller, start=start, end=end,
                                    dispositions=disposition, decided_by=decided_by, limit=limit)
    if as_json:
        emit_json([record_view(r, zones.of(r.hotline)) for r in rows])
    else:
        emit([_row_for_table(r, zones.of(r.hotline)) for r in rows], False, LIST_COLUMNS)


@cdr.command("missed")
@click.option("--hotline", "hotline_ref", default=None, help="Only this 400 number.")
@click.option("--since", default=None, help="Missed calls from (YYYY-MM-DD, 'YYYY-MM-DD HH:MM' in --tz, ISO).")
@click.option("--tz", "tz_name", default=None, help=TZ_HELP)
@json_option
@handle_errors
def missed(hotline_ref: str | None, since: str | None, tz_name: str | None, as_json: bool) -> None:
    """Callers to call back (未接来电): not answered, and not reached by a later answered call."""
    from ivr400.cdr.cdr_store import missed_callers

    hotline = _hotline(hotline_ref)
    with app().session() as s:
        zones = Zones(tz_name, hotline_zones(s), hotline)
        start = parse_when(since, "since", zones.default)
        data = missed_callers(s, hotline, start)
    if as_json:
        for r in data["callers"]:
            tz = zones.of(r["hotline"])
            r.update({k: to_zone(r[k], tz) for k in ("first_missed", "last_missed", "last_answered")},
                     timezone=zone_name(tz))
        emit_json(data)
        return
    table = [
        {
            "hotline": r["hotline"],
            "caller": r["caller"],
            "region": _region(r["caller_province"], r["caller_city"]),
            "missed": r["missed"],
            "first_missed": _local(r["first_missed"], zones.of(r["hotline"])),
            "last_missed": _local(r["last_missed"], zones.of(r["hotline"])),
            "last_disposition": r["last_disposition"],
        }
        for r in data["callers"]
    ]
    emit(table, False, MISSED_COLUMNS)
    summary = f"{data['callers_count']} caller(s) to call back, {data['missed_calls']} missed call(s)"
    if data["anonymous_calls"]:
        summary += f"; {data['anonymous_calls']} missed call(s) without a caller number"
    click.echo(summary)
