"""The reload leak in figures: Asterisk CPU per call after N `dialplan reload`s, with and without users.conf.

docs/asterisk-reload-leak.md: while ``users.conf`` exists in Asterisk's configuration directory, every
``dialplan reload`` leaves one more subscriber on the manager:core stasis topic, and every subscriber handles
every manager message of every call. This bench measures what that costs, in one run on the lab:

1. Asterisk restarted in place (``core restart now``), ``users.conf`` absent (as the lab keeps it): baseline;
2. ``--reloads`` reloads without users.conf (ivr400's design): the subscriber count and the cost per call;
3. users.conf put back (Debian's sample), ``--reloads`` data deploys as ivr400 does them (a seat's ring timeout
   changed, ``deploy_from_db``: the hotline's data written into AstDB, no ``dialplan reload``): the same figures;
4. still with users.conf, ``--reloads`` reloads: the same figures;
5. users.conf removed, Asterisk restarted again (the lab as it was).

Each phase places ``--rounds`` batches of ``--rate`` calls/s for ``--seconds`` s through the static way of
bench/bench_calls.py (carrier → Dial → a sipp seat that answers at once, no AGI), and prints Asterisk's CPU ms
per call for each batch (utime + stime of the Asterisk process / calls) and the ratio of the phase's median
to the baseline's. Needs root and the lab up; takes the lab lock.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from bench_calls import (  # noqa: E402
    SEAT_PORT,
    WAYS,
    cdr_files_restored,
    machine_facts,
    manager_subscribers,
    quiet_logging,
    restart_pbx,
    step,
    test_dialplan,
)
from sipp_load import LoadSeat, raise_nofile  # noqa: E402
from sqlalchemy import select  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from ivr400.db.engine import make_engine  # noqa: E402
from ivr400.db.migrate import upgrade  # noqa: E402
from ivr400.db.models import Seat  # noqa: E402
from ivr400.deploy.asterisk import deploy_from_db  # noqa: E402
from ivr400.lab import Lab  # noqa: E402
from ivr400.lab.config import USERS_CONF_ASIDE  # noqa: E402
from ivr400.lab.core import calls_lock  # noqa: E402
from ivr400.lab.targets import lab_target  # noqa: E402
from ivr400.provisioning.sample import provision_sample  # noqa: E402
from ivr400.provisioning.seats import move_seat  # noqa: E402

#: Debian's sample users.conf, reduced to what triggers the leak (any users.conf does, even an empty one).
USERS_CONF = "; bench/bench_reload_leak.py: put back for the measurement, removed afterwards\n[general]\n"


def reloads(lab: Lab, n: int) -> float:
    t0 = time.monotonic()
    for _ in range(n):
        lab.rx("dialplan reload")
    return time.monotonic() - t0


def data_deploys(lab: Lab, n: int, tmp: Path) -> tuple[float, int]:
    """`n` deploys of a data change (the sample's first seat's ring timeout, alternating) into the lab:
    (seconds, dialplan reloads they ran: 0 with the AstDB design)."""
    engine = make_engine(f"sqlite:///{tmp / 'deploys.db'}")
    upgrade(engine)
    now = datetime.now(timezone.utc)
    reloaded = 0
    with Session(engine) as s:
        provision_sample(s, store_root=tmp / "store", now=now, actor="bench")
        s.commit()
        deploy_from_db(s, now, lab_target(lab), data_root=tmp / "store")
        seat = s.scalars(select(Seat).order_by(Seat.id)).first()
        assert seat is not None
        t0 = time.monotonic()
        for i in range(n):
            move_seat(s, seat, ring_timeout=20 + i % 2)
            s.commit()
            reloaded += "dialplan reload" in deploy_from_db(s, now, lab_target(lab), data_root=tmp / "store").reloaded
        took = time.monotonic() - t0
    engine.dispose()
    return took, reloaded


def measure(lab: Lab, label: str, args: argparse.Namespace, workdir: Path, seat: LoadSeat) -> list[float]:
    number = dict(WAYS)["static"]
    costs = []
    for i in range(args.rounds):
        st = step(lab, "static", number, args.rate, args.seconds, args.hold, workdir, None, None, seat)
        costs.append(st.ast_cpu_ms)
        print(f"{label:>28} round {i + 1}: {st.calls} calls, {st.ok} ok, {st.failed + st.unfinished} failed, "
              f"{st.ast_cpu_ms:.2f} ms Asterisk CPU per call", flush=True)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reloads", type=int, default=300, help="dialplan reloads per phase")
    parser.add_argument("--rate", type=int, default=50, help="calls/s")
    parser.add_argument("--seconds", type=float, default=4.0, help="seconds of calls per round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per phase")
    parser.add_argument("--hold", type=float, default=0.5, help="seconds the carrier stays on an answered call")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench_reload_leak: needs root (the lab chroot)")
    raise_nofile()
    lab = Lab.load()
    if not lab.running:
        sys.exit("bench_reload_leak: the lab is not running (ivr400 lab up)")
    users = lab.config_dir / "users.conf"
    if users.exists():
        sys.exit(f"bench_reload_leak: {users} exists; the lab moves it aside to {USERS_CONF_ASIDE} (ivr400 lab up)")

    with calls_lock(), tempfile.TemporaryDirectory(prefix="ivr400-bench-leak-") as tmp:
        work = Path(tmp)
        print("\n".join(machine_facts(lab)))
        restart_pbx(lab)
        seat = LoadSeat(SEAT_PORT, workdir=work / "seat")
        results: dict[str, tuple[int, list[float]]] = {}
        try:
            lab.set_test_dialplan(test_dialplan("direct"))
            seat.start()
            with quiet_logging(lab), cdr_files_restored(lab):
                results["fresh"] = (manager_subscribers(lab), measure(lab, "fresh", args, work, seat))
                took = reloads(lab, args.reloads)
                label = f"{args.reloads} reloads, no users.conf"
                print(f"{args.reloads} reloads without users.conf in {took:.1f} s")
                results[label] = (manager_subscribers(lab), measure(lab, label, args, work, seat))
                users.write_text(USERS_CONF)
                try:
                    took, reloaded = data_deploys(lab, args.reloads, work)
                    label = f"{args.reloads} data deploys, users.conf"
                    print(f"{args.reloads} data deploys (AstDB) with users.conf in {took:.1f} s: "
                          f"{reloaded} dialplan reloads")
                    results[label] = (manager_subscribers(lab), measure(lab, label, args, work, seat))
                    took = reloads(lab, args.reloads)
                    label = f"{args.reloads} reloads, users.conf"
                    print(f"{args.reloads} reloads with users.conf in {took:.1f} s")
                    results[label] = (manager_subscribers(lab), measure(lab, label, args, work, seat))
                finally:
                    users.unlink(missing_ok=True)
        finally:
            seat.stop()
            lab.set_test_dialplan("")
            restart_pbx(lab)  # drop the subscribers the measurement piled up

        base = statistics.median(results["fresh"][1])
        print(f"\n{'phase':>28} {'subscribers':>11} {'ms/call (median)':>16} {'min-max':>13} {'x fresh':>8}")
        for label, (subs, costs) in results.items():
            med = statistics.median(costs)
            print(f"{label:>28} {subs:>11} {med:>16.2f} {min(costs):>6.2f}-{max(costs):<6.2f} {med / base:>8.2f}")


if __name__ == "__main__":
    main()
