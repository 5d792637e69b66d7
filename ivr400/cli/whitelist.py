"""`ivr400 whitelist`: the R1–R7 checklist and what is about to expire (白名单)."""
from __future__ import annotations

import click

from ivr400.cli.common import app, emit, handle_errors, json_option


@click.group()
def whitelist() -> None:
    """Whitelist checks: check, expiring."""


@whitelist.command("check")
@click.argument("dest_ref", metavar="DEST")
@click.option("--enterprise", "enterprise_ref", default=None)
@json_option
@handle_errors
def check(dest_ref: str, enterprise_ref: str | None, as_json: bool) -> None:
    """Show the R1–R7 checklist for DEST; exit 2 when something is missing (nothing is changed)."""
    from ivr400.provisioning import destinations as service
    from ivr400.provisioning import lookup

    a = app()
    with a.session() as s:
        d = lookup.destination(s, dest_ref, enterprise_ref)
        result = service.checklist(s, d, a.now())
    if as_json:
        emit({"destination": d.number, "id": d.id} | result.to_dict(), True)
    else:
        click.echo(f"destination #{d.id} {d.number} ({d.owner_name}, {d.owner_kind})")
        for item in result.items:
            click.echo(f"  [{'ok' if item.ok else 'missing'}] {item.rule}: {item.message}")
        click.echo("ready to approve" if result.ok else f"not ready: {len(result.missing)} item(s) missing")
    if not result.ok:
        raise SystemExit(2)


@whitelist.command("expiring")
@click.option("--days", type=int, default=30, show_default=True)
@click.option("--enterprise", "enterprise_ref", default=None)
@json_option
@handle_errors
def expiring(days: int, enterprise_ref: str | None, as_json: bool) -> None:
    """Approved destinations whose authorization ends within DAYS (expired ones included)."""
    from ivr400.provisioning import listing

    a = app()
    with a.reader() as db:
        owner = listing.enterprise_id(db, enterprise_ref) if enterprise_ref is not None else None
        rows = listing.expiring(db, a.now(), days=days, enterprise=owner)
        emit(rows, as_json, ["id", "number", "enterprise", "owner", "status", "valid_until", "seats"])
