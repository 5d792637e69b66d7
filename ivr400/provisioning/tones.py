"""Tones: welcome greetings, ringback tones (彩铃) and prompts, converted once to 8 kHz mono WAV."""
from __future__ import annotations

import re
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.audio import AudioError, convert_to_asterisk_wav, sha256_file
from ivr400.db.enums import ToneKind
from ivr400.db.models import Enterprise, Tone
from ivr400.provisioning.errors import ProvisioningError

MAX_TONE_SECONDS = {ToneKind.WELCOME.value: 60, ToneKind.RINGBACK.value: 300, ToneKind.PROMPT.value: 60}
_TONE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")


def add_tone(session: Session, file: Path, *, name: str, kind: str, enterprise: Enterprise | None,
             store_root: Path, now: datetime) -> Tone:
    """Convert and store `file`; the name becomes part of Asterisk file and class names, hence the charset."""
    if kind not in MAX_TONE_SECONDS:
        raise ProvisioningError("kind", f"{kind!r} is not one of {', '.join(MAX_TONE_SECONDS)}")
    if not _TONE_NAME.fullmatch(name):
        raise ProvisioningError("name", "use 1-48 characters a-z, 0-9, _ and -, starting with a letter or digit")
    if not file.is_file():
        raise ProvisioningError("file", f"{file} is not a readable file")
    owner = select(Tone.id).where(Tone.name == name)
    owner = owner.where(Tone.enterprise_id.is_(None) if enterprise is None else Tone.enterprise_id == enterprise.id)
    if session.scalar(owner) is not None:
        raise ProvisioningError("name", f"a tone named {name!r} already exists")
    store_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store_root) as tmp:
        converted = Path(tmp) / "tone.wav"
        try:
            info = convert_to_asterisk_wav(file, converted, max_seconds=MAX_TONE_SECONDS[kind])
        except AudioError as exc:
            raise ProvisioningError("file", str(exc)) from exc
        sha = sha256_file(converted)
        target = store_root / f"{sha}.wav"
        converted.replace(target)
    tone = Tone(enterprise_id=enterprise.id if enterprise else None, name=name, kind=kind, original_name=file.name,
                sha256=sha, stored_path=str(target.relative_to(store_root.parent)), duration_s=info.duration_s,
                created_at=now)
    session.add(tone)
    session.flush()
    return tone


def find_tone(session: Session, name: str, enterprise: Enterprise, field: str) -> Tone:
    """The enterprise's own tone of that name, else a shared one."""
    for owner in (Tone.enterprise_id == enterprise.id, Tone.enterprise_id.is_(None)):
        tone = session.scalar(select(Tone).where(Tone.name == name, owner))
        if tone is not None:
            return tone
    raise ProvisioningError(field, f"no tone named {name!r}")
