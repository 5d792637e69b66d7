"""Load runs with sipp: the carrier placing calls at a steady rate, and seats that answer without tracing.

    with LoadSeat(5091) as seat:                      # answers every INVITE, waits for the BYE
        result = run_load("4008000001", rate=5, calls=100, hold_s=0.5, workdir=tmp)
    result.successful, result.failed, result.ok       # sipp's own counters (ok: every call succeeded)

The carrier scenario (bench/scenarios/uac_load.xml) is strict: a call counts as successful only if the PBX
answered it and the carrier's BYE was taken; any other final response, a BYE from the PBX or a timeout
is a failed call in sipp's statistics. Neither side writes a per-message log (it would cost more CPU
than the PBX at a few hundred calls per second); counts come from sipp's `-trace_stat` CSV.
Processes are stopped by PID.
"""
from __future__ import annotations

import csv
import re
import resource
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from ivr400.lab.sipp import (
    PBX_HOST,
    PBX_PORT,
    SippError,
    _kill,
    _render,
    _udp_port_bound,
    media_port_for,
    sipp_binary,
)

#: This benchmark's own sipp scenarios (bench/scenarios/, not shipped in the wheel).
SCENARIOS = Path(__file__).resolve().parent / "scenarios"

__all__ = ["LoadResult", "LoadSeat", "raise_nofile", "run_load", "start_load"]

#: Open files for sipp (and anything started from here): the lab box allows 20000 (docs/architecture.md, "The lab").
NOFILE = 20000


def raise_nofile(limit: int = NOFILE) -> None:
    """`ulimit -n limit` for this process (and its children), as far as the hard limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def _stat_counters(path: Path) -> dict[str, str]:
    """The last row of a sipp `-trace_stat` CSV (`;`-separated, header first) as a dict."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return {}
    rows = [r for r in csv.reader(text.splitlines(), delimiter=";") if r]
    if len(rows) < 2:
        return {}
    header, last = rows[0], rows[-1]
    return {k.strip(): v.strip() for k, v in zip(header, last, strict=False)}  # a short last line: the columns it has


def _int(stats: dict[str, str], key: str) -> int:
    try:
        return int(float(stats.get(key, "0") or 0))
    except ValueError:
        return 0


@dataclass
class LoadResult:
    """What sipp counted for one load run (cumulative counters of its statistics file)."""

    to_number: str
    rate: float
    calls: int
    returncode: int | None
    wall_s: float
    stats: dict[str, str] = field(default_factory=dict, repr=False)
    workdir: Path | None = None
    stderr: str = ""

    @property
    def successful(self) -> int:
        return _int(self.stats, "SuccessfulCall(C)")

    @property
    def failed(self) -> int:
        return _int(self.stats, "FailedCall(C)")

    @property
    def created(self) -> int:
        return _int(self.stats, "OutgoingCall(C)") or _int(self.stats, "TotalCallCreated")

    @property
    def unfinished(self) -> int:
        """Calls of the run that neither succeeded nor failed (the run was cut short)."""
        return max(0, self.calls - self.successful - self.failed)

    @property
    def failed_fraction(self) -> float:
        """Failed (and never finished) calls over the calls asked for."""
        return (self.failed + self.unfinished) / self.calls if self.calls else 0.0

    @property
    def ok(self) -> bool:
        return self.successful == self.calls and self.failed == 0

    def failure_counters(self) -> dict[str, int]:
        """sipp's non-zero Failed* counters (why calls failed)."""
        return {k.removesuffix("(C)"): _int(self.stats, k) for k in self.stats
                if k.startswith("Failed") and k.endswith("(C)") and _int(self.stats, k)}

    def unexpected(self) -> dict[str, int]:
        """What the failed calls got instead (first line of each unexpected message, from sipp's error log)."""
        if self.workdir is None:
            return {}
        try:
            text = (self.workdir / "errors.log").read_text(errors="replace")
        except OSError:
            return {}
        counts: dict[str, int] = {}
        for m in re.finditer(r"(?:while expecting '([^']*)'[^,]*, received '([^\r\n']*))|(Aborting call[^'\r\n]*)",
                             text):
            if m.group(2) is not None:
                key = f"{m.group(2).strip()[:60]} (expecting {m.group(1)})"
            elif "unexpected message for Call-Id" in (m.group(3) or ""):
                continue  # the detail follows on the same line (first alternative)
            else:
                key = (m.group(3) or "").strip()[:80]
            counts[key] = counts.get(key, 0) + 1
        return counts

    def __repr__(self) -> str:
        return (f"LoadResult(to={self.to_number}, rate={self.rate:g}, calls={self.calls}, ok={self.successful}, "
                f"failed={self.failed}, unfinished={self.unfinished}, rc={self.returncode}, "
                f"wall={self.wall_s:.1f}s, why={self.failure_counters()}, workdir={self.workdir})")


def _load_command(to_number: str, scenario: Path, workdir: Path, *, rate: float, calls: int, hold_s: float,
                  local_port: int, local_host: str, pbx_host: str, pbx_port: int, limit: int | None,
                  timeout_s: float) -> list[str]:
    return [
        sipp_binary(), f"{pbx_host}:{pbx_port}",
        "-sf", str(scenario), "-s", to_number,
        "-i", local_host, "-p", str(local_port), "-mi", local_host, "-mp", str(media_port_for(local_port)),
        "-r", f"{rate:g}", "-rp", "1000", "-m", str(calls), "-l", str(limit or max(50, int(rate * (hold_s + 10)))),
        "-d", str(int(hold_s * 1000)),
        "-nostdin", "-aa",
        "-timeout", f"{int(timeout_s)}s",
        "-trace_stat", "-stf", str(workdir / "stats.csv"), "-fd", "1",
        "-trace_err", "-error_file", str(workdir / "errors.log"),
    ]


@dataclass
class RunningLoad:
    """A load run in progress (see :func:`start_load`); :meth:`wait` returns its :class:`LoadResult`."""

    to_number: str
    rate: float
    calls: int
    proc: subprocess.Popen
    workdir: Path
    started: float

    def wait(self, timeout: float | None = None) -> LoadResult:
        try:
            _, stderr = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(self.proc)
            _, stderr = self.proc.communicate()
        return LoadResult(self.to_number, self.rate, self.calls, self.proc.returncode,
                          time.monotonic() - self.started, _stat_counters(self.workdir / "stats.csv"),
                          self.workdir, stderr or "")

    def stop(self) -> None:
        _kill(self.proc)


def start_load(to_number: str, *, rate: float, calls: int, hold_s: float = 0.5, from_number: str = "13800138000",
               answer_timeout_s: float = 20.0, local_port: int = 5069, local_host: str = "127.0.0.1",
               pbx_host: str = PBX_HOST, pbx_port: int = PBX_PORT, limit: int | None = None,
               workdir: Path | None = None, key: str | None = None, key_after_s: float = 0.2) -> RunningLoad:
    """Start placing `calls` calls to `to_number` at `rate` calls/s (each held `hold_s` once answered).

    `key`: a menu key (0-9) each call presses `key_after_s` seconds after the answer, by SIP INFO
    (scenarios/uac_menu.xml); the hold counts from the key's 200 OK."""
    if rate <= 0 or calls <= 0:
        raise SippError("rate and calls must be positive")
    if _udp_port_bound(local_port, local_host):
        raise SippError(f"carrier port {local_host}:{local_port}/udp is already in use")
    workdir = Path(workdir) if workdir else Path(tempfile.mkdtemp(prefix=f"sipp-load-{to_number}-"))
    workdir.mkdir(parents=True, exist_ok=True)
    values = {"FROM": from_number, "ANSWER_TIMEOUT_MS": str(int(answer_timeout_s * 1000))}
    if key is not None:
        if len(key) != 1 or key not in "0123456789":
            raise SippError(f"key must be one digit 0-9, not {key!r}")
        values |= {"KEY": key, "KEY_AFTER_MS": str(int(key_after_s * 1000))}
    scenario = _render("uac_load.xml" if key is None else "uac_menu.xml", values, workdir, SCENARIOS)
    timeout_s = calls / rate + hold_s + answer_timeout_s + 30
    cmd = _load_command(to_number, scenario, workdir, rate=rate, calls=calls, hold_s=hold_s, local_port=local_port,
                        local_host=local_host, pbx_host=pbx_host, pbx_port=pbx_port, limit=limit,
                        timeout_s=timeout_s)
    proc = subprocess.Popen(cmd, cwd=workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True, preexec_fn=raise_nofile)
    return RunningLoad(to_number, rate, calls, proc, workdir, time.monotonic())


def run_load(to_number: str, *, rate: float, calls: int, hold_s: float = 0.5, **kwargs: object) -> LoadResult:
    """Place the calls (blocking) and return sipp's counts; see :func:`start_load` for the options."""
    running = start_load(to_number, rate=rate, calls=calls, hold_s=hold_s, **kwargs)  # type: ignore[arg-type]
    answer_timeout = float(kwargs.get("answer_timeout_s", 20.0))  # type: ignore[arg-type]
    return running.wait(timeout=calls / rate + hold_s + answer_timeout + 40)


@dataclass
class LoadSeat:
    """A seat for load runs: sipp UAS on 127.0.0.1:`port` answering every INVITE after `answer_after_s`
    and waiting for the BYE; no message log. `calls()` reads how many INVITEs it took so far."""

    port: int
    answer_after_s: float = 0.0
    host: str = "127.0.0.1"
    workdir: Path | None = None
    proc: subprocess.Popen | None = field(default=None, init=False, repr=False)

    def start(self, timeout: float = 5.0) -> LoadSeat:
        if self.proc is not None:
            return self
        if _udp_port_bound(self.port, self.host):
            raise SippError(f"seat port {self.host}:{self.port}/udp is already in use")
        self.workdir = Path(self.workdir or tempfile.mkdtemp(prefix=f"sipp-loadseat-{self.port}-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        scenario = _render("seat_answer.xml", {"ANSWER_AFTER_MS": str(int(self.answer_after_s * 1000)),
                                               "AFTER_ANSWER": "", "ACK_ACTIONS": "", "INVITE_ACTIONS": ""},
                           self.workdir)
        cmd = [
            sipp_binary(), "-sf", str(scenario), "-i", self.host, "-p", str(self.port),
            "-mi", self.host, "-mp", str(media_port_for(self.port)),
            "-nostdin", "-aa", "-default_behaviors", "all,-abortunexp",
            "-trace_stat", "-stf", str(self.workdir / "stats.csv"), "-fd", "1",
        ]
        with open(self.workdir / "stderr.log", "wb") as stderr:
            self.proc = subprocess.Popen(cmd, cwd=self.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=stderr, start_new_session=True, preexec_fn=raise_nofile)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SippError(f"load seat sipp on {self.port} exited ({self.proc.returncode})")
            if _udp_port_bound(self.port, self.host):
                return self
            time.sleep(0.05)
        self.stop()
        raise SippError(f"load seat sipp on {self.port} did not bind within {timeout:g} s")

    def calls(self) -> int:
        """INVITEs taken so far (sipp's IncomingCall counter, written every second)."""
        assert self.workdir is not None
        stats = _stat_counters(self.workdir / "stats.csv")
        return _int(stats, "IncomingCall(C)")

    def stop(self) -> None:
        if self.proc is not None:
            _kill(self.proc)

    def __enter__(self) -> LoadSeat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
