"""Every node carries every hotline's plan (docs/operations.md, "What each node renders").

Kamailio's dispatcher may hand any hotline's call to any node (the hash moves a dead node's hotlines to the
others, and a failed branch goes to the next node), so ivr400 deploys the same rendered plan, all hotlines,
to each node. Here the database's hotlines are deployed to node2 and node3 as an operator would
(`ivr400 deploy` with each node's paths and AMI) and both running dialplans are compared, context by context,
and both nodes' Asterisk databases (AstDB family ivr400: the hotlines' data), key by key.
Runs after the failure tests (file order): the deployed includes and data are emptied again at the end.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ivr400.db.engine import make_engine
from ivr400.deploy.asterisk import DeployTarget, cdr_include_files, contexts_and_extensions, deploy_from_db
from ivr400.fsutil import atomic_write
from ivr400.lab import chroot
from ivr400.lab.cluster import AGI_NAME, AGI_PORT, NODES_DIR, ClusterLab
from ivr400.pbx.asterisk.ami_settings import AmiSettings
from ivr400.pbx.asterisk.config_files import INCLUDES
from ivr400.provisioning.sample import HOTLINE, provision_sample

pytestmark = [pytest.mark.pbx, pytest.mark.postgres]


def _target(cl: ClusterLab, name: str) -> DeployTarget:
    node, root = cl.node(name), Path(cl.root)
    return DeployTarget(config_dir=cl.node_config_dir(name),
                        sounds_dir=chroot.host_path(root, "/usr/share/asterisk/sounds"),
                        spool_dir=chroot.host_path(root, f"{NODES_DIR}/{name}/spool/ivr400"), root=root,
                        ami=AmiSettings(host=node.host, port=node.ami_port, username="ivr400", secret=node.ami_secret))


def _contexts(cl: ClusterLab, name: str, contexts: list[str]) -> dict[str, str]:
    return {c: cl.node_rx(name, f"dialplan show {c}") for c in contexts}


def test_both_nodes_carry_the_same_plan(cluster: ClusterLab, tmp_path: Path) -> None:
    cl = cluster
    engine = make_engine(cl.database_url)
    now = datetime.now(timezone.utc)
    try:
        with Session(engine) as s, s.begin():
            provision_sample(s, store_root=tmp_path / "store", now=now, actor="test")
        reports = {}
        for name in ("node2", "node3"):
            with Session(engine) as s:
                reports[name] = deploy_from_db(s, now, _target(cl, name), agi_url=f"agi://{AGI_NAME}:{AGI_PORT}",
                                               data_root=tmp_path / "store")
        files = {name: {rel: (cl.node_config_dir(name) / rel).read_bytes() for rel in INCLUDES}
                 for name in ("node2", "node3")}
        rendered = files["node2"]["ivr400/extensions.conf"].decode()
        contexts = sorted(contexts_and_extensions(rendered))
        shown = {name: _contexts(cl, name, contexts) for name in ("node2", "node3")}
        data = {name: cl.node_rx(name, "database show ivr400") for name in ("node2", "node3")}
    finally:
        engine.dispose()
        initial = cdr_include_files()
        for name in ("node2", "node3"):
            for rel in INCLUDES:
                atomic_write(cl.node_config_dir(name) / rel, initial.get(rel, ""))
            cl.node_rx(name, "dialplan reload")
            cl.node_rx(name, "database deltree ivr400")
    print()
    for name, report in reports.items():
        print(f"{name}: deployed {len(report.files_changed)} files, {report.contexts_verified} contexts and "
              f"{report.extensions_verified} extensions verified on the running Asterisk in {report.seconds:.2f} s")
    errors = {k: r.error for k, r in reports.items() if r.error is not None or r.rolled_back}
    assert not errors, errors
    assert files["node2"] == files["node3"], "both nodes get the same files"
    assert HOTLINE not in rendered and len(contexts) > 1  # the dialplan is generic: the data is in AstDB
    for c in contexts:
        assert "There is no existence" not in shown["node2"][c], shown["node2"][c]
        assert shown["node2"][c] == shown["node3"][c], c
    assert f"/ivr400/h/{HOTLINE}/s" in data["node3"] and data["node2"] == data["node3"]
