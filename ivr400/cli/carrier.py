"""`ivr400 carrier`: per-carrier policy R1 (may a mobile be bound as a destination)."""
from __future__ import annotations

import click

from ivr400.cli.common import app, emit, handle_errors, json_option
from ivr400.provisioning.errors import ProvisioningError


@click.group()
def carrier() -> None:
    """Carrier policies: list, set."""


@carrier.command("list")
@json_option
@handle_errors
def list_(as_json: bool) -> None:
    from ivr400.provisioning import listing

    with app().reader() as db:
        emit(listing.carriers(db), as_json, ["carrier", "allow_mobile", "note"])


@carrier.command("set")
@click.argument("name")
@click.option("--allow-mobile/--landline-only", required=True)
@click.option("--note", default=None)
@handle_errors
def set_(name: str, allow_mobile: bool, note: str | None) -> None:
    """Set whether hotlines of carrier NAME may bind mobiles (already bound seats are kept)."""
    from ivr400.db.models import CarrierPolicy

    with app().session() as s:
        policy = s.get(CarrierPolicy, name)
        if policy is None:
            raise ProvisioningError("carrier", f"{name!r} is not one of telecom, unicom, mobile")
        policy.allow_mobile = allow_mobile
        if note is not None:
            policy.note = note
    click.echo(f"{name}: {'mobiles allowed' if allow_mobile else 'landlines only'}")
