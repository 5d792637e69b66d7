"""`ivr400 web`: serve the back office (自助管理后台) over HTTP."""
from __future__ import annotations

from pathlib import Path

import click

from ivr400.cli.common import app

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8400


@click.command()
@click.option("--host", envvar="IVR400_WEB_HOST", default=DEFAULT_HOST, show_default=True)
@click.option("--port", envvar="IVR400_WEB_PORT", type=click.IntRange(1, 65535), default=DEFAULT_PORT,
              show_default=True)
@click.option("--secure-cookies/--no-secure-cookies", default=False,
              help="Mark cookies Secure even when the request is http (TLS terminated by a proxy that "
                   "does not send X-Forwarded-Proto).")
@click.option("--forwarded-allow-ips", envvar="IVR400_WEB_FORWARDED_ALLOW_IPS", default="127.0.0.1",
              show_default=True, help="Proxies trusted for X-Forwarded-Proto/For.")
@click.option("--asterisk-root", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Where Asterisk's file system is seen from this host (voicemail and recordings), e.g. the lab's.")
def web(host: str, port: int, secure_cookies: bool, forwarded_allow_ips: str, asterisk_root: Path | None) -> None:
    """Serve the back office (自助管理后台) over HTTP.

    At http://HOST:PORT/; log in with an account from `ivr400 user add`.
    """
    import uvicorn

    from ivr400.pbx.asterisk.ami import Ami
    from ivr400.web.app import create_app
    from ivr400.web.context import WebConfig

    a = app()
    ami = a.settings.ami
    originator = (lambda: Ami.connect(ami)) if ami.secret else None  # WEB呼叫 callbacks (AMI Originate)
    application = create_app(WebConfig(engine=a.engine, store_root=a.data_dir / "evidence",
                                       secure_cookies=secure_cookies, asterisk_root=asterisk_root,
                                       originator=originator))
    click.echo(f"back office: http://{host}:{port}/", err=True)
    uvicorn.run(application, host=host, port=port, proxy_headers=True, forwarded_allow_ips=forwarded_allow_ips,
                log_level="info", server_header=False)
