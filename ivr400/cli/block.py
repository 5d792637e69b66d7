"""`ivr400 block`: call blocking (呼叫阻截) per hotline: a blacklist or a whitelist of caller numbers."""
from __future__ import annotations

import click

from ivr400.cli.common import app, emit, emit_json, handle_errors, json_option
from ivr400.provisioning.views import block_settings

# The ORM and the provisioning services are imported by the commands that write; `list` reads through the
# database driver alone (ivr400.db.lite), and `--help` loads neither.

COLUMNS = ["id", "hotline", "entry", "note"]


@click.group()
def block() -> None:
    """Call blocking: mode, add, remove, list."""


@block.command("mode")
@click.argument("hotline_ref", metavar="HOTLINE")
@click.argument("mode", metavar="off|blacklist|whitelist_only")
@click.option("--anonymous", default=None, metavar="allow|refuse",
              help="Withheld or unparseable caller IDs (in every mode).")
@click.option("--refuse-with", default=None, metavar="busy|prompt", help="How refused callers are turned away.")
@click.option("--prompt", default=None, help="Prompt played with --refuse-with prompt (tone or sound name; "
              "default ivr400-blocked).")
@json_option
@handle_errors
def mode(hotline_ref: str, mode: str, anonymous: str | None, refuse_with: str | None, prompt: str | None,
         as_json: bool) -> None:
    """Set HOTLINE's blocking mode."""
    from ivr400.provisioning import blocking, lookup

    with app().session() as s:
        h = blocking.set_block_mode(s, lookup.hotline(s, hotline_ref), mode, anonymous=anonymous,
                                    refuse_with=refuse_with,
                              refuse_prompt=prompt)
        view = block_settings(h)
    emit(view, as_json)


@block.command("add")
@click.argument("hotline_ref", metavar="HOTLINE")
@click.argument("number")
@click.option("--prefix", is_flag=True, help="NUMBER is a prefix (area code 010, mobile prefix 1380013).")
@click.option("--note", default=None)
@json_option
@handle_errors
def add(hotline_ref: str, number: str, prefix: bool, note: str | None, as_json: bool) -> None:
    """Put NUMBER on HOTLINE's list (a blacklist or a whitelist, depending on the mode)."""
    from ivr400.provisioning import blocking, lookup

    with app().session() as s:
        h = lookup.hotline(s, hotline_ref)
        row = blocking.add_block_entry(s, h, number, prefix=prefix, note=note)
        view = {"id": row.id, "hotline": h.number, "number": row.number, "prefix": row.prefix,
                "entry": row.number + ("*" if row.prefix else ""), "note": row.note, "mode": h.block_mode}
    emit(view, as_json)


@block.command("remove")
@click.argument("hotline_ref", metavar="HOTLINE")
@click.argument("number")
@click.option("--prefix", is_flag=True)
@handle_errors
def remove(hotline_ref: str, number: str, prefix: bool) -> None:
    """Take NUMBER off HOTLINE's list."""
    from ivr400.provisioning import blocking, lookup

    with app().session() as s:
        h = lookup.hotline(s, hotline_ref)
        removed = blocking.remove_block_entry(s, h, number, prefix=prefix)
    click.echo(f"{removed} removed from {h.number}")


@block.command("list")
@click.argument("hotline_ref", metavar="[HOTLINE]", required=False)
@json_option
@handle_errors
def list_(hotline_ref: str | None, as_json: bool) -> None:
    """List entries (of HOTLINE, or of every hotline) and, for one hotline, its settings."""
    from ivr400.provisioning import listing

    with app().reader() as db:
        h = listing.hotline_id(db, hotline_ref) if hotline_ref is not None else None
        rows = listing.block_entries(db, hotline=h)
        settings = listing.block_settings_of(db, h) if h is not None else None
    if as_json:
        emit_json({**settings, "entries": rows} if settings is not None else rows)
        return
    if settings is not None:
        prompt = f" ({settings['refuse_prompt']})" if settings["refuse_prompt"] else ""
        click.echo(f"mode {settings['mode']}, anonymous {settings['anonymous']}, refuse with "
                   f"{settings['refuse_with']}{prompt}")
    emit(rows, False, COLUMNS)
