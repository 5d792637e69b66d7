"""`ivr400 destination`: numbers a hotline may forward to (目的码) and their whitelist status."""
from __future__ import annotations

import click

from ivr400.cli.common import app, emit, handle_errors, json_option
from ivr400.db.enums import WhitelistStatus
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.views import destination_view, event_view, evidence_view

# The ORM and the provisioning services are imported by the commands that write; `list` reads through the
# database driver alone (ivr400.db.lite),
# and `--help` loads neither.

#: What `destination list --status` can select: the stored states, and an approved one outside its window.
LIST_STATUSES = [*(s.value for s in WhitelistStatus), "expired", "not_yet_valid"]
COLUMNS = ["id", "number", "kind", "city", "owner", "owner_kind", "status", "valid_until", "seats"]
ENTERPRISE_OPTION = click.option("--enterprise", "enterprise_ref", default=None,
                                 help="Enterprise id or name (when a number is registered by several).")


@click.group()
def destination() -> None:
    """Destinations: add, list, show, approve, reject, revoke."""


@destination.command("add")
@click.argument("number")
@click.option("--enterprise", "enterprise_ref", required=True, help="Enterprise id or registered name.")
@click.option("--owner", required=True, help="Registered owner on the carrier's documents (号码所有人).")
@click.option("--owner-kind", type=click.Choice(["company", "person"]), default="company", show_default=True)
@click.option("--relationship", default=None, help="Owner's relation to the enterprise, when not the same.")
@json_option
@handle_errors
def add(number: str, enterprise_ref: str, owner: str, owner_kind: str, relationship: str | None, as_json: bool) -> None:
    """Register a destination number; it stays pending until approved."""
    from ivr400.provisioning import destinations as service
    from ivr400.provisioning import lookup

    a = app()
    with a.session() as s:
        row = service.add_destination(s, lookup.enterprise(s, enterprise_ref), number, owner_name=owner,
                                      owner_kind=owner_kind, relationship=relationship, now=a.now(), actor=a.actor)
        emit(destination_view(row, a.now()), as_json)


@destination.command("list")
@click.option("--enterprise", "enterprise_ref", default=None)
@click.option("--status", type=click.Choice(LIST_STATUSES), default=None,
              help="Only destinations whose effective status is this.")
@json_option
@handle_errors
def list_(enterprise_ref: str | None, status: str | None, as_json: bool) -> None:
    from ivr400.provisioning import listing

    a = app()
    with a.reader() as db:
        owner = listing.enterprise_id(db, enterprise_ref) if enterprise_ref is not None else None
        rows = listing.destinations(db, a.now(), enterprise=owner)
        if status:
            rows = [r for r in rows if r["status"] == status]
        emit(rows, as_json, COLUMNS)


@destination.command("show")
@click.argument("ref")
@ENTERPRISE_OPTION
@json_option
@handle_errors
def show(ref: str, enterprise_ref: str | None, as_json: bool) -> None:
    """Show a destination (by #id or number) with its evidence and audit trail."""
    from sqlalchemy import select

    from ivr400.db.models import WhitelistEvent
    from ivr400.provisioning import lookup

    a = app()
    with a.session() as s:
        d = lookup.destination(s, ref, enterprise_ref)
        view = destination_view(d, a.now())
        view["evidence"] = [evidence_view(ev) for ev in d.evidence]
        view["events"] = [event_view(ev, d.enterprise.timezone) for ev in s.scalars(
            select(WhitelistEvent).where(WhitelistEvent.destination_id == d.id).order_by(WhitelistEvent.id))]
        emit(view, as_json)
        if not as_json:
            click.echo("evidence:")
            emit(view["evidence"], False, ["id", "kind", "file", "media_type", "valid_until", "long_term"])
            click.echo("audit trail:")
            emit(view["events"], False, ["at", "action", "change", "actor", "reason"])


@destination.command("approve")
@click.argument("ref")
@ENTERPRISE_OPTION
@json_option
@handle_errors
def approve(ref: str, enterprise_ref: str | None, as_json: bool) -> None:
    """Approve onto the whitelist when R1–R7 pass; otherwise list what is missing and exit 1."""
    from ivr400.provisioning import destinations as service
    from ivr400.provisioning import lookup

    a = app()
    try:
        with a.session() as s:
            d = lookup.destination(s, ref, enterprise_ref)
            result = service.approve(s, d, now=a.now(), actor=a.actor)
            view = destination_view(d, a.now()) | {"checklist": result.to_dict()}
    except ProvisioningError as exc:
        if exc.field == "destination" and exc.reason.startswith("cannot approve"):
            with a.session() as s:
                service.record_refused_approval(s, lookup.destination(s, ref, enterprise_ref), exc,
                                                now=a.now(), actor=a.actor)
        raise
    emit(view, as_json)


def _status_command(name: str) -> click.Command:
    """`ivr400 destination NAME`: the status change `ivr400.provisioning.destinations.NAME`."""

    @destination.command(name)
    @click.argument("ref")
    @ENTERPRISE_OPTION
    @click.option("--reason", required=True, help="Why (kept in the audit trail).")
    @json_option
    @handle_errors
    def command(ref: str, enterprise_ref: str | None, reason: str, as_json: bool) -> None:
        from ivr400.provisioning import destinations as service
        from ivr400.provisioning import lookup

        a = app()
        with a.session() as s:
            d = lookup.destination(s, ref, enterprise_ref)
            getattr(service, name)(s, d, reason=reason, now=a.now(), actor=a.actor)
            emit(destination_view(d, a.now()), as_json)

    return command


reject = _status_command("reject")
reject.help = "Refuse a pending destination (kept, with the reason)."
revoke = _status_command("revoke")
revoke.help = "Take an approved destination off the whitelist now; its seats are suspended, not deleted."
