"""`ivr400 letter`: the authorization letter (授权证明) for a destination, filled in from the seed's templates."""
from __future__ import annotations

from pathlib import Path

import click

from ivr400.cli.common import app, handle_errors
from ivr400.compliance.letters import LetterFacts, render_letter
from ivr400.numbers import parse_destination, parse_hotline_number
from ivr400.provisioning import lookup
from ivr400.provisioning.errors import ProvisioningError


@click.command()
@click.argument("dest_ref", metavar="DEST")
@click.option("--enterprise", "enterprise_ref", default=None)
@click.option("--hotline", "hotline_ref", default=None,
              help="The 400 number named in the letter (default: the enterprise's first).")
@click.option("--purpose", default="公司销售热线", show_default=True)
@click.option("--output", type=click.Path(path_type=Path), default=None, help="Write to a file instead of stdout.")
@handle_errors
def letter(dest_ref: str, enterprise_ref: str | None, hotline_ref: str | None, purpose: str,
           output: Path | None) -> None:
    """Print the company (R4) or personal (R5) authorization letter for DEST."""
    with app().session() as s:
        d = lookup.destination(s, dest_ref, enterprise_ref)
        ent = d.enterprise
        if hotline_ref:
            h = lookup.hotline(s, hotline_ref)
        elif ent.hotlines:
            h = sorted(ent.hotlines, key=lambda x: x.number)[0]
        else:
            raise ProvisioningError("hotline", f"{ent.name} has no 400 number yet")
        if h.enterprise_id != ent.id:
            raise ProvisioningError("hotline", f"{h.number} does not belong to {ent.name}")
        text = render_letter(LetterFacts(
            owner_name=d.owner_name, owner_kind=d.owner_kind, enterprise_name=ent.name,
            hotline_display=parse_hotline_number(h.number).display,
            destination_display=parse_destination(d.number).display,
            relationship=d.relationship_note, purpose=purpose,
        ))
    if output is None:
        click.echo(text, nl=False)
        return
    tmp = output.with_name(f".{output.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(output)
    click.echo(f"wrote {output}")
