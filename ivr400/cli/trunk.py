"""`ivr400 trunk`: outbound trunks, i.e. how a destination number becomes an Asterisk dial string."""
from __future__ import annotations

import click

from ivr400.cli.common import app, emit, handle_errors, json_option
from ivr400.provisioning.errors import ProvisioningError


@click.group()
def trunk() -> None:
    """Outbound trunks: add, list, use."""


@trunk.command("add")
@click.argument("name")
@click.argument("template")
@handle_errors
def add(name: str, template: str) -> None:
    """Add trunk NAME whose dial string is TEMPLATE with {number}, e.g. PJSIP/{number}@carrier-out."""
    from ivr400.provisioning.trunks import add_trunk

    with app().session() as s:
        add_trunk(s, name, template)
    click.echo(f"trunk {name}: {template}")


@trunk.command("list")
@json_option
@handle_errors
def list_(as_json: bool) -> None:
    from ivr400.provisioning import listing

    with app().reader() as db:
        emit(listing.trunks(db), as_json, ["id", "name", "template"])


@trunk.command("use")
@click.argument("name")
@click.option("--hotline", "hotline_ref", default=None, help="Default trunk of this hotline.")
@click.option("--destination", "dest_ref", default=None, help="Trunk of this destination (overrides the hotline's).")
@click.option("--enterprise", "enterprise_ref", default=None)
@handle_errors
def use(name: str, hotline_ref: str | None, dest_ref: str | None, enterprise_ref: str | None) -> None:
    """Make a hotline or a destination dial out through trunk NAME (`none` clears)."""
    if (hotline_ref is None) == (dest_ref is None):
        raise ProvisioningError("hotline", "give exactly one of --hotline or --destination")
    from ivr400.provisioning import lookup
    from ivr400.provisioning.trunks import find_trunk

    with app().session() as s:
        t = None if name == "none" else find_trunk(s, name)
        if hotline_ref is not None:
            lookup.hotline(s, hotline_ref).trunk = t
        else:
            assert dest_ref is not None  # exactly one of the two, checked above
            lookup.destination(s, dest_ref, enterprise_ref).trunk = t
    click.echo("ok")
