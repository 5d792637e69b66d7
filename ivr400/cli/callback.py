"""Missed-call callbacks (未接来电回拨): list, set.

    ivr400 callback list --status pending
    ivr400 callback set 12 called_back --note "called, will order"

An entry is a caller whose call to a hotline nobody answered and who was not reached since: a later answered
call from the same number to the same hotline closes it (无需回拨, by `system`). Statuses: pending (待回拨),
called_back (已回拨), not_needed (无需回拨); every change is in the audit trail.
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import click

from ivr400.cdr.cdr_model import CALLBACK_STATUSES
from ivr400.cli.cdr import Zones, _hotline
from ivr400.cli.common import CommandError, app, emit, emit_json, handle_errors, json_option
from ivr400.localtime import format_moment

if TYPE_CHECKING:  # `set` writes through the ORM; `list` reads through the database driver alone (ivr400.db.lite)
    from ivr400.db.models import CallbackEntry

COLUMNS = ["id", "hotline", "caller", "missed", "first_missed", "last_missed", "status", "handled_by", "handled_at",
           "note"]


@click.group()
def callback() -> None:
    """Missed-call callbacks (未接来电回拨): list, set."""


def entry_view(e: CallbackEntry | SimpleNamespace) -> dict[str, Any]:
    return {"id": e.id, "hotline": e.hotline, "caller": e.caller, "missed": e.missed,
            "first_missed": e.first_missed_at, "last_missed": e.last_missed_at, "status": e.status,
            "status_zh": CALLBACK_STATUSES[e.status], "handled_by": e.handled_by, "handled_at": e.handled_at,
            "note": e.note, "last_uniqueid": e.last_uniqueid}


@callback.command("list")
@click.option("--hotline", "hotline_ref", default=None, help="Only this 400 number.")
@click.option("--status", type=click.Choice(list(CALLBACK_STATUSES)), default=None, help="Only this status.")
@click.option("--limit", type=click.IntRange(1, 100000), default=200, show_default=True)
@click.option("--tz", "tz_name", default=None, help="Zone of the times shown (default: the enterprise's).")
@json_option
@handle_errors
def list_(hotline_ref: str | None, status: str | None, limit: int, tz_name: str | None, as_json: bool) -> None:
    """Callback entries, most recently missed first."""
    from ivr400.provisioning import listing

    hotline = _hotline(hotline_ref)
    with app().reader() as db:
        zones = Zones(tz_name, listing.hotline_zones(db), hotline)
        rows = [entry_view(e) for e in listing.callbacks(db, hotline=hotline, status=status, limit=limit)]
    if as_json:
        emit_json(rows)
        return
    for r in rows:
        tz = zones.of(r["hotline"])
        for k in ("first_missed", "last_missed", "handled_at"):
            r[k] = format_moment(r[k].astimezone(tz), seconds=True) if r[k] else None
        r["status"] = f"{r['status']} ({r['status_zh']})"
    emit(rows, False, COLUMNS)


@callback.command("set")
@click.argument("entry_id", type=int)
@click.argument("status", type=click.Choice(list(CALLBACK_STATUSES)))
@click.option("--note", default=None, help="What happened (at most 200 characters).")
@json_option
@handle_errors
def set_(entry_id: int, status: str, note: str | None, as_json: bool) -> None:
    """Set an entry's status; who (IVR400_ACTOR or the login) and when are recorded, with an audit row."""
    from ivr400.cdr.fact_store import CallbackError, set_callback_status
    from ivr400.validators import is_row_id

    a = app()
    try:
        if not is_row_id(entry_id):  # names nothing (and PostgreSQL refuses to compare it with its keys)
            raise CallbackError("entry", f"no callback entry {entry_id}")
        with a.session() as s:
            entry = set_callback_status(s, entry_id, status, a.actor, a.now(), note)
            data = entry_view(entry)
    except CallbackError as exc:
        raise CommandError(str(exc)) from exc
    emit(data, as_json)
