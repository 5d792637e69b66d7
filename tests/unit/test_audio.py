"""Audio conversion for uploaded tones, and the shipped default sounds, checked with the real sox."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ivr400 import audio
from ivr400.audio import AudioError, AudioInfo, convert_to_asterisk_wav, probe, sha256_file

SOUNDS_DIR = Path(__file__).resolve().parents[2] / "sounds"
EXPECTED_SOUNDS = {
    "ivr400-welcome.wav",
    "ivr400-invalid.wav",
    "ivr400-no-input.wav",
    "ivr400-leave-message.wav",
    "ivr400-goodbye.wav",
    "ivr400-closed.wav",
    "ivr400-blocked.wav",
    "ivr400-unknown-number.wav",
    "ivr400-ringback.wav",
    "ivr400-survey.wav",
    "ivr400-survey-thanks.wav",
    "ivr400-clicktocall-consent.wav",
    "ivr400-balance-low.wav",
}

pytestmark = pytest.mark.skipif(shutil.which("sox") is None, reason=f"needs sox ({audio.SOX_INSTALL_HINT})")


def _synth(path: Path, seconds: float, rate: int = 44100, channels: int = 2, *extra: str) -> None:
    """A short two-tone test signal, made by sox itself."""
    subprocess.run(
        ["sox", "-V1", "-R", "-n", "-r", str(rate), "-c", str(channels), *extra, str(path),
         "synth", str(seconds), "sine", "440", "sine", "660", "gain", "-6"],
        check=True, timeout=60,
    )


def _has_mp3_handler() -> bool:
    out = subprocess.run(["sox", "-h"], capture_output=True, text=True, timeout=20).stdout
    for line in out.splitlines():
        if line.startswith("AUDIO FILE FORMATS:"):
            return "mp3" in line.split(":", 1)[1].split()
    return False


def _rms(path: Path) -> float:
    # `sox ... -n stat` prints its report on stderr.
    proc = subprocess.run(["sox", str(path), "-n", "stat"], capture_output=True, text=True, timeout=60)
    for line in proc.stderr.splitlines():
        if line.startswith("RMS     amplitude:"):
            return float(line.split(":", 1)[1])
    raise AssertionError(f"no RMS in sox stat output for {path}: {proc.stderr}")


def test_stereo_44k_wav_becomes_8k_mono(tmp_path: Path) -> None:
    src = tmp_path / "upload.wav"
    _synth(src, 2.0)
    assert probe(src) == AudioInfo(duration_s=2.0, sample_rate=44100, channels=2)

    dest = tmp_path / "tones" / "greeting.wav"
    info = convert_to_asterisk_wav(src, dest)

    assert info.sample_rate == 8000 and info.channels == 1
    assert info.duration_s == pytest.approx(2.0, abs=0.01)
    assert probe(dest) == info
    header = subprocess.run(["sox", "--i", "-b", str(dest)], capture_output=True, text=True, timeout=20)
    assert header.stdout.strip() == "16"
    assert _rms(dest) > 0.01
    assert not [p for p in dest.parent.iterdir() if p.name != "greeting.wav"], "temp file left behind"


def test_conversion_is_deterministic(tmp_path: Path) -> None:
    src = tmp_path / "upload.wav"
    _synth(src, 1.0)
    convert_to_asterisk_wav(src, tmp_path / "a.wav")
    convert_to_asterisk_wav(src, tmp_path / "b.wav")
    assert sha256_file(tmp_path / "a.wav") == sha256_file(tmp_path / "b.wav")


def test_mp3_becomes_8k_mono(tmp_path: Path) -> None:
    if not _has_mp3_handler():
        pytest.skip("sox has no mp3 format handler (apt-get install libsox-fmt-mp3)")
    src = tmp_path / "upload.mp3"
    _synth(src, 3.0)
    dest = tmp_path / "tone.wav"
    info = convert_to_asterisk_wav(src, dest)
    assert (info.sample_rate, info.channels) == (8000, 1)
    # MP3 encoder/decoder delay pads a few tens of ms.
    assert info.duration_s == pytest.approx(3.0, abs=0.15)
    assert _rms(dest) > 0.01


def test_mp3_under_a_neutral_name_with_explicit_type(tmp_path: Path) -> None:
    if not _has_mp3_handler():
        pytest.skip("sox has no mp3 format handler (apt-get install libsox-fmt-mp3)")
    mp3 = tmp_path / "upload.mp3"
    _synth(mp3, 1.0)
    stored = tmp_path / "upload-1234"
    mp3.rename(stored)
    info = convert_to_asterisk_wav(stored, tmp_path / "tone.wav", src_type="mp3")
    assert (info.sample_rate, info.channels) == (8000, 1)


def test_text_file_named_wav_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "not-audio.wav"
    src.write_text("这不是音频 / this is not audio\n", encoding="utf-8")
    dest = tmp_path / "tone.wav"
    with pytest.raises(AudioError) as excinfo:
        convert_to_asterisk_wav(src, dest)
    message = str(excinfo.value)
    assert "not-audio.wav" in message
    assert "not a readable audio file" in message
    assert "RIFF header not found" in message
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == [src]


def test_probe_refuses_missing_and_non_audio(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such file"):
        probe(tmp_path / "missing.wav")
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00\x01\x02")
    with pytest.raises(AudioError, match="junk.bin"):
        probe(junk)


def test_too_long_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "long.wav"
    _synth(src, 6.0, 8000, 1)
    dest = tmp_path / "tone.wav"
    with pytest.raises(AudioError, match=r"long\.wav: audio is 6\.0 s long, longer than the 5 s allowed"):
        convert_to_asterisk_wav(src, dest, max_seconds=5)
    assert not dest.exists()


def test_empty_audio_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "empty.wav"
    subprocess.run(["sox", "-n", "-r", "8000", "-c", "1", "-b", "16", str(src), "trim", "0", "0"],
                   check=True, timeout=20)
    dest = tmp_path / "tone.wav"
    with pytest.raises(AudioError, match=r"empty\.wav: the file holds no audio"):
        convert_to_asterisk_wav(src, dest)
    assert not dest.exists()


def test_failed_conversion_leaves_no_dest_and_keeps_old_one(tmp_path: Path) -> None:
    # A WAV whose header is fine but whose data is cut short: sox --i accepts it, and the
    # conversion of a truncated file must not replace the good tone already in place.
    good = tmp_path / "good.wav"
    _synth(good, 1.0, 8000, 1)
    dest = tmp_path / "tones" / "tone.wav"
    convert_to_asterisk_wav(good, dest)
    before = sha256_file(dest)

    bad = tmp_path / "bad.mp3"
    bad.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + b"\xff" * 64)  # an ID3 tag and no frames
    with pytest.raises(AudioError, match=r"bad\.mp3"):
        convert_to_asterisk_wav(bad, dest)
    assert sha256_file(dest) == before
    assert [p.name for p in dest.parent.iterdir()] == ["tone.wav"]

    fresh = tmp_path / "fresh" / "tone.wav"
    with pytest.raises(AudioError):
        convert_to_asterisk_wav(bad, fresh)
    assert not fresh.exists()
    assert not fresh.parent.exists() or list(fresh.parent.iterdir()) == []


def test_failure_during_sox_run_leaves_no_dest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even when sox dies mid-write (here: a timeout), the half-written temp file is removed."""
    src = tmp_path / "upload.wav"
    _synth(src, 1.0)
    dest = tmp_path / "out" / "tone.wav"
    real_run = subprocess.run

    def dying_run(cmd, *args, **kwargs):  # type: ignore[no-untyped-def]
        if "--i" not in cmd:
            Path(cmd[cmd.index("signed-integer") + 1]).write_bytes(b"RIFF partial")
            raise subprocess.TimeoutExpired(cmd, kwargs.get("timeout", 0))
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(audio.subprocess, "run", dying_run)
    with pytest.raises(AudioError, match=r"upload\.wav: conversion took longer than"):
        convert_to_asterisk_wav(src, dest)
    assert not dest.exists()
    assert list(dest.parent.iterdir()) == []


def test_missing_sox_says_how_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audio.shutil, "which", lambda name: None)
    with pytest.raises(audio.SoxNotFoundError, match="apt-get install sox libsox-fmt-mp3"):
        convert_to_asterisk_wav(tmp_path / "x.wav", tmp_path / "y.wav")


def test_sha256_file(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_shipped_sounds_are_8k_mono_16bit_and_not_silent() -> None:
    shipped = {p.name for p in SOUNDS_DIR.glob("*.wav")}
    assert EXPECTED_SOUNDS <= shipped, f"missing: {sorted(EXPECTED_SOUNDS - shipped)}"
    for name in sorted(shipped):
        path = SOUNDS_DIR / name
        info = probe(path)
        assert (info.sample_rate, info.channels) == (8000, 1), name
        assert 0.5 < info.duration_s < 30, name
        bits = subprocess.run(["sox", "--i", "-b", str(path)], capture_output=True, text=True, timeout=20)
        assert bits.stdout.strip() == "16", name
        assert _rms(path) > 0.001, f"{name} is silent"
