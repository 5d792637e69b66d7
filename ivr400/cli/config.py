"""`ivr400 config`: the effective settings and where each value came from (flag, environment, file,
lab, default). The AMI secret is shown as `(set)` or `(not set)`, never its value."""
from __future__ import annotations

import click

from ivr400.cli.common import app, emit, emit_json, json_option


@click.group()
def config() -> None:
    """Settings: show what is in effect (see docs/operations.md for the file and the variables)."""


@config.command("show")
@json_option
def show(as_json: bool) -> None:
    """Every setting, its value, its environment variable and its source."""
    settings = app().settings
    rows = settings.describe()
    if as_json:
        emit_json({"file": str(settings.file) if settings.file else None, "settings": rows})
        return
    click.echo(f"file: {settings.file or '(none)'}")
    emit(rows, False, ["name", "value", "source", "env"])
