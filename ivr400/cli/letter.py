"""`ivr400 letter`: the authorization letter (授权证明) for a destination, filled in from the seed's templates."""
from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import click

from ivr400.cli.common import CommandError, app, handle_errors, parse_date
from ivr400.compliance.letters import LetterError, LetterFacts, compose_letter, render_text, to_docx
from ivr400.fsutil import atomic_write
from ivr400.numbers import parse_destination, parse_hotline_number
from ivr400.provisioning import lookup
from ivr400.provisioning.errors import ProvisioningError

FORMATS = {".txt": "text", ".docx": "docx"}


@click.command()
@click.argument("dest_ref", metavar="DEST")
@click.option("--enterprise", "enterprise_ref", default=None)
@click.option("--hotline", "hotline_ref", default=None,
              help="The 400 number named in the letter (default: the enterprise's first).")
@click.option("--purpose", default="公司销售热线", show_default=True)
@click.option("--relationship", default=None,
              help="Owner's relation to the enterprise (default: the one recorded on the destination).")
@click.option("--from", "valid_from", default=None, help="First day of the authorization, YYYY-MM-DD.")
@click.option("--to", "valid_to", default=None, help="Last day of the authorization, YYYY-MM-DD (included).")
@click.option("--long-term", is_flag=True, help="Authorized without end date (长期).")
@click.option("--output", type=click.Path(path_type=Path), default=None,
              help="Write to FILE: .docx for a printable Word document, .txt for text (default: text on stdout).")
@handle_errors
def letter(dest_ref: str, enterprise_ref: str | None, hotline_ref: str | None, purpose: str, relationship: str | None,
           valid_from: str | None, valid_to: str | None, long_term: bool, output: Path | None) -> None:
    """Print or write the company (R4) or personal (R5) authorization letter for DEST.

    Refused (exit 1) for a destination the enterprise owns itself: R2 holds, no letter is needed.
    Without --from/--to/--long-term the validity is left blank to be filled in by hand.
    """
    if output is not None:
        _check_output(output)
    kind = "text" if output is None else FORMATS.get(output.suffix.lower())
    if output is not None and kind is None:
        raise CommandError(f"output: {output.name!r}: write a .docx (printable) or a .txt file")
    if not purpose.strip():
        raise CommandError("purpose: must not be empty (what the hotline is for, e.g. 公司销售热线)")
    start, end = parse_date(valid_from, "from"), parse_date(valid_to, "to")
    a = app()
    with a.session() as s:
        d = lookup.destination(s, dest_ref, enterprise_ref)
        ent = d.enterprise
        today = a.now().astimezone(ZoneInfo(ent.timezone)).date()
        if end is not None and end < today:
            raise CommandError(f"to: {end.isoformat()} is in the past (today is {today.isoformat()} in "
                               f"{ent.timezone}); a letter authorizes from now on")
        if hotline_ref is not None:
            h = lookup.hotline(s, hotline_ref)
        elif ent.hotlines:
            h = sorted(ent.hotlines, key=lambda x: x.number)[0]
        else:
            raise ProvisioningError("hotline", f"{ent.name} has no 400 number yet")
        if h.enterprise_id != ent.id:
            raise ProvisioningError("hotline", f"{h.number} does not belong to {ent.name}")
        try:
            composed = compose_letter(LetterFacts(
                owner_name=d.owner_name, owner_kind=d.owner_kind, enterprise_name=ent.name,
                hotline_display=parse_hotline_number(h.number).display,
                destination_display=parse_destination(d.number).display,
                relationship=relationship if relationship is not None else d.relationship_note, purpose=purpose,
                valid_from=start, valid_until=end, long_term=long_term,
            ))
        except LetterError as exc:
            raise ProvisioningError(exc.field, exc.reason) from exc
    if output is None:
        click.echo(render_text(composed), nl=False)
        return
    data = to_docx(composed) if kind == "docx" else render_text(composed).encode("utf-8")
    try:
        atomic_write(output, data)
    except OSError as exc:
        raise CommandError(f"output: cannot write {output}: {exc.strerror or exc}") from exc
    click.echo(f"wrote {output}")


def _check_output(output: Path) -> None:
    """Refuse, before anything is composed, an output that cannot be a new or replaced file.

    Missing directories are not created: a typo in the path should not leave new directories behind.
    """
    if output.is_dir():
        raise CommandError(f"output: {output} is a directory; give a file name ending .docx or .txt")
    parent = output.parent
    if parent.exists() and not parent.is_dir():
        raise CommandError(f"output: {parent} is not a directory")
    if not parent.is_dir():
        raise CommandError(f"output: directory {parent} does not exist")
