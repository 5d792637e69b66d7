"""彩铃与提示音: tones uploaded by the enterprise, played in the browser, reviewed by the platform admin.

An operator uploads a WAV or MP3 (at most :data:`MAX_TONE_UPLOAD_BYTES`, and the application's upload limit),
accepted by its first bytes (RIFF/WAVE, or an MP3 frame or ID3 tag), never by its name; it is converted by
``ivr400.provisioning.tones.add_tone`` (sox → 8 kHz mono WAV, at most the kind's length) and stored by the
content hash of the converted file: the client's file name is kept as data only. A new tone is *pending*:
the admin's review queue shows it beside the enterprise's registered name (carriers require a ringback tone
to name the registered company) with a player, and approves it or rejects it with a reason. Only an
approved tone is deployed (``ivr400.tree``); a hotline may be given a pending tone, which then plays once
approved. The audio is served only to the owning enterprise (scoped repository; the admin sees all), with
HTTP range requests. Upload, approval, rejection and a hotline's tone change are written to the audit trail
in the same transaction.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy.orm import Session

from ivr400.db.enums import ToneKind, ToneStatus
from ivr400.db.models import Enterprise, Hotline, Tone
from ivr400.provisioning import tones as tone_service
from ivr400.provisioning.errors import ProvisioningError
from ivr400.web import changes
from ivr400.web.context import Principal, admin, config, db, principal, repository
from ivr400.web.destinations import display_name
from ivr400.web.pages import form_row, render, see_other, whole_number
from ivr400.web.scope import NotFound, Repository
from ivr400.web.security import save_upload

router = APIRouter()

#: Largest tone file accepted (a 5-minute ringback as a 256 kbit/s MP3 is about 10 MiB).
MAX_TONE_UPLOAD_BYTES = 16 * 1024 * 1024
KIND_LABELS = {ToneKind.RINGBACK.value: "彩铃(等待音)", ToneKind.WELCOME.value: "欢迎语",
               ToneKind.PROMPT.value: "菜单提示音"}
TONE_STATUS_LABELS = {ToneStatus.PENDING.value: "待审核", ToneStatus.APPROVED.value: "已通过",
                      ToneStatus.REJECTED.value: "已驳回"}


def sniff_audio(head: bytes) -> str | None:
    """``wav`` or ``mp3`` from a file's first bytes (RIFF....WAVE; ID3 tag or an MPEG audio frame), else None."""
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "wav"
    if head[:3] == b"ID3" or (len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        return "mp3"
    return None


def _enterprise_for(who: Principal, repo: Repository, text: str) -> Enterprise:
    if who.is_admin:
        if not text.strip():
            raise ProvisioningError("enterprise", "choose the enterprise")
        return form_row(repo.enterprise, text, "enterprise")
    if len(who.scope.enterprise_ids) == 1:
        return repo.enterprise(next(iter(who.scope.enterprise_ids)))
    raise ProvisioningError("enterprise", "this account belongs to no enterprise")


def _page(request: Request, who: Principal, repo: Repository, *, status_code: int = 200,
          errors: dict[str, str] | None = None, form: dict[str, Any] | None = None) -> HTMLResponse:
    return render(request, "tones.html", who, status_code=status_code, tones=repo.tones(), hotlines=repo.hotlines(),
                  enterprises=repo.enterprises(), kinds=KIND_LABELS, tone_status=TONE_STATUS_LABELS,
                  max_mib=MAX_TONE_UPLOAD_BYTES // (1024 * 1024), errors=errors or {}, form=form or {})


@router.get("/tones", response_class=HTMLResponse)
def tone_list(request: Request, who: Principal = Depends(principal), repo: Repository = Depends(repository)
              ) -> HTMLResponse:
    return _page(request, who, repo)


@router.post("/tones", response_class=HTMLResponse)
async def upload_tone(request: Request, file: UploadFile | None = File(None), name: str = Form(""),
                      kind: str = Form(ToneKind.RINGBACK.value), enterprise: str = Form(""),
                      who: Principal = Depends(principal), repo: Repository = Depends(repository),
                      session: Session = Depends(db)) -> Response:
    cfg = config(request)
    form = {"name": name, "kind": kind, "enterprise": enterprise}
    tmp: Path | None = None
    try:
        ent = _enterprise_for(who, repo, enterprise)
        name = name.strip()
        tone_service.check_tone_fields(session, name=name, kind=kind, enterprise=ent)
        if file is None or not file.filename:
            raise ProvisioningError("file", "choose a WAV or MP3 file")
        tmp, head = await save_upload(file, cfg.store_root / ".incoming-web",
                                      min(cfg.max_upload_bytes, MAX_TONE_UPLOAD_BYTES))
        file_type = sniff_audio(head)
        if file_type is None:
            raise ProvisioningError("file", "not a WAV or MP3 file by its content")
        try:
            tone_service.add_tone(session, tmp, name=name, kind=kind, enterprise=ent,
                                  store_root=cfg.store_root.parent / "tones", now=cfg.now(), actor=who.actor,
                                  file_type=file_type, original_name=display_name(file.filename))
        except ProvisioningError as exc:  # sox names the file it read: our temporary name, not the user's
            raise ProvisioningError(exc.field, exc.reason.replace(f"{tmp}: ", "").replace(str(tmp), "the file")
                                    ) from None
        session.commit()
    except ProvisioningError as exc:
        session.rollback()
        return _page(request, who, repo, status_code=400, errors={exc.field: exc.reason}, form=form)
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()
    return see_other("/tones?saved=1")


@router.get("/tones/{tone_id}/audio")
def tone_audio(request: Request, tone_id: int, repo: Repository = Depends(repository)) -> Response:
    """The converted 8 kHz WAV, with HTTP range requests; only inside the tone store."""
    row = repo.tone(tone_id)
    root = (config(request).store_root.parent / "tones").resolve()
    path = (root.parent / row.stored_path).resolve()
    if root not in path.parents or path.suffix != ".wav" or not path.is_file():
        raise NotFound("tone file", tone_id)
    return FileResponse(path, media_type="audio/wav")


def _review_page(request: Request, who: Principal, repo: Repository, *, status_code: int,
                 errors: dict[str, str], tone_id: int, reason: str) -> HTMLResponse:
    from ivr400.web.review import review_queue_page

    return review_queue_page(request, who, repo, status_code=status_code, errors=errors,
                             form={"tone": tone_id, "reason": reason})


@router.post("/tones/{tone_id}/approve", response_class=HTMLResponse)
def approve_tone(request: Request, tone_id: int, who: Principal = Depends(admin),
                 repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    tone_service.approve_tone(session, repo.tone(tone_id), now=config(request).now(), actor=who.actor)
    session.commit()
    return see_other("/review?saved=1#tones")


@router.post("/tones/{tone_id}/reject", response_class=HTMLResponse)
def reject_tone(request: Request, tone_id: int, reason: str = Form(""), who: Principal = Depends(admin),
                repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    row = repo.tone(tone_id)
    try:
        tone_service.reject_tone(session, row, reason=reason, now=config(request).now(), actor=who.actor)
        session.commit()
    except ProvisioningError as exc:
        session.rollback()
        return _review_page(request, who, repo, status_code=400, errors={exc.field: exc.reason}, tone_id=tone_id,
                            reason=reason[:500])
    return see_other("/review?saved=1#tones")


def _tone_choice(repo: Repository, hotline: Hotline, text: str, field: str, kinds: tuple[str, ...]) -> Tone | None:
    if not text.strip():
        return None
    ident = whole_number(text, field)
    try:
        row = repo.tone(ident)
    except NotFound:
        row = None
    if row is None or row.enterprise_id != hotline.enterprise_id:
        raise ProvisioningError(field, f"no tone #{ident}")
    if row.kind not in kinds:
        raise ProvisioningError(field, f"tone {row.name!r} is a {row.kind} tone, not {' or '.join(kinds)}")
    return row


@router.post("/hotlines/{hotline_id}/tones", response_class=HTMLResponse)
def set_hotline_tones(request: Request, hotline_id: int, welcome: str = Form(""), ringback: str = Form(""),
                      who: Principal = Depends(principal), repo: Repository = Depends(repository),
                      session: Session = Depends(db)) -> Response:
    """The hotline's welcome tone and ringback tone (empty: none); a pending tone plays once approved."""
    hotline = repo.hotline(hotline_id)
    try:
        new_welcome = _tone_choice(repo, hotline, welcome, "welcome", (ToneKind.WELCOME.value,))
        new_ringback = _tone_choice(repo, hotline, ringback, "ringback", (ToneKind.RINGBACK.value,))
    except ProvisioningError as exc:
        return _page(request, who, repo, status_code=400, errors={exc.field: exc.reason},
                     form={"hotline": hotline_id, "welcome": welcome, "ringback": ringback})
    before = {"welcome_tone": hotline.welcome_tone_id, "ringback_tone": hotline.ringback_tone_id}
    hotline.welcome_tone_id = new_welcome.id if new_welcome else None
    hotline.ringback_tone_id = new_ringback.id if new_ringback else None
    changes.record(session, who, config(request), "hotline_tones", enterprise_id=hotline.enterprise_id,
                   hotline=hotline.number, before=before,
                   after={"welcome_tone": hotline.welcome_tone_id, "ringback_tone": hotline.ringback_tone_id})
    session.commit()
    return see_other("/tones?saved=1")
