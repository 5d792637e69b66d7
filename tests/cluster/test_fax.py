"""Fax to a hotline (传真) across the cluster: node3 plays the sending fax machine, node2 receives.

As Asterisk's own test suite does it (sipp cannot play a fax machine: T.30 is an interactive handshake):
node3 `SendFAX`es a one-page TIFF (made with ghostscript, G3 at 204x196 dpi) to a hotline number through
Kamailio, which hashes that number onto node2; node2 `ReceiveFAX`es it into the fax spool and a hangup handler
hands the outcome to a controller (`fax_received` through the AGI name), which records it in PostgreSQL; `ivr400
fax list` shows it. Once over G.711 (the sender's endpoint has
no T.38) and once with T.38 (both sides t38_udptl, the sender asks with SendFAX's `z`). Asserts SUCCESS,
1 page, and the stored TIFF's page count (tiffinfo). A page takes tens of seconds: marked slow.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from ivr400.db.engine import make_engine
from ivr400.lab import chroot
from ivr400.lab.cluster import NODES_DIR, ClusterLab
from ivr400.pbx.asterisk import dialplan_variables as v
from ivr400.provisioning.fax import FaxView, list_faxes

from .conftest import NODE_DIALPLAN, PROXY

pytestmark = [pytest.mark.pbx, pytest.mark.postgres, pytest.mark.slow]

#: Kamailio's hash of this called number puts it on node2 (checked below).
FAX_NUMBER = "4008000004"
PAGE_PS = """%!PS
/Helvetica findfont 24 scalefont setfont
72 700 moveto (ivr400 fax test page) show
72 660 moveto (one page, G3, 204x196 dpi) show
showpage
"""

SENDER_ENDPOINTS = """\
; the cluster fax test: node3's outbound endpoints playing a fax machine
[faxg711](ivr400-trunk)
context = ivr400-from-pstn
t38_udptl = no

[faxt38](ivr400-trunk)
context = ivr400-from-pstn
t38_udptl = yes
t38_udptl_ec = redundancy
"""


def _fax_dialplan() -> str:
    return NODE_DIALPLAN + f"""\
exten => {FAX_NUMBER},1,Answer()
 same => n,Set({v.FAX_FILE}={v.FAX_SPOOL}/${{EXTEN}}/${{UNIQUEID}}.tif)
 same => n,Set(CHANNEL(hangup_handler_push)=ivr400-fax-done,s,1(${{EXTEN}}))
 same => n,Set(FAXOPT(localstationid)=ivr400 {FAX_NUMBER})
 same => n,ReceiveFAX(${{{v.FAX_FILE}}},f)
 same => n,Hangup()

[ivr400-fax-done]
exten => s,1,AGI(agi://ivr400-agi:4573/{v.ROUTE_FAX}?hotline=${{ARG1}})
 same => n,Return()
"""


def _tiff_pages(path: Path) -> int:
    out = subprocess.run(["tiffinfo", str(path)], capture_output=True, text=True, check=False).stdout
    return out.count("TIFF Directory")


def sender_page(cl: ClusterLab, work: Path) -> Path:
    """The one-page G3 TIFF node3 sends (ghostscript, 204x196 dpi, A4), in node3's spool; checked 1 page."""
    for tool in ("gs", "tiffinfo"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (ghostscript, libtiff-tools)")
    (work / "page.ps").write_text(PAGE_PS)
    page = cl.node_config_dir("node3").parent / "spool" / "ivr400" / "fax" / "page.tif"
    page.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gs", "-q", "-o", str(page), "-sDEVICE=tiffg3", "-r204x196", "-sPAPERSIZE=a4",
                    str(work / "page.ps")], check=True, timeout=60)
    assert _tiff_pages(page) == 1
    return page


@pytest.fixture(scope="module")
def fax_cluster(cluster: ClusterLab, tmp_path_factory: pytest.TempPathFactory) -> ClusterLab:
    cl = cluster
    sender_page(cl, tmp_path_factory.mktemp("fax"))
    chroot.host_path(Path(cl.root), f"{v.FAX_SPOOL}/{FAX_NUMBER}").mkdir(parents=True, exist_ok=True)
    for node in cl.nodes:
        cl.set_node_dialplan(node.name, _fax_dialplan())
    (cl.node_config_dir("node3") / "ivr400" / "pjsip.conf").write_text(SENDER_ENDPOINTS)
    cl.node_rx("node3", "module reload res_pjsip.so")
    yield cl
    (cl.node_config_dir("node3") / "ivr400" / "pjsip.conf").write_text("")
    cl.node_rx("node3", "module reload res_pjsip.so")
    for node in cl.nodes:
        cl.set_node_dialplan(node.name, NODE_DIALPLAN)


def _successes(stats: str) -> dict[str, int]:
    """{"G.711": n, "T.38": n}: the Success counters of res_fax_spandsp's sections in `fax show stats`."""
    out: dict[str, int] = {}
    section = None
    for line in stats.splitlines():
        if line.startswith("Spandsp "):
            section = line.split()[1]
        elif section and line.startswith("Success"):
            out[section] = int(line.split(":")[1])
    return out


def _receive_attempts(stats: str) -> int:
    return next(int(line.split(":")[1]) for line in stats.splitlines() if line.startswith("Receive Attempts"))


def _faxes(cl: ClusterLab) -> dict[str, FaxView]:
    engine = make_engine(cl.database_url)
    try:
        with Session(engine) as s:
            return {f.uniqueid: f for f in list_faxes(s, hotline=None, limit=1000)}
    finally:
        engine.dispose()


@pytest.mark.parametrize(("endpoint", "options"), [("faxg711", ""), ("faxt38", ",z")], ids=["g711", "t38"])
def test_node3_faxes_a_page_to_a_hotline_on_node2(fax_cluster: ClusterLab, endpoint: str, options: str) -> None:
    cl = fax_cluster
    before = _faxes(cl)
    stats_before = {n: cl.node_rx(n, "fax show stats") for n in ("node2", "node3")}
    page = f"{NODES_DIR}/node3/spool/ivr400/fax/page.tif"
    t0 = time.monotonic()
    cl.node_rx("node3", f"channel originate PJSIP/{endpoint}/sip:{FAX_NUMBER}@{PROXY[0]}:{PROXY[1]} "
                        f"application SendFAX {page}{options}")
    new: list[FaxView] = []
    while time.monotonic() - t0 < 120 and not new:
        time.sleep(1)
        new = [f for uid, f in _faxes(cl).items() if uid not in before]
    elapsed = time.monotonic() - t0
    assert len(new) == 1, f"no fax recorded in {elapsed:.0f} s"
    fax = new[0]
    tiff = Path(fax.file_path)
    deadline = time.monotonic() + 10  # res_fax counts the session when the channel is gone, after the hook
    while True:
        stats = {n: cl.node_rx(n, "fax show stats") for n in ("node2", "node3")}
        used = {k: val - _successes(stats_before["node2"]).get(k, 0) for k, val in _successes(stats["node2"]).items()}
        if any(used.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    print(f"\nfax over {endpoint}: {fax.status}, {fax.pages} page(s) in {elapsed:.0f} s, hotline {fax.hotline}, "
          f"caller {fax.caller or 'withheld'}, remote station {fax.remote_station!r}, stored {tiff} "
          f"({_tiff_pages(tiff)} page(s)); node2 spandsp successes {used}")
    assert fax.status == "SUCCESS", fax
    assert fax.pages == 1
    assert tiff.is_file() and _tiff_pages(tiff) == 1
    assert used == ({"G.711": 1, "T.38": 0} if endpoint == "faxg711" else {"G.711": 0, "T.38": 1}), \
        "node2 received it (Kamailio's hash), over the transport asked for"
    assert _receive_attempts(stats["node3"]) == _receive_attempts(stats_before["node3"]), "node3 received nothing"
    listed = subprocess.run([sys.executable, "-c", "from ivr400.cli import main; main()", "--db", cl.database_url,
                             "fax", "list", "--json"], capture_output=True, text=True, check=True, timeout=60)
    assert any(row["uniqueid"] == fax.uniqueid and row["status"] == "SUCCESS" and row["pages"] == 1
               for row in json.loads(listed.stdout))
