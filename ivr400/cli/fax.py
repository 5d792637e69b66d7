"""Faxes received by the hotlines (传真): list."""
from __future__ import annotations

import click

from ivr400.cli.common import app, emit, handle_errors, json_option
from ivr400.provisioning.fax import list_faxes


@click.group()
def fax() -> None:
    """Faxes received by the hotlines (传真): list."""


@fax.command("list")
@click.option("--hotline", default=None, help="Only this 400 number's faxes.")
@click.option("--limit", type=click.IntRange(1, 10000), default=100, show_default=True)
@json_option
@handle_errors
def list_(hotline: str | None, limit: int, as_json: bool) -> None:
    """Newest first: when, hotline, caller, status, pages, remote station, file."""
    with app().session() as s:
        rows = [{"received_at": f.received_at, "hotline": f.hotline, "caller": f.caller, "status": f.status,
                 "pages": f.pages, "error": f.error, "remote_station": f.remote_station, "file": f.file_path,
                 "uniqueid": f.uniqueid} for f in list_faxes(s, hotline=hotline, limit=limit)]
    emit(rows, as_json, ["received_at", "hotline", "caller", "status", "pages", "remote_station", "file"])
