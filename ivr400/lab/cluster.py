"""The cluster lab (集群实验室): Kamailio in front of two Asterisk nodes, two controllers, PostgreSQL, on loopback.

    cl = cluster_up(proxy=("127.0.0.1", 5170))     # Kamailio, nodes node2/node3, controllers; state in JSON
    cl.node_rx("node2", "core show channels")      # chroot ROOT asterisk -C <node2's asterisk.conf> -rx ...
    cl.kill_node("node2"); cl.start_node("node2")  # the failure tests
    cluster_down()                                 # stops everything it started, by PID

Topology (defaults):

* Kamailio (host process, Debian bookworm's 5.6) on one UDP address, `proxy` (127.0.0.1:5060 by default;
  the tests use 127.0.0.1:5170 so the single-node lab keeps 127.0.0.1:5060), config rendered by
  ``ivr400.render.kamailio`` from the ``cluster_node`` table;
* Asterisk nodes in the lab's chroot, node N on 127.0.0.N (SIP 5060, AMI 5038 on its own address, its own
  RTP and UDPTL (T.38 fax) ranges), each with its own asterisk.conf directories under
  /var/lib/ivr400-cluster/<name>/ (etc, run, db, spool, log), started with `asterisk -C`;
* two controllers (`ivr400 serve`) on 127.0.0.4:4573 and 127.0.0.5:4573, reached by every node as
  ``agi://ivr400-agi:4573/...``: the name resolves to both (the chroot's /etc/hosts, `multi on`), and
  Asterisk tries every address of the name in turn;
* the database of record: PostgreSQL (a schema of its own), migrated at start: the machine's shared server by
  default, or with ``own_postgres=(host, port)`` a server of the lab's own (``ivr400.lab.cluster_pg``,
  127.0.0.6:5432 from the CLI's ``--own-postgres``) that :meth:`ClusterLab.stop_database` /
  :meth:`ClusterLab.start_database` may restart under load;
* one call-record listener (``ivr400 cdr listen``) per node, on that node's AMI, backfilling from that node's
  cdr_custom CSV (its on-disk journal), with its stats in ``cdr-<node>.stats.json`` every second.

Only processes this module started (recorded in the state file) are stopped, by PID.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.orm import Session

from ivr400.db.engine import make_engine
from ivr400.db.migrate import ensure_schema
from ivr400.deploy.kamailio import KamailioError, dispatcher_list, install
from ivr400.fsutil import atomic_write, file_lock
from ivr400.lab import chroot, process
from ivr400.lab.cluster_pg import LabPostgres
from ivr400.lab.config import LabConfig, new_secret, write_base_config
from ivr400.lab.core import prepare_root
from ivr400.lab.errors import LabError
from ivr400.provisioning import cluster as cluster_nodes
from ivr400.render.kamailio import ProxySettings, nodes_from_db, render_kamailio

__all__ = ["AGI_NAME", "ClusterLab", "ListenerState", "NodeSpec", "cluster_down", "cluster_status", "cluster_up"]

#: The FastAGI host name every node resolves to both controllers.
AGI_NAME = "ivr400-agi"
AGI_PORT = 4573
#: Inside the chroot: one directory per node.
NODES_DIR = "/var/lib/ivr400-cluster"
#: On the host: Kamailio's config, logs, the state file.
HOST_DIR = Path("/var/cache/ivr400/cluster")
DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
DEFAULT_SCHEMA = "ivr400_cluster"
#: The lab's flood limits: requests per 2 s from one address (pike), INVITEs per second in all (ratelimit).
PIKE_DENSITY = 400
INVITE_RATE = 100
#: A node that does not answer an INVITE at all within this many ms is skipped (the call goes to the next).
BRANCH_TIMEOUT_MS = 1000
HOSTS_BEGIN = "# ivr400 cluster lab: begin"
HOSTS_END = "# ivr400 cluster lab: end"


@dataclass(frozen=True)
class NodeSpec:
    """An Asterisk node of the lab: name, address (SIP 5060 and AMI 5038 on it), RTP port range."""

    name: str
    host: str
    rtp_start: int
    rtp_end: int


DEFAULT_NODES = (NodeSpec("node2", "127.0.0.2", 40000, 40999), NodeSpec("node3", "127.0.0.3", 41000, 41999))
DEFAULT_CONTROLLERS = ("127.0.0.4", "127.0.0.5")


def state_path() -> Path:
    """$IVR400_CLUSTER_STATE or /var/cache/ivr400/cluster/state.json."""
    return Path(os.environ.get("IVR400_CLUSTER_STATE") or HOST_DIR / "state.json")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _cmdline(pid: int) -> list[str]:
    try:
        return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []


def _alive(pid: int | None, needle: str) -> bool:
    """`pid` runs and its command line contains `needle` (a recycled PID is not ours)."""
    return bool(pid) and process.pid_alive(pid) and any(needle in a for a in _cmdline(pid))  # type: ignore[arg-type]


def _stop(pid: int | None, needle: str, timeout: float = 10.0, sig: int = signal.SIGTERM) -> bool:
    if not pid or not _alive(pid, needle):
        return False
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _alive(pid, needle):
        time.sleep(0.1)
    if _alive(pid, needle):
        os.kill(pid, signal.SIGKILL)
        while _alive(pid, needle) and time.monotonic() < deadline + 5:
            time.sleep(0.1)
    process._CHILDREN.pop(pid, None)
    return True


@dataclass
class NodeState:
    name: str
    host: str
    sip_port: int
    ami_port: int
    ami_secret: str
    rtp_start: int
    rtp_end: int
    conf: str  # chroot path of its asterisk.conf
    pid: int | None = None


@dataclass
class ControllerState:
    host: str
    port: int
    metrics_port: int
    log: str
    pid: int | None = None


@dataclass
class ListenerState:
    """`ivr400 cdr listen` of one node: its AMI, its CSV (host path), import offset file, stats file."""

    node: str
    log: str
    csv: str
    state_file: str
    stats_file: str
    pid: int | None = None


@dataclass
class ClusterLab:
    """A running cluster lab (see the module docstring); saved as JSON in the state file (mode 0600)."""

    root: str
    proxy_host: str
    proxy_port: int
    database_url: str
    kamailio_config_dir: str
    ctl_socket: str
    ping_interval_s: int
    nodes: list[NodeState] = field(default_factory=list)
    controllers: list[ControllerState] = field(default_factory=list)
    kamailio_pid: int | None = None
    started_at: str | None = None
    listeners: list[ListenerState] = field(default_factory=list)
    #: The lab's own PostgreSQL (None: the database_url's server, which the lab never stops).
    pg_dir: str | None = None
    pg_host: str | None = None
    pg_port: int | None = None

    # -- state file ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path | None = None) -> ClusterLab:
        """The cluster recorded in the state file; LabError if there is none."""
        path = path or state_path()
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise LabError("cluster", f"no cluster state at {path}; run `ivr400 lab cluster up`") from exc
        except (OSError, ValueError) as exc:
            raise LabError("cluster", f"cannot read {path}: {exc}") from exc
        def known(kind: type, values: dict) -> dict:  # a state file of newer or older code: its own keys only
            names = {f.name for f in fields(kind)}
            return {k: v for k, v in values.items() if k in names}

        try:
            data["nodes"] = [NodeState(**known(NodeState, n)) for n in data.get("nodes", [])]
            data["controllers"] = [ControllerState(**known(ControllerState, c)) for c in data.get("controllers", [])]
            data["listeners"] = [ListenerState(**known(ListenerState, c)) for c in data.get("listeners", [])]
            return cls(**known(cls, data))
        except TypeError as exc:
            raise LabError("cluster", f"cannot read {path}: {exc}") from exc

    def save(self, path: Path | None = None) -> None:
        atomic_write(path or state_path(), json.dumps(asdict(self), indent=2) + "\n", mode=0o600)

    # -- nodes ----------------------------------------------------------------------------------
    def node(self, name: str) -> NodeState:
        for n in self.nodes:
            if n.name == name:
                return n
        raise LabError("node", f"no node called {name!r} in the cluster lab")

    def node_running(self, name: str) -> bool:
        n = self.node(name)
        return n.pid is not None and process.is_asterisk_daemon(n.pid, Path(self.root), n.conf)

    def node_rx(self, name: str, command: str, timeout: float = 15.0) -> str:
        """`chroot ROOT asterisk -C <node's asterisk.conf> -rx COMMAND`."""
        return process.asterisk_rx(Path(self.root), command, timeout=timeout, conf=self.node(name).conf)

    def node_config_dir(self, name: str) -> Path:
        """The node's etc directory on the host (its `ivr400/lab-test.conf` include lives there)."""
        return chroot.host_path(Path(self.root), f"{NODES_DIR}/{name}/etc")

    def set_node_dialplan(self, name: str, dialplan: str) -> None:
        """Write the node's ivr400/lab-test.conf and `dialplan reload`."""
        atomic_write(self.node_config_dir(name) / "ivr400" / "lab-test.conf", dialplan)
        self.node_rx(name, "dialplan reload")

    def calls_processed(self, name: str) -> int:
        """The node's `N calls processed` counter (since it started)."""
        out = self.node_rx(name, "core show channels count")
        for line in out.splitlines():
            if "calls processed" in line or "call processed" in line:
                return int(line.split()[0])
        return 0

    def kill_node(self, name: str) -> None:
        """SIGKILL the node's Asterisk (a crash: no BYE, no goodbye to Kamailio)."""
        n = self.node(name)
        if n.pid is not None and process.is_asterisk_daemon(n.pid, Path(self.root), n.conf):
            os.kill(n.pid, signal.SIGKILL)
            deadline = time.monotonic() + 10
            while process.pid_alive(n.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
        n.pid = None
        self.save()

    def start_node(self, name: str, timeout: float = 60.0) -> None:
        """Start the node's Asterisk again (its config as rendered) and wait until it is booted."""
        _start_node(Path(self.root), self.node(name), timeout)
        self.save()

    # -- controllers ------------------------------------------------------------------------------
    def kill_controller(self, index: int) -> None:
        """SIGKILL controller `index` (0 or 1)."""
        c = self.controllers[index]
        _stop(c.pid, "serve", timeout=5, sig=signal.SIGKILL)
        c.pid = None
        self.save()

    def start_controller(self, index: int, timeout: float = 60.0) -> None:
        _start_controller(self, self.controllers[index], timeout)
        self.save()

    # -- call-record listeners -------------------------------------------------------------------
    def listener(self, node: str) -> ListenerState:
        for li in self.listeners:
            if li.node == node:
                return li
        raise LabError("node", f"no call-record listener for {node!r} in the cluster lab")

    def listener_stats(self, node: str) -> dict[str, object]:
        """The listener's last stats (ivr400.cdr.cdr_listener.ListenerStats as a dict, plus `pending_calls`)."""
        try:
            return dict(json.loads(Path(self.listener(node).stats_file).read_text()))
        except (OSError, ValueError):
            return {}

    def kill_listener(self, node: str) -> None:
        """SIGKILL the node's listener (what it holds in memory is lost; the CSV backfill recovers it)."""
        li = self.listener(node)
        _stop(li.pid, "listen", timeout=5, sig=signal.SIGKILL)
        li.pid = None
        self.save()

    def start_listener(self, node: str, timeout: float = 60.0) -> None:
        _start_listener(self, self.listener(node), timeout)
        self.save()

    # -- the lab's own database --------------------------------------------------------------------
    def postgres(self) -> LabPostgres:
        """The lab's own PostgreSQL; LabError when the lab uses a shared server (never stopped by the lab)."""
        if not self.pg_dir or not self.pg_host or not self.pg_port:
            raise LabError("postgres", "this cluster lab uses a shared PostgreSQL; start it with own_postgres "
                                       "(`ivr400 lab cluster up --own-postgres`) to stop and start its database")
        return LabPostgres(Path(self.pg_dir), self.pg_host, self.pg_port)

    def stop_database(self) -> None:
        """`pg_ctl stop -m fast` of the lab's own PostgreSQL (open sessions are cut)."""
        self.postgres().stop()

    def start_database(self, timeout: float = 60.0) -> None:
        self.postgres().start(timeout)

    def kamailio_running(self) -> bool:
        """The recorded Kamailio runs (a state file left by a crashed session records a dead one)."""
        return _alive(self.kamailio_pid, self.kamailio_config_dir)

    def dispatcher_flags(self) -> dict[str, str]:
        """{"sip:127.0.0.2:5060": "AP", ...} from the running Kamailio."""
        try:
            return dispatcher_list(self.ctl_socket)
        except KamailioError as exc:
            raise LabError("kamailio", exc.reason) from exc


# -- starting the parts ------------------------------------------------------------------------
def _node_config(spec: NodeState, proxy_host: str) -> LabConfig:
    base = f"{NODES_DIR}/{spec.name}"
    return LabConfig(ami_secret=spec.ami_secret, sip_host=spec.host, sip_port=spec.sip_port, ami_host=spec.host,
                     ami_port=spec.ami_port, rtp_start=spec.rtp_start, rtp_end=spec.rtp_end, carrier_host=proxy_host,
                     etc_dir=f"{base}/etc", db_dir=f"{base}/db", spool_dir=f"{base}/spool", run_dir=f"{base}/run",
                     log_dir=f"{base}/log", t38=True, udptl_start=spec.rtp_start + 2000,
                     udptl_end=spec.rtp_start + 2099, system_name=spec.name)


def _prepare_node(root: Path, spec: NodeState, proxy_host: str) -> None:
    """The node's directories, a copy of the chroot's /etc/asterisk (Debian's module configs) without the
    single lab's ivr400/ includes, then the lab's base config rendered for this node."""
    base = chroot.host_path(root, f"{NODES_DIR}/{spec.name}")
    for sub in ("etc", "db", "spool", "run", "log", "log/cdr-csv", "log/cdr-custom", "spool/ivr400",
                "spool/ivr400/fax"):
        (base / sub).mkdir(parents=True, exist_ok=True)
    etc = base / "etc"
    shared = chroot.host_path(root, "/etc/asterisk")
    for entry in shared.iterdir():
        if entry.is_file() and entry.suffix == ".conf" and entry.name != "users.conf":
            shutil.copy2(entry, etc / entry.name)
    write_base_config(_node_config(spec, proxy_host), etc)


def _start_node(root: Path, spec: NodeState, timeout: float) -> None:
    if spec.pid is not None and process.is_asterisk_daemon(spec.pid, root, spec.conf):
        return
    log = chroot.host_path(root, f"{NODES_DIR}/{spec.name}/log/console.log")
    spec.pid = process.start_daemon(root, log, ("-C", spec.conf))
    try:
        process.wait_booted(root, spec.pid, log, (spec.host, spec.ami_port), timeout, conf=spec.conf)
    except BaseException:
        process.stop_daemon(spec.pid, timeout=5)
        spec.pid = None
        raise


def _start_controller(cl: ClusterLab, c: ControllerState, timeout: float) -> None:
    if _alive(c.pid, "serve"):
        return
    log = Path(c.log)
    log.parent.mkdir(parents=True, exist_ok=True)
    out = log.with_suffix(".out")
    cmd = [sys.executable, "-c", "from ivr400.cli import main; main()", "--db", cl.database_url, "serve",
           "--host", c.host, "--port", str(c.port), "--metrics-host", c.host, "--metrics-port", str(c.metrics_port),
           "--asterisk-root", cl.root, "--log-level", "warning", "--grace", "2"]
    c.pid = None
    c.pid = _spawn_until_ready(cmd, _child_env(), log, out, "serve", timeout,
                               f"`ivr400 serve` on {c.host}:{c.port} did not start", "controller")


def _child_env() -> dict[str, str]:
    """The lab's environment without IVR400_* settings (each child is given its own), output unbuffered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR400_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _spawn_until_ready(cmd: list[str], env: dict[str, str], log: Path, out: Path | None, what: str,
                       timeout: float, failure: str, field: str) -> int:
    """Start `cmd` in its own session (stderr to `log`, stdout to `out`, or to `log` when None) and wait up
    to `timeout` s for a `ready:` line in stdout; returns its pid. Raises LabError(field, failure + the log's
    tail) after stopping it, when it exits or stays silent."""
    with open(log, "w") as err, (open(out, "w") if out is not None else contextlib.nullcontext(err)) as stdout:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=stdout,
                                stderr=err if out is not None else subprocess.STDOUT, env=env,
                                start_new_session=True, close_fds=True)
    process._CHILDREN[proc.pid] = proc
    ready = out or log
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if "ready:" in ready.read_text(errors="replace"):
            return proc.pid
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    _stop(proc.pid, what, timeout=5)
    raise LabError(field, f"{failure}; {log} ends:\n{process.log_tail(log)}")


def _listener_env(cl: ClusterLab, node: NodeState) -> dict[str, str]:
    env = _child_env()
    env["IVR400_AMI_SECRET"] = node.ami_secret  # not on the command line: /proc/PID/cmdline is world-readable
    return env


def _start_listener(cl: ClusterLab, li: ListenerState, timeout: float) -> None:
    """`ivr400 cdr listen` on the node's AMI, backfilling from its CSV every 5 s; waits for its `ready:`."""
    if _alive(li.pid, "listen"):
        return
    node = cl.node(li.node)
    log = Path(li.log)
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-c", "from ivr400.cli import main; main()", "--db", cl.database_url, "cdr", "listen",
           "--ami-host", node.host, "--ami-port", str(node.ami_port), "--ami-user", "ivr400",
           "--csv", li.csv, "--state-file", li.state_file, "--stats-file", li.stats_file, "--node", node.name,
           "--import-interval", "5"]
    li.pid = None
    li.pid = _spawn_until_ready(cmd, _listener_env(cl, node), log, None, "listen", timeout,
                                f"`ivr400 cdr listen` for {li.node} did not start", "cdr")


def _write_hosts(root: Path, controllers: list[ControllerState]) -> None:
    """The chroot's /etc/hosts: localhost, and AGI_NAME on every controller address (between markers)."""
    hosts = chroot.host_path(root, "/etc/hosts")
    try:
        lines = hosts.read_text().splitlines()
    except FileNotFoundError:
        lines = ["127.0.0.1\tlocalhost"]
    if HOSTS_BEGIN in lines and HOSTS_END in lines:
        del lines[lines.index(HOSTS_BEGIN): lines.index(HOSTS_END) + 1]
    if controllers:
        lines += [HOSTS_BEGIN, *(f"{c.host}\t{AGI_NAME}" for c in controllers), HOSTS_END]
    atomic_write(hosts, "\n".join(lines) + "\n")


def _kamailio_binary() -> str:
    path = shutil.which("kamailio") or ("/usr/sbin/kamailio" if Path("/usr/sbin/kamailio").exists() else None)
    if path is None:
        raise LabError("kamailio", "not installed (apt-get install -y kamailio)")
    return path


def _check_udp_free(host: str, port: int, field_name: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise LabError(field_name, f"{host}:{port}/udp is in use by another process ({exc.strerror}); "
                                       "give another address with --proxy") from exc


def _start_kamailio(cl: ClusterLab, timeout: float) -> None:
    if _alive(cl.kamailio_pid, cl.kamailio_config_dir):
        return
    _check_udp_free(cl.proxy_host, cl.proxy_port, "proxy")
    cfg = Path(cl.kamailio_config_dir) / "kamailio.cfg"
    log = Path(cl.kamailio_config_dir) / "kamailio.log"
    run = Path(cl.kamailio_config_dir) / "run"
    run.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        cmd = [_kamailio_binary(), "-DD", "-E", "-f", str(cfg), "-Y", str(run), "-m", "64", "-M", "8"]
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True)
    process._CHILDREN[proc.pid] = proc
    cl.kamailio_pid = proc.pid
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            flags = dispatcher_list(cl.ctl_socket)
        except KamailioError:
            flags = {}
        if flags and all(f.startswith(("A", "D")) for f in flags.values()):
            return
        time.sleep(0.2)
    _stop(proc.pid, cl.kamailio_config_dir, timeout=5)
    cl.kamailio_pid = None
    raise LabError("kamailio", f"not ready (nodes not all probed active) within {timeout:g} s; {log} ends:\n"
                               f"{process.log_tail(log)}")


def _database(url: str, schema: str | None) -> str:
    """The URL with search_path set to `schema` (created if missing) on PostgreSQL."""
    if not schema or not url.startswith("postgresql"):
        return url
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    finally:
        admin.dispose()
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def _drop_schema(url: str, schema: str) -> None:
    admin = make_engine(url)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


def render_proxy(cl: ClusterLab) -> list[Path]:
    """Render Kamailio's config from the cluster_node table and install it (checked with `kamailio -c`)."""
    proxy = ProxySettings(listen_host=cl.proxy_host, listen_port=cl.proxy_port,
                          list_file=f"{cl.kamailio_config_dir}/dispatcher.list", ctl_socket=cl.ctl_socket,
                          ping_interval_s=cl.ping_interval_s, probing_threshold=1, inactive_threshold=1,
                          branch_timeout_ms=BRANCH_TIMEOUT_MS, pike_density=PIKE_DENSITY, invite_rate=INVITE_RATE,
                          children=2)
    engine = make_engine(cl.database_url)
    try:
        with Session(engine) as s:
            nodes = nodes_from_db(s)
    finally:
        engine.dispose()
    try:
        return install(render_kamailio(proxy, nodes), Path(cl.kamailio_config_dir))
    except KamailioError as exc:
        raise LabError("kamailio", exc.reason) from exc


# -- the API ---------------------------------------------------------------------------------------
def cluster_up(root: Path | None = None, *, proxy: tuple[str, int] = ("127.0.0.1", 5060),
               database_url: str = DEFAULT_DATABASE, schema: str | None = DEFAULT_SCHEMA,
               nodes: tuple[NodeSpec, ...] = DEFAULT_NODES, controllers: tuple[str, ...] = DEFAULT_CONTROLLERS,
               ping_interval_s: int = 1, timeout: float = 60.0, state_file: Path | None = None,
               own_postgres: tuple[str, int] | None = None, fresh_schema: bool = False) -> ClusterLab:
    """Bring the cluster lab up (idempotent: parts already running are kept) and return it.

    `own_postgres` (host, port): run a PostgreSQL of the lab's own there (data under the state file's
    directory, `postgres/`) instead of `database_url`. `fresh_schema`: drop `schema` first (a test's clean start).
    LabError(part, reason) when a part cannot start; the parts started by this call are stopped then.
    """
    root = Path(root) if root is not None else chroot.default_root()
    state_file = state_file or state_path()
    host_dir = state_file.parent
    with file_lock(host_dir / "cluster.lock"):
        root, _ = chroot.ensure_chroot(root)
        chroot.mount_proc(root)
        prepare_root(root)
        try:
            prev: ClusterLab | None = ClusterLab.load(state_file)
        except LabError:
            prev = None
        if prev is not None and prev.pg_dir and (own_postgres is None or (prev.pg_host, prev.pg_port) != own_postgres):
            prev.postgres().stop()  # the lab's own server of an earlier `up` that this one does not use
        pg: LabPostgres | None = None
        if own_postgres is not None:
            pg = LabPostgres(host_dir / "postgres", own_postgres[0], own_postgres[1])
            pg.start(timeout)
            database_url = pg.url
        if fresh_schema and schema and database_url.startswith("postgresql"):
            _drop_schema(database_url, schema)
        url = _database(database_url, schema)
        engine = make_engine(url)
        try:
            ensure_schema(engine)
            with Session(engine) as s, s.begin():
                known = {n.name for n in cluster_nodes.list_nodes(s)}
                for spec in nodes:
                    if spec.name not in known:
                        cluster_nodes.add_node(s, spec.name, spec.host, 5060, now=datetime.now(timezone.utc))
        finally:
            engine.dispose()
        cl = ClusterLab(
            root=str(root), proxy_host=proxy[0], proxy_port=proxy[1], database_url=url,
            kamailio_config_dir=str(host_dir / "kamailio"), ctl_socket=str(host_dir / "kamailio" / "ctl.sock"),
            ping_interval_s=ping_interval_s, started_at=_now(),
            nodes=[NodeState(s.name, s.host, 5060, 5038, new_secret(), s.rtp_start, s.rtp_end,
                             f"{NODES_DIR}/{s.name}/etc/asterisk.conf") for s in nodes],
            controllers=[ControllerState(h, AGI_PORT, 9400, str(host_dir / f"controller-{h}.log"))
                         for h in controllers],
            listeners=[ListenerState(s.name, str(host_dir / f"cdr-{s.name}.log"),
                                     str(chroot.host_path(root, f"{NODES_DIR}/{s.name}/log/cdr-custom/ivr400.csv")),
                                     str(host_dir / f"cdr-{s.name}.offset.json"),
                                     str(host_dir / f"cdr-{s.name}.stats.json")) for s in nodes],
            pg_dir=str(pg.base) if pg else None, pg_host=pg.host if pg else None, pg_port=pg.port if pg else None,
        )
        if prev is not None:  # keep what runs
            for n in cl.nodes:
                old = next((o for o in prev.nodes if o.name == n.name), None)
                if old is not None and old.pid and process.is_asterisk_daemon(old.pid, root, old.conf):
                    n.pid, n.ami_secret = old.pid, old.ami_secret
            for c in cl.controllers:
                old_c = next((o for o in prev.controllers if o.host == c.host), None)
                if old_c is not None and _alive(old_c.pid, "serve"):
                    if prev.database_url == cl.database_url:
                        c.pid = old_c.pid
                    else:  # serving another database: start it again on this one
                        _stop(old_c.pid, "serve")
            for li in cl.listeners:
                old_l = next((o for o in prev.listeners if o.node == li.node), None)
                if old_l is not None and _alive(old_l.pid, "listen"):
                    if prev.database_url == cl.database_url:
                        li.pid = old_l.pid
                    else:
                        _stop(old_l.pid, "listen")
            if (prev.proxy_host, prev.proxy_port) == proxy and _alive(prev.kamailio_pid, cl.kamailio_config_dir):
                cl.kamailio_pid = prev.kamailio_pid
            elif _alive(prev.kamailio_pid, prev.kamailio_config_dir):
                _stop(prev.kamailio_pid, prev.kamailio_config_dir)
        if cl.kamailio_pid is None:
            _check_udp_free(proxy[0], proxy[1], "proxy")  # before starting anything
        try:
            for n in cl.nodes:
                if n.pid is None:
                    _prepare_node(root, n, proxy[0])
                    _start_node(root, n, timeout)
                cl.save(state_file)
            _write_hosts(root, cl.controllers)
            for c in cl.controllers:
                _start_controller(cl, c, timeout)
                cl.save(state_file)
            for li in cl.listeners:
                _start_listener(cl, li, timeout)
                cl.save(state_file)
            render_proxy(cl)
            _start_kamailio(cl, timeout)
        except BaseException:
            cl.save(state_file)
            _down(cl, state_file)
            raise
        cl.save(state_file)
        return cl


def _down(cl: ClusterLab, state_file: Path) -> bool:
    stopped = _stop(cl.kamailio_pid, cl.kamailio_config_dir)
    cl.kamailio_pid = None
    for c in cl.controllers:
        stopped = _stop(c.pid, "serve") or stopped
        c.pid = None
    for li in cl.listeners:  # SIGTERM: it stores what it holds before it exits
        stopped = _stop(li.pid, "listen", timeout=30) or stopped
        li.pid = None
    root = Path(cl.root)
    for n in cl.nodes:
        for pid in {*(process.find_daemons(root, n.conf) if root.exists() else []), *([n.pid] if n.pid else [])}:
            if process.is_asterisk_daemon(pid, root, n.conf):
                stopped = process.stop_daemon(pid, timeout=15) or stopped
        n.pid = None
    if root.exists():
        _write_hosts(root, [])
    if cl.pg_dir:
        stopped = cl.postgres().stop() or stopped
    cl.save(state_file)
    return stopped


def cluster_down(*, state_file: Path | None = None) -> bool:
    """Stop Kamailio, the controllers and the nodes the state file records (by PID); True if any ran."""
    state_file = state_file or state_path()
    with file_lock(state_file.parent / "cluster.lock"):
        try:
            cl = ClusterLab.load(state_file)
        except LabError:
            return False
        return _down(cl, state_file)


def cluster_status(*, state_file: Path | None = None) -> dict[str, object]:
    """{"kamailio": {...}, "nodes": [...], "controllers": [...], "dispatcher": {uri: flags}} of the lab."""
    cl = ClusterLab.load(state_file)
    status: dict[str, object] = {
        "kamailio": {"pid": cl.kamailio_pid if _alive(cl.kamailio_pid, cl.kamailio_config_dir) else None,
                     "sip": f"{cl.proxy_host}:{cl.proxy_port}/udp", "config": cl.kamailio_config_dir},
        "nodes": [{"name": n.name, "sip": f"{n.host}:{n.sip_port}", "ami": f"{n.host}:{n.ami_port}",
                   "rtp": f"{n.rtp_start}-{n.rtp_end}", "conf": n.conf,
                   "pid": n.pid if cl.node_running(n.name) else None} for n in cl.nodes],
        "controllers": [{"agi": f"agi://{c.host}:{c.port}", "name": f"agi://{AGI_NAME}:{c.port}",
                         "pid": c.pid if _alive(c.pid, "serve") else None} for c in cl.controllers],
        "database": cl.database_url.split("@")[-1],
        "listeners": [{"node": li.node, "pid": li.pid if _alive(li.pid, "listen") else None, "csv": li.csv}
                      for li in cl.listeners],
    }
    if cl.pg_dir:
        status["postgres"] = {"dir": cl.pg_dir, "pid": cl.postgres().pid(), "address": f"{cl.pg_host}:{cl.pg_port}"}
    try:
        status["dispatcher"] = cl.dispatcher_flags()
    except LabError as exc:
        status["dispatcher"] = str(exc)
    return status
