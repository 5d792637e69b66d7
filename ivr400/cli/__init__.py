"""The `ivr400` command: one module per command group, registered here explicitly."""
from __future__ import annotations

import importlib

import click

from ivr400.cli.common import AppContext

#: (module, attribute) of every command group; explicit so `ivr400 --help` shows exactly these.
COMMAND_GROUPS: tuple[tuple[str, str], ...] = (
    ("ivr400.cli.db", "db"),
    ("ivr400.cli.enterprise", "enterprise"),
    ("ivr400.cli.hotline", "hotline"),
    ("ivr400.cli.destination", "destination"),
    ("ivr400.cli.evidence", "evidence"),
    ("ivr400.cli.whitelist", "whitelist"),
    ("ivr400.cli.seat", "seat"),
    ("ivr400.cli.department", "department"),
    ("ivr400.cli.tone", "tone"),
    ("ivr400.cli.letter", "letter"),
    ("ivr400.cli.carrier", "carrier"),
    ("ivr400.cli.trunk", "trunk"),
    ("ivr400.cli.voicemail", "voicemail"),
    ("ivr400.cli.demo", "demo"),
    ("ivr400.cli.lab", "lab"),
    ("ivr400.cli.deploy", "deploy"),
    ("ivr400.cli.serve", "serve"),
    ("ivr400.cli.rule", "rule"),
    ("ivr400.cli.block", "block"),
    ("ivr400.cli.calendar", "calendar"),
    ("ivr400.cli.cdr", "cdr"),
    ("ivr400.cli.user", "user"),
    ("ivr400.cli.web", "web"),
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "database_url",
    envvar="IVR400_DATABASE_URL",
    metavar="URL",
    help="SQLAlchemy database URL (default: an SQLite file in the data directory).",
)
@click.pass_context
def main(ctx: click.Context, database_url: str | None) -> None:
    """ivr400 — run 400 hotline numbers on a real PBX, whitelist enforced by the database."""
    ctx.obj = AppContext(database_url=database_url)
    ctx.call_on_close(ctx.obj.close)


for _module, _attr in COMMAND_GROUPS:
    main.add_command(getattr(importlib.import_module(_module), _attr))
