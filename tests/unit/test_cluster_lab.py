"""The cluster lab's pure parts: each node's rendered config binds its own address and owns its directories and
port ranges; the chroot's /etc/hosts gives the AGI name every controller and loses it again at `down`."""
from __future__ import annotations

import re
from pathlib import Path

from ivr400.lab.cluster import (
    AGI_NAME,
    DEFAULT_NODES,
    NODES_DIR,
    ControllerState,
    NodeState,
    _node_config,
    _write_hosts,
)
from ivr400.lab.config import render_base_config


def _node(spec_index: int) -> NodeState:
    s = DEFAULT_NODES[spec_index]
    return NodeState(s.name, s.host, 5060, 5038, "secret", s.rtp_start, s.rtp_end,
                     f"{NODES_DIR}/{s.name}/etc/asterisk.conf")


def test_each_node_binds_its_own_address_and_owns_its_directories_and_ports() -> None:
    seen_ranges: list[tuple[int, int]] = []
    for i in range(len(DEFAULT_NODES)):
        node = _node(i)
        files = render_base_config(_node_config(node, "127.0.0.1"))
        assert re.search(rf"^bind = {re.escape(node.host)}:5060$", files["pjsip.conf"], re.M)
        assert re.search(rf"^bindaddr = {re.escape(node.host)}$", files["manager.conf"], re.M)
        assert "0.0.0.0:" not in files["pjsip.conf"]
        # Calls come from the proxy: the carrier endpoint matches Kamailio's address, not the node's.
        assert re.search(r"^match = 127\.0\.0\.1$", files["pjsip.conf"], re.M)
        assert "t38_udptl = yes" in files["pjsip.conf"]
        base = f"{NODES_DIR}/{node.name}"
        for key, sub in (("astetcdir", "etc"), ("astdbdir", "db"), ("astspooldir", "spool"), ("astrundir", "run"),
                         ("astlogdir", "log")):
            assert f"{key} => {base}/{sub}\n" in files["asterisk.conf"]
        rtp = tuple(int(x) for x in re.findall(r"^rtp(?:start|end) = (\d+)$", files["rtp.conf"], re.M))
        udptl = tuple(int(x) for x in re.findall(r"^udptl(?:start|end) = (\d+)$", files["udptl.conf"], re.M))
        seen_ranges += [rtp, udptl]  # type: ignore[list-item]
    flat = sorted(seen_ranges)
    assert all(a[1] < b[0] for a, b in zip(flat, flat[1:], strict=False)), f"overlapping port ranges: {flat}"
    assert all(lo > 19999 for lo, _ in flat), "above the single lab's RTP range (10000-19999)"


def test_the_agi_name_resolves_to_every_controller_and_goes_away(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hosts").write_text("127.0.0.1\tlocalhost\n10.1.1.1\tother\n")
    controllers = [ControllerState(h, 4573, 9400, "log") for h in ("127.0.0.4", "127.0.0.5")]
    _write_hosts(root, controllers)
    _write_hosts(root, controllers)  # idempotent
    text = (root / "etc" / "hosts").read_text()
    assert [line for line in text.splitlines() if AGI_NAME in line] == [f"127.0.0.4\t{AGI_NAME}",
                                                                          f"127.0.0.5\t{AGI_NAME}"]
    _write_hosts(root, [])
    assert (root / "etc" / "hosts").read_text() == "127.0.0.1\tlocalhost\n10.1.1.1\tother\n"


def test_a_state_file_of_other_code_loads_with_the_keys_this_code_knows(tmp_path: Path) -> None:
    """Sessions of older and newer code share the lab's state file: unknown keys are ignored, missing ones take
    their defaults (no listeners, no lab PostgreSQL), and a state that cannot be read is a LabError."""
    import json

    import pytest

    from ivr400.lab.cluster import ClusterLab
    from ivr400.lab.errors import LabError

    state = tmp_path / "state.json"
    base = {"root": "/r", "proxy_host": "127.0.0.1", "proxy_port": 5170, "database_url": "sqlite://",
            "kamailio_config_dir": "/k", "ctl_socket": "/k/ctl", "ping_interval_s": 1,
            "nodes": [{"name": "node2", "host": "127.0.0.2", "sip_port": 5060, "ami_port": 5038, "ami_secret": "s",
                       "rtp_start": 1, "rtp_end": 2, "conf": "/c", "pid": None, "future_field": 1}],
            "controllers": [], "kamailio_pid": None, "someday": True}
    state.write_text(json.dumps(base))
    cl = ClusterLab.load(state)
    assert [n.name for n in cl.nodes] == ["node2"] and cl.listeners == [] and cl.pg_dir is None
    with pytest.raises(LabError, match="postgres"):
        cl.postgres()
    state.write_text(json.dumps({"root": "/r"}))
    with pytest.raises(LabError, match="cannot read"):
        ClusterLab.load(state)
