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
