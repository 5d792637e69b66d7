"""Benchmark: one PBX node carrying N hotlines, their data in Asterisk's database (AstDB), edits followed live.

    python bench/bench_node_astdb.py                      # 100,000 hotlines × 10 seats, baseline 10,000
    python bench/bench_node_astdb.py --hotlines 20000 --baseline 0

For each size, on the lab's Asterisk (`ivr400 lab up`; takes the lab lock, so e2e tests wait):

1. the bench_render.py fixture (menus on every `--menu-every`-th hotline, seats on the switchboard otherwise) in
   a SQLite file of its own, plus one probe hotline whose three seats are sipp UASes on 127.0.0.1:5081-5083;
2. render: load + render of everything, seconds and peak traced memory (what `ivr400 deploy` does);
3. the first deploy: the rendered files installed and every hotline's data written into AstDB through AMI
   (the follower's start: a full deploy), seconds and keys;
4. Asterisk's load: `core restart now`, the time until it is fully booted with all of that, its resident memory
   then, and `dialplan reload` of the (constant) plan, timed;
5. edits followed live: `ivr400 deploy --follow`'s DataFollower polls every 100 ms in a thread; each edit the
   issue names is committed through the provisioning services — the probe's seat order reversed, the probe's
   first seat's destination revoked, a new menu key with a seat on a fixture hotline, a new hotline with a
   seat — and the benchmark measures the time from the commit to the new value in AstDB (read back through
   AMI every 10 ms), then places a real call (sipp carrier, no controller: the static plan) where the edit
   allows one and checks it took the new path (which probe seat got the INVITE; the new hotline answered).
   `--rounds` rounds of the four edits.

The AstDB family is cleared again at the end (the lab's next deploy rewrites it). Prints figures and ratios
against the baseline size measured in the same run; asserts nothing.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_render import populate, sqlite_engine  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from ivr400.db.models import Destination, Hotline, Seat  # noqa: E402
from ivr400.deploy.follow import DataFollower  # noqa: E402
from ivr400.lab import Lab  # noqa: E402
from ivr400.lab.core import calls_lock  # noqa: E402
from ivr400.lab.sipp import SeatUas, call  # noqa: E402
from ivr400.lab.targets import lab_target  # noqa: E402
from ivr400.pbx.asterisk.ami import Ami  # noqa: E402
from ivr400.provisioning import destinations, evidence, seats, trunks  # noqa: E402
from ivr400.provisioning.hotlines import add_hotline  # noqa: E402
from ivr400.render.asterisk import render_model  # noqa: E402
from ivr400.render.load import load_model  # noqa: E402

PROBE = "4009999999"
PORTS = (5081, 5082, 5083)
BILL = {"issuer": "telecom", "shows_number": True, "shows_owner": True}


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def now() -> datetime:
    return datetime.now(timezone.utc)


def add_seat(s: Session, hotline: Hotline, number: str, port: int, data: Path, department=None) -> Seat:  # noqa: ANN001
    """An approved destination `number` dialled through trunk bench-<port> (127.0.0.1:`port`), bound as a seat."""
    try:
        trunk = trunks.find_trunk(s, f"bench-{port}")
    except Exception:  # noqa: BLE001 - not there yet
        trunk = trunks.add_trunk(s, f"bench-{port}", f"PJSIP/pstn/sip:{{number}}@127.0.0.1:{port}")
    bill = data / "bill.png"
    bill.write_bytes(b"\x89PNG\r\n\x1a\n" + number.encode())
    dest = destinations.add_destination(s, hotline.enterprise, number, owner_name=hotline.enterprise.name,
                                        owner_kind="company", now=now(), actor="bench")
    evidence.add_evidence(s, dest, "carrier_bill", bill, store_root=data / "evidence", attributes=BILL,
                          valid_from=None, valid_until=None, long_term=False, now=now())
    destinations.approve(s, dest, now=now(), actor="bench")
    dest.trunk = trunk
    return seats.add_seat(s, hotline, dest, department=department, ring_timeout=5, now=now())


def astdb_get(ami: Ami, key: str) -> str:
    out = ami.command(f"database get ivr400 {key}")
    return out.split("Value:", 1)[1].strip() if "Value:" in out else ""


def wait_value(ami: Ami, key: str, test, started: float, timeout: float = 30.0) -> float:  # noqa: ANN001
    while not test(astdb_get(ami, key)):
        if time.monotonic() - started > timeout:
            return float("nan")
        time.sleep(0.01)
    return time.monotonic() - started


def probe_call(number: str, tmp: Path, name: str) -> tuple[bool, list[int]]:
    """One call to `number`; (answered, the probe ports that got an INVITE, in order of arrival)."""
    uases = [SeatUas(p, behaviour="answer", answer_after_s=0.1, workdir=tmp / f"{name}-{p}").start() for p in PORTS]
    try:
        result = call(number, hold_s=0.3, workdir=tmp / f"{name}-carrier", timeout_s=30)
        time.sleep(0.3)
        got = sorted((u.invites()[0].time, port) for u, port in zip(uases, PORTS, strict=True) if u.invite_count)
        return result.answered, [p for _, p in got]
    finally:
        for u in uases:
            u.stop()


def one_size(lab: Lab, n: int, seats_per: int, menu_every: int, rounds: int, tmp: Path) -> dict[str, float]:
    data = tmp / f"data{n}"
    engine = sqlite_engine(tmp, f"node{n}")
    f: dict[str, float] = {"hotlines": n}
    f["populate_s"] = populate(engine, n, seats_per, data, menu_every=menu_every)
    with Session(engine) as s:
        h = add_hotline(s, PROBE, s.get(Hotline, 1).enterprise, name="probe", now=now())  # type: ignore[union-attr]
        for i, port in enumerate(PORTS):
            add_seat(s, h, f"0106234{5001 + i}", port, data)
        s.commit()
    # 2. render (timed as it runs; memory: this process's resident size before and after)
    rss0 = rss_mb(os.getpid())
    t0 = time.perf_counter()
    with Session(engine) as s:
        model = load_model(s, now())
    t1 = time.perf_counter()
    cfg = render_model(model, data_root=data)
    t2 = time.perf_counter()
    f["render_peak_mib"] = rss_mb(os.getpid()) - rss0  # the model and the rendered text, both alive here
    f.update(load_s=t1 - t0, render_s=t2 - t1, keys=len(cfg.astdb),
             plan_kib=len(cfg.files["ivr400/extensions.conf"].encode()) / 1024,
             data_mib=len(cfg.files["ivr400/astdb.txt"].encode()) / 2**20)
    del model, cfg
    # 3. the first deploy (full), through the follower
    target = lab_target(lab)
    assert target.ami is not None
    ami = Ami.connect(target.ami)
    probe_ami = Ami.connect(target.ami)
    follower = DataFollower(engine, target, ami, now=now, data_root=data)
    t0 = time.perf_counter()
    report = follower.start()
    f["deploy_s"] = time.perf_counter() - t0
    f["astdb_write_s"] = (report.astdb or {}).get("seconds", float("nan"))
    print(f"  {n} hotlines: populate {f['populate_s']:.1f} s; render {f['load_s']:.1f} + {f['render_s']:.1f} s, "
          f"+{f['render_peak_mib']:.0f} MiB RSS (model + text); {f['keys']:.0f} AstDB keys ({f['data_mib']:.1f} MiB), "
          f"plan {f['plan_kib']:.0f} KiB; first deploy {f['deploy_s']:.1f} s (AstDB writes {f['astdb_write_s']:.1f} s)",
          flush=True)
    # 4. Asterisk's load with all of it
    ami.close()
    probe_ami.close()
    f["restart_s"] = lab.restart_in_place()
    assert lab.pid is not None
    f["rss_mib"] = rss_mb(lab.pid)
    t0 = time.perf_counter()
    lab.rx("dialplan reload", timeout=60)
    f["reload_s"] = time.perf_counter() - t0
    ami = Ami.connect(target.ami)
    probe_ami = Ami.connect(target.ami)
    follower.ami = ami
    answered, order = probe_call(PROBE, tmp, f"n{n}-start")
    f["rss_after_call_mib"] = rss_mb(lab.pid)
    print(f"  Asterisk restarted and fully booted in {f['restart_s']:.2f} s, RSS {f['rss_mib']:.0f} MiB "
          f"({f['rss_after_call_mib']:.0f} after a call: answered {answered}, seats {order}); "
          f"dialplan reload {f['reload_s']:.2f} s", flush=True)
    # 5. edits followed live
    stop = threading.Event()
    steps: list = []
    thread = threading.Thread(target=follower.run, args=(stop.is_set, 0.1, steps.append), daemon=True)
    thread.start()
    edits: dict[str, list[float]] = {"seat order": [], "revoked": [], "menu key": [], "new hotline": []}
    paths: dict[str, list[str]] = {k: [] for k in edits}
    try:
        for r in range(rounds):
            # a probe hotline of this round: seats on 5081, 5082, 5083 in that order (set-up, not timed)
            probe = f"40099990{r:02d}"
            with Session(engine) as s:
                h = add_hotline(s, probe, s.get(Hotline, 1).enterprise, name=f"probe {r}", now=now())  # type: ignore[union-attr]
                made = [add_seat(s, h, f"0106{r + 5}34500{i + 1}", port, data) for i, port in enumerate(PORTS)]
                s.commit()
                last_id, last_number = made[-1].id, made[-1].destination.number
            wait_value(probe_ami, f"h/{probe}/s", lambda v: v != "", time.monotonic())
            # seat order: the last seat (5083) moved to the top
            with Session(engine) as s:
                seats.move_seat(s, s.get(Seat, last_id), position=1)
                s.commit()
                started = time.monotonic()
            edits["seat order"].append(wait_value(
                probe_ami, f"h/{probe}/d", lambda v, n=last_number: f"TARGET_1=PJSIP/pstn/sip:{n}@" in v, started))
            answered, order = probe_call(probe, tmp, f"n{n}-r{r}-order")
            paths["seat order"].append(f"{'answered' if answered else 'NOT answered'}, first INVITE at {order[:1]}")
            # revoked: that seat's destination
            with Session(engine) as s:
                destinations.revoke(s, s.scalar(select(Destination).where(Destination.number == last_number)),
                                    reason="bench", now=now(), actor="bench")
                s.commit()
                started = time.monotonic()
            edits["revoked"].append(wait_value(probe_ami, f"h/{probe}/b0", lambda v, n=last_number: n not in v,
                                               started))
            answered, order = probe_call(probe, tmp, f"n{n}-r{r}-revoked")
            paths["revoked"].append(f"{'answered' if answered else 'NOT answered'} at {order[:1]}, revoked seat "
                                    f"{'RANG' if PORTS[-1] in order else 'silent'}")
            # menu key: key 3 with a seat, on a fixture hotline that has a menu
            with Session(engine) as s:
                h = s.get(Hotline, menu_every * (r + 1))
                assert h is not None
                dept = seats.add_department(s, h, "3", f"新部门{r}")
                add_seat(s, h, f"0107{r + 1}345001", PORTS[0], data, department=dept)
                s.commit()
                started = time.monotonic()
                number = h.number
            edits["menu key"].append(wait_value(probe_ami, f"m/{number}/3", lambda v: v.startswith("department"),
                                                started))
            paths["menu key"].append("key 3 in AstDB")
            # new hotline with one seat
            fresh = f"40099991{r:02d}"
            with Session(engine) as s:
                nh = add_hotline(s, fresh, s.get(Hotline, 1).enterprise, name="new", now=now())  # type: ignore[union-attr]
                add_seat(s, nh, f"0108{r + 1}345001", PORTS[1], data)
                s.commit()
                started = time.monotonic()
            edits["new hotline"].append(wait_value(probe_ami, f"h/{fresh}/s", lambda v: v != "", started))
            answered, order = probe_call(fresh, tmp, f"n{n}-r{r}-new")
            paths["new hotline"].append(f"{'answered' if answered else 'NOT answered'} at {order[:1]}")
    finally:
        stop.set()
        thread.join(30)
        ami.db_write("ivr400", [], [], clear=True)
        ami.close()
        probe_ami.close()
        engine.dispose()
    incremental = [s for s in steps if s.kind == "incremental"]
    f["edit_max_s"] = max(v for vs in edits.values() for v in vs)
    f["step_median_ms"] = statistics.median(s.seconds * 1000 for s in incremental) if incremental else float("nan")
    for kind, values in edits.items():
        print(f"  edit → AstDB ({kind}): " + ", ".join(f"{v * 1000:.0f} ms" for v in values)
              + f"; next call: {'; '.join(paths[kind])}", flush=True)
    print(f"  follower: {len(incremental)} incremental steps, median {f['step_median_ms']:.0f} ms from poll to "
          f"done (live after {statistics.median(s.live_s * 1000 for s in incremental):.0f} ms), "
          f"{sum(1 for s in steps if s.kind == 'full')} full", flush=True)
    return f


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hotlines", type=int, default=100_000)
    ap.add_argument("--baseline", type=int, default=10_000, help="a smaller size measured first (0: none)")
    ap.add_argument("--seats", type=int, default=10)
    ap.add_argument("--menu-every", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, choices=range(1, 6))
    args = ap.parse_args(argv)
    lab = Lab.load()
    if not lab.running:
        sys.exit("bench_node_astdb: the lab is not running (`ivr400 lab up`)")
    print(f"machine: {platform.processor() or platform.machine()}, Python {platform.python_version()}; "
          f"{(lab.version() or '').split(' built ')[0]}", flush=True)
    results = {}
    with calls_lock(), tempfile.TemporaryDirectory(prefix="ivr400-node-astdb-") as tmpdir:
        for n in [args.baseline, args.hotlines] if args.baseline else [args.hotlines]:
            print(f"{n} hotlines × {args.seats} seats, menus on every {args.menu_every}th:", flush=True)
            results[n] = one_size(lab, n, args.seats, args.menu_every, args.rounds, Path(tmpdir))
    big = results[args.hotlines]
    print(f"goals at {args.hotlines}: Asterisk loads in {big['restart_s']:.2f} s (< 10 s), RSS {big['rss_mib']:.0f} "
          f"MiB (< 1024), every edit live in ≤ {big['edit_max_s'] * 1000:.0f} ms (< 1000), no dialplan reload")
    if args.baseline:
        base = results[args.baseline]
        print(f"{args.hotlines} / {args.baseline} = {args.hotlines / args.baseline:.0f}× the hotlines: render "
              f"{(big['load_s'] + big['render_s']) / (base['load_s'] + base['render_s']):.1f}×, AstDB first write "
              f"{big['astdb_write_s'] / base['astdb_write_s']:.1f}×, Asterisk start "
              f"{big['restart_s'] / base['restart_s']:.1f}×, RSS {big['rss_mib'] / base['rss_mib']:.2f}×, "
              f"slowest edit {big['edit_max_s'] / base['edit_max_s']:.1f}×")
    return 0


if __name__ == "__main__":
    sys.exit(main())
