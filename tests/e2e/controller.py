"""`ivr400 serve` as a subprocess for the e2e tests (the `controller` fixture in conftest.py starts it)."""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["IVR400", "ControllerProcess"]

IVR400 = Path(sys.executable).with_name("ivr400")


class ControllerProcess:
    """`ivr400 serve` on 127.0.0.1:4573 as a subprocess; stopped by its PID."""

    def __init__(self, db_url: str, root: Path, workdir: Path, fixed_now: str | None, log_level: str) -> None:
        self.cmd = [str(IVR400), "--db", db_url, "serve", "--port", "4573", "--grace", "1", "--metrics-port", "0",
                    "--log-level", log_level, "--asterisk-root", str(root)]
        if fixed_now is not None:
            self.cmd += ["--fixed-now", fixed_now]
        workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"controller-{time.monotonic_ns()}.log"
        self.proc: subprocess.Popen[str] | None = None
        self.metrics_url = ""  # http://127.0.0.1:PORT (its /metrics and /healthz), from the ready line

    def start(self, timeout: float = 60.0) -> ControllerProcess:
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(self.cmd, stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL,
                                         text=True, start_new_session=True)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("ready:"):
                    m = re.search(r", metrics (http://\S+)/metrics$", line.strip())
                    assert m, line
                    self.metrics_url = m.group(1)
                    return self
                if line == "":  # exited
                    break
            elif self.proc.poll() is not None:
                break
        self.stop()
        raise AssertionError(f"controller did not start: {self.cmd}\n{self.log()[-3000:]}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL: no goodbye to the sessions in flight."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
