"""The `lab` click group: build, up, down, status. Mounted as `ivr400 lab` by ivr400.cli.lab."""
from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import click

from ivr400.lab.chroot import default_root, ensure_chroot
from ivr400.lab.core import lab_down, lab_status, lab_up
from ivr400.lab.errors import LabError


def _fail(exc: LabError) -> None:
    click.echo(f"error: {exc.field}: {exc.reason}", err=True)
    raise click.exceptions.Exit(1)


def _root_option(func: Callable[..., None]) -> Callable[..., None]:
    return click.option(
        "--root",
        type=click.Path(path_type=Path),
        default=None,
        help="Chroot directory (default $IVR400_LAB_ROOT or /var/cache/ivr400/asterisk-root).",
    )(func)


@click.group(name="lab")
def lab() -> None:
    """The PBX lab: Asterisk 22 (Debian sid) in a chroot on 127.0.0.1 (SIP 5060/udp, AMI 5038)."""


@lab.command()
@_root_option
def build(root: Path | None) -> None:
    """Build the chroot with debootstrap (or reuse the cached one)."""
    try:
        path, seconds = ensure_chroot(root or default_root())
    except LabError as exc:
        _fail(exc)
    if seconds is None:
        click.echo(f"chroot: {path} (cached)")
    else:
        click.echo(f"chroot: {path} (built in {seconds:.0f} s)")


@lab.command()
@_root_option
@click.option(
    "--verbose/--quiet",
    default=None,
    help="Asterisk verbose+dtmf logging (default $IVR400_LAB_VERBOSE).",
)
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for boot.")
def up(root: Path | None, verbose: bool | None, timeout: float) -> None:
    """Start the lab (idempotent: reports it if it already runs)."""
    t0 = time.monotonic()
    try:
        before = lab_status(root)
        lab_obj = lab_up(root, verbose=verbose, timeout=timeout)
        version = lab_obj.version()
    except LabError as exc:
        _fail(exc)
    if lab_obj.build_seconds is not None:
        click.echo(f"chroot: built {lab_obj.root} in {lab_obj.build_seconds:.0f} s")
    state = "already running" if before.running and before.pid == lab_obj.pid else "started"
    click.echo(
        f"lab: {state}, pid {lab_obj.pid}, {version.split(' built')[0]}; "
        f"SIP udp {lab_obj.sip_host}:{lab_obj.sip_port}, AMI {lab_obj.ami_host}:{lab_obj.ami_port} "
        f"user {lab_obj.ami_username} (secret in the state file); {time.monotonic() - t0:.1f} s"
    )


@lab.command()
@_root_option
@click.option("--timeout", type=float, default=15.0, show_default=True, help="Seconds before SIGKILL.")
def down(root: Path | None, timeout: float) -> None:
    """Stop the lab's Asterisk."""
    try:
        stopped = lab_down(root, timeout=timeout)
    except LabError as exc:
        _fail(exc)
    click.echo("lab: stopped" if stopped else "lab: was not running")


@lab.command()
@_root_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(root: Path | None, as_json: bool) -> None:
    """Whether the lab runs, its PID, Asterisk version and endpoints."""
    try:
        st = lab_status(root)
    except LabError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(st.to_dict(), indent=2))
        return
    if not st.running:
        click.echo(f"lab: not running (chroot {st.root}{'' if st.chroot_built else ', not built'})")
        return
    click.echo(f"lab: running, pid {st.pid}, {st.version or 'version unknown'}")
    if st.ami_host:
        click.echo(
            f"  SIP udp {st.sip_host}:{st.sip_port}; AMI {st.ami_host}:{st.ami_port} user {st.ami_username}"
        )
    click.echo(f"  chroot {st.root}; started {st.started_at or 'unknown'}")


@lab.group(name="cluster")
def cluster() -> None:
    """The cluster lab: Kamailio, two Asterisk nodes (127.0.0.2, 127.0.0.3), two controllers, PostgreSQL."""


@cluster.command(name="up")
@_root_option
@click.option("--proxy", default="127.0.0.1:5060", show_default=True,
              help="Kamailio's SIP address HOST:PORT (the tests use 127.0.0.1:5170 beside the single lab).")
@click.option("--database", default=None, help="Database URL (default PostgreSQL at 127.0.0.1:5432/test).")
@click.option("--schema", default="ivr400_cluster", show_default=True, help="PostgreSQL schema (created if missing).")
@click.option("--own-postgres", "own_postgres", is_flag=False, flag_value="127.0.0.6:5432", default=None,
              metavar="[HOST:PORT]",
              help="Run a PostgreSQL of the lab's own (127.0.0.6:5432 without a value; data under "
                   "/var/cache/ivr400/cluster/postgres) instead of --database: one the lab may stop and start.")
@click.option("--ping-interval", type=int, default=1, show_default=True, help="Seconds between OPTIONS probes.")
@click.option("--timeout", type=float, default=60.0, show_default=True, help="Seconds to wait for each part.")
def cluster_up_(root: Path | None, proxy: str, database: str | None, schema: str, own_postgres: str | None,
                ping_interval: int, timeout: float) -> None:
    """Start Kamailio, the nodes and the controllers (idempotent: what runs is kept)."""
    from ivr400.lab.cluster import DEFAULT_DATABASE, cluster_status, cluster_up

    host, _, port = proxy.rpartition(":")
    if not host or not port.isdigit():
        _fail(LabError("proxy", f"{proxy!r} is not HOST:PORT"))
    pg: tuple[str, int] | None = None
    if own_postgres is not None:
        pg_host, _, pg_port = own_postgres.rpartition(":")
        if not pg_host or not pg_port.isdigit() or not 0 < int(pg_port) < 65536:
            _fail(LabError("own-postgres", f"{own_postgres!r} is not HOST:PORT"))
        if database:
            _fail(LabError("own-postgres", "give either --database or --own-postgres, not both"))
        pg = (pg_host, int(pg_port))
    t0 = time.monotonic()
    try:
        cluster_up(root, proxy=(host, int(port)), database_url=database or DEFAULT_DATABASE, schema=schema,
                   ping_interval_s=ping_interval, timeout=timeout, own_postgres=pg)
        st = cluster_status()
    except LabError as exc:
        _fail(exc)
    _print_cluster(st)
    click.echo(f"cluster: up in {time.monotonic() - t0:.1f} s")


def _print_cluster(st: dict[str, object]) -> None:
    kam = st["kamailio"]
    assert isinstance(kam, dict)
    click.echo(f"kamailio: sip {kam['sip']}, pid {kam['pid'] or 'not running'}, config {kam['config']}")
    dispatcher = st.get("dispatcher")
    flags = dispatcher if isinstance(dispatcher, dict) else {}
    for n in st["nodes"]:  # type: ignore[attr-defined]
        click.echo(f"node {n['name']}: sip {n['sip']}, ami {n['ami']}, rtp {n['rtp']}, "
                   f"pid {n['pid'] or 'not running'}, dispatcher {flags.get('sip:' + n['sip'], '?')}")
    for c in st["controllers"]:  # type: ignore[attr-defined]
        click.echo(f"controller {c['agi']} (as {c['name']}): pid {c['pid'] or 'not running'}")
    click.echo(f"database: {st['database']}")
    pg = st.get("postgres")
    if isinstance(pg, dict):
        click.echo(f"postgres (the lab's own): {pg['address']}, pid {pg['pid'] or 'not running'}, data {pg['dir']}")
    for li in st.get("listeners", []):  # type: ignore[attr-defined]
        click.echo(f"cdr listener {li['node']}: pid {li['pid'] or 'not running'}, csv {li['csv']}")


@cluster.command(name="down")
def cluster_down_() -> None:
    """Stop everything `lab cluster up` started (by PID)."""
    from ivr400.lab.cluster import cluster_down

    try:
        stopped = cluster_down()
    except LabError as exc:
        _fail(exc)
    click.echo("cluster: stopped" if stopped else "cluster: was not running")


@cluster.command(name="status")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cluster_status_(as_json: bool) -> None:
    """Kamailio, nodes (with their dispatcher state), controllers."""
    from ivr400.lab.cluster import cluster_status

    try:
        st = cluster_status()
    except LabError as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(st, indent=2))
    else:
        _print_cluster(st)
