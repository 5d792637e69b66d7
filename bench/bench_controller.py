"""Routing decisions per second and latency through ivr400's FastAGI controller vs a bare FastAGI server.

Both servers run as separate processes on loopback, fed by the same load generator (bench/agi_load.py)
that plays Asterisk's side. The bare server replays, for every session, the exact command lines ivr400
sent for one recorded call — so the ratio is the cost of ivr400's lookups and decisions alone.

    python bench/bench_controller.py [--seconds 5] [--concurrency 1,50,200]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.orm import Session

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from agi_load import run_load, run_paced  # noqa: E402

from ivr400.db.engine import make_engine  # noqa: E402
from ivr400.db.migrate import upgrade  # noqa: E402
from ivr400.provisioning import calendar, lookup, time_rules  # noqa: E402
from ivr400.provisioning.sample import HOTLINE, provision_sample  # noqa: E402


def provision(db_url: str, data: Path) -> None:
    """The sample hotline, open on working days into department 1 (a route decision with targets)."""
    engine = make_engine(db_url)
    upgrade(engine)
    now = datetime.now(timezone.utc)
    with Session(engine) as s:
        provision_sample(s, store_root=data / "evidence", now=now, actor="bench")
        hotline = lookup.hotline(s, HOTLINE)
        time_rules.add_time_rule(s, hotline, action="department:1", days="workday,weekend,holiday",
                                    segments="00:00-24:00")
        calendar.seed_calendar(s, [now.year])
        s.commit()
    engine.dispose()


def start(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                            start_new_session=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        # ivr400: "ready: pid N, agi://127.0.0.1:PORT, metrics http://..."; the bare server: "ready: PORT"
        m = re.match(r"ready: (?:pid \d+, agi://[^:\s]+:)?(\d+)", line)
        if m:
            return proc, int(m.group(1))
    raise RuntimeError(f"{cmd[:3]} did not start (exit {proc.wait()})")


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", default="1,50,200")
    parser.add_argument("--rates", default="50,100,200", help="open-loop call rates for the latency table")
    args = parser.parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        db_url = f"sqlite:///{data / 'bench.db'}"
        provision(db_url, data)
        env = os.environ | {"IVR400_DATA_DIR": str(data), "IVR400_DATABASE_URL": db_url}
        route = f"route?hotline={HOTLINE}"
        ivr400, ivr_port = start([str(Path(sys.executable).parent / "ivr400"), "serve", "--port", "0",
                                  "--metrics-port", "0", "--log-level", "warning", "--max-sessions", "2000"], env)
        try:
            recorded = asyncio.run(run_load(ivr_port, route, concurrency=1, duration_s=0.3, record_first=True))
            # the recorded session must be a decision, not the error path (a reply the controller refused)
            assert any(re.search(r'IVR400_AGI_STATUS"?[ =]"?OK', c) for c in recorded.commands), \
                f"the controller did not answer OK: {recorded.commands}"
            commands = list(recorded.commands)  # the status line too: the bare server pays every round trip
            assert any("IVR400_TARGET_COUNT" in c for c in commands), f"no targets were decided: {commands}"
            replay = data / "replay.json"
            replay.write_text(json.dumps({"route": commands, "department": commands}))  # bare_agi.py: per route
            bare, bare_port = start([sys.executable, str(HERE / "bare_agi.py"), "--port", "0", "--replay",
                                     str(replay)], env)
            try:
                print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
                      f"Python {platform.python_version()}; {len(commands)} AGI commands per call; "
                      f"{args.seconds:g} s per run")
                print(f"{'sessions':>8} {'server':>7} {'calls/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
                for level in levels:
                    results = {}
                    for name, port in (("bare", bare_port), ("ivr400", ivr_port)):
                        res = asyncio.run(run_load(port, route, concurrency=level, duration_s=args.seconds))
                        results[name] = res
                        print(f"{level:>8} {name:>7} {res.rate:>9.0f} {res.p50:>8.2f} {res.pct(0.99):>8.2f} "
                              f"{res.errors:>6}")
                    ratio = results["ivr400"].rate / results["bare"].rate if results["bare"].rate else float("nan")
                    print(f"{level:>8} {'ratio':>7} {ratio:>9.2f}x  (ivr400 / bare throughput)")
                print("open loop (calls arriving at a fixed rate):")
                print(f"{'calls/s':>8} {'server':>7} {'done/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
                      f"{'peak':>6} {'errors':>6}")
                for rate in [float(x) for x in args.rates.split(",")]:
                    for name, port in (("bare", bare_port), ("ivr400", ivr_port)):
                        res = asyncio.run(run_paced(port, route, rate=rate, duration_s=args.seconds))
                        print(f"{rate:>8.0f} {name:>7} {res.rate:>9.0f} {res.p50:>8.2f} {res.pct(0.99):>8.2f} "
                              f"{res.concurrency:>6} {res.errors:>6}")
            finally:
                stop(bare)
        finally:
            stop(ivr400)


if __name__ == "__main__":
    main()
