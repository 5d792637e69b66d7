"""Audio probing and conversion for uploaded prompts and ringback tones.

Asterisk plays 8 kHz mono 16-bit signed PCM WAV on a G.711 call without transcoding, so every tone
an operator uploads (WAV, MP3, anything sox reads) is converted to that once, at upload time. The
work is delegated to the `sox` command line tool (Debian: `apt-get install sox libsox-fmt-mp3`)
rather than a Python codec stack: it is what the PBX hosts already have, and it reads MP3.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

#: What Asterisk's `wav` format module plays natively.
TARGET_RATE = 8000
TARGET_CHANNELS = 1
TARGET_BITS = 16

SOX_INSTALL_HINT = "apt-get install sox libsox-fmt-mp3"


class AudioError(ValueError):
    """The file is not usable as a prompt/tone; the message names the file and the reason."""


class SoxNotFoundError(AudioError):
    """`sox` is not installed: nothing can be probed or converted."""


@dataclass(frozen=True)
class AudioInfo:
    """What sox reports about a file. `duration_s` is 0.0 when the file holds no samples or sox
    cannot tell its length without decoding it."""

    duration_s: float
    sample_rate: int
    channels: int


def _sox() -> str:
    """Path of the sox binary, or an error that says how to install it."""
    path = shutil.which("sox")
    if path is None:
        raise SoxNotFoundError(f"sox is not installed; install it with: {SOX_INSTALL_HINT}")
    return path


def _sox_reason(stderr: str) -> str:
    """The useful part of a sox failure (`sox FAIL formats: can't open ...: WAVE: RIFF header not
    found` -> `can't open ...: WAVE: RIFF header not found`)."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    if not lines:
        return "sox could not read it"
    reason = lines[-1]
    return re.sub(r"^\S*sox[i]? (FAIL|WARN) \S+:\s*", "", reason)


_DURATION_RE = re.compile(r"=\s*~?(\d+)\s+samples")


def probe(path: Path | str, *, file_type: str | None = None, timeout_s: float = 20.0) -> AudioInfo:
    """Read rate, channels and duration of an audio file with `sox --i` (header only, fast).

    `file_type` (e.g. "mp3") overrides sox's guess from the extension, for uploads stored under a
    neutral name. Raises AudioError naming the file when it is missing or not audio.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"{path}: no such file")
    # `sox --i` takes no -t (there it means "print the type"), so a neutral name gets a symlink
    # carrying the extension sox needs to pick the format handler.
    with tempfile.TemporaryDirectory(prefix="ivr400-probe-") as tmp:
        target = path
        if file_type:
            if not re.fullmatch(r"[a-z0-9]{1,8}", file_type):
                raise AudioError(f"{path}: unsupported file type {file_type!r}")
            target = Path(tmp) / f"probe.{file_type}"
            target.symlink_to(path.resolve())
        try:
            proc = subprocess.run([_sox(), "--i", str(target)], capture_output=True, text=True, errors="replace",
                                  timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise AudioError(f"{path}: sox took longer than {timeout_s:g} s to read the header") from exc
    if proc.returncode != 0:
        raise AudioError(f"{path}: not a readable audio file ({_sox_reason(proc.stderr)})")

    fields: dict[str, str] = {}
    for line in proc.stdout.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip().lower()] = value.strip()
    try:
        rate = int(float(fields["sample rate"]))
        channels = int(fields["channels"])
    except (KeyError, ValueError) as exc:
        raise AudioError(f"{path}: sox reported no sample rate/channels; not audio") from exc
    if rate <= 0 or channels <= 0:
        raise AudioError(f"{path}: invalid sample rate {rate} or channel count {channels}")

    # Samples / rate is exact; the hh:mm:ss form is rounded to 10 ms. No Duration line means
    # zero samples (or a length sox only knows after decoding).
    duration = 0.0
    match = _DURATION_RE.search(fields.get("duration", ""))
    if match:
        duration = int(match.group(1)) / rate
    return AudioInfo(duration_s=duration, sample_rate=rate, channels=channels)


def convert_to_asterisk_wav(
    src: Path | str,
    dest: Path | str,
    max_seconds: float = 300,
    *,
    src_type: str | None = None,
    timeout_s: float = 120.0,
) -> AudioInfo:
    """Convert `src` (WAV, MP3, whatever sox reads) to 8 kHz mono 16-bit WAV at `dest`.

    Refuses, with AudioError naming the file and the reason, what is not audio, holds no samples,
    or lasts longer than `max_seconds` (a ringback or prompt, not an album). The result is written
    to a temporary file beside `dest` and moved into place with os.replace, so a failed or
    interrupted conversion never leaves a truncated `dest` (and never clobbers a good old one).
    Returns the probed info of the written file.
    """
    src, dest = Path(src), Path(dest)
    if max_seconds <= 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds}")
    sox = _sox()
    info = probe(src, file_type=src_type)
    if info.duration_s > max_seconds:
        raise AudioError(
            f"{src}: audio is {info.duration_s:.1f} s long, longer than the {max_seconds:g} s allowed"
        )

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        cmd = [sox, "-V1", "-R", "-G"]  # -R: repeatable dither; -G: guard against clipping
        if src_type:
            cmd += ["-t", src_type]
        cmd += [
            str(src),
            "-t", "wav", "-r", str(TARGET_RATE), "-c", str(TARGET_CHANNELS),
            "-b", str(TARGET_BITS), "-e", "signed-integer",
            str(tmp),
            # Decode at most a hair past the limit: a file whose header under-reports its length
            # (common with VBR MP3) cannot make us chew through hours of audio.
            "trim", "0", f"{max_seconds + 1:.3f}",
            "channels", str(TARGET_CHANNELS), "rate", "-v", str(TARGET_RATE),
        ]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, errors="replace", timeout=timeout_s)
        except subprocess.TimeoutExpired as exc:
            raise AudioError(f"{src}: conversion took longer than {timeout_s:g} s") from exc
        if proc.returncode != 0:
            raise AudioError(f"{src}: conversion failed ({_sox_reason(proc.stderr)})")

        out = probe(tmp)
        if out.duration_s <= 0:
            raise AudioError(f"{src}: the file holds no audio (zero samples)")
        if out.duration_s > max_seconds:
            raise AudioError(f"{src}: audio is longer than the {max_seconds:g} s allowed")
        if (out.sample_rate, out.channels) != (TARGET_RATE, TARGET_CHANNELS):
            raise AudioError(
                f"{src}: conversion produced {out.sample_rate} Hz/{out.channels} ch, "
                f"expected {TARGET_RATE} Hz mono"
            )
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; Asterisk runs as another user
        os.replace(tmp, dest)
        return out
    finally:
        tmp.unlink(missing_ok=True)


def sha256_file(path: Path | str, chunk_size: int = 1 << 16) -> str:
    """Hex SHA-256 of a file, read in chunks (to dedupe uploads and verify shipped sounds)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()
