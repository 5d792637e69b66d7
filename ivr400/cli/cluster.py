"""Cluster nodes behind Kamailio: node add, remove, drain, undrain, list; render Kamailio's config.

`ivr400 cluster node add node2 127.0.0.2:5060` records an Asterisk node (集群节点); `ivr400 cluster render
--config-dir DIR --listen 127.0.0.1:5060` renders kamailio.cfg and dispatcher.list from the node list,
checks them with `kamailio -c` and writes them; `--reload` tells the running Kamailio (its ctl socket) to
read the node list again, so a drained node gets no new calls while its calls in progress finish.
"""
from __future__ import annotations

from pathlib import Path

import click

from ivr400.cli.common import CommandError, app, emit, handle_errors, json_option
from ivr400.provisioning.errors import ProvisioningError

# The ORM and the provisioning services are imported by the commands that write; `node list` reads through
# the database driver alone (ivr400.db.lite), and `--help` loads neither.

DEFAULT_CONFIG_DIR = Path("/etc/kamailio")
DEFAULT_CTL_SOCKET = "/run/kamailio/ivr400_ctl"


def _address(value: str, field: str = "address") -> tuple[str, int]:
    from ivr400.provisioning import cluster as nodes

    host, sep, port = value.rpartition(":")
    if not sep:
        host, port = value, "5060"
    try:
        return nodes.check_node_address(host, port)
    except ProvisioningError as exc:
        raise ProvisioningError(field, exc.reason) from None


@click.group()
def cluster() -> None:
    """Cluster nodes behind Kamailio: node add, remove, drain, undrain, list; render Kamailio's config."""


@cluster.group()
def node() -> None:
    """The Asterisk nodes Kamailio dispatches calls to."""


@node.command("add")
@click.argument("name")
@click.argument("address")
@click.option("--priority", type=int, default=0, show_default=True,
              help="Dispatcher priority (higher first; used by the priority algorithm).")
@handle_errors
def add(name: str, address: str, priority: int) -> None:
    """Add node NAME listening on ADDRESS (HOST or HOST:PORT, one specific IPv4 address)."""
    from ivr400.provisioning import cluster as nodes

    host, port = _address(address)
    a = app()
    with a.session() as s:
        n = nodes.add_node(s, name, host, port, priority=priority, now=a.now())
        click.echo(f"node {n.name}: sip:{n.sip_host}:{n.sip_port} active (render with --reload to apply)")


@node.command("remove")
@click.argument("name")
@handle_errors
def remove(name: str) -> None:
    """Remove node NAME (drain it first and wait for its calls to end)."""
    from ivr400.provisioning import cluster as nodes

    with app().session() as s:
        nodes.remove_node(s, name)
    click.echo(f"node {name}: removed (render with --reload to apply)")


@node.command("drain")
@click.argument("name")
@handle_errors
def drain(name: str) -> None:
    """No new calls for node NAME; the calls it has finish."""
    from ivr400.provisioning import cluster as nodes

    a = app()
    with a.session() as s:
        nodes.drain_node(s, name, now=a.now())
    click.echo(f"node {name}: draining (render with --reload to apply)")


@node.command("undrain")
@click.argument("name")
@handle_errors
def undrain(name: str) -> None:
    """Node NAME takes new calls again."""
    from ivr400.provisioning import cluster as nodes

    a = app()
    with a.session() as s:
        nodes.undrain_node(s, name, now=a.now())
    click.echo(f"node {name}: active (render with --reload to apply)")


@node.command("list")
@json_option
@handle_errors
def list_(as_json: bool) -> None:
    """Every node: name, SIP address, state, priority."""
    from ivr400.provisioning import listing  # the driver alone (ivr400.db.lite), not the ORM

    with app().reader() as db:
        rows = listing.cluster_nodes(db)
    emit(rows, as_json, ["name", "sip", "state", "priority"])


@cluster.command("render")
@click.option("--config-dir", type=click.Path(file_okay=False, path_type=Path), default=DEFAULT_CONFIG_DIR,
              show_default=True, help="Where kamailio.cfg and dispatcher.list go.")
@click.option("--listen", default="127.0.0.1:5060", show_default=True,
              help="Kamailio's SIP address HOST:PORT (one specific address, never 0.0.0.0).")
@click.option("--ctl-socket", default=DEFAULT_CTL_SOCKET, show_default=True,
              help="Kamailio's control socket (kamcmd).")
@click.option("--ping-interval", type=int, default=10, show_default=True, help="Seconds between OPTIONS probes.")
@click.option("--algorithm", type=int, default=3, show_default=True,
              help="Dispatcher algorithm: 3 hash of the called number, 4 round robin, 0 Call-ID, 8 priority.")
@click.option("--templates", "template_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Operator template directory, searched before the shipped templates.")
@click.option("--stdout", "to_stdout", is_flag=True, help="Print kamailio.cfg and dispatcher.list; write nothing.")
@click.option("--reload", "reload_", is_flag=True,
              help="After writing, make the running Kamailio read the node list again (kamcmd dispatcher.reload).")
@handle_errors
def render(config_dir: Path, listen: str, ctl_socket: str, ping_interval: int, algorithm: int,
           template_dir: Path | None, to_stdout: bool, reload_: bool) -> None:
    """Render Kamailio's config from the node list, check it with `kamailio -c`, install it."""
    from ivr400.deploy.kamailio import KamailioError, install, reload_dispatcher
    from ivr400.render.kamailio import ProxySettings, nodes_from_db, render_kamailio

    host, port = _address(listen, "listen")
    proxy = ProxySettings(listen_host=host, listen_port=port, list_file=str(config_dir.absolute() / "dispatcher.list"),
                          ctl_socket=ctl_socket, ping_interval_s=ping_interval, algorithm=algorithm)
    with app().session() as s:
        node_list = nodes_from_db(s)
    try:
        files = render_kamailio(proxy, node_list, [template_dir] if template_dir else [])
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    if to_stdout:
        for name, text in files.items():
            click.echo(f"# ---- {name}")
            click.echo(text, nl=False)
        return
    try:
        written = install(files, config_dir.absolute())
        if reload_:
            reload_dispatcher(ctl_socket)
    except KamailioError as exc:
        raise CommandError(str(exc)) from exc
    active = sum(1 for n in node_list if n.state == "active")
    click.echo(f"kamailio: {len(node_list)} node(s), {active} active; wrote {', '.join(str(p) for p in written)}"
               + ("; reloaded" if reload_ else ""))
