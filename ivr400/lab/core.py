"""The lab: Asterisk 22 in a Debian sid chroot on loopback, with state in a JSON file.

    lab = lab_up()                  # build/reuse chroot, render base config, start, wait until booted
    lab.rx("core show channels")    # asterisk -rx inside the chroot
    lab.host_path("/var/spool/asterisk/ivr400")   # where that chroot path is on the host
    lab_down()
"""
from __future__ import annotations

import json
import math
import os
import socket
import struct
import time
import wave
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath

from ivr400.fsutil import file_lock
from ivr400.lab import chroot, process
from ivr400.lab.config import (
    DEFAULT_MOH_DIR,
    LAB_TEST_INCLUDE,
    LOG_DIR,
    MOH_DIR,
    RUN_DIR,
    SOUNDS_DIR,
    SPOOL_DIR,
    LabConfig,
    atomic_write,
    new_secret,
    write_base_config,
)
from ivr400.lab.errors import LabError

#: Held while placing calls on the shared lab (tests, demo): its SIP ports and test include are shared.
CALLS_LOCK = "/var/cache/ivr400/calls.lock"


def calls_lock() -> AbstractContextManager[None]:
    """One caller of the lab at a time on this machine (separate from `lab.lock`, held by up/down)."""
    return file_lock(Path(os.environ.get("IVR400_CALLS_LOCK", CALLS_LOCK)))

DEFAULT_STATE_PATH = Path("/var/cache/ivr400/lab-state.json")
#: Asterisk's console output (it runs with -f, no console): chroot path.
CONSOLE_LOG = "/var/log/asterisk/lab-console.log"
#: Keys written to the state file.
STATE_KEYS = (
    "root",
    "pid",
    "ami_host",
    "ami_port",
    "ami_username",
    "ami_secret",
    "sip_host",
    "sip_port",
    "started_at",
)


def state_path() -> Path:
    """The state file: $IVR400_LAB_STATE or /var/cache/ivr400/lab-state.json."""
    return Path(os.environ.get("IVR400_LAB_STATE") or DEFAULT_STATE_PATH)


def _verbose_default() -> bool:
    return os.environ.get("IVR400_LAB_VERBOSE", "").strip().lower() in ("1", "yes", "true", "on")


@dataclass
class Lab:
    """A lab instance: where its chroot is, its daemon PID and how to reach it."""

    root: Path
    pid: int | None = None
    ami_host: str = "127.0.0.1"
    ami_port: int = 5038
    ami_username: str = "ivr400"
    ami_secret: str = ""
    sip_host: str = "127.0.0.1"
    sip_port: int = 5060
    started_at: str | None = None
    #: Measurements of the `lab_up` call that produced this object (not stored in the state file).
    build_seconds: float | None = field(default=None, compare=False, repr=False)
    up_seconds: float | None = field(default=None, compare=False, repr=False)

    # -- state file -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: Path | None = None) -> Lab:
        """The lab recorded in the state file; LabError if there is none."""
        path = path or state_path()
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise LabError("lab", f"no lab state at {path}; run `ivr400 lab up`") from exc
        except (OSError, ValueError) as exc:
            raise LabError("lab", f"cannot read {path}: {exc}") from exc
        known = {f.name for f in fields(cls)} & set(STATE_KEYS)
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs["root"] = Path(kwargs.get("root") or chroot.default_root())
        return cls(**kwargs)

    def save(self, path: Path | None = None) -> None:
        """Write the state file atomically, mode 0600 (it holds the AMI secret)."""
        data = {k: v for k, v in asdict(self).items() if k in STATE_KEYS}
        data["root"] = str(self.root)
        atomic_write(path or state_path(), json.dumps(data, indent=2) + "\n", mode=0o600)

    # -- paths ------------------------------------------------------------------------------
    @property
    def config_dir(self) -> Path:
        """ROOT/etc/asterisk on the host."""
        return self.host_path("/etc/asterisk")

    @property
    def console_log(self) -> Path:
        return self.host_path(CONSOLE_LOG)

    def host_path(self, path: str | PurePosixPath) -> Path:
        """Host path of a path as Asterisk sees it inside the chroot (chroot symlinks resolved)."""
        return chroot.host_path(self.root, path)

    # -- talking to Asterisk ----------------------------------------------------------------
    @property
    def ami_credentials(self) -> dict[str, object]:
        """{host, port, username, secret} for an AMI client (e.g. panoramisk)."""
        return {
            "host": self.ami_host,
            "port": self.ami_port,
            "username": self.ami_username,
            "secret": self.ami_secret,
        }

    @property
    def running(self) -> bool:
        return self.pid is not None and process.is_asterisk_daemon(self.pid, self.root)

    def rx(self, command: str, timeout: float = 15.0) -> str:
        """`asterisk -rx COMMAND` inside the chroot; returns the output."""
        return process.asterisk_rx(self.root, command, timeout=timeout)

    def restart_in_place(self, timeout: float = 90.0) -> float:
        """`core restart now`: Asterisk re-executes itself (same PID, same files, same AMI secret, AstDB kept on
        disk); returns the seconds until `core waitfullybooted` answered. Raises LabError if it does not come
        back within `timeout` seconds."""
        started = time.monotonic()
        try:
            self.rx("core restart now", timeout=10)
        except Exception:  # noqa: BLE001 - the console goes away with the restart
            pass
        time.sleep(0.2)
        while time.monotonic() - started < timeout:
            try:
                if "fully booted" in self.rx("core waitfullybooted", timeout=10).lower() and self.running:
                    return time.monotonic() - started
            except Exception:  # noqa: BLE001 - not accepting consoles yet
                pass
            time.sleep(0.2)
        raise LabError("restart", f"Asterisk (pid {self.pid}) did not come back within {timeout:g} s of "
                                  "`core restart now`")

    def version(self) -> str:
        """First line of `core show version`, e.g. 'Asterisk 22.10.1+dfsg... built by ...'."""
        out = self.rx("core show version").strip()
        return out.splitlines()[0] if out else ""

    def set_test_dialplan(self, text: str, reload: bool = True) -> Path:
        """Write ivr400/lab-test.conf (the lab tests' include) and `dialplan reload`."""
        target = self.config_dir / LAB_TEST_INCLUDE
        atomic_write(target, text)
        if reload:
            self.rx("dialplan reload")
        return target

    def clear_test_dialplan(self, reload: bool = True) -> None:
        self.set_test_dialplan("", reload=reload)


@dataclass
class LabStatus:
    running: bool
    root: str
    chroot_built: bool
    pid: int | None = None
    version: str | None = None
    ami_host: str | None = None
    ami_port: int | None = None
    ami_username: str | None = None
    sip_host: str | None = None
    sip_port: int | None = None
    started_at: str | None = None
    state_file: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


# -- helpers ---------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _recorded_pid(prev: Lab | None, root: Path) -> int | None:
    """The state file's PID if it is a live Asterisk daemon in `root`."""
    if prev is None or Path(prev.root) != root or not prev.pid:
        return None
    return prev.pid if process.is_asterisk_daemon(prev.pid, root) else None


def _load_optional(path: Path) -> Lab | None:
    try:
        return Lab.load(path)
    except LabError:
        return None


def _lab_for(config: LabConfig, root: Path, pid: int | None = None) -> Lab:
    return Lab(
        root=root,
        pid=pid,
        ami_host=config.ami_host,
        ami_port=config.ami_port,
        ami_username=config.ami_username,
        ami_secret=config.ami_secret,
        sip_host=config.sip_host,
        sip_port=config.sip_port,
    )


def _check_port_free(kind: int, host: str, port: int, field_name: str) -> None:
    with socket.socket(socket.AF_INET, kind) as sock:
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            proto = "udp" if kind == socket.SOCK_DGRAM else "tcp"
            reason = f"{host}:{port}/{proto} is in use by another process ({exc.strerror})"
            raise LabError(field_name, reason) from exc


def write_tone_wav(path: Path, seconds: float = 5.0, freq: float = 450.0, on_s: float = 1.0) -> None:
    """An 8 kHz 16-bit mono WAV: `freq` Hz for `on_s`, silence for the rest (China's ringback cadence)."""
    rate = 8000
    frames = bytearray()
    for n in range(int(seconds * rate)):
        value = int(8000 * math.sin(2 * math.pi * freq * n / rate)) if n < on_s * rate else 0
        frames += struct.pack("<h", value)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with wave.open(str(tmp), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(bytes(frames))
    os.replace(tmp, path)


def prepare_root(root: Path) -> None:
    """Directories ivr400 uses inside the chroot, and the default MOH tone."""
    dirs = (SPOOL_DIR, SOUNDS_DIR, MOH_DIR, DEFAULT_MOH_DIR, RUN_DIR, LOG_DIR, f"{LOG_DIR}/cdr-csv",
            "/etc/asterisk/ivr400", "/var/lib/asterisk/keys")
    for path in dirs:
        chroot.host_path(root, path).mkdir(parents=True, exist_ok=True)
    tone = chroot.host_path(root, f"{DEFAULT_MOH_DIR}/lab-tone.wav")
    if not tone.exists():
        write_tone_wav(tone)


# -- the API -----------------------------------------------------------------------------------
#: Base config files whose change a running lab must load at once: the call records' column mappings.
_CDR_MODULES = {"cdr_manager.conf": "cdr_manager.so", "cdr_custom.conf": "cdr_custom.so"}


def _text_of(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def lab_up(
    root: Path | None = None,
    *,
    verbose: bool | None = None,
    timeout: float = 60.0,
    state_file: Path | None = None,
) -> Lab:
    """Bring the lab up (idempotent) and return it.

    Builds the chroot if missing, mounts proc, renders the base config, starts Asterisk and waits
    until it is fully booted and AMI answers. If Asterisk already runs in the chroot it is left
    alone and reported; its AMI secret is kept. Only the CDR backends are reloaded, when the newly
    rendered mappings differ (an upgraded ivr400 reads a column the running ones do not write yet).
    """
    t0 = time.monotonic()
    root = Path(root) if root is not None else chroot.default_root()
    state_file = state_file or state_path()
    verbose = _verbose_default() if verbose is None else verbose
    with chroot.file_lock(state_file.with_name("lab.lock")):
        root, build_seconds = chroot.ensure_chroot(root)
        chroot.mount_proc(root)
        prepare_root(root)
        prev = _load_optional(state_file)
        if prev is not None and Path(prev.root) != root:
            prev = None
        pid = _recorded_pid(prev, root)
        adopted = False
        if pid is None:
            running = process.find_daemons(root)
            if running:
                pid, adopted = running[0], True
        if pid is not None:
            # Already running: re-render (same secret), no reload.
            keep = prev is not None and prev.pid == pid and bool(prev.ami_secret)
            secret = prev.ami_secret if keep and prev is not None else new_secret()
            config = LabConfig(ami_secret=secret, verbose=verbose)
            lab = _lab_for(config, root, pid=pid)
            lab.started_at = prev.started_at if keep and prev is not None else _now()
            before = {name: _text_of(lab.config_dir / name) for name in _CDR_MODULES}
            write_base_config(config, lab.config_dir)
            for name, module in _CDR_MODULES.items():
                if _text_of(lab.config_dir / name) != before[name]:
                    lab.rx(f"module reload {module}")
            if adopted or not keep:
                lab.rx("module reload manager")  # the running daemon must know the new secret
            lab.save(state_file)
            lab.build_seconds, lab.up_seconds = build_seconds, time.monotonic() - t0
            return lab

        config = LabConfig(ami_secret=new_secret(), verbose=verbose)
        _check_port_free(socket.SOCK_DGRAM, config.sip_host, config.sip_port, "sip_port")
        _check_port_free(socket.SOCK_STREAM, config.ami_host, config.ami_port, "ami_port")
        lab = _lab_for(config, root)
        write_base_config(config, lab.config_dir)
        lab.pid = process.start_daemon(root, lab.console_log)
        lab.started_at = _now()
        try:
            process.wait_booted(root, lab.pid, lab.console_log, (config.ami_host, config.ami_port), timeout)
        except BaseException:
            process.stop_daemon(lab.pid, timeout=5)
            raise
        lab.save(state_file)
        lab.build_seconds, lab.up_seconds = build_seconds, time.monotonic() - t0
        return lab


def lab_down(root: Path | None = None, *, timeout: float = 15.0, state_file: Path | None = None) -> bool:
    """Stop the lab's Asterisk (SIGTERM, SIGKILL after `timeout`); True if something was running."""
    root = Path(root) if root is not None else chroot.default_root()
    state_file = state_file or state_path()
    with chroot.file_lock(state_file.with_name("lab.lock")):
        prev = _load_optional(state_file)
        pids = set(process.find_daemons(root)) if root.exists() else set()
        recorded = _recorded_pid(prev, root)
        if recorded is not None:
            pids.add(recorded)
        stopped = False
        for pid in sorted(pids):
            stopped = process.stop_daemon(pid, timeout=timeout) or stopped
        if prev is not None and Path(prev.root) == root:
            prev.pid = None
            prev.save(state_file)
        return stopped


def lab_status(root: Path | None = None, *, state_file: Path | None = None) -> LabStatus:
    """Whether the lab runs, its PID, Asterisk version and endpoints."""
    root = Path(root) if root is not None else chroot.default_root()
    state_file = state_file or state_path()
    prev = _load_optional(state_file)
    if prev is not None and Path(prev.root) != root:
        prev = None
    pid = _recorded_pid(prev, root)
    if pid is None and root.exists():
        found = process.find_daemons(root)
        pid = found[0] if found else None
    status = LabStatus(
        running=pid is not None,
        root=str(root),
        chroot_built=chroot.is_built(root),
        pid=pid,
        state_file=str(state_file),
    )
    if prev is not None:
        status.ami_host, status.ami_port, status.ami_username = prev.ami_host, prev.ami_port, prev.ami_username
        status.sip_host, status.sip_port = prev.sip_host, prev.sip_port
        status.started_at = prev.started_at if pid == prev.pid else None
    if pid is not None:
        try:
            status.version = Lab(root=root, pid=pid).version()
        except LabError:
            status.version = None
    return status


def asterisk_rx(command: str, root: Path | None = None, timeout: float = 15.0) -> str:
    """`chroot ROOT asterisk -rx COMMAND` for the default (or given) lab root."""
    return process.asterisk_rx(Path(root) if root is not None else chroot.default_root(), command, timeout)
