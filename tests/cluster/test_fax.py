"""Fax to a hotline (传真) across the cluster: node3 plays the sending fax machine, node2 receives.

As Asterisk's own test suite does it (sipp cannot play a fax machine: T.30 is an interactive handshake):
node3 `SendFAX`es a one-page TIFF (made with ghostscript, G3 at 204x196 dpi) to a hotline number through
Kamailio, which hashes that number onto node2; node2 `ReceiveFAX`es it into its spool and a hangup handler
writes the outcome (status, pages, caller, error) beside the TIFF. Once over G.711 (the sender's endpoint has
no T.38) and once with T.38 (both sides t38_udptl, the sender asks with SendFAX's `z`). Asserts SUCCESS,
1 page, and the stored TIFF's page count (tiffinfo). A page takes tens of seconds: marked slow.
"""
from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ivr400.lab.cluster import NODES_DIR, ClusterLab

from .conftest import NODE_DIALPLAN

pytestmark = [pytest.mark.pbx, pytest.mark.postgres, pytest.mark.slow]

#: Kamailio's hash of this called number puts it on node2 (checked below).
FAX_NUMBER = "4008000003"
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


def _fax_dialplan(spool: str) -> str:
    return NODE_DIALPLAN + f"""\
exten => {FAX_NUMBER},1,Answer()
 same => n,Set(CHANNEL(hangup_handler_push)=ivr400-fax-done,s,1)
 same => n,Set(FAXOPT(localstationid)=ivr400 {FAX_NUMBER})
 same => n,ReceiveFAX({spool}/${{UNIQUEID}}.tif,f)
 same => n,Hangup()

[ivr400-fax-done]
exten => s,1,Set(LINE=${{FAXOPT(status)}} ${{FAXOPT(pages)}} ${{CALLERID(num)}} ${{FAXOPT(error)}})
 same => n,System(echo "${{LINE}}" > {spool}/${{UNIQUEID}}.result)
 same => n,Return()
"""


def _tiff_pages(path: Path) -> int:
    out = subprocess.run(["tiffinfo", str(path)], capture_output=True, text=True, check=False).stdout
    return out.count("TIFF Directory")


@pytest.fixture(scope="module")
def fax_cluster(cluster: ClusterLab, tmp_path_factory: pytest.TempPathFactory) -> ClusterLab:
    for tool in ("gs", "tiffinfo"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (ghostscript, libtiff-tools)")
    cl = cluster
    work = tmp_path_factory.mktemp("fax")
    (work / "page.ps").write_text(PAGE_PS)
    page = cl.node_config_dir("node3").parent / "spool" / "ivr400" / "fax" / "page.tif"
    page.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(["gs", "-q", "-o", str(page), "-sDEVICE=tiffg3", "-r204x196", "-sPAPERSIZE=a4",
                    str(work / "page.ps")], check=True, timeout=60)
    assert _tiff_pages(page) == 1
    for node in cl.nodes:
        spool = f"{NODES_DIR}/{node.name}/spool/ivr400/fax"
        cl.set_node_dialplan(node.name, _fax_dialplan(spool))
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


def _results(cl: ClusterLab, node: str) -> set[Path]:
    return set((cl.node_config_dir(node).parent / "spool" / "ivr400" / "fax").glob("*.result"))


@pytest.mark.parametrize(("endpoint", "options"), [("faxg711", ""), ("faxt38", ",z")], ids=["g711", "t38"])
def test_node3_faxes_a_page_to_a_hotline_on_node2(fax_cluster: ClusterLab, endpoint: str, options: str) -> None:
    cl = fax_cluster
    before = {n: _results(cl, n) for n in ("node2", "node3")}
    stats_before = cl.node_rx("node2", "fax show stats")
    page = f"{NODES_DIR}/node3/spool/ivr400/fax/page.tif"
    t0 = time.monotonic()
    cl.node_rx("node3", f"channel originate PJSIP/{endpoint}/sip:{FAX_NUMBER}@127.0.0.1:5070 "
                        f"application SendFAX {page}{options}")
    new: set[Path] = set()
    while time.monotonic() - t0 < 120 and not new:
        time.sleep(1)
        new = _results(cl, "node2") - before["node2"]
    elapsed = time.monotonic() - t0
    assert _results(cl, "node3") == before["node3"], "the hash sends this number to node2"
    assert len(new) == 1, f"no fax received on node2 in {elapsed:.0f} s"
    result = new.pop()
    status, pages, caller, *error = result.read_text().split()
    tiff = result.with_suffix(".tif")
    stats = cl.node_rx("node2", "fax show stats")
    used = {k: v - _successes(stats_before).get(k, 0) for k, v in _successes(stats).items()}
    print(f"\nfax over {endpoint}: {status}, {pages} page(s) in {elapsed:.0f} s, stored {tiff.name} "
          f"({_tiff_pages(tiff)} page(s)), caller {caller} {' '.join(error)}; node2 spandsp successes {used}")
    assert status == "SUCCESS", result.read_text()
    assert pages == "1"
    assert _tiff_pages(tiff) == 1
    assert used == ({"G.711": 1, "T.38": 0} if endpoint == "faxg711" else {"G.711": 0, "T.38": 1})
