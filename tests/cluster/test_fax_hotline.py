"""Fax to a hotline (传真) through ivr400's own rendered plan: fax detection per hotline, on a real Asterisk.

The hotline 4008000004 (Kamailio's hash puts it on node2) is provisioned in the cluster's PostgreSQL with
``fax_mode=detect``; node2 and node3 run the dialplan ``ivr400.render`` renders from that database (no
hand-written fax extension: the lab-test include is empty), with the AGI host name both controllers answer to.
node3 plays the fax machine: it calls the hotline through Kamailio (caller 02155550123, From user) and
``SendFAX``es a one-page ghostscript TIFF. On node2 the call enters ``ivr400-call``, the ``route`` hook decides,
the hotline is answered with ``FAXOPT(faxdetect)`` on, the CNG tone (G.711) or the T.38 re-INVITE sends the call
to the ``fax`` extension, ``ReceiveFAX`` writes the spool and the ``fax_received`` hook records the fax.

Asserted: status SUCCESS, 1 page, the stored TIFF's page count (tiffinfo), the row bound to the hotline (and so
its enterprise) and the caller, the transport res_fax used on node2 (G.711 or T.38). A third case proves the
controller agrees with the static plan rather than only echoing it: the plan is rendered with fax off, then
fax is switched on in the database only; the route hook's ``IVR400_FAX_MODE`` turns detection on and the fax
is received. A page takes tens of seconds: marked slow (run in CI like the other cluster tests).
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ivr400.db.engine import make_engine
from ivr400.db.models import Enterprise, Hotline
from ivr400.deploy import astdb
from ivr400.lab import chroot
from ivr400.lab.cluster import AGI_NAME, AGI_PORT, NODES_DIR, ClusterLab
from ivr400.pbx.asterisk import dialplan_variables as v
from ivr400.pbx.asterisk.ami import Ami
from ivr400.provisioning.enterprises import add_enterprise
from ivr400.provisioning.fax import FaxView, find_fax, list_faxes, set_fax
from ivr400.provisioning.hotlines import add_hotline
from ivr400.render import render_asterisk
from ivr400.render.asterisk import ASTDB_FILE

from .conftest import NODE_DIALPLAN, PROXY
from .test_fax import _receive_attempts, _successes, _tiff_pages, sender_page

pytestmark = [pytest.mark.pbx, pytest.mark.postgres, pytest.mark.slow]

#: Kamailio's hash of this called number puts it on node2 (test_fax checks the same number).
HOTLINE = "4008000004"
ENTERPRISE = "传真测试贸易有限公司"
CALLER = "02155550123"
SENDER_ENDPOINTS = f"""\
; the hotline fax test: node3's outbound endpoints playing a fax machine that calls from {CALLER}
[faxg711](ivr400-trunk)
context = ivr400-from-pstn
t38_udptl = no
from_user = {CALLER}

[faxt38](ivr400-trunk)
context = ivr400-from-pstn
t38_udptl = yes
t38_udptl_ec = redundancy
from_user = {CALLER}
"""


@dataclass
class FaxLab:
    cl: ClusterLab
    engine: Engine
    enterprise_id: int
    hotline_id: int

    def session(self) -> Session:
        return Session(self.engine)

    def set_mode(self, mode: str) -> None:
        with self.session() as s:
            h = s.get(Hotline, self.hotline_id)
            assert h is not None
            set_fax(s, h, mode)
            s.commit()

    def deploy_plan(self) -> str:
        """Render the plan from the database and install it on both nodes (as ``ivr400 deploy`` would: the
        include file, the hotline's data in AstDB, the sounds, the hotline's fax spool directory); returns the
        extensions.conf text followed by the astdb.txt text."""
        with self.session() as s:
            cfg = render_asterisk(s, datetime.now(timezone.utc), agi_url=f"agi://{AGI_NAME}:{AGI_PORT}")
        root = Path(self.cl.root)
        for target, source in cfg.sounds.items():
            dest = chroot.host_path(root, f"/var/lib/asterisk/{target}")
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, dest)
        chroot.host_path(root, f"{v.FAX_SPOOL}/{HOTLINE}").mkdir(parents=True, exist_ok=True)
        text = cfg.files["ivr400/extensions.conf"]
        for node in self.cl.nodes:
            (self.cl.node_config_dir(node.name) / "ivr400" / "extensions.conf").write_text(text)
            self.cl.set_node_dialplan(node.name, "")  # writes the empty lab-test include, then `dialplan reload`
            with Ami.connect(host=node.host, port=node.ami_port, username="ivr400", secret=node.ami_secret) as ami:
                astdb.sync(ami, None, None, cfg.astdb, cfg.files[ASTDB_FILE])  # the hotline's data, in full
        return text + cfg.files[ASTDB_FILE]

    def faxes(self) -> dict[str, FaxView]:
        with self.session() as s:
            return {f.uniqueid: f for f in list_faxes(s, hotline=HOTLINE, limit=1000)}


def _fax_mode(plan: str) -> str:
    """The hotline's fax mode in the deployed data: the last `|` field of IVR400_SETTINGS in its settings key
    (h/<hotline>/s, see dialplans/asterisk/_hotline.j2), which the static plan reads with CUT."""
    line = next(x for x in plan.splitlines() if x.startswith(f"h/{HOTLINE}/s\t"))
    return line.split(f"{v.SETTINGS}=", 1)[1].split(",", 1)[0].split("|")[-1]


def _provision(cl: ClusterLab) -> FaxLab:
    now = datetime.now(timezone.utc)
    engine = make_engine(cl.database_url)
    with Session(engine) as s:
        ent = s.scalar(select(Enterprise).where(Enterprise.name == ENTERPRISE))
        if ent is None:
            ent = add_enterprise(s, ENTERPRISE, "021", now=now)
        h = s.scalar(select(Hotline).where(Hotline.number == HOTLINE))
        if h is None:
            h = add_hotline(s, HOTLINE, ent, name="传真热线", now=now)
        h.active = True
        s.commit()
        return FaxLab(cl, engine, ent.id, h.id)


@pytest.fixture(scope="module")
def fax_lab(cluster: ClusterLab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaxLab]:
    cl = cluster
    sender_page(cl, tmp_path_factory.mktemp("faxhotline"))
    lab = _provision(cl)
    (cl.node_config_dir("node3") / "ivr400" / "pjsip.conf").write_text(SENDER_ENDPOINTS)
    cl.node_rx("node3", "module reload res_pjsip.so")
    yield lab
    with lab.session() as s:
        h = s.get(Hotline, lab.hotline_id)
        if h is not None:
            h.active = False
            s.commit()
    (cl.node_config_dir("node3") / "ivr400" / "pjsip.conf").write_text("")
    cl.node_rx("node3", "module reload res_pjsip.so")
    for node in cl.nodes:
        (cl.node_config_dir(node.name) / "ivr400" / "extensions.conf").write_text("")
        cl.set_node_dialplan(node.name, NODE_DIALPLAN)
        cl.node_rx(node.name, "database deltree ivr400")
    lab.engine.dispose()


def _send_fax(lab: FaxLab, endpoint: str, options: str) -> tuple[FaxView, dict[str, int], float]:
    """node3 calls the hotline and SendFAXes the page; (the new fax row, node2's spandsp successes used, s)."""
    cl = lab.cl
    before = lab.faxes()
    stats_before = {n: cl.node_rx(n, "fax show stats") for n in ("node2", "node3")}
    page = f"{NODES_DIR}/node3/spool/ivr400/fax/page.tif"
    t0 = time.monotonic()
    cl.node_rx("node3", f"channel originate PJSIP/{endpoint}/sip:{HOTLINE}@{PROXY[0]}:{PROXY[1]} "
                        f"application SendFAX {page}{options}")
    new: list[FaxView] = []
    while time.monotonic() - t0 < 150 and not new:
        time.sleep(1)
        new = [f for uid, f in lab.faxes().items() if uid not in before]
    elapsed = time.monotonic() - t0
    assert len(new) == 1, f"no fax recorded for {HOTLINE} in {elapsed:.0f} s"
    deadline = time.monotonic() + 10  # res_fax counts the session once the channel is gone, after the hook
    while True:
        stats = cl.node_rx("node2", "fax show stats")
        used = {k: val - _successes(stats_before["node2"]).get(k, 0) for k, val in _successes(stats).items()}
        if any(used.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert _receive_attempts(cl.node_rx("node3", "fax show stats")) == _receive_attempts(stats_before["node3"]), \
        "node3 received nothing"
    return new[0], used, elapsed


def _check(lab: FaxLab, fax: FaxView) -> None:
    tiff = Path(fax.file_path)
    print(f"\nfax to {fax.hotline}: {fax.status}, {fax.pages} page(s), caller {fax.caller or 'withheld'}, "
          f"remote station {fax.remote_station!r}, stored {tiff} ({_tiff_pages(tiff)} page(s))")
    assert fax.status == "SUCCESS", fax
    assert fax.pages == 1
    assert tiff.is_file() and _tiff_pages(tiff) == 1
    assert tiff.parent.name == HOTLINE and tiff.suffix == ".tif"
    assert fax.hotline == HOTLINE and fax.caller == CALLER
    with lab.session() as s:
        assert find_fax(s, fax.id, enterprise_id=lab.enterprise_id) is not None, "bound to the hotline's enterprise"
        assert find_fax(s, fax.id, enterprise_id=lab.enterprise_id + 100000) is None


@pytest.mark.parametrize(("endpoint", "options", "transport"), [("faxg711", "", "G.711"), ("faxt38", ",z", "T.38")],
                         ids=["g711", "t38"])
def test_a_fax_machine_calling_a_detect_hotline_is_received(fax_lab: FaxLab, endpoint: str, options: str,
                                                            transport: str) -> None:
    fax_lab.set_mode("detect")
    plan = fax_lab.deploy_plan()
    assert _fax_mode(plan) == "detect" and "Set(FAXOPT(faxdetect)=yes," in plan
    time.sleep(2)  # the controllers poll the configuration generation every 200 ms (the hotline was just provisioned)
    fax, used, elapsed = _send_fax(fax_lab, endpoint, options)
    print(f"over {transport} in {elapsed:.0f} s; node2 spandsp successes {used}")
    _check(fax_lab, fax)
    assert used == {"G.711": 1, "T.38": 0} if transport == "G.711" else {"G.711": 0, "T.38": 1}


def test_the_controller_turns_detection_on_before_the_next_deploy(fax_lab: FaxLab) -> None:
    """Static plan rendered with fax off; fax switched on in the database only: the route hook's
    IVR400_FAX_MODE (same tree reader) turns detection on, so the controller and the next plan agree."""
    fax_lab.set_mode("off")
    plan = fax_lab.deploy_plan()
    assert _fax_mode(plan) == "off"
    fax_lab.set_mode("detect")
    time.sleep(2)  # the controllers poll the configuration generation every 200 ms
    fax, used, elapsed = _send_fax(fax_lab, "faxg711", "")
    print(f"static plan off, controller detect: received in {elapsed:.0f} s; node2 spandsp successes {used}")
    _check(fax_lab, fax)
