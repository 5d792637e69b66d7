"""`ivr400 tone`: upload welcome greetings, ringback tones (彩铃) and prompts."""
from __future__ import annotations

from pathlib import Path

import click
from sqlalchemy import select

from ivr400.cli.common import app, emit, handle_errors, json_option
from ivr400.db.models import Tone
from ivr400.provisioning import lookup
from ivr400.provisioning.tones import add_tone
from ivr400.provisioning.views import tone_view


@click.group()
def tone() -> None:
    """Tones: add, list."""


@tone.command("add")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Short name (a-z, 0-9, _ -) used by hotlines and departments.")
@click.option("--kind", type=click.Choice(["welcome", "ringback", "prompt"]), default="ringback", show_default=True)
@click.option("--enterprise", "enterprise_ref", default=None, help="Owner enterprise (default: shared).")
@json_option
@handle_errors
def add(file: Path, name: str, kind: str, enterprise_ref: str | None, as_json: bool) -> None:
    """Convert FILE (WAV, MP3, …) to 8 kHz mono WAV and store it; refuses non-audio and over-long files."""
    a = app()
    with a.session() as s:
        ent = lookup.enterprise(s, enterprise_ref) if enterprise_ref else None
        row = add_tone(s, file, name=name, kind=kind, enterprise=ent, store_root=a.data_dir / "tones", now=a.now())
        emit(tone_view(row), as_json)


@tone.command("list")
@json_option
@handle_errors
def list_(as_json: bool) -> None:
    with app().session() as s:
        emit([tone_view(t) for t in s.scalars(select(Tone).order_by(Tone.id))], as_json,
             ["id", "name", "kind", "file", "duration_s", "enterprise_id"])
