"""`ivr400 tone`: upload welcome greetings, ringback tones (彩铃) and prompts, and review them."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ivr400.cli.common import app, emit, handle_errors, json_option
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.views import tone_view

if TYPE_CHECKING:  # `tone list` reads through the driver alone (ivr400.db.lite): no ORM at import
    from sqlalchemy.orm import Session

    from ivr400.db.models import Tone


@click.group()
def tone() -> None:
    """Tones: add, list, approve, reject."""


@tone.command("add")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--name", required=True, help="Short name (a-z, 0-9, _ -) used by hotlines and departments.")
@click.option("--kind", type=click.Choice(["welcome", "ringback", "prompt"]), default="ringback", show_default=True)
@click.option("--enterprise", "enterprise_ref", default=None, help="Owner enterprise (default: shared).")
@click.option("--pending", is_flag=True,
              help="Leave it for review (审核) like a back-office upload; by default a tone added here, by the "
                   "platform's root, is approved at once (recorded as approved by you in the audit trail).")
@json_option
@handle_errors
def add(file: Path, name: str, kind: str, enterprise_ref: str | None, pending: bool, as_json: bool) -> None:
    """Convert FILE (WAV, MP3, …) to 8 kHz mono WAV and store it; refuses non-audio and over-long files."""
    a = app()
    from ivr400.provisioning import lookup
    from ivr400.provisioning.tones import add_tone

    with a.session() as s:
        ent = lookup.enterprise(s, enterprise_ref) if enterprise_ref is not None else None
        row = add_tone(s, file, name=name, kind=kind, enterprise=ent, store_root=a.data_dir / "tones", now=a.now(),
                       actor=a.actor, approved=not pending)
        emit(tone_view(row), as_json)


def _find(session: Session, name: str, enterprise_ref: str | None) -> Tone:
    """The tone called ``name`` (of ``--enterprise``, else the only one of that name; shared: ``--enterprise -``)."""
    from sqlalchemy import select

    from ivr400.db.models import Enterprise, Tone
    from ivr400.provisioning import lookup

    stmt = select(Tone).where(Tone.name == name)
    if enterprise_ref == "-":
        stmt = stmt.where(Tone.enterprise_id.is_(None))
    elif enterprise_ref is not None:
        stmt = stmt.where(Tone.enterprise_id == lookup.enterprise(session, enterprise_ref).id)
    rows = list(session.scalars(stmt.order_by(Tone.id)))
    if not rows:
        raise ProvisioningError("name", f"no tone named {name!r}")
    if len(rows) > 1:
        owners = ", ".join(session.get(Enterprise, r.enterprise_id).name if r.enterprise_id else "-"  # type: ignore[union-attr]
                           for r in rows)
        raise ProvisioningError("enterprise", f"{len(rows)} tones are named {name!r} (owners: {owners}); "
                                              "say which with --enterprise (- for the shared one)")
    return rows[0]


_ENTERPRISE = click.option("--enterprise", "enterprise_ref", default=None,
                           help="Owner enterprise when several tones share the name (- for the shared one).")


@tone.command("approve")
@click.argument("name")
@_ENTERPRISE
@json_option
@handle_errors
def approve(name: str, enterprise_ref: str | None, as_json: bool) -> None:
    """Approve tone NAME (审核通过): it is deployed from the next deploy and the controller's next reload."""
    a = app()
    from ivr400.provisioning.tones import approve_tone

    with a.session() as s:
        row = approve_tone(s, _find(s, name, enterprise_ref), now=a.now(), actor=a.actor)
        emit(tone_view(row), as_json)


@tone.command("reject")
@click.argument("name")
@click.option("--reason", required=True, help="Why (e.g. 彩铃未包含企业注册名称), shown to the enterprise.")
@_ENTERPRISE
@json_option
@handle_errors
def reject(name: str, reason: str, enterprise_ref: str | None, as_json: bool) -> None:
    """Reject tone NAME with a reason: it is not deployed (its hotlines fall back as if it were missing)."""
    a = app()
    from ivr400.provisioning.tones import reject_tone

    with a.session() as s:
        row = reject_tone(s, _find(s, name, enterprise_ref), reason=reason, now=a.now(), actor=a.actor)
        emit(tone_view(row), as_json)


@tone.command("list")
@json_option
@handle_errors
def list_(as_json: bool) -> None:
    """Every tone with its review status."""
    from ivr400.provisioning import listing

    with app().reader() as db:
        emit(listing.tones(db), as_json,
             ["id", "name", "kind", "status", "file", "duration_s", "enterprise_id", "status_reason"])
