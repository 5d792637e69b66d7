"""Kamailio renderer: golden files, Kamailio's own check of the output, the settings it refuses.

Golden files live in tests/render/golden/kamailio/; regenerate them after an intended change with

    UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/render/test_kamailio.py

and review the diff like code.
"""
from __future__ import annotations

import dataclasses
import os
import re
import shutil
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ivr400.db.engine import make_engine
from ivr400.db.migrate import upgrade
from ivr400.deploy.kamailio import KamailioError, check_config, install
from ivr400.provisioning import cluster
from ivr400.render.kamailio import DispatcherNode, ProxySettings, nodes_from_db, render_kamailio
from tests.conftest import NOW

GOLDEN = Path(__file__).with_name("golden") / "kamailio"
UPDATE = os.environ.get("UPDATE_GOLDEN") == "1"
PROXY = ProxySettings(listen_host="127.0.0.1", listen_port=5060, list_file="/etc/kamailio/dispatcher.list",
                      ctl_socket="/run/kamailio/ivr400_ctl", ping_interval_s=5)
NODES = [DispatcherNode("node2", "127.0.0.2", 5060), DispatcherNode("node3", "127.0.0.3", 5060, "draining", 5)]
needs_kamailio = pytest.mark.skipif(shutil.which("kamailio") is None and not Path("/usr/sbin/kamailio").exists(),
                                    reason="kamailio is not installed (Debian package kamailio)")


def test_golden_files() -> None:
    files = render_kamailio(PROXY, NODES)
    for name, text in files.items():
        path = GOLDEN / name
        if UPDATE:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert path.is_file(), f"{path} missing: run with UPDATE_GOLDEN=1"
        assert text == path.read_text(), f"{name} differs from {path}"


def test_dispatcher_list_from_the_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/c.db")
    upgrade(engine)
    with Session(engine) as s:
        cluster.add_node(s, "node3", "127.0.0.3", now=NOW, priority=5)
        cluster.add_node(s, "node2", "127.0.0.2", now=NOW)
        cluster.drain_node(s, "node3", now=NOW)
        s.commit()
        nodes = nodes_from_db(s)
    engine.dispose()
    assert nodes == [NODES[1], NODES[0]]  # priority first
    lines = [line for line in render_kamailio(PROXY, nodes)["dispatcher.list"].splitlines()
             if not line.startswith("#")]
    assert lines == ["1 sip:127.0.0.3:5060 4 5 duid=node3", "1 sip:127.0.0.2:5060 0 0 duid=node2"]


def test_probing_never_takes_408_for_alive() -> None:
    cfg = render_kamailio(PROXY, NODES)["kamailio.cfg"]
    codes = re.search(r'"ds_ping_reply_codes", "([^"]*)"', cfg)
    assert codes is not None and "408" not in codes.group(1) and "class=4" not in codes.group(1)
    assert 'modparam("dispatcher", "ds_ping_interval", 5)' in cfg
    assert "listen=udp:127.0.0.1:5060" in cfg and "0.0.0.0" not in cfg


@pytest.mark.parametrize(("change", "message"), [
    ({"listen_host": "0.0.0.0"}, "listen_host: 0.0.0.0 is the wildcard"),
    ({"listen_host": "kamailio"}, "listen_host: 'kamailio' is not an IPv4 address"),
    ({"listen_port": 0}, "listen_port: 0 is not between 1 and 65535"),
    ({"algorithm": 7}, "algorithm: 7 is not one of"),
    ({"ping_interval_s": 0}, "ping_interval_s: must be 1 or more"),
    ({"list_file": 'etc/"x'}, "list_file:"),
])
def test_refused_settings(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        render_kamailio(dataclasses.replace(PROXY, **change), NODES)


@needs_kamailio
def test_kamailio_accepts_the_rendered_config(tmp_path: Path) -> None:
    proxy = dataclasses.replace(PROXY, list_file=str(tmp_path / "dispatcher.list"), ctl_socket=str(tmp_path / "ctl"))
    written = install(render_kamailio(proxy, NODES), tmp_path)
    assert [p.name for p in written] == ["dispatcher.list", "kamailio.cfg"]
    assert check_config(tmp_path / "kamailio.cfg") == ""


@needs_kamailio
def test_install_refuses_a_config_kamailio_rejects_and_writes_nothing(tmp_path: Path) -> None:
    broken = tmp_path / "templates"
    broken.mkdir()
    (broken / "kamailio.cfg.j2").write_text((Path(__file__).parents[2] / "dialplans" / "kamailio" /
                                             "kamailio.cfg.j2").read_text().replace("t_relay()", "t_relay_nope()"))
    proxy = dataclasses.replace(PROXY, list_file=str(tmp_path / "out" / "dispatcher.list"))
    with pytest.raises(KamailioError, match="kamailio.cfg"):
        install(render_kamailio(proxy, NODES, [broken]), tmp_path / "out")
    assert not (tmp_path / "out").exists()
