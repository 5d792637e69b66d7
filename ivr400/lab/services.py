"""ivr400's own services (``ivr400 serve``, ``ivr400 cdr listen``) as child processes of a command.

    with IvrService("controller", ["serve", "--metrics-port", "0"], log_path, env=env) as controller:
        controller.ready_line          # the `ready: pid ..., agi://...` line it printed
        ...
    # stopped here, by its PID (SIGTERM, then SIGKILL after `stop_timeout` s), also on an error or Ctrl-C

A service is started with the running interpreter (``python -c 'from ivr400.cli import main; main()'``,
so the same ivr400 runs whatever the install), in its own session (a Ctrl-C in the terminal reaches the
supervising command, which stops the service itself), stdout piped to read the ``ready:`` line and stderr
(its log) written to ``log_path``. :meth:`IvrService.start` raises :class:`ServiceError` with the end of
the log when the service exits or prints no ready line within ``timeout`` seconds.
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType

__all__ = ["IvrService", "ServiceError"]


class ServiceError(RuntimeError):
    """A service did not start; the message says which, why, and ends with its last log lines."""


class IvrService:
    """One ``ivr400 ARGS...`` child process (see the module docstring)."""

    def __init__(self, name: str, args: Sequence[str], log_path: Path, *, env: Mapping[str, str] | None = None,
                 stop_timeout: float = 10.0) -> None:
        self.name = name
        self.cmd = [sys.executable, "-c", "from ivr400.cli import main; main()", *args]
        self.log_path = Path(log_path)
        self.env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        self.stop_timeout = stop_timeout
        self.proc: subprocess.Popen[str] | None = None
        self.ready_line = ""

    @property
    def pid(self) -> int:
        if self.proc is None:
            raise ServiceError(f"{self.name}: not started")
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> IvrService:
        """Start and wait for the ``ready:`` line on stdout; ServiceError if it exits or stays silent."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                                         text=True, env=self.env, start_new_session=True)
        assert self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if ready:
                line = self.proc.stdout.readline()
                if line.startswith("ready:"):
                    self.ready_line = line.strip()
                    return self
                if line == "":  # stdout closed: it exited
                    break
            elif self.proc.poll() is not None:
                break
        exited = self.proc.poll()
        self.stop()
        why = f"exited with status {exited}" if exited is not None else f"not ready within {timeout:g} s"
        raise ServiceError(f"{self.name}: `ivr400 {' '.join(self.cmd[3:])}` {why}; its log ({self.log_path}) "
                           f"ends with:\n{self.log_tail()}")

    def log_tail(self, lines: int = 15) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> int | None:
        """SIGTERM by PID, SIGKILL after ``stop_timeout`` s; returns the exit status (None: never started)."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
        return proc.returncode

    def __enter__(self) -> IvrService:
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
