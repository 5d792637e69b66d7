"""`ivr400 serve-xml`: serve the FreeSWITCH dialplan to mod_xml_curl over HTTP, straight from the database.

FreeSWITCH's xml_curl.conf points its dialplan binding at http://HOST:PORT/dialplan (docs/operations.md,
FreeSWITCH); each lookup is answered from the database as it is then (reloaded when the configuration
generation changes, at least every --max-age seconds), so a deploy needs no file and no reloadxml.
"""
from __future__ import annotations

from pathlib import Path

import click

from ivr400.cli.common import app, handle_errors

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8402


@click.command(name="serve-xml")
@click.option("--host", default=DEFAULT_HOST, show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True, help="TCP port.")
@click.option("--templates", "template_dir", type=click.Path(path_type=Path, file_okay=False), default=None,
              help="Operator template directory, searched before the shipped dialplans/freeswitch.")
@click.option("--socket", "socket", default=None, metavar="HOST:PORT",
              help="Where the dialplan's socket hooks reach the ESL controller (default 127.0.0.1:8084).")
@click.option("--max-age", type=click.FloatRange(0.1, 3600), default=5.0, show_default=True,
              help="Seconds a loaded dialplan is reused while the configuration generation is unchanged.")
@handle_errors
def serve_xml(host: str, port: int, template_dir: Path | None, socket: str | None, max_age: float) -> None:
    """Serve the FreeSWITCH dialplan to mod_xml_curl over HTTP, straight from the database.

    POST /dialplan answers FreeSWITCH's lookups (section=dialplan, Hunt-Context, Hunt-Destination-Number);
    GET /healthz says ok.
    """
    import uvicorn

    from ivr400.cli.common import CommandError
    from ivr400.deploy.freeswitch import XmlCurlSource, xml_curl_app
    from ivr400.render.asterisk import RenderError
    from ivr400.render.freeswitch import parse_socket

    if socket is not None:
        try:
            parse_socket(socket)
        except ValueError as exc:
            raise CommandError(f"socket: {exc}") from exc
    a = app()
    source = XmlCurlSource(a.engine, now=a.now, max_age_s=max_age,
                           template_dirs=[template_dir] if template_dir else [], socket=socket)
    try:  # fail now, not at the first call, if the database or the templates are broken
        source.render_check()
    except RenderError as exc:
        raise CommandError(f"templates: {exc}") from exc
    click.echo(f"xml_curl: http://{host}:{port}/dialplan", err=True)
    uvicorn.run(xml_curl_app(source), host=host, port=port, log_level="info", server_header=False)
