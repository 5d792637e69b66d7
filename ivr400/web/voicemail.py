"""语音留言与录音: voicemail and call recordings played in the browser, only to the owning enterprise.

Rows are found through the scoped repository (a voicemail by its hotline, a recording by its call record's
hotline); the file is served with HTTP range requests (Starlette's ``FileResponse``), so the browser's
player can seek. Only audio files are served: a path from the database that is not a ``.wav``/``.gsm``/
``.mp3`` file, or does not exist, is a 404.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy.orm import Session

from ivr400.web import changes
from ivr400.web.context import Principal, config, db, principal, repository
from ivr400.web.pages import render, see_other
from ivr400.web.scope import NotFound, Repository

router = APIRouter()

AUDIO_TYPES = {".wav": "audio/wav", ".gsm": "audio/gsm", ".mp3": "audio/mpeg"}


def audio_file(stored: str | None, asterisk_root: Path | None, what: str, ident: int) -> tuple[Path, str]:
    """(host path, media type) of a stored audio path, or NotFound."""
    if not stored:
        raise NotFound(what, ident)
    path = Path(stored)
    media = AUDIO_TYPES.get(path.suffix.lower())
    if media is None or ".." in path.parts:
        raise NotFound(what, ident)
    candidates = [path]
    if asterisk_root is not None and path.is_absolute():
        candidates.insert(0, asterisk_root / path.relative_to("/"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate, media
    raise NotFound(what, ident)


@router.get("/voicemail", response_class=HTMLResponse)
def voicemail_list(request: Request, who: Principal = Depends(principal), repo: Repository = Depends(repository)
                   ) -> HTMLResponse:
    return render(request, "voicemail.html", who, rows=repo.voicemails())


@router.get("/voicemail/{voicemail_id}/audio")
def voicemail_audio(request: Request, voicemail_id: int, repo: Repository = Depends(repository)) -> Response:
    row = repo.voicemail(voicemail_id)
    path, media = audio_file(row.file_path, config(request).asterisk_root, "voicemail", voicemail_id)
    return FileResponse(path, media_type=media)


@router.post("/voicemail/{voicemail_id}/heard")
def voicemail_heard(request: Request, voicemail_id: int, who: Principal = Depends(principal),
                    repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    row = repo.voicemail(voicemail_id)
    before = row.heard
    row.heard = True
    changes.record(session, who, config(request), "voicemail_heard",
                   enterprise_id=row.hotline.enterprise_id if row.hotline else None,
                   voicemail=row.id, before={"heard": before}, after={"heard": True})
    session.commit()
    return see_other("/voicemail?saved=1")


@router.get("/records/{record_id}/recording")
def recording(request: Request, record_id: int, repo: Repository = Depends(repository)) -> Response:
    row = repo.call_record(record_id)
    path, media = audio_file(row.recording_path, config(request).asterisk_root, "recording", record_id)
    return FileResponse(path, media_type=media)
