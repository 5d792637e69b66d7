"""`ivr400 voicemail`: messages callers left when every seat failed (语音留言)."""
from __future__ import annotations

from pathlib import Path, PurePosixPath

import click

from ivr400.cli.common import app, emit, emit_json, handle_errors, json_option
from ivr400.pbx.asterisk.dialplan_variables import VOICEMAIL_SPOOL

CDR_CSV = "/var/log/asterisk/cdr-csv/Master.csv"


@click.group()
def voicemail() -> None:
    """Voicemail left in Asterisk's spool: import (sync) and list."""


@voicemail.command("sync")
@click.option("--spool", "spool_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory holding <hotline>/<uniqueid>.wav (default <asterisk.spool_dir>/voicemail, i.e. "
                   f"{VOICEMAIL_SPOOL} as Asterisk sees it).")
@click.option("--cdr-csv", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help=f"cdr_csv's Master.csv, where caller numbers missing from the call records are found "
                   f"(default {CDR_CSV} under asterisk.root).")
@json_option
@handle_errors
def sync(spool_dir: Path | None, cdr_csv: Path | None, as_json: bool) -> None:
    """Import new recordings into the database (idempotent: a message is imported once)."""
    from ivr400.provisioning.voicemail import sync_voicemail

    a = app()
    settings = a.settings
    spool_dir = spool_dir or settings.asterisk_spool_dir / PurePosixPath(VOICEMAIL_SPOOL).name
    cdr_csv = cdr_csv or settings.asterisk_path(CDR_CSV)
    with a.session() as s:
        result = sync_voicemail(s, spool_dir, cdr_csv=cdr_csv)
    if as_json:
        emit_json({"spool": str(spool_dir), **result.to_dict()})
        return
    click.echo(f"spool: {spool_dir}")
    click.echo(f"added {len(result.added)}, updated {len(result.updated)}, unchanged {result.unchanged}")
    for name in result.ignored:
        click.echo(f"ignored: {name}")


@voicemail.command("list")
@click.option("--hotline", default=None, help="Only this 400 number.")
@click.option("--limit", type=click.IntRange(1, 1_000_000), default=None, help="At most this many, newest first.")
@json_option
@handle_errors
def list_(hotline: str | None, limit: int | None, as_json: bool) -> None:
    """Messages, newest first."""
    from ivr400.provisioning import listing

    with app().reader() as db:
        hotline_id = listing.hotline_id(db, hotline) if hotline is not None else None
        rows = listing.voicemails(db, hotline=hotline_id, limit=limit)
    emit(rows, as_json, ["id", "hotline", "caller", "recorded_at", "duration_s", "size", "file"])
