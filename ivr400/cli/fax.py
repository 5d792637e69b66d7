"""Faxes received by the hotlines (传真): list."""
from __future__ import annotations

import click

from ivr400.cli.common import app, emit, handle_errors, json_option


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
    from ivr400.provisioning import listing  # the driver alone (ivr400.db.lite), not the ORM

    with app().reader() as db:
        hotline_id = listing.hotline_id(db, hotline) if hotline is not None else None
        rows = listing.faxes(db, hotline=hotline_id, limit=limit)
    emit(rows, as_json, ["received_at", "hotline", "caller", "status", "pages", "remote_station", "file"])
