"""Start, watch, query and stop the Asterisk daemon inside the lab chroot."""
from __future__ import annotations

import os
import resource
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from ivr400.lab.errors import LabError

#: Popen objects of daemons this process started, so we can reap them (no zombies counted alive).
_CHILDREN: dict[int, subprocess.Popen] = {}

NOFILE = 20000


def asterisk_rx(root: Path, command: str, timeout: float = 15.0, conf: str | None = None) -> str:
    """Run `chroot ROOT asterisk [-C CONF] -rx COMMAND` and return its output; LabError if it cannot connect.
    `conf`: the asterisk.conf (chroot path) of a cluster node; None: the single lab's."""
    try:
        proc = subprocess.run(
            ["chroot", str(root), "asterisk", *(["-C", conf] if conf else []), "-rx", command],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise LabError("asterisk", f"`asterisk -rx {command!r}` timed out after {timeout:g} s") from exc
    out = proc.stdout
    if proc.returncode != 0 or "Unable to connect to remote asterisk" in out + proc.stderr:
        detail = (proc.stderr.strip() or out.strip() or f"exit {proc.returncode}").splitlines()[-1]
        raise LabError("asterisk", f"`asterisk -rx {command!r}` failed: {detail}")
    return out


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def pid_alive(pid: int) -> bool:
    """True if `pid` runs (zombies count as dead; our own children are reaped)."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        _CHILDREN.pop(pid, None)
        return False
    state = _proc_state(pid)
    return state is not None and state not in ("Z", "X")


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def _proc_root(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/root")
    except OSError:
        return None


def _conf_arg(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv[1:], 1):
        if arg == "-C" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def is_asterisk_daemon(pid: int, root: Path | None = None, conf: str | None = None) -> bool:
    """`pid` is a live Asterisk daemon (not a `-r`/`-rx` remote console), chrooted in `root` if given, started
    with `-C conf` (a cluster node) or without -C (the single lab) when conf is None."""
    if not pid_alive(pid):
        return False
    argv = _cmdline(pid)
    if not argv or os.path.basename(argv[0]) != "asterisk":
        return False
    if any(a.startswith(("-r", "-R")) for a in argv[1:]):
        return False
    if root is not None and _proc_root(pid) != os.path.realpath(root):
        return False
    return _conf_arg(argv) == conf


def find_daemons(root: Path, conf: str | None = None) -> list[int]:
    """PIDs of Asterisk daemons running chrooted in `root` (whoever started them): the single lab's (no -C),
    or the cluster node started with `-C conf`."""
    return sorted(int(entry.name) for entry in Path("/proc").iterdir()
                  if entry.name.isdigit() and is_asterisk_daemon(int(entry.name), root, conf))


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = max(NOFILE, soft)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(want, hard)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))


def start_daemon(root: Path, log_path: Path, extra_args: Sequence[str] = ()) -> int:
    """Start `chroot ROOT asterisk -f -g -n [EXTRA_ARGS]` in its own session, stdin /dev/null, output to
    `log_path`. `extra_args`, e.g. `("-U", "asterisk", "-G", "asterisk")` to run as that user."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["chroot", str(root), "asterisk", "-f", "-g", "-n", *extra_args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_raise_nofile,
            close_fds=True,
        )
    _CHILDREN[proc.pid] = proc
    return proc.pid  # chroot execs asterisk: the same PID


def log_tail(log_path: Path, lines: int = 25) -> str:
    try:
        text = log_path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(log empty)"


def ami_ready(host: str, port: int, timeout: float = 2.0) -> bool:
    """The AMI port accepts a connection and sends its `Asterisk Call Manager/...` banner."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            banner = sock.recv(128)
    except OSError:
        return False
    return banner.startswith(b"Asterisk Call Manager")


def wait_booted(root: Path, pid: int, log_path: Path, ami: tuple[str, int], timeout: float = 60.0,
                conf: str | None = None) -> None:
    """Block until `core waitfullybooted` succeeds and AMI answers; LabError (with log tail) if the
    daemon dies or the deadline passes."""
    deadline = time.monotonic() + timeout
    booted = False
    last_error = "not started"
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            raise LabError("asterisk", f"exited during start-up; {log_path} ends:\n{log_tail(log_path)}")
        if not booted:
            try:
                asterisk_rx(root, "core waitfullybooted", timeout=max(1.0, deadline - time.monotonic()), conf=conf)
                booted = True
            except LabError as exc:
                last_error = exc.reason
                time.sleep(0.2)
                continue
        if ami_ready(*ami):
            return
        last_error = f"AMI {ami[0]}:{ami[1]} does not answer"
        time.sleep(0.2)
    raise LabError(
        "asterisk",
        f"not ready after {timeout:g} s ({last_error}); {log_path} ends:\n{log_tail(log_path)}",
    )


def stop_daemon(pid: int, timeout: float = 15.0) -> bool:
    """SIGTERM `pid`, SIGKILL after `timeout`; True if it was running."""
    if not pid_alive(pid):
        _CHILDREN.pop(pid, None)
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            break
        time.sleep(0.1)
    else:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        kill_deadline = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < kill_deadline:
            time.sleep(0.1)
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        try:
            child.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
    return True
