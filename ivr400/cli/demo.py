"""`ivr400 demo`: provision the sample enterprise into the database and show what routes where."""
from __future__ import annotations

import click

from ivr400.cli.common import app, emit, handle_errors, json_option
from ivr400.db.routable import routable_seats
from ivr400.provisioning.sample import provision_sample
from ivr400.provisioning.views import destination_view, hotline_view, seat_view


@click.command()
@json_option
@handle_errors
def demo(as_json: bool) -> None:
    """Provision a sample enterprise, hotline, whitelisted destinations and seats, then print them."""
    a = app()
    now = a.now()
    with a.session() as s:
        result = provision_sample(s, store_root=a.data_dir / "evidence", now=now, actor=a.actor)
        h = result.hotline
        report = {
            "database": a.engine.url.render_as_string(hide_password=True),
            "hotline": hotline_view(h, now),
            "destinations": [destination_view(d, now) for d in result.enterprise.destinations],
            "seats": [seat_view(x, now) for x in h.seats],
            "routable_now": [{"department_id": r.department_id, "position": r.position, "number": r.number}
                             for r in routable_seats(s, now, h.id)],
            "refused": result.refused,
        }
    if as_json:
        emit(report, True)
        return
    click.echo(f"database: {report['database']}")
    click.echo(f"hotline {h.number} ({result.enterprise.name}, carrier {h.carrier})")
    click.echo("destinations:")
    emit(report["destinations"], False, ["id", "number", "city", "owner", "status", "valid_until"])
    click.echo("seats (hunt order):")
    emit(report["seats"], False, ["id", "department", "position", "destination", "ring_timeout_s", "state"])
    for number, why in result.refused.items():
        click.echo(f"not whitelisted: {number}: {why}")
