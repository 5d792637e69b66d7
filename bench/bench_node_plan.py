"""Benchmark: what carrying every hotline costs one cluster node (docs/operations.md, "What each node renders").

    python bench/bench_node_plan.py                          # 1,000 then 10,000 hotlines × 20 seats
    python bench/bench_node_plan.py --hotlines 20000 --seats 5

For each size: the bench_render.py fixture in a SQLite file of its own, rendered (load + render timed), its
``ivr400/extensions.conf`` written into node2 of the cluster lab, then ``dialplan reload`` on that node, timed,
with the node's Asterisk resident memory before and after, and one hotline's context looked up to prove the
plan is there. The node's include is emptied again (and reloaded) at the end. The smaller size is the baseline
measured in the same run; ratios are printed against it.

Needs the cluster lab (`ivr400 lab cluster up`, or IVR400_CLUSTER_STATE pointing at the tests' state file,
/var/cache/ivr400/cluster-test/state.json, while tests/cluster holds it up); takes the tests' lab lock
(calls.lock beside the state file) so no failure test runs meanwhile. Prints figures; asserts nothing.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_render import NOW, measure, populate, sqlite_engine  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from ivr400.fsutil import atomic_write, file_lock  # noqa: E402
from ivr400.lab.cluster import ClusterLab, state_path  # noqa: E402
from ivr400.render.asterisk import render_model  # noqa: E402
from ivr400.render.load import load_model  # noqa: E402

INCLUDE = "ivr400/extensions.conf"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def one_size(cl: ClusterLab, node: str, hotlines: int, seats: int, tmp: Path) -> dict[str, float]:
    engine = sqlite_engine(tmp, f"plan{hotlines}")
    data_root = tmp / f"data{hotlines}"
    try:
        populate(engine, hotlines, seats, data_root)
        figures = measure(engine, data_root, memory=False)
        with Session(engine) as session:
            model = load_model(session, NOW)
        cfg = render_model(model, data_root=data_root)
    finally:
        engine.dispose()
    text = cfg.files[INCLUDE]
    include = cl.node_config_dir(node) / INCLUDE
    pid = cl.node(node).pid
    assert pid is not None, f"{node} is not running"
    before = rss_mb(pid)
    atomic_write(include, text)
    t0 = time.perf_counter()
    out = cl.node_rx(node, "dialplan reload", timeout=600)
    reload_s = time.perf_counter() - t0
    after = rss_mb(pid)
    sample = model.hotlines[len(model.hotlines) // 2].number
    shown = cl.node_rx(node, f"dialplan show s@ivr400-h-{sample}")  # the hotline's data context
    found = f"IVR400_HOTLINE={sample}" in shown
    t0 = time.perf_counter()
    cl.node_rx(node, "dialplan reload", timeout=600)  # the same plan again: what a deploy of one edit costs
    again_s = time.perf_counter() - t0
    figures.update(reload_s=reload_s, again_s=again_s, rss_before_mb=before, rss_after_mb=after,
                   include_mb=len(text.encode()) / 2**20)
    print(f"{hotlines:>6} hotlines × {seats}: render {figures['total_s']:.2f} s (load {figures['load_s']:.2f} "
          f"+ render {figures['render_s']:.2f}), {figures['include_mb']:.1f} MiB of extensions, "
          f"{figures['contexts']} contexts | {node}: dialplan reload {reload_s:.2f} s (again {again_s:.2f} s), "
          f"RSS {before:.0f} → {after:.0f} MiB (+{after - before:.0f}); hotline {sample} "
          f"{'found' if found else 'NOT FOUND'} ({out.strip()[:60]!r})", flush=True)
    return figures


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hotlines", type=int, default=10_000)
    ap.add_argument("--baseline", type=int, default=1_000)
    ap.add_argument("--seats", type=int, default=20)
    ap.add_argument("--node", default="node2")
    args = ap.parse_args(argv)
    state = state_path()
    cl = ClusterLab.load(state)
    include = cl.node_config_dir(args.node) / INCLUDE
    results = {}
    with file_lock(state.with_name("calls.lock")), tempfile.TemporaryDirectory(prefix="ivr400-plan-") as tmpdir:
        saved = include.read_bytes() if include.exists() else b""
        try:
            for n in [args.baseline, args.hotlines] if args.baseline else [args.hotlines]:
                results[n] = one_size(cl, args.node, n, args.seats, Path(tmpdir))
        finally:
            atomic_write(include, saved.decode())
            cl.node_rx(args.node, "dialplan reload", timeout=600)
    if args.baseline:
        base, big = results[args.baseline], results[args.hotlines]
        added = big["rss_after_mb"] - big["rss_before_mb"], base["rss_after_mb"] - base["rss_before_mb"]
        print(f"{args.hotlines} / {args.baseline} hotlines = {args.hotlines / args.baseline:.0f}× the data: render "
              f"{big['total_s'] / base['total_s']:.1f}×, dialplan reload {big['reload_s'] / base['reload_s']:.1f}×, "
              f"node memory added {added[0] / max(1.0, added[1]):.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
