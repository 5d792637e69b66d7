"""`ivr400 serve`: run the FastAGI controller the rendered dialplan calls (agi://127.0.0.1:4573/...).

Logs go to stderr, each line with the call's uniqueid. SIGTERM or SIGINT closes gracefully: stop accepting,
let sessions in flight finish (--grace seconds), then exit; a second signal cancels them at once. While the
controller is down or slow, Asterisk takes each hotline's static plan (the fail-safe, docs/architecture.md).
Prometheus metrics and a health check are served on their own port (controller.metrics_host/_port).

``--pbx freeswitch``: the same controller and routes for FreeSWITCH, as an outbound event-socket server the
dialplan's ``socket <host>:<port> async full`` connects to (freeswitch.socket_host/_port, default
127.0.0.1:8084). Verified at the protocol level only (no FreeSWITCH in CI).
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import datetime
from typing import TYPE_CHECKING

import click

from ivr400.cli.common import CommandError, app, handle_errors
from ivr400.pbx.asterisk.fastagi import UniqueidLogFilter
from ivr400.provisioning.errors import ProvisioningError

if TYPE_CHECKING:
    from ivr400.controller.metrics import MetricsServer
    from ivr400.pbx.asterisk.fastagi import FastAGIServer
    from ivr400.pbx.freeswitch.esl import OutboundServer

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(uniqueid)s]: %(message)s"


def _fixed_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ProvisioningError("fixed-now", f"{value!r} is not an ISO 8601 datetime") from None
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        raise ProvisioningError("fixed-now", f"{value!r} has no UTC offset (write e.g. 2026-06-01T10:00+08:00)")
    return parsed


def _ready(server: FastAGIServer | OutboundServer, metrics: MetricsServer | None) -> None:
    scheme = "agi" if type(server).__name__ == "FastAGIServer" else "esl"
    line = f"ready: pid {os.getpid()}, {scheme}://{server.host}:{server.port}"
    if metrics is not None:
        line += f", metrics {metrics.url}/metrics"
    click.echo(line)


@click.command()
@click.option("--pbx", type=click.Choice(["asterisk", "freeswitch"]), default="asterisk", show_default=True,
              help="Which PBX calls the hooks: Asterisk over FastAGI, or FreeSWITCH's socket application (ESL).")
@click.option("--host", default=None, help="Address to listen on: controller.host, with --pbx freeswitch "
              "freeswitch.socket_host (default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="TCP port: controller.port (default 4573), with --pbx "
              "freeswitch freeswitch.socket_port (default 8084); 0: any free port.")
@click.option("--grace", type=float, default=10.0, show_default=True,
              help="Seconds sessions in flight get after SIGTERM.")
@click.option("--log-level", default=None, metavar="debug|info|warning|error",
              help="log.level (default info: every decision with its reason; debug also every AGI command).")
@click.option("--max-sessions", type=int, default=500, show_default=True,
              help="Concurrent AGI sessions; more are refused at once (Asterisk then takes the static plan).")
@click.option("--metrics-host", default=None,
              help="Address of /metrics and /healthz: controller.metrics_host (default 127.0.0.1).")
@click.option("--metrics-port", default=None,
              help="Port of /metrics and /healthz: controller.metrics_port (default 9400; 0: any free port).")
@click.option("--no-metrics", is_flag=True, help="Serve neither /metrics nor /healthz.")
@click.option("--no-events", is_flag=True, help="--pbx freeswitch: do not follow FreeSWITCH's events (call records, "
              "voicemail) even when freeswitch.esl_password is set.")
@click.option("--asterisk-root", default=None, hidden=True,
              help="asterisk.root: Asterisk's file system root seen from here (voicemail sizes).")
@click.option("--fixed-now", default=None, hidden=True, help="Tests only: decide every call at this instant.")
@handle_errors
def serve(pbx: str, host: str | None, port: int | None, grace: float, log_level: str | None, max_sessions: int,
          metrics_host: str | None, metrics_port: str | None, no_metrics: bool, no_events: bool,
          asterisk_root: str | None,
          fixed_now: str | None) -> None:
    """Run the controller (FastAGI, or ESL with --pbx freeswitch) until SIGTERM.

    Settings: controller.host, controller.port (freeswitch.socket_host, freeswitch.socket_port with --pbx
    freeswitch), controller.metrics_host, controller.metrics_port, log.level, asterisk.root; with --pbx
    freeswitch and freeswitch.esl_password set, FreeSWITCH's events are followed at freeswitch.esl_host/_port.
    """
    fs = pbx == "freeswitch"
    listen = {"freeswitch_socket_host": host, "freeswitch_socket_port": port} if fs else \
        {"controller_host": host, "controller_port": port}
    settings = app().settings_with(**listen, log_level=log_level,
                                   controller_metrics_host=metrics_host, controller_metrics_port=metrics_port,
                                   asterisk_root=asterisk_root)
    if fs:
        host, port = settings.freeswitch_socket_host, settings.freeswitch_socket_port
    else:
        host, port = settings.controller_host, settings.controller_port
    port_setting = "freeswitch.socket_port" if fs else "controller.port"
    level = logging.getLevelName(settings.log_level.upper())
    if grace < 0:
        raise ProvisioningError("grace", "must be 0 or more")
    if max_sessions < 1:
        raise ProvisioningError("max-sessions", "must be 1 or more")
    metrics_address = None if no_metrics else (settings.controller_metrics_host, settings.controller_metrics_port)
    fixed = _fixed_now(fixed_now)
    a = app()
    engine = a.engine  # opens and checks the schema before listening
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.addFilter(UniqueidLogFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    log = logging.getLogger("ivr400.serve")
    if fixed is not None:
        log.warning("--fixed-now %s: every call is decided at this instant (tests only)", fixed.isoformat())

    from ivr400.controller.app import run_controller  # imports the geocoder: seconds
    from ivr400.controller.esl import run_esl_controller
    from ivr400.controller.metrics import MetricsAddressError

    now = (lambda: fixed) if fixed is not None else None
    server: FastAGIServer | OutboundServer
    try:
        if fs:
            events = None
            if settings.freeswitch_esl_password and not no_events:
                events = (settings.freeswitch_esl_host, settings.freeswitch_esl_port, settings.freeswitch_esl_password)
            else:
                log.info("FreeSWITCH's events are not followed (%s): no call records or voicemail events from them",
                         "--no-events" if no_events else "freeswitch.esl_password not set")
            server = asyncio.run(run_esl_controller(
                engine, host, port, now=now, grace=grace, max_sessions=max_sessions, metrics_address=metrics_address,
                events=events, on_started=_ready,
            ))
        else:
            server = asyncio.run(run_controller(
                engine, host, port, now=now, grace=grace,
                asterisk_root=settings.asterisk_root, max_sessions=max_sessions, metrics_address=metrics_address,
                # On stdout whatever the log level: supervisors and tests wait for this line.
                on_started=_ready,
            ))
    except MetricsAddressError as exc:
        raise CommandError(f"controller.metrics_port: {exc.strerror}") from exc
    except OSError as exc:
        raise CommandError(f"{port_setting}: cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    finally:
        root.removeHandler(handler)
    click.echo(f"stopped: {server.stats()}", err=True)
