"""`ivr400 web`: serve the back office (自助管理后台) over HTTP."""
from __future__ import annotations

import os
import signal
from datetime import timedelta
from pathlib import Path
from typing import Any

import click

from ivr400.cli.common import app, handle_errors

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8400


@click.command()
@click.option("--host", default=None, help=f"Address to listen on: web.host (default {DEFAULT_HOST}).")
@click.option("--port", type=int, default=None, help=f"TCP port: web.port (default {DEFAULT_PORT}; 0: any free port).")
@click.option("--secure-cookies/--no-secure-cookies", default=None,
              help="web.secure_cookies: mark cookies Secure even when the request is http (TLS terminated by a "
                   "proxy that does not send X-Forwarded-Proto).")
@click.option("--forwarded-allow-ips", default=None,
              help="web.forwarded_allow_ips: proxies trusted for X-Forwarded-Proto/For (default 127.0.0.1).")
@click.option("--asterisk-root", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where Asterisk's file system is seen from this host (voicemail and recordings), e.g. the lab's "
                   "(default: asterisk.root when set).")
@handle_errors
def web(host: str | None, port: int | None, secure_cookies: bool | None, forwarded_allow_ips: str | None,
        asterisk_root: Path | None) -> None:
    """Serve the back office (自助管理后台) over HTTP.

    At http://HOST:PORT/; log in with an account from `ivr400 user add`. Settings from the [web] section of
    the configuration file or IVR400_WEB_* (see `ivr400 config show`); a flag wins. Prints `ready: pid N,
    http://HOST:PORT/` on stdout once it listens (for supervisors such as `ivr400 demo --call`).
    """
    import uvicorn

    from ivr400.pbx.asterisk.ami import Ami
    from ivr400.web.app import create_app
    from ivr400.web.context import WebConfig

    a = app()
    settings = a.settings_with(web_host=host, web_port=port, web_secure_cookies=secure_cookies,
                               web_forwarded_allow_ips=forwarded_allow_ips)
    root = asterisk_root or settings.get("asterisk.root")
    ami = settings.ami
    originator = (lambda: Ami.connect(ami)) if ami.secret else None  # WEB呼叫 callbacks (AMI Originate)
    application = create_app(WebConfig(
        engine=a.engine, store_root=a.data_dir / "evidence", secure_cookies=settings.web_secure_cookies,
        asterisk_root=root, idle_timeout=timedelta(seconds=settings.web_idle_timeout_s),
        absolute_timeout=timedelta(seconds=settings.web_absolute_timeout_s), originator=originator))
    config = uvicorn.Config(application, host=settings.web_host, port=settings.web_port, proxy_headers=True,
                            forwarded_allow_ips=settings.web_forwarded_allow_ips, log_level="info",
                            server_header=False)
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again for the handler that was
    # there before it: make that a clean exit (status 0), as `ivr400 serve` does, for supervisors.
    signal.signal(signal.SIGTERM, _exit_cleanly)
    _Server(config).run()


def _exit_cleanly(signum: int, frame: object) -> None:
    raise SystemExit(0)


class _Server:
    """uvicorn's server, announcing the address it really listens on (port 0: the one the system chose)."""

    def __new__(cls, config: Any) -> Any:  # noqa: ANN401 - a uvicorn.Server subclass, made on first use
        import uvicorn

        class Server(uvicorn.Server):
            async def startup(self, sockets: Any = None) -> None:  # noqa: ANN401
                await super().startup(sockets=sockets)
                if not self.started or not self.servers:
                    return
                sockname = self.servers[0].sockets[0].getsockname()
                shown = f"[{sockname[0]}]" if ":" in sockname[0] else sockname[0]
                url = f"http://{shown}:{sockname[1]}/"
                click.echo(f"back office: {url}", err=True)
                click.echo(f"ready: pid {os.getpid()}, {url}")

        return Server(config)
