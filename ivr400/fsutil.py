"""File-system primitives every writer shares: all-or-nothing writes and exclusive locks.

Standard library only: the lab's chroot builder runs this before the venv exists.
"""
from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (the directory entry, not only the file data)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: str | bytes, mode: int | None = None) -> None:
    """Temp file in the same directory, fsync, os.replace, fsync the directory: readers see the old
    file or the new one, never half of either. `mode` defaults to the existing file's, else 0644."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode() if isinstance(data, str) else data
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except FileNotFoundError:
            mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".ivr400-tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    fsync_dir(path.parent)


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `path` (created if needed): one builder, deployer or caller at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def path_in_root(root: Path, path: str | PurePosixPath) -> Path:
    """The host path of `path` as a process whose "/" is `root` sees it (a chroot, a container volume).

    Symlinks are resolved the way that process sees them (an absolute link target is taken relative to
    `root`), so e.g. /var/run/asterisk in a chroot maps to ROOT/run/asterisk and never to the host's /run.
    With `root` = "/" this is the path itself. OSError if a chain of links loops.
    """
    parts = list(PurePosixPath("/", path).parts[1:])
    resolved: list[str] = []
    hops = 0
    while parts:
        part = parts.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = root.joinpath(*resolved, part)
        if candidate.is_symlink():
            hops += 1
            if hops > 40:
                raise OSError(f"too many symlinks resolving {path} in {root}")
            target = PurePosixPath(os.readlink(candidate))
            if target.is_absolute():
                resolved = []
            parts = list(target.parts[1:] if target.is_absolute() else target.parts) + parts
            continue
        resolved.append(part)
    return root.joinpath(*resolved)
