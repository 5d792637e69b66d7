"""Install a rendered Kamailio config: check it with `kamailio -c`, write it atomically, reload the node list.

    problems = check_config(Path("/etc/kamailio/kamailio.cfg"))     # "" when Kamailio accepts it
    install(files, Path("/etc/kamailio"))                           # checked first; KamailioError if refused
    reload_dispatcher("/run/kamailio/ivr400_ctl")                  # `kamcmd dispatcher.reload`
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ivr400.fsutil import atomic_write

__all__ = ["KamailioError", "check_config", "dispatcher_list", "install", "kamcmd", "reload_dispatcher"]


class KamailioError(RuntimeError):
    """Kamailio refused a config or an RPC; `field` says which ('kamailio.cfg', 'kamcmd', ...)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _binary(name: str) -> str:
    path = shutil.which(name) or (f"/usr/sbin/{name}" if Path(f"/usr/sbin/{name}").exists() else None)
    if path is None:
        raise KamailioError(name, "not installed (Debian package kamailio)")
    return path


def check_config(cfg: Path, timeout: float = 30.0) -> str:
    """`kamailio -c -f CFG`: "" if Kamailio accepts the file, else its error lines (str)."""
    proc = subprocess.run([_binary("kamailio"), "-c", "-f", str(cfg)], capture_output=True, text=True,
                          timeout=timeout, check=False)
    if proc.returncode == 0:
        return ""
    lines = [line for line in (proc.stderr + proc.stdout).splitlines() if "ERROR" in line or "CRITICAL" in line]
    return "\n".join(lines) or (proc.stderr + proc.stdout).strip() or f"exit {proc.returncode}"


def install(files: Mapping[str, str], config_dir: Path) -> list[Path]:
    """Check kamailio.cfg (with the new dispatcher.list beside it) in a scratch directory, then write every
    file into `config_dir` atomically; KamailioError('kamailio.cfg', errors) and nothing written if refused.
    Returns the paths written. The config's list_file must point at config_dir/dispatcher.list."""
    with tempfile.TemporaryDirectory(prefix="ivr400-kamailio-") as scratch:
        for name, text in files.items():
            (Path(scratch) / name).write_text(text)
        cfg = Path(scratch) / "kamailio.cfg"
        list_file = str(config_dir / "dispatcher.list")
        cfg.write_text(files["kamailio.cfg"].replace(list_file, str(Path(scratch) / "dispatcher.list")))
        problems = check_config(cfg)
    if problems:
        raise KamailioError("kamailio.cfg", problems)
    config_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("dispatcher.list", "kamailio.cfg"):
        atomic_write(config_dir / name, files[name])
        written.append(config_dir / name)
    return written


def kamcmd(ctl_socket: str, *command: str, timeout: float = 10.0) -> str:
    """`kamcmd -s unix:CTL_SOCKET COMMAND...`: its output; KamailioError('kamcmd', ...) on failure."""
    try:
        proc = subprocess.run([_binary("kamcmd"), "-s", f"unix:{ctl_socket}", *command], capture_output=True,
                              text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise KamailioError("kamcmd", f"{' '.join(command)}: no answer in {timeout:g} s") from None
    if proc.returncode != 0 or proc.stdout.startswith("error"):
        raise KamailioError("kamcmd", f"{' '.join(command)}: {(proc.stderr or proc.stdout).strip()}")
    return proc.stdout


def reload_dispatcher(ctl_socket: str) -> None:
    """Make the running Kamailio read its dispatcher list again (a drained node stops getting calls)."""
    kamcmd(ctl_socket, "dispatcher.reload")


def dispatcher_list(ctl_socket: str) -> dict[str, str]:
    """{"sip:HOST:PORT": flags} of the running dispatcher (flags as Kamailio prints them: AP active and
    probing, IP inactive and probing, DX disabled, ...)."""
    out = kamcmd(ctl_socket, "dispatcher.list")
    result: dict[str, str] = {}
    uri = None
    for raw in out.splitlines():
        line = raw.strip()
        if line.startswith("URI:"):
            uri = line.split(":", 1)[1].strip()
        elif line.startswith("FLAGS:") and uri is not None:
            result[uri] = line.split(":", 1)[1].strip()
            uri = None
    return result
