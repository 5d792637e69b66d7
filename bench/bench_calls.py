"""Highest call rate with under 1 % failed calls through the real Asterisk lab, three ways in one run.

    python bench/bench_calls.py [--restart-pbx] [--rates 50,100,150,200,250,300,400,500] [--seconds 3] [--hold 0.5]

1. static  - the lab-test include Dials the seat directly (no decision at all);
2. bare    - the same, after asking a bare FastAGI server (bench/bare_agi.py replaying the variables
             ivr400 set for one recorded call: the price of any FastAGI round trip);
3. ivr400  - the rendered dialplan deployed from a database, decided by `ivr400 serve` on 4573.

Call shapes (--shape):
  menu   (default) a realistic hotline: an IVR menu whose key 1 is a department of 3 seats (sequential;
         the first answers). The carrier presses 1 (SIP INFO) 0.2 s after the answer. static: Answer,
         Read the welcome prompt, Dial; bare: a `route` AGI at entry, Answer, Read, a `department` AGI
         with the key, Dial its first target (the AGI sessions ivr400's dialplan opens for this call);
         ivr400: its rendered menu and hunt engine. "Answered" is the IVR's answer.
  direct one hotline with one switchboard seat, no menu: every call straight to the seat.

sipp plays the carrier at -r R for R x --seconds calls (short calls: the seat answers at once, the
carrier hangs up after --hold s), a sipp seat answers. The ways run interleaved at each rate, rising
until a way fails 1 % or more of its calls (sipp's failed calls, plus calls that never finished).
Asterisk's logging is set to errors only for the run (logger.conf, restored afterwards); sipp gets
`ulimit -n 20000`, Asterisk raises its own limit (asterisk.conf maxfiles). Needs root and the lab up
(`ivr400 lab up`); takes the lab lock, so it waits for e2e tests in progress and they wait for it.

On this Asterisk 22.10.1 build every `dialplan reload` leaves one more subscriber on the manager:core
stasis topic, and every subscriber handles every AMI-bound message of every call: a lab that has run
the e2e suite a few times spends several times the CPU per call of a fresh one. The count is printed
with the machine facts; `--restart-pbx` restarts Asterisk in place first (`core restart now`: same
PID, same configuration and AMI secret) so the figures are those of a fresh PBX.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy.orm import Session

from ivr400.lab.core import calls_lock

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from agi_load import run_load as agi_run_load  # noqa: E402
from sipp_load import LoadSeat, raise_nofile, run_load  # noqa: E402

from ivr400.db.engine import make_engine  # noqa: E402
from ivr400.db.migrate import upgrade  # noqa: E402
from ivr400.deploy.asterisk import deploy_from_db  # noqa: E402
from ivr400.lab import Lab  # noqa: E402
from ivr400.lab.errors import LabError  # noqa: E402
from ivr400.lab.targets import lab_target  # noqa: E402
from ivr400.provisioning import destinations, evidence, seats, trunks  # noqa: E402
from ivr400.provisioning.enterprises import add_enterprise  # noqa: E402
from ivr400.provisioning.hotlines import add_hotline  # noqa: E402

HOTLINE = "4008000009"
SEAT_NUMBER = "01062345009"
#: The menu shape's department (key 1): three seats, all reached on the load seat's port.
MENU_SEATS = ("01062345009", "01062345010", "01062345011")
MENU_KEY = "1"
PROMPT = "ivr400/ivr400-welcome"
SEAT_PORT = 5091
SEAT_DIAL = f"PJSIP/pstn/sip:{SEAT_NUMBER}@127.0.0.1:{SEAT_PORT}"
CONTROLLER_PORT = 4573
BARE_PORT = 4574
CARRIER_PORT = 5069
ENTERPRISE = "北京甲科技有限公司"
WAYS = (("static", "9990001"), ("bare", "9990002"), ("ivr400", HOTLINE))
QUIET_LOGGER = """; ivr400 bench/bench_calls.py: errors only while the load runs (the lab's own file is restored after).
[general]
dateformat = %F %T.%3q
queue_log = no

[logfiles]
console => error
messages.log => error
"""


def test_dialplan(shape: str) -> str:
    """The lab-test include: the static way and the bare-FastAGI way, both dialling the same seat."""
    if shape == "direct":
        return f"""[ivr400-inbound]
; bench/bench_calls.py 1: static, the seat dialled directly
exten => 9990001,1,Dial({SEAT_DIAL},10)
 same => n,Hangup()
; bench/bench_calls.py 2: ask a bare FastAGI server first, then dial what it said (the same seat)
exten => 9990002,1,AGI(agi://127.0.0.1:{BARE_PORT}/route?hotline={HOTLINE})
 same => n,GotoIf($["${{IVR400_TARGET_1}}" = ""]?static)
 same => n,Dial(${{IVR400_TARGET_1}},10)
 same => n,Hangup()
 same => n(static),Dial({SEAT_DIAL},10)
 same => n,Hangup()
"""
    return f"""[ivr400-inbound]
; bench/bench_calls.py 1, menu shape: static, the menu prompt and its key, then the seat dialled directly
exten => 9990001,1,Answer()
 same => n,Read(KEY,{PROMPT},1,t(),1,5)
 same => n,Dial({SEAT_DIAL},10)
 same => n,Hangup()
; bench/bench_calls.py 2, menu shape: a bare FastAGI server at entry and again with the key, then its first target
exten => 9990002,1,AGI(agi://127.0.0.1:{BARE_PORT}/route?hotline={HOTLINE})
 same => n,Answer()
 same => n,Read(KEY,{PROMPT},1,t(),1,5)
 same => n,AGI(agi://127.0.0.1:{BARE_PORT}/department?hotline={HOTLINE}&dept=${{KEY}})
 same => n,GotoIf($["${{IVR400_TARGET_1}}" = ""]?static)
 same => n,Dial(${{IVR400_TARGET_1}},10)
 same => n,Hangup()
 same => n(static),Dial({SEAT_DIAL},10)
 same => n,Hangup()
"""


def provision(lab: Lab, db_url: str, data: Path, shape: str) -> None:
    """The bench hotline. direct: one switchboard seat reached through its own trunk, no rules: the controller
    sends every call to the switchboard (IVR400_ACTION=department with the targets), no prompt on the way.
    menu: an IVR menu (the welcome prompt) whose key 1 is a department of three seats, no switchboard seat."""
    engine = make_engine(db_url)
    upgrade(engine)
    now = datetime.now(timezone.utc)
    with Session(engine) as s:
        ent = add_enterprise(s, ENTERPRISE, "010", now=now)
        hotline = add_hotline(s, HOTLINE, ent, name="bench", now=now)
        trunk = trunks.add_trunk(s, f"bench-seat-{SEAT_PORT}", f"PJSIP/pstn/sip:{{number}}@127.0.0.1:{SEAT_PORT}")
        dept = seats.add_department(s, hotline, MENU_KEY, "销售部") if shape == "menu" else None
        bill = data / "bill.png"
        bill.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 64)
        for number in MENU_SEATS if shape == "menu" else (SEAT_NUMBER,):
            dest = destinations.add_destination(s, ent, number, owner_name=ENTERPRISE, owner_kind="company",
                                                now=now, actor="bench")
            evidence.add_evidence(s, dest, "carrier_bill", bill, store_root=data / "evidence",
                                  attributes={"issuer": "telecom", "shows_number": True, "shows_owner": True},
                                  valid_from=None, valid_until=None, long_term=False, now=now)
            destinations.approve(s, dest, now=now, actor="bench")
            dest.trunk = trunk
            seats.add_seat(s, hotline, dest, department=dept, ring_timeout=10, now=now)
        s.commit()
        deploy_from_db(s, now, lab_target(lab), data_root=data)
    engine.dispose()


def record_decision(route: str, want: str) -> list[str]:
    """The AGI command lines the controller sends for one `route` session (a fake Asterisk answering 200)."""
    recorded = asyncio.run(agi_run_load(CONTROLLER_PORT, route, concurrency=1, duration_s=0.3, record_first=True))
    if not any(want in c for c in recorded.commands):
        raise RuntimeError(f"the controller's {route} decision has no {want}: {recorded.commands}")
    return list(recorded.commands)


# -- processes --------------------------------------------------------------------------------------
def start_server(cmd: list[str], env: dict[str, str], what: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                            start_new_session=True, preexec_fn=raise_nofile)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ready:"):
            return proc
    raise RuntimeError(f"{what} did not start (exit {proc.wait()})")


def stop(proc: subprocess.Popen[str] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def cpu_seconds(pid: int | None) -> float:
    """utime + stime of a process (seconds), 0 if it is gone."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def active_channels(lab: Lab) -> int:
    out = lab.rx("core show channels count")
    m = re.search(r"(\d+) active channel", out)
    return int(m.group(1)) if m else -1


def drain(lab: Lab, timeout: float = 20.0) -> int:
    """Wait until Asterisk has no channel left (the previous step's calls are over)."""
    deadline = time.monotonic() + timeout
    while (n := active_channels(lab)) > 0 and time.monotonic() < deadline:
        time.sleep(0.25)
    return n


#: CDR files the load fills (tens of thousands of calls); the run cuts them back to what they held before.
CDR_FILES = ("/var/log/asterisk/cdr-csv/Master.csv", "/var/log/asterisk/cdr-custom/ivr400.csv")


@contextmanager
def cdr_files_restored(lab: Lab) -> Iterator[None]:
    """The bench's calls leave no call records behind in the lab's CSV files (the e2e CDR tests read them
    whole). Safe under the lab lock: nobody else places calls meanwhile."""
    sizes = {}
    for name in CDR_FILES:
        path = lab.host_path(name)
        sizes[path] = path.stat().st_size if path.exists() else None
    try:
        yield
    finally:
        deadline = time.monotonic() + 15
        last = None
        while time.monotonic() < deadline:  # Asterisk writes the last CDRs a moment after the calls end
            now = [p.stat().st_size if p.exists() else -1 for p in sizes]
            if now == last:
                break
            last = now
            time.sleep(1.0)
        for path, size in sizes.items():
            if size is not None and path.exists() and path.stat().st_size > size:
                os.truncate(path, size)


@contextmanager
def quiet_logging(lab: Lab) -> Iterator[None]:
    path = lab.config_dir / "logger.conf"
    original = path.read_text()
    path.write_text(QUIET_LOGGER)
    lab.rx("logger reload")
    try:
        yield
    finally:
        path.write_text(original)
        lab.rx("logger reload")


# -- facts --------------------------------------------------------------------------------------------
def machine_facts(lab: Lab) -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.machine())
    mem_kb = int(next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")))
    sipp = subprocess.run(["sipp", "-v"], capture_output=True, text=True, check=False).stdout
    sipp_version = next((m.group(0) for m in [re.search(r"SIPp v[0-9.]+", sipp)] if m), "sipp ?")
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return [
        f"cpu: {cpu}, {os.cpu_count()} cores; {mem_kb / 1048576:.1f} GiB RAM; Linux {platform.release()}",
        f"pbx: {lab.version()} (chroot {lab.root}, pid {lab.pid})",
        f"tools: {sipp_version}; Python {platform.python_version()}; ulimit -n {soft} (sipp and servers)",
        f"load average before the run: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}",
        f"other busy processes (1 s sample): {busy_processes() or 'none'}",
        f"asterisk: up {uptime(lab)}; {manager_subscribers(lab)} subscribers on the manager:core stasis topic "
        "(a fresh start has 1; each `dialplan reload` adds one)",
    ]


def manager_subscribers(lab: Lab) -> int:
    m = re.search(r"Subscribers count: (\d+)", lab.rx("stasis show topic manager:core"))
    return int(m.group(1)) if m else -1


def uptime(lab: Lab) -> str:
    m = re.search(r"System uptime: (.+)", lab.rx("core show uptime"))
    return m.group(1).strip() if m else "?"


def restart_pbx(lab: Lab, timeout: float = 90.0) -> None:
    """`core restart now`: Asterisk re-executes itself (same PID, same files, same AMI secret)."""
    before = manager_subscribers(lab)
    try:
        lab.restart_in_place(timeout)
    except LabError as exc:
        sys.exit(f"bench_calls: {exc} (run `ivr400 lab up`)")
    print(f"restarted Asterisk in place (pid {lab.pid}): manager:core subscribers {before} -> "
          f"{manager_subscribers(lab)}")


def busy_processes(threshold: float = 0.2) -> str:
    """Processes using more than `threshold` of a core right now: they compete with the run."""
    def sample() -> dict[int, tuple[str, float]]:
        out = {}
        for d in Path("/proc").iterdir():
            if d.name.isdigit():
                try:
                    stat = (d / "stat").read_text()
                except OSError:
                    continue
                out[int(d.name)] = (stat[stat.index("(") + 1:stat.rindex(")")], cpu_seconds(int(d.name)))
        return out

    first = sample()
    time.sleep(1.0)
    busy = []
    for pid, (name, cpu) in sample().items():
        used = cpu - first.get(pid, (name, cpu))[1]
        if used > threshold and pid != os.getpid():
            busy.append(f"{name} (pid {pid}) {100 * used:.0f} %")
    return ", ".join(busy)


# -- the run -----------------------------------------------------------------------------------------
@dataclass
class Step:
    way: str
    rate: int
    calls: int
    ok: int
    failed: int
    unfinished: int
    failed_pct: float
    answer_ms: float
    within_500ms_pct: float
    ast_cpu_ms: float
    agi_cpu_ms: float | None
    why: dict[str, int]
    seat_calls: int

    @property
    def passed(self) -> bool:
        """Under 1 % of the calls failed at the carrier, were left hanging in Asterisk 20 s after the step,
        or never reached the seat (in the menu shape: the key and the hunt took longer than the caller stayed)."""
        lost = max(self.calls - self.seat_calls, self.why.get("channels_left", 0))
        return self.failed_pct < 1.0 and 100 * lost / self.calls < 1.0

    @property
    def sustained(self) -> bool:
        """Passed, and 95 % or more of the calls were answered within 500 ms (no queue built up)."""
        return self.passed and self.within_500ms_pct >= 95.0


def step(lab: Lab, way: str, number: str, rate: int, seconds: float, hold: float, workdir: Path,
         agi_pid: int | None, key: str | None, seat: LoadSeat) -> Step:
    calls = max(1, int(rate * seconds))
    seat0 = seat.calls()
    ast0, agi0 = cpu_seconds(lab.pid), cpu_seconds(agi_pid)
    result = run_load(number, rate=rate, calls=calls, hold_s=hold, local_port=CARRIER_PORT, answer_timeout_s=10,
                      workdir=workdir / f"{way}-{rate}-{time.monotonic_ns()}", key=key)
    left = drain(lab)
    ast1, agi1 = cpu_seconds(lab.pid), cpu_seconds(agi_pid)
    if left > 0:  # stuck legs time out within 32 s (SIP timer B); what is still up then is hung up, so the
        # next step starts from an idle PBX (its count stays on this step's failures)
        if drain(lab, timeout=40.0) > 0:
            lab.rx("channel request hangup all")
            drain(lab, timeout=20.0)
    time.sleep(1.1)  # the seat's sipp writes its counters every second
    stats = result.stats

    answer_ms = float("nan")
    parts = stats.get("ResponseTimeanswer(C)", "").split(":")  # mean INVITE -> 200, HH:MM:SS:microseconds
    if len(parts) == 4 and all(p.isdigit() for p in parts):
        answer_ms = (int(parts[0]) * 3600 + int(parts[1]) * 60 + int(parts[2])) * 1000 + int(parts[3]) / 1000
    fast = sum(int(stats.get(f"ResponseTimeRepartitionanswer_<{ms}", "0") or 0) for ms in (50, 100, 200, 500))
    why = result.failure_counters()
    why.pop("FailedCall", None)
    why.update(result.unexpected())  # what the unexpected messages were
    if left > 0:
        why["channels_left"] = left
    return Step(way, rate, calls, result.successful, result.failed, result.unfinished, 100 * result.failed_fraction,
                answer_ms, 100 * fast / calls, 1000 * (ast1 - ast0) / calls,
                None if agi_pid is None else 1000 * (agi1 - agi0) / calls, why, seat.calls() - seat0)


def cpu_summary(results: list[Step]) -> str:
    """Asterisk CPU per call of each way, averaged over the rates at which every way passed (an overloaded
    step's CPU is not a per-call cost), and the ratios the goal is stated in."""
    by_rate: dict[int, dict[str, Step]] = {}
    for st in results:
        by_rate.setdefault(st.rate, {})[st.way] = st
    common = sorted(r for r, ways in by_rate.items() if len(ways) == len(WAYS) and all(w.passed for w in ways.values()))
    if not common:
        return "Asterisk CPU per call: no rate at which every way passed"
    mean = {way: sum(by_rate[r][way].ast_cpu_ms for r in common) / len(common) for way, _ in WAYS}
    return (f"Asterisk CPU per call at {', '.join(map(str, common))} calls/s (mean): "
            + ", ".join(f"{way} {mean[way]:.2f} ms" for way, _ in WAYS)
            + f"; ratios ivr400/bare {mean['ivr400'] / mean['bare']:.2f}x, "
            f"ivr400/static {mean['ivr400'] / mean['static']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="50,100,150,200,250,300,400,500", help="calls/s steps, rising")
    parser.add_argument("--seconds", type=float, default=3.0, help="seconds of calls per step")
    parser.add_argument("--hold", type=float, default=0.5, help="seconds the carrier stays on an answered call")
    parser.add_argument("--refine", type=int, default=1,
                        help="bisection steps between a way's last pass and first fail")
    parser.add_argument("--keep", type=Path, default=None, help="keep the sipp work files in this directory")
    parser.add_argument("--shape", choices=("menu", "direct"), default="menu",
                        help="the call: a menu, key 1, a department of 3 seats (default); or one seat, no menu")
    parser.add_argument("--restart-pbx", action="store_true",
                        help="restart the lab's Asterisk in place first (drops the subscribers piled up by reloads)")
    args = parser.parse_args()
    rates = [int(x) for x in args.rates.split(",")]
    if os.geteuid() != 0:
        sys.exit("bench_calls: needs root (the lab chroot)")
    raise_nofile()
    lab = Lab.load()
    if not lab.running:
        sys.exit("bench_calls: the lab is not running (ivr400 lab up)")

    started = time.monotonic()
    with calls_lock(), tempfile.TemporaryDirectory(prefix="ivr400-bench-calls-") as tmp:
        for port in (CONTROLLER_PORT, BARE_PORT):
            if listening(port):
                sys.exit(f"bench_calls: something already listens on 127.0.0.1:{port}")
        if args.restart_pbx:
            restart_pbx(lab)
        data = Path(tmp)
        db_url = f"sqlite:///{data / 'bench.db'}"
        env = os.environ | {"IVR400_DATA_DIR": str(data), "IVR400_DATABASE_URL": db_url}
        print("\n".join(machine_facts(lab)))
        provision(lab, db_url, data, args.shape)
        controller = bare = None
        seat = LoadSeat(SEAT_PORT, workdir=data / "seat")
        try:
            controller = start_server([str(Path(sys.executable).with_name("ivr400")), "--db", db_url, "serve",
                                       "--port", str(CONTROLLER_PORT), "--metrics-port", "0", "--log-level", "warning",
                                       "--max-sessions", "2000", "--asterisk-root", str(lab.root)], env, "ivr400 serve")
            if args.shape == "menu":
                entry = record_decision(f"route?hotline={HOTLINE}", "IVR400_ACTION=menu")
                department = record_decision(f"department?hotline={HOTLINE}&dept={MENU_KEY}", "IVR400_TARGET_3")
            else:
                entry = department = record_decision(f"route?hotline={HOTLINE}", "IVR400_TARGET_1")
            replay = data / "replay.json"
            replay.write_text(json.dumps({"route": entry, "department": department}))
            bare = start_server([sys.executable, str(HERE / "bare_agi.py"), "--port", str(BARE_PORT), "--replay",
                                 str(replay)], env, "bare_agi.py")
            commands = len(entry) + (len(department) if args.shape == "menu" else 0)
            lab.set_test_dialplan(test_dialplan(args.shape))
            seat.start()
            print(f"setup: {time.monotonic() - started:.1f} s; shape {args.shape}; {commands} AGI commands per call; "
                  f"steps of {args.seconds:g} s, calls held {args.hold:g} s; seat answers at once")
            agi_pid = {"static": None, "bare": bare.pid, "ivr400": controller.pid}
            numbers = dict(WAYS)
            best: dict[str, int] = {way: 0 for way, _ in WAYS}  # highest rate that passed
            steady: dict[str, int] = {way: 0 for way, _ in WAYS}  # highest rate that passed without queueing
            queued: dict[str, int | None] = {way: None for way, _ in WAYS}  # lowest rate that did not
            worst: dict[str, int | None] = {way: None for way, _ in WAYS}  # lowest rate that failed
            print(f"{'way':>7} {'calls/s':>7} {'calls':>6} {'ok':>6} {'failed':>6} {'fail %':>7} "
                  f"{'answer ms':>9} {'<500ms':>7} {'ast ms/call':>11} {'agi ms/call':>11} {'at seat':>7}  failures")

            results: list[Step] = []

            def run_step(way: str, rate: int) -> None:
                st = step(lab, way, numbers[way], rate, args.seconds, args.hold, args.keep or data, agi_pid[way],
                          MENU_KEY if args.shape == "menu" else None, seat)
                results.append(st)
                agi = "-" if st.agi_cpu_ms is None else f"{st.agi_cpu_ms:.2f}"
                print(f"{way:>7} {rate:>7} {st.calls:>6} {st.ok:>6} {st.failed + st.unfinished:>6} "
                      f"{st.failed_pct:>6.2f}% {st.answer_ms:>9.1f} {st.within_500ms_pct:>6.1f}% "
                      f"{st.ast_cpu_ms:>11.2f} {agi:>11} {st.seat_calls:>7}  {st.why or ''}", flush=True)
                if st.sustained:
                    steady[way] = max(steady[way], rate)
                else:
                    queued[way] = rate if queued[way] is None else min(queued[way], rate)  # type: ignore[type-var]
                if st.passed:
                    best[way] = max(best[way], rate)
                else:
                    worst[way] = rate if worst[way] is None else min(worst[way], rate)  # type: ignore[type-var]

            with quiet_logging(lab), cdr_files_restored(lab):
                # The ladder, the ways interleaved at each rate, until a way fails.
                for rate in rates:
                    live = [way for way, _ in WAYS if worst[way] is None]
                    if not live:
                        break
                    for way in live:
                        run_step(way, rate)
                # Then narrow each way's brackets (last pass, first fail; for both criteria) at multiples of 5.
                for _ in range(args.refine):
                    for way, _number in WAYS:
                        for lo, hi in ((best[way], worst[way]), (steady[way], queued[way])):
                            if hi is None:
                                continue
                            mid = 5 * round((lo + hi) / 10)
                            if lo < mid < hi:
                                run_step(way, mid)
            top = rates[-1]
            alive = {way for way, _ in WAYS if worst[way] is None}
            print("max rate with < 1 % failed calls (calls/s; '>=' = never failed up to the highest step):")
            for way, _ in WAYS:
                mark = ">=" if way in alive and best[way] == top else "  "
                fails = f" (1 % or more failed at {worst[way]})" if worst[way] is not None else ""
                print(f"  {way:>7}: {mark}{best[way]}{fails}")

            def ratio(a: str, b: str) -> str:
                if not best[b]:
                    return "n/a"
                capped = " (both reached the highest step)" if a in alive and b in alive else ""
                return f"{best[a] / best[b]:.2f}x{capped}"

            print(f"ratios: ivr400/bare {ratio('ivr400', 'bare')}, ivr400/static {ratio('ivr400', 'static')}")
            print("highest rate also answering 95 % of its calls within 500 ms (no queue building up): "
                  + ", ".join(f"{way} {steady[way]}" for way, _ in WAYS)
                  + (f"; ratios ivr400/bare {steady['ivr400'] / steady['bare']:.2f}x, "
                     f"ivr400/static {steady['ivr400'] / steady['static']:.2f}x" if steady['bare'] and steady['static']
                     else ""))
            print(cpu_summary(results))
        finally:
            seat.stop()
            stop(bare)
            stop(controller)
            lab.clear_test_dialplan()
        print(f"total: {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
