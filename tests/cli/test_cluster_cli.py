"""`ivr400 cluster`: nodes add/drain/undrain/remove/list, refusals naming the field, render to a directory."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest


def test_nodes_lifecycle(cli) -> None:  # noqa: ANN001
    cli("cluster", "node", "add", "node2", "127.0.0.2:5060")
    cli("cluster", "node", "add", "node3", "127.0.0.3", "--priority", "5")
    cli("cluster", "node", "drain", "node2")
    rows = json.loads(cli("cluster", "node", "list", "--json").output)
    assert rows == [{"name": "node3", "sip": "127.0.0.3:5060", "state": "active", "priority": 5},
                    {"name": "node2", "sip": "127.0.0.2:5060", "state": "draining", "priority": 0}]
    cli("cluster", "node", "undrain", "node2")
    cli("cluster", "node", "remove", "node3")
    rows = json.loads(cli("cluster", "node", "list", "--json").output)
    assert [(r["name"], r["state"]) for r in rows] == [("node2", "active")]


@pytest.mark.parametrize(("args", "message"), [
    (("node9", "0.0.0.0"), "error: address: 0.0.0.0 is the wildcard"),
    (("node9", "127.0.0.2:99999"), "error: address: 99999 is not between 1 and 65535"),
    (("node9", "asterisk.local"), "error: address: 'asterisk.local' is not an IPv4 address"),
    (("9node", "127.0.0.9"), "error: name: '9node'"),
    (("node2", "127.0.0.9"), "error: name: a node called 'node2' already exists"),
    (("node9", "127.0.0.2"), "error: sip_host: 127.0.0.2:5060 is already node 'node2'"),
])
def test_refusals_name_the_field_and_write_nothing(cli, args: tuple[str, str], message: str) -> None:  # noqa: ANN001
    cli("cluster", "node", "add", "node2", "127.0.0.2")
    before = cli.snapshot()
    result = cli("cluster", "node", "add", *args, ok=False)
    assert result.exit_code == 1 and message in result.stderr
    assert cli.snapshot() == before


def test_unknown_node(cli) -> None:  # noqa: ANN001
    result = cli("cluster", "node", "drain", "nope", ok=False)
    assert result.exit_code == 1 and "error: node: no node called 'nope'" in result.stderr


def test_render_to_stdout_and_to_a_directory(cli, tmp_path: Path) -> None:  # noqa: ANN001
    cli("cluster", "node", "add", "node2", "127.0.0.2")
    out = cli("cluster", "render", "--stdout", "--listen", "127.0.0.1:5070").output
    assert "listen=udp:127.0.0.1:5070" in out and "1 sip:127.0.0.2:5060 0 0 duid=node2" in out
    bad = cli("cluster", "render", "--stdout", "--listen", "0.0.0.0:5060", ok=False)
    assert "error: listen: 0.0.0.0 is the wildcard" in bad.stderr
    if shutil.which("kamailio") is None and not Path("/usr/sbin/kamailio").exists():
        pytest.skip("kamailio is not installed")
    target = tmp_path / "kamailio"
    result = cli("cluster", "render", "--config-dir", str(target), "--listen", "127.0.0.1:5070",
                 "--ctl-socket", str(tmp_path / "ctl"))
    assert "1 node(s), 1 active" in result.output
    assert (target / "dispatcher.list").read_text().count("sip:127.0.0.2:5060") == 1
