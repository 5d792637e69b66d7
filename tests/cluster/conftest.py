"""Fixtures for the cluster tests: the cluster lab (Kamailio, two Asterisk nodes, two controllers, PostgreSQL).

The cluster's Kamailio listens on 127.0.0.1:5170 here (not the 5060 of `ivr400 lab cluster up`'s default): the
single-node lab's Asterisk owns 127.0.0.1:5060 and other e2e tests may be calling it at the same moment, with
their sipp seats on 127.0.0.1:5061-5100 (the carrier here uses 5195, media 46780 up). The
nodes (127.0.0.2, 127.0.0.3) and the controllers (127.0.0.4, 127.0.0.5) share nothing else with the single lab
but the chroot. State, logs and Kamailio's config go to /var/cache/ivr400/cluster-test/, the database to the
schema ivr400_cluster_test of the lab's own PostgreSQL on 127.0.0.6:5432 (data in
/var/cache/ivr400/cluster-test/postgres/, run as the postgres user): the database-restart test stops and
starts it, which it must never do to the machine's shared 127.0.0.1:5432. A cluster this session started is
stopped at the end (IVR400_LAB_KEEP=1 keeps it).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ivr400.fsutil import file_lock
from ivr400.lab.errors import LabError

PROXY = ("127.0.0.1", 5170)
STATE = Path("/var/cache/ivr400/cluster-test/state.json")
SCHEMA = "ivr400_cluster_test"
#: The lab's own PostgreSQL (ivr400.lab.cluster_pg).
POSTGRES = ("127.0.0.6", 5432)
#: Called numbers that Kamailio's hash (algorithm 3, the called number) puts on node2 and node3.
ON_NODE2, ON_NODE3 = "4008000002", "4008000001"

#: What every node runs for these numbers: name the hotline in the call record, ask a controller through the
#: AGI name (both controllers), and refuse the call (503) when no controller answered; answer and hold when one
#: did.
NODE_DIALPLAN = """\
[ivr400-inbound]
exten => _400XXXXXXX,1,Set(CDR(ivr400_hotline)=${EXTEN})
 same => n,AGI(agi://ivr400-agi:4573/route?hotline=${EXTEN})
 same => n,GotoIf($["${AGISTATUS}" = "SUCCESS" & "${IVR400_ACTION}" != ""]?ok)
 same => n,Hangup(34)
 same => n(ok),Answer()
 same => n,Wait(60)
"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _unavailable(reason: str) -> None:
    message = f"cluster lab unavailable: {reason}"
    if _in_ci():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="package")  # down when tests/cluster is done: node2 holds 127.0.0.2, which later tests use
def cluster() -> Iterator[object]:
    if os.geteuid() != 0:
        _unavailable("needs root (chroot, mount)")
    for tool in ("sipp", "kamailio", "kamcmd"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            _unavailable(f"{tool} is not installed")
    os.environ["IVR400_CLUSTER_STATE"] = str(STATE)
    from ivr400.lab.cluster import ClusterLab, cluster_down, cluster_up

    try:
        was = ClusterLab.load(STATE)
        was_running = was.kamailio_running()  # a stale state file (a killed session) is not a running lab
    except LabError:
        was_running = False
    with file_lock(STATE.with_name("calls.lock")):
        try:
            # A fresh schema each session: rows or a migration stamp left by an earlier run (of older code,
            # whose migrations may have been numbered differently) must never decide what `db upgrade` does.
            cl = cluster_up(proxy=PROXY, schema=SCHEMA, ping_interval_s=1, state_file=STATE, own_postgres=POSTGRES,
                            fresh_schema=not was_running)
        except (LabError, OSError) as exc:
            _unavailable(str(exc))
        except Exception as exc:  # noqa: BLE001 - PostgreSQL unreachable and the like
            _unavailable(f"{type(exc).__name__}: {exc}")
        for node in cl.nodes:
            cl.set_node_dialplan(node.name, NODE_DIALPLAN)
        yield cl
        keep = os.environ.get("IVR400_LAB_KEEP", "").strip().lower() in ("1", "true", "yes")
        if not was_running and not keep:
            cluster_down(state_file=STATE)
            _assert_all_stopped(cl)


def _assert_all_stopped(cl: object) -> None:
    """`down` left nothing of what `up` started: no recorded PID runs, every address is free again."""
    import socket

    from ivr400.lab import process

    pids = [cl.kamailio_pid, *(n.pid for n in cl.nodes), *(c.pid for c in cl.controllers),  # type: ignore[attr-defined]
            *(li.pid for li in cl.listeners)]  # type: ignore[attr-defined]
    assert not [p for p in pids if p and process.pid_alive(p)], pids
    assert cl.postgres().pid() is None  # type: ignore[attr-defined]
    for host, port, kind in [(*PROXY, socket.SOCK_DGRAM), (*POSTGRES, socket.SOCK_STREAM),
                             ("127.0.0.2", 5060, socket.SOCK_DGRAM),
                             ("127.0.0.3", 5060, socket.SOCK_DGRAM), ("127.0.0.4", 4573, socket.SOCK_STREAM),
                             ("127.0.0.5", 4573, socket.SOCK_STREAM)]:
        with socket.socket(socket.AF_INET, kind) as sock:
            if kind == socket.SOCK_STREAM:  # connections closed by the server linger in TIME_WAIT: not a holder
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))  # OSError if something still holds it
