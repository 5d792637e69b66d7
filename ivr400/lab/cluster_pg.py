"""The cluster lab's own PostgreSQL (实验室数据库): a server the failure tests may stop and start.

    pg = LabPostgres(Path("/var/cache/ivr400/cluster-test/postgres"), host="127.0.0.6", port=5432)
    pg.start()          # initdb on first use (trust auth), then `pg_ctl start -w`; returns the postmaster PID
    pg.url              # postgresql+psycopg://postgres@127.0.0.6:5432/postgres
    pg.stop()           # `pg_ctl stop -m fast -w` (a restart under load: stop, wait, start)

The machine's PostgreSQL (127.0.0.1:5432) is shared with other tests and sessions, so the lab never restarts
it: this one is Debian's binaries (``/usr/lib/postgresql/<version>/bin``, the newest there) over a data
directory of the lab's, listening on one loopback address (TCP) and a socket directory of its own. PostgreSQL
refuses to run as root, so as root (the lab's case) every command runs as the ``postgres`` user
(``runuser -u postgres --``) and the directory is given to that user. Errors: :class:`LabError` ("postgres",
reason with the log's tail).
"""
from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

from ivr400.lab import process
from ivr400.lab.errors import LabError

__all__ = ["DEFAULT_PG_HOST", "DEFAULT_PG_PORT", "LabPostgres", "pg_bin_dir"]

DEFAULT_PG_HOST = "127.0.0.6"
DEFAULT_PG_PORT = 5432
_USER = "postgres"


def pg_bin_dir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` with ``pg_ctl``; LabError if none."""
    base = Path("/usr/lib/postgresql")
    versions = sorted((p for p in base.glob("*/bin/pg_ctl") if p.is_file()),
                      key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if not versions:
        raise LabError("postgres", "no /usr/lib/postgresql/*/bin/pg_ctl (apt-get install -y postgresql)")
    return versions[-1].parent


class LabPostgres:
    """One PostgreSQL server under `base` (data/, run/, postgres.log) on `host`:`port`."""

    def __init__(self, base: Path, host: str = DEFAULT_PG_HOST, port: int = DEFAULT_PG_PORT) -> None:
        self.base, self.host, self.port = Path(base), host, port
        self.data, self.run, self.log = self.base / "data", self.base / "run", self.base / "postgres.log"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{_USER}@{self.host}:{self.port}/postgres"

    # -- helpers ---------------------------------------------------------------------------------
    def _as_user(self) -> list[str]:
        return ["runuser", "-u", _USER, "--"] if os.geteuid() == 0 else []

    def _run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        cmd = [*self._as_user(), str(pg_bin_dir() / args[0]), *args[1:]]
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False,
                                 stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as exc:
            raise LabError("postgres", f"{args[0]} did not finish within {timeout:g} s") from exc
        return out

    def _fail(self, what: str, out: subprocess.CompletedProcess[str]) -> LabError:
        tail = process.log_tail(self.log) if self.log.exists() else ""
        return LabError("postgres", f"{what} failed (exit {out.returncode}): {(out.stderr or out.stdout).strip()}"
                                    + (f"\n{self.log} ends:\n{tail}" if tail else ""))

    def pid(self) -> int | None:
        """The postmaster's PID if it runs over this data directory (postmaster.pid, checked in /proc)."""
        try:
            first = (self.data / "postmaster.pid").read_text().split("\n", 1)[0].strip()
            pid = int(first)
        except (OSError, ValueError):
            return None
        if not process.pid_alive(pid):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return None
        return pid if any(str(self.data).encode() in a for a in cmdline) else None

    def running(self) -> bool:
        return self.pid() is not None

    def _check_free(self) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((self.host, self.port))
            except OSError as exc:
                raise LabError("postgres", f"{self.host}:{self.port}/tcp is in use by another process "
                                           f"({exc.strerror})") from exc

    # -- the API ---------------------------------------------------------------------------------
    def init(self) -> None:
        """initdb (trust auth for local and loopback, UTF-8, no locale) unless the data directory exists."""
        if (self.data / "PG_VERSION").exists():
            return
        self.base.mkdir(parents=True, exist_ok=True)
        if self.data.exists():
            shutil.rmtree(self.data)  # a half-made directory of an interrupted initdb
        for d in (self.base, self.run):
            d.mkdir(parents=True, exist_ok=True)
            if os.geteuid() == 0:
                user = pwd.getpwnam(_USER)
                os.chown(d, user.pw_uid, user.pw_gid)
        out = self._run("initdb", "-D", str(self.data), "-U", _USER, "--auth=trust", "-E", "UTF8", "--no-locale",
                        "--no-sync")
        if out.returncode != 0:
            raise self._fail("initdb", out)

    def start(self, timeout: float = 60.0) -> int:
        """Start the server (initdb first if needed) and wait until it accepts connections; its PID."""
        pid = self.pid()
        if pid is not None:
            return pid
        self.init()
        self._check_free()
        options = (f"-c listen_addresses={self.host} -p {self.port} -c unix_socket_directories={self.run} "
                   "-c fsync=off -c max_connections=100 -c shared_buffers=32MB")
        if os.geteuid() == 0 and not self.log.exists():
            self.log.touch()
            user = pwd.getpwnam(_USER)
            os.chown(self.log, user.pw_uid, user.pw_gid)
        out = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w",
                        "-t", str(int(timeout)), "start", timeout=timeout + 10)
        if out.returncode != 0:
            raise self._fail("pg_ctl start", out)
        deadline = time.monotonic() + 10
        while (pid := self.pid()) is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if pid is None:
            raise LabError("postgres", f"pg_ctl start said ready, but no postmaster runs over {self.data}")
        return pid

    def stop(self, mode: str = "fast", timeout: float = 60.0) -> bool:
        """`pg_ctl stop -m MODE` (fast: roll back open transactions, close every connection); True if it ran."""
        if self.pid() is None:
            return False
        out = self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", str(int(timeout)), "stop",
                        timeout=timeout + 10)
        if out.returncode != 0 and self.pid() is not None:
            raise self._fail("pg_ctl stop", out)
        return True
