"""The lab's Debian sid chroot with Asterisk: build once with debootstrap, cache, reuse.

Nothing here names a mirror: debootstrap uses its default. The root is built into `ROOT.tmp` and
renamed to `ROOT` only when debootstrap succeeded, so a cached root is always complete.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path, PurePosixPath

from ivr400.fsutil import file_lock, path_in_root
from ivr400.lab.errors import LabError

DEFAULT_ROOT = Path("/var/cache/ivr400/asterisk-root")
SUITE = "sid"
PACKAGES: tuple[str, ...] = ("asterisk", "asterisk-core-sounds-en", "asterisk-core-sounds-en-wav")
#: The file whose presence marks a usable root.
ASTERISK_BINARY = "usr/sbin/asterisk"


def default_root() -> Path:
    """The chroot directory: $IVR400_LAB_ROOT or /var/cache/ivr400/asterisk-root."""
    return Path(os.environ.get("IVR400_LAB_ROOT") or DEFAULT_ROOT)


def is_built(root: Path) -> bool:
    return (root / ASTERISK_BINARY).exists()


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _debootstrap_running_into(target: Path) -> int | None:
    """PID of a debootstrap process writing into `target`, if any (started by anyone)."""
    needle = str(target).encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if any(b"debootstrap" in a for a in argv[:2]) and needle in argv:
            return int(entry.name)
    return None


def mounts_under(path: Path) -> list[Path]:
    """Mount points at or below `path`, deepest first (from /proc/mounts)."""
    base = os.path.realpath(path)
    found = []
    with open("/proc/mounts") as fh:
        for line in fh:
            fields = line.split()
            if len(fields) < 2:
                continue
            mnt = fields[1].replace("\\040", " ")
            if mnt == base or mnt.startswith(base.rstrip("/") + "/"):
                found.append(Path(mnt))
    return sorted(found, key=lambda p: len(p.parts), reverse=True)


def is_mounted(mountpoint: Path) -> bool:
    real = os.path.realpath(mountpoint)
    with open("/proc/mounts") as fh:
        return any(line.split()[1:2] == [real] for line in fh)


def mount_proc(root: Path) -> None:
    """Mount proc at ROOT/proc unless it already is (idempotent)."""
    target = root / "proc"
    target.mkdir(exist_ok=True)
    if is_mounted(target):
        return
    proc = subprocess.run(
        ["mount", "-t", "proc", "proc", str(target)], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0 and not is_mounted(target):
        raise LabError("chroot", f"mount proc on {target} failed: {proc.stderr.strip()}")


def unmount_all(path: Path) -> None:
    """Unmount everything mounted under `path` (deepest first)."""
    for mnt in mounts_under(path):
        proc = subprocess.run(["umount", str(mnt)], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True, check=False)


def ensure_chroot(root: Path | None = None, *, log: Path | None = None) -> tuple[Path, float | None]:
    """Return (root, build seconds or None if the cached root was reused).

    Builds with `debootstrap --variant=minbase --include=... sid ROOT.tmp` (default mirror) and
    renames ROOT.tmp to ROOT when it succeeds. Raises LabError with the log tail when it cannot.
    """
    root = Path(root) if root is not None else default_root()
    if is_built(root):
        return root, None
    if os.geteuid() != 0:
        raise LabError("chroot", f"{root} is not built and building it needs root")
    with file_lock(root.parent / f"{root.name}.lock"):
        if is_built(root):  # another builder finished while we waited for the lock
            return root, None
        if root.exists():
            raise LabError("chroot", f"{root} exists but has no {ASTERISK_BINARY}; remove it to rebuild")
        if shutil.which("debootstrap") is None:
            raise LabError("chroot", "debootstrap is not installed (apt-get install -y debootstrap)")
        tmp = root.with_name(root.name + ".tmp")
        other = _debootstrap_running_into(tmp)
        if other is not None:
            raise LabError("chroot", f"a debootstrap into {tmp} is already running (pid {other}); wait for it")
        if tmp.exists():
            unmount_all(tmp)
            if mounts_under(tmp):
                raise LabError("chroot", f"cannot clear {tmp}: still has mounts {mounts_under(tmp)}")
            shutil.rmtree(tmp)
        log = log or root.with_name(root.name + ".debootstrap.log")
        cmd = [
            "debootstrap",
            "--variant=minbase",
            "--include=" + ",".join(PACKAGES),
            SUITE,
            str(tmp),
        ]
        started = time.monotonic()
        with open(log, "w") as out:
            out.write("$ " + " ".join(cmd) + "\n")
            out.flush()
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, check=False)
        elapsed = time.monotonic() - started
        if proc.returncode != 0 or not is_built(tmp):
            unmount_all(tmp)
            raise LabError(
                "chroot",
                f"debootstrap failed (exit {proc.returncode}); log {log}, last lines:\n{_tail(log)}",
            )
        unmount_all(tmp)  # debootstrap leaves nothing mounted normally; be sure before renaming
        os.rename(tmp, root)
        return root, elapsed


def host_path(root: Path, path: str | PurePosixPath) -> Path:
    """The host path of `path` as seen inside the chroot at `root` (chroot symlinks resolved)."""
    try:
        return path_in_root(root, path)
    except OSError as exc:
        raise LabError("path", str(exc)) from exc


def main(argv: list[str] | None = None) -> int:
    """`python3 -m ivr400.lab.chroot [ROOT]`: build or reuse the chroot (standard library only)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["build"]:
        args = args[1:]
    try:
        root, seconds = ensure_chroot(Path(args[0]) if args else None)
    except LabError as exc:
        print(f"error: {exc.field}: {exc.reason}", file=sys.stderr)
        return 1
    print(f"chroot: {root} ({'cached' if seconds is None else f'built in {seconds:.0f} s'})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
