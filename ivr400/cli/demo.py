"""`ivr400 demo`: provision the sample enterprise into the database and show what routes where."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from ivr400.cli.common import CommandError, app, emit, handle_errors, json_option
from ivr400.db.routable import routable_seats
from ivr400.provisioning import lookup
from ivr400.provisioning.sample import provision_sample
from ivr400.provisioning.views import destination_view, hotline_view, seat_view

if TYPE_CHECKING:
    from ivr400.lab.demo_call import DemoCallReport


@click.command()
@click.option("--call", "place_call", is_flag=True,
              help="Also bring the PBX lab up, deploy, start the controller, the call-record listener and the back "
                   "office, place a real SIP call pressing key 1 and stop them (needs root); reuses the sample if it "
                   "is provisioned. On a terminal they keep running: Enter places another call, q or Ctrl-C stops.")
@json_option
@handle_errors
def demo(place_call: bool, as_json: bool) -> None:
    """Provision a sample enterprise, hotline, whitelisted destinations and seats, then print them.

    With --call: the lab (Asterisk 22) comes up, the sample's destinations are pointed at sipp seats on
    loopback ports, the dialplan is deployed, `ivr400 serve`, `ivr400 cdr listen` and `ivr400 web` start
    (the back office is checked to answer GET /login), and a call to 4008123456 pressing 1 shows the path
    the controller decided, with its reasons and the call record read back from the database. When stdin
    is a terminal (and without --json) everything keeps running after the call: the back office URL and the
    demo operator's login are printed, Enter places another call (so a seat moved up in the browser is seen
    ringing first), q or Ctrl-C stops the processes by PID. Otherwise they are stopped after the call.
    Exit status 0 only if the expected seat of 销售部 answered the last call and its record says the
    controller decided.
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
    _back_office()


def _back_office(url: str | None = None, note: str = "start it with: ivr400 web") -> None:
    """The back office's URL and the demo operator's login (its generated password printed only once)."""
    from ivr400.provisioning.sample import ENTERPRISE
    from ivr400.provisioning.users import DEMO_OPERATOR, ensure_demo_operator

    a = app()
    if url is None:
        settings = a.settings
        host = "127.0.0.1" if settings.web_host in ("0.0.0.0", "::") else settings.web_host
        url = f"http://{host}:{settings.web_port}/"
    with a.session() as s:
        password = ensure_demo_operator(s, lookup.enterprise(s, ENTERPRISE), now=a.now(), actor=a.actor)
    click.echo(f"back office: {url}" + (f" ({note})" if note else ""))
    if password is not None:
        click.echo(f"  login: {DEMO_OPERATOR} / {password}   (generated for this database, shown only this once)")
    else:
        click.echo(f"  login: {DEMO_OPERATOR} (password shown when it was created; "
                   f"new one: ivr400 user passwd {DEMO_OPERATOR} --generate-password)")


class _Interactive:
    """Between calls on a terminal: print the report (and, once, the back office login), then ask."""

    def __init__(self) -> None:
        self.first = True
        self.last: DemoCallReport | None = None

    def __call__(self, report: DemoCallReport) -> bool:
        from ivr400.lab.demo_call import print_report

        self.last = report
        print_report(report, click.echo)
        if self.first:
            _back_office(report.web.get("url"), "running now: log in, move a seat up, then place another call")
            self.first = False
        click.echo("press Enter to place another demo call (pressing 1); q then Enter, or Ctrl-C, stops the "
                   "controller, the call-record listener and the back office")
        try:
            line = sys.stdin.readline()
        except KeyboardInterrupt:
            return False
        if line == "":  # end of input
            return False
        return line.strip().lower() not in ("q", "quit", "exit")


def _demo_call(as_json: bool) -> None:
    from ivr400.deploy.asterisk import DeployError
    from ivr400.lab import LabError
    from ivr400.lab.demo_call import print_report, run_demo_call
    from ivr400.lab.sipp import SippError
    from ivr400.pbx.asterisk.ami import AmiError

    echo = (lambda text: click.echo(text, err=True)) if as_json else click.echo
    interactive = _Interactive() if sys.stdin.isatty() and not as_json else None
    if interactive is not None:  # a closed terminal or a kill stops the children too, like Ctrl-C
        import signal

        def _interrupt(signum: int, frame: object) -> None:
            raise KeyboardInterrupt

        signal.signal(signal.SIGHUP, _interrupt)
        signal.signal(signal.SIGTERM, _interrupt)
    try:
        report = run_demo_call(app(), echo=echo, on_report=interactive)
    except KeyboardInterrupt:
        # Ctrl-C during a call: every child was stopped by its PID on the way out (see run_demo_call).
        click.echo("\nstopped: the controller, the call-record listener and the back office (Ctrl-C)")
        last = interactive.last if interactive else None
        raise click.exceptions.Exit(0 if last is not None and last.ok else 130) from None
    except (LabError, DeployError, AmiError, SippError) as exc:
        raise CommandError(str(exc)) from exc
    except RuntimeError as exc:
        raise CommandError(f"demo: {exc}") from exc
    if as_json:
        emit(report.to_dict(), True)
        click.echo("the lab keeps running; stop it with: ivr400 lab down", err=True)
    elif interactive is None:
        print_report(report, click.echo)
        _back_office(report.web.get("url"), note="it was served during the call and is stopped now: run "
                                                  "`ivr400 demo --call` in a terminal to keep it, or start it with: "
                                                  "ivr400 web")
    if not report.ok:
        if as_json:
            click.echo(f"error: call: {report.reason}", err=True)
        raise click.exceptions.Exit(1)
