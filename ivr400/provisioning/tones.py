"""Tones: welcome greetings, ringback tones (彩铃) and prompts, converted once to 8 kHz mono WAV, and their review.

A tone is stored pending (an operator's upload in the back office) or approved (root on the command line);
the platform admin approves it, or rejects it with a reason (carriers require a ringback tone to name the
registered company). Only an approved tone is deployed (``ivr400.tree``). Every upload and decision is in
the audit trail (``whitelist_event``, actions ``tone_add``, ``tone_approve``, ``tone_reject``), written in
the caller's transaction.
"""
from __future__ import annotations

import re
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.audio import AudioError, convert_to_asterisk_wav, sha256_file
from ivr400.db.enums import ToneKind, ToneStatus
from ivr400.db.models import Enterprise, Tone
from ivr400.provisioning import audit
from ivr400.provisioning.errors import ProvisioningError

MAX_TONE_SECONDS = {ToneKind.WELCOME.value: 60, ToneKind.RINGBACK.value: 300, ToneKind.PROMPT.value: 60}
_TONE_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,47}")
#: Longest rejection reason kept.
MAX_REASON = 500


def add_tone(session: Session, file: Path, *, name: str, kind: str, enterprise: Enterprise | None,
             store_root: Path, now: datetime, actor: str | None = None, approved: bool = False,
             file_type: str | None = None, original_name: str | None = None) -> Tone:
    """Convert ``file`` to 8 kHz mono WAV, store it as ``store_root/<sha256>.wav`` and add the tone row.

    The name becomes part of Asterisk file and class names, hence the charset. ``approved``: stored approved
    (root on the command line), else pending review. ``file_type`` (``wav``, ``mp3``) tells sox the format of
    a file stored under a neutral name; ``original_name`` is kept as data (default: the file's name). With
    ``actor``, the upload (and an approval) is written to the audit trail. Raises ProvisioningError on
    ``kind``, ``name`` (charset, taken) or ``file`` (not audio, empty, longer than MAX_TONE_SECONDS[kind]).
    """
    check_tone_fields(session, name=name, kind=kind, enterprise=enterprise)
    if not file.is_file():
        raise ProvisioningError("file", f"{file} is not a readable file")
    store_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store_root) as tmp:
        converted = Path(tmp) / "tone.wav"
        try:
            info = convert_to_asterisk_wav(file, converted, max_seconds=MAX_TONE_SECONDS[kind], src_type=file_type)
        except AudioError as exc:
            raise ProvisioningError("file", str(exc)) from exc
        sha = sha256_file(converted)
        target = store_root / f"{sha}.wav"
        converted.replace(target)
    tone = Tone(enterprise_id=enterprise.id if enterprise else None, name=name, kind=kind,
                original_name=(original_name or file.name)[:255], sha256=sha,
                stored_path=str(target.relative_to(store_root.parent)), duration_s=info.duration_s, created_at=now,
                status=ToneStatus.PENDING.value)
    session.add(tone)
    session.flush()
    if actor is not None:
        audit.record(session, "tone_add", now=now, actor=actor, enterprise_id=tone.enterprise_id,
                     detail={"tone": tone.id, "name": name, "kind": kind, "sha256": sha,
                             "duration_s": round(info.duration_s, 2), "file": tone.original_name,
                             "after": {"status": tone.status}})
    if approved:
        approve_tone(session, tone, now=now, actor=actor or "root")
    return tone


def check_tone_fields(session: Session, *, name: str, kind: str, enterprise: Enterprise | None) -> None:
    """ProvisioningError('kind' | 'name') unless a tone ``name`` of ``kind`` may be added for ``enterprise``."""
    if kind not in MAX_TONE_SECONDS:
        raise ProvisioningError("kind", f"{kind[:20]!r} is not one of {', '.join(MAX_TONE_SECONDS)}")
    if not _TONE_NAME.fullmatch(name):
        raise ProvisioningError("name", "use 1-48 characters a-z, 0-9, _ and -, starting with a letter or digit")
    owner = select(Tone.id).where(Tone.name == name)
    owner = owner.where(Tone.enterprise_id.is_(None) if enterprise is None else Tone.enterprise_id == enterprise.id)
    if session.scalar(owner) is not None:
        raise ProvisioningError("name", f"a tone named {name!r} already exists")


def _decide(session: Session, tone: Tone, status: ToneStatus, *, reason: str | None, now: datetime,
            actor: str) -> Tone:
    before = tone.status
    tone.status = status.value
    tone.status_reason = reason
    tone.reviewed_by = actor
    tone.reviewed_at = now
    session.flush()
    audit.record(session, f"tone_{'approve' if status is ToneStatus.APPROVED else 'reject'}", now=now, actor=actor,
                 enterprise_id=tone.enterprise_id, reason=reason,
                 detail={"tone": tone.id, "name": tone.name, "kind": tone.kind, "sha256": tone.sha256,
                         "before": {"status": before}, "after": {"status": tone.status}})
    return tone


def approve_tone(session: Session, tone: Tone, *, now: datetime, actor: str) -> Tone:
    """Approve ``tone`` (any status): it is deployed from the next render and the controller's next reload."""
    return _decide(session, tone, ToneStatus.APPROVED, reason=None, now=now, actor=actor)


def reject_tone(session: Session, tone: Tone, *, reason: str, now: datetime, actor: str) -> Tone:
    """Reject ``tone`` with ``reason`` (required, at most MAX_REASON characters, one paragraph).

    A rejected tone is not deployed; its hotlines and departments fall back as for a missing tone.
    Raises ProvisioningError('reason').
    """
    text = reason.strip()
    if not text:
        raise ProvisioningError("reason", "say why the tone is rejected (e.g. it does not name the company)")
    if len(text) > MAX_REASON:
        raise ProvisioningError("reason", f"at most {MAX_REASON} characters")
    if any(not ch.isprintable() and ch not in "\n" for ch in text):
        raise ProvisioningError("reason", "contains a control character")
    return _decide(session, tone, ToneStatus.REJECTED, reason=text, now=now, actor=actor)


def find_tone(session: Session, name: str, enterprise: Enterprise, field: str) -> Tone:
    """The enterprise's own tone of that name, else a shared one."""
    for owner in (Tone.enterprise_id == enterprise.id, Tone.enterprise_id.is_(None)):
        tone = session.scalar(select(Tone).where(Tone.name == name, owner))
        if tone is not None:
            return tone
    raise ProvisioningError(field, f"no tone named {name!r}")
