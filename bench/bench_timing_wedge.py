"""Calls left up for good after the caller's BYE, with Asterisk's timerfd timing module and without.

    python bench/bench_timing_wedge.py [--rate 150] [--rounds 3] [--seconds 3]

Found while benchmarking ivr400 (issue 11; docs/asterisk-timerfd-wedge.md). On Asterisk 22.10.1 a call
that hears a prompt, interrupts it with a key, and is then bridged to a seat a moment later is, under
load, sometimes never hung up: the carrier's BYE gets its 200 OK, but both legs stay up in their bridge
and `channel request hangup` has no effect. With `res_timing_pthread` instead of `res_timing_timerfd` no
call is left up. The lab noloads res_timing_timerfd (ivr400/lab/config.py); this benchmark measures the
difference in one run, on the same Asterisk:

0. the lab restarted in place first (`core restart now`: a fresh PBX);
1. pthread: the lab as configured (res_timing_pthread is the only timing module);
2. timerfd: `module load res_timing_timerfd.so` (it takes over: higher priority), same calls, no restart
   in between (a PBX that has carried calls wedges more: the share varies a lot from run to run);
3. the lab restarted in place again (the wedged channels go with it; timerfd not loaded).
The call records of the bench's calls are removed from the lab's CSV files afterwards.

Each round: sipp as the carrier at --rate calls/s for --seconds, the call shape of ivr400's menu (Answer,
`Read` with the welcome prompt, the key by SIP INFO 0.2 s after the answer, 50 ms later `Dial` to a sipp
seat that answers at once, the carrier hangs up 0.5 s after its key), then the channels still up 8 s
after the last call was placed are counted (each wedged call leaves two). Needs root and the lab up
(`ivr400 lab up`); takes the lab lock.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_calls import (  # noqa: E402
    CARRIER_PORT,
    PROMPT,
    SEAT_DIAL,
    SEAT_PORT,
    cdr_files_restored,
    drain,
    restart_pbx,
)
from sipp_load import LoadSeat, raise_nofile, run_load  # noqa: E402

from ivr400.lab import Lab  # noqa: E402
from ivr400.lab.core import calls_lock  # noqa: E402

NUMBER = "9990009"
#: The smallest plan that shows it: no AGI, no ivr400 (a FastAGI round trip in place of the Wait does too).
PLAN = f"""[ivr400-inbound]
; bench/bench_timing_wedge.py: a prompt interrupted by a key, a moment, then a seat
exten => {NUMBER},1,Answer()
 same => n,Read(KEY,{PROMPT},1,t(),1,5)
 same => n,Wait(0.05)
 same => n,Dial({SEAT_DIAL},10)
 same => n,Hangup()
"""


def timing_module(lab: Lab) -> str:
    """The timing module new timers use ('pthread', 'timerfd'), from `timing test`."""
    for line in lab.rx("timing test").splitlines():
        if line.startswith("Using the '"):
            return line.split("'")[1]
    return "?"


def rounds(lab: Lab, label: str, rate: int, seconds: float, n: int, workdir: Path) -> list[int]:
    """Run n rounds; return the calls left up after each (channels / 2), counting only new ones."""
    left: list[int] = []
    before = 0
    for r in range(n):
        res = run_load(NUMBER, rate=rate, calls=int(rate * seconds), hold_s=0.5, local_port=CARRIER_PORT,
                       answer_timeout_s=10, workdir=workdir / f"{label}-{r}", key="1")
        up = drain(lab, timeout=8.0)
        wedged = max(0, up - before) // 2
        before = up
        left.append(wedged)
        print(f"{label:>8} round {r + 1}: {res.successful} ok, {res.failed} failed at the carrier, "
              f"{wedged} calls left up ({100 * wedged / max(1, int(rate * seconds)):.1f} %)", flush=True)
    return left


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=int, default=150, help="calls per second")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of calls per round")
    args = parser.parse_args()
    raise_nofile()
    lab = Lab.load()
    if not lab.running:
        sys.exit("bench_timing_wedge: the lab is not running (ivr400 lab up)")
    with calls_lock(), tempfile.TemporaryDirectory(prefix="ivr400-bench-wedge-") as tmp, cdr_files_restored(lab):
        data = Path(tmp)
        restart_pbx(lab)  # a fresh PBX, as after the restart at the end
        lab.set_test_dialplan(PLAN)
        seat = LoadSeat(SEAT_PORT, workdir=data / "seat")
        seat.start()
        results: dict[str, list[int]] = {}
        try:
            print(f"Asterisk {lab.rx('core show version').split()[1]}; {args.rate} calls/s for {args.seconds:g} s "
                  f"per round, {args.rounds} rounds per timing module")
            first = timing_module(lab)
            results[first] = rounds(lab, first, args.rate, args.seconds, args.rounds, data)
            print(lab.rx("module load res_timing_timerfd.so").strip())
            if (second := timing_module(lab)) != "timerfd":
                sys.exit(f"bench_timing_wedge: after `module load res_timing_timerfd.so` the timing module is {second}")
            results[second] = rounds(lab, second, args.rate, args.seconds, args.rounds, data)
        finally:
            seat.stop()
            restart_pbx(lab)  # drops the wedged channels and timerfd with them
            lab.clear_test_dialplan()
        calls = int(args.rate * args.seconds) * args.rounds
        for module, left in results.items():
            print(f"{module}: {sum(left)} of {calls} calls left up ({100 * sum(left) / calls:.1f} %)")
        print(f"timing module after the restart: {timing_module(lab)}")


if __name__ == "__main__":
    started = time.monotonic()
    main()
    print(f"total: {time.monotonic() - started:.0f} s")
