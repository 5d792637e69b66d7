"""`ivr400 demo`: provision the sample enterprise into the database and show what routes where."""
from __future__ import annotations

from typing import Any

import click

from ivr400.cli.common import CommandError, app, emit, handle_errors, json_option
from ivr400.db.routable import routable_seats
from ivr400.provisioning.sample import provision_sample
from ivr400.provisioning.views import destination_view, hotline_view, seat_view


@click.command()
@click.option("--call", "place_call", is_flag=True,
              help="Also bring the PBX lab up, deploy, and place a real SIP call pressing key 1 (needs root); "
                   "reuses the sample if it is already provisioned.")
@json_option
@handle_errors
def demo(place_call: bool, as_json: bool) -> None:
    """Provision a sample enterprise, hotline, whitelisted destinations and seats, then print them.

    With --call: the lab (Asterisk 22) comes up, the sample's destinations are pointed at sipp seats on
    loopback ports, the dialplan is deployed and a call to 4008123456 pressing 1 shows the path it
    takes; exit status 0 only if the expected seat of 销售部 answered.
    """
    a = app()
    if place_call:
        _demo_call(as_json)
        return
    now = a.now()
    with a.session() as s:
        result = provision_sample(s, store_root=a.data_dir / "evidence", now=now, actor=a.actor)
        h = result.hotline
        report: dict[str, Any] = {
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


def _demo_call(as_json: bool) -> None:
    from ivr400.lab import LabError
    from ivr400.lab.demo_call import print_report, run_demo_call
    from ivr400.lab.sipp import SippError
    from ivr400.pbx.asterisk.ami import AmiError
    from ivr400.pbx.asterisk.deploy import DeployError

    echo = (lambda text: click.echo(text, err=True)) if as_json else click.echo
    try:
        report = run_demo_call(app(), echo=echo)
    except (LabError, DeployError, AmiError, SippError) as exc:
        raise CommandError(str(exc)) from exc
    except RuntimeError as exc:
        raise CommandError(f"demo: {exc}") from exc
    if as_json:
        emit(report.to_dict(), True)
        click.echo("the lab keeps running; stop it with: ivr400 lab down", err=True)
    else:
        print_report(report, click.echo)
    if not report.ok:
        if as_json:
            click.echo(f"error: call: {report.reason}", err=True)
        raise click.exceptions.Exit(1)
