"""`ivr400 serve`: run the FastAGI controller the rendered dialplan calls (agi://127.0.0.1:4573/...).

Logs go to stderr. SIGTERM or SIGINT closes gracefully: stop accepting, let sessions in flight finish
(--grace seconds), then exit; a second signal cancels them at once. While the controller is down or
slow, Asterisk takes each hotline's static plan (the fail-safe, docs/architecture.md).
"""
from __future__ import annotations

import asyncio
import logging
import os
import sys
from datetime import datetime
from pathlib import Path

import click

from ivr400.cli.common import CommandError, app, handle_errors
from ivr400.provisioning.errors import ProvisioningError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


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


def _asterisk_root(value: str | None) -> Path | None:
    """Where Asterisk's files are seen from here (voicemail sizes): --asterisk-root, else the lab chroot."""
    if value:
        return Path(value)
    from ivr400.lab.chroot import default_root

    root = default_root()
    return root if root.is_dir() else None


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=4573, show_default=True, help="TCP port (0: any free port).")
@click.option("--grace", type=float, default=10.0, show_default=True,
              help="Seconds sessions in flight get after SIGTERM.")
@click.option("--log-level", default="info", show_default=True, metavar="debug|info|warning|error",
              help="debug also logs every decision.")
@click.option("--max-sessions", type=int, default=500, show_default=True,
              help="Concurrent AGI sessions; more are refused at once (Asterisk then takes the static plan).")
@click.option("--asterisk-root", default=None, hidden=True, help="Asterisk's file system root seen from here.")
@click.option("--fixed-now", default=None, hidden=True, help="Tests only: decide every call at this instant.")
@handle_errors
def serve(host: str, port: int, grace: float, log_level: str, max_sessions: int, asterisk_root: str | None,
          fixed_now: str | None) -> None:
    """Run the FastAGI controller until SIGTERM."""
    level = logging.getLevelName(log_level.upper())
    if not isinstance(level, int):
        raise ProvisioningError("log-level", f"{log_level!r} is not debug, info, warning or error")
    if not 0 <= port <= 65535:
        raise ProvisioningError("port", f"{port} is not a TCP port")
    if grace < 0:
        raise ProvisioningError("grace", "must be 0 or more")
    if max_sessions < 1:
        raise ProvisioningError("max-sessions", "must be 1 or more")
    fixed = _fixed_now(fixed_now)
    a = app()
    engine = a.engine  # opens and checks the schema before listening
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(level)
    log = logging.getLogger("ivr400.serve")
    if fixed is not None:
        log.warning("--fixed-now %s: every call is decided at this instant (tests only)", fixed.isoformat())

    from ivr400.controller.app import run_controller  # imports the geocoder: seconds

    try:
        server = asyncio.run(run_controller(
            engine, host, port, now=(lambda: fixed) if fixed is not None else None, grace=grace,
            asterisk_root=_asterisk_root(asterisk_root), max_sessions=max_sessions,
            # On stdout whatever the log level: supervisors and tests wait for this line.
            on_started=lambda srv: click.echo(f"ready: pid {os.getpid()}, agi://{srv.host}:{srv.port}"),
        ))
    except OSError as exc:
        raise CommandError(f"port: cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
    finally:
        root.removeHandler(handler)
    click.echo(f"stopped: {server.stats()}", err=True)
