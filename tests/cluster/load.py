"""A steady sipp carrier through Kamailio, with every call accounted for.

    with CarrierLoad(proxy, numbers=["4008000001", "4008000002"], rate=15, calls=600, workdir=tmp) as load:
        ...  # kill a node, mark events with load.mark("kill node2")
    report = load.report()           # every call: start time, ok or failed
    report.failed_between(t0, t1)    # failed calls that started in [t0, t1)

The scenario (scenarios/uac_cluster.xml) logs "start N <epoch>" as each call begins and "ok N <epoch>" when
it ended well (answered, and the carrier's BYE got its 200); a call with a start and no ok failed (rejected,
timed out, BYE unanswered, or never finished). sipp is stopped by PID.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

SCENARIO = Path(__file__).with_name("scenarios") / "uac_cluster.xml"
_LINE = re.compile(r"^(start|ok) (\d+) (\d+)(?:\.\d*)? (\d+)(?:\.\d*)?(?: (\S+))?")


@dataclass
class Call:
    number: int
    called: str
    started: float
    ended: float | None = None

    @property
    def ok(self) -> bool:
        return self.ended is not None


@dataclass
class LoadReport:
    calls: list[Call]
    marks: list[tuple[float, str]] = field(default_factory=list)
    asked: int = 0

    @property
    def placed(self) -> int:
        return len(self.calls)

    @property
    def failed(self) -> list[Call]:
        return [c for c in self.calls if not c.ok]

    def failed_between(self, start: float, end: float = float("inf")) -> list[Call]:
        return [c for c in self.failed if start <= c.started < end]

    def placed_between(self, start: float, end: float = float("inf")) -> list[Call]:
        return [c for c in self.calls if start <= c.started < end]

    def phases(self) -> list[tuple[str, int, int]]:
        """(phase name, calls placed, calls failed) between consecutive marks (by the call's start)."""
        bounds = [(0.0, "before " + (self.marks[0][1] if self.marks else "end"))]
        bounds += [(t, "after " + name) for t, name in self.marks]
        out = []
        for i, (t, name) in enumerate(bounds):
            end = bounds[i + 1][0] if i + 1 < len(bounds) else float("inf")
            out.append((name, len(self.placed_between(t, end)), len(self.failed_between(t, end))))
        return out

    def figures(self, title: str) -> str:
        lines = [f"{title}: {self.placed} calls placed (of {self.asked} asked), {len(self.failed)} failed"]
        for name, placed, failed in self.phases():
            lines.append(f"  {name:<28} placed {placed:4d}  failed {failed:3d}")
        return "\n".join(lines)


class CarrierLoad:
    """sipp as the carrier: `calls` calls at `rate` per second, each held `hold_ms`, to `numbers` in turn."""

    def __init__(self, proxy: tuple[str, int], numbers: list[str], *, rate: float, calls: int, workdir: Path,
                 hold_ms: int = 2000, local_port: int = 5195, answer_timeout_ms: int = 8000) -> None:
        self.proxy, self.numbers, self.rate, self.calls = proxy, numbers, rate, calls
        self.workdir, self.hold_ms, self.local_port = workdir, hold_ms, local_port
        self.answer_timeout_ms = answer_timeout_ms
        self.proc: subprocess.Popen[bytes] | None = None
        self.marks: list[tuple[float, str]] = []
        self.started_at = 0.0

    def start(self) -> CarrierLoad:
        self.workdir.mkdir(parents=True, exist_ok=True)
        scenario = self.workdir / "uac_cluster.xml"
        scenario.write_text(SCENARIO.read_text().replace("@@ANSWER_TIMEOUT_MS@@", str(self.answer_timeout_ms)))
        inf = self.workdir / "numbers.csv"
        inf.write_text("SEQUENTIAL\n" + "".join(f"{n};\n" for n in self.numbers))
        cmd = ["sipp", f"{self.proxy[0]}:{self.proxy[1]}", "-sf", str(scenario), "-inf", str(inf),
               "-i", "127.0.0.1", "-p", str(self.local_port), "-mp", str(46000 + self.local_port % 1000 * 4),
               "-r", str(self.rate), "-m", str(self.calls), "-d", str(self.hold_ms), "-l", str(int(self.rate * 20)),
               "-trace_logs", "-trace_err", "-nostdin", "-bg"]
        # -bg: sipp forks and prints its PID; keep the child's PID to stop it.
        out = subprocess.run(cmd, cwd=self.workdir, capture_output=True, text=True, timeout=30, check=False)
        match = re.search(r"PID=\[(\d+)\]", out.stdout + out.stderr)
        if match is None:
            raise RuntimeError(f"sipp did not start: {out.stdout}{out.stderr}")
        self.pid = int(match.group(1))
        self.started_at = time.time()
        return self

    def mark(self, name: str) -> float:
        now = time.time()
        self.marks.append((now, name))
        return now

    def running(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        state = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] if \
            Path(f"/proc/{self.pid}/stat").exists() else "X"
        return state not in ("Z", "X")

    def wait(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.5)
        self.stop()

    def stop(self) -> None:
        if self.running():
            os.kill(self.pid, signal.SIGUSR1)  # sipp: stop placing calls, end the current ones
            deadline = time.monotonic() + 15
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.2)
            if self.running():
                os.kill(self.pid, signal.SIGKILL)

    def report(self) -> LoadReport:
        calls: dict[int, Call] = {}
        for log in self.workdir.glob("*_logs.log"):
            for line in log.read_text(errors="replace").splitlines():
                m = _LINE.match(line.strip())
                if not m:
                    continue
                kind, n, sec, usec = m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))
                t = sec + usec / 1e6
                if kind == "start":
                    calls[n] = Call(n, m.group(5) or "", t)
                elif n in calls:
                    calls[n].ended = t
        return LoadReport(sorted(calls.values(), key=lambda c: c.number), list(self.marks), self.calls)

    def errors(self, lines: int = 10) -> str:
        text = "".join(p.read_text(errors="replace") for p in self.workdir.glob("*_errors.log"))
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> CarrierLoad:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
