"""目的码: destinations with their whitelist status, evidence upload and download, the R1–R7 checklist as
the admin will see it, and the filled-in authorization letter (授权证明) to print.

Uploads are written to a file named by us, limited in size (``WebConfig.max_upload_bytes``), accepted only
when their first bytes are a PDF or an image, and stored by content hash through
``ivr400.provisioning.evidence`` — the client's file name is kept as data, never used as a path.
"""
from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, Response
from sqlalchemy.orm import Session

from ivr400.compliance.letters import LetterError, LetterFacts, compose_letter, to_docx
from ivr400.db.enums import EvidenceKind, Issuer, OwnerKind
from ivr400.numbers import NumberError, parse_destination, parse_hotline_number
from ivr400.provisioning import destinations as dest_service
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.evidence import add_evidence, sniff_media_type
from ivr400.provisioning.views import destination_view
from ivr400.web import changes
from ivr400.web.context import Principal, config, db, principal, repository
from ivr400.web.pages import form_row, optional_date, refused, render, see_other
from ivr400.web.scope import NotFound, Repository
from ivr400.web.security import save_upload

router = APIRouter()

ACCEPTED_MEDIA = frozenset({"application/pdf", "image/jpeg", "image/png", "image/gif", "image/tiff", "image/bmp",
                            "image/webp"})
EVIDENCE_LABELS = {
    "carrier_bill": "运营商账单", "invoice": "发票", "acceptance_form": "受理单", "carrier_certificate": "运营商证明",
    "authorization_letter": "授权书", "id_document": "身份证件", "branch_licence": "分支机构营业执照",
    "office_lease": "办公场地租赁合同",
}
ISSUER_LABELS = {"telecom": "中国电信", "unicom": "中国联通", "mobile": "中国移动", "tietong": "中国铁通"}
FLAGS = (("shows_number", "显示完整号码"), ("shows_owner", "显示机主"), ("sealed_by_owner", "机主单位盖章"),
         ("sealed_by_enterprise", "本企业盖章"), ("signed_by_person", "本人签字"))


def display_name(name: str | None) -> str:
    """The client's file name as data: its last path component, no control characters, at most 200 chars."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    clean = "".join(ch for ch in base if ch.isprintable()).strip()
    return clean[:200] or "upload"


def _detail(request: Request, who: Principal, repo: Repository, dest_id: int, *, status_code: int = 200,
            errors: dict[str, str] | None = None, form: dict[str, Any] | None = None) -> HTMLResponse:
    dest = repo.destination(dest_id)
    now = config(request).now()
    checklist = dest_service.checklist(repo.session, dest, now)
    return render(request, "destination.html", who, status_code=status_code, dest=dest,
                  view=destination_view(dest, now), checklist=checklist, errors=errors or {}, form=form or {},
                  kinds=EVIDENCE_LABELS, issuers=ISSUER_LABELS, flags=FLAGS)


def _list(request: Request, who: Principal, repo: Repository, *, status_code: int = 200,
          errors: dict[str, str] | None = None, form: dict[str, Any] | None = None) -> HTMLResponse:
    now = config(request).now()
    rows = [destination_view(d, now) for d in repo.destinations()]
    return render(request, "destinations.html", who, status_code=status_code, rows=rows,
                  enterprises=repo.enterprises(), errors=errors or {}, form=form or {})


@router.get("/destinations", response_class=HTMLResponse)
def destinations(request: Request, who: Principal = Depends(principal), repo: Repository = Depends(repository)
                 ) -> HTMLResponse:
    return _list(request, who, repo)


@router.post("/destinations", response_class=HTMLResponse)
def add_destination(request: Request, number: str = Form(""), owner: str = Form(""),
                    owner_kind: str = Form("company", alias="owner-kind"), relationship: str = Form(""),
                    enterprise: str = Form(""), who: Principal = Depends(principal),
                    repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    form = {"number": number, "owner": owner, "owner-kind": owner_kind, "relationship": relationship,
            "enterprise": enterprise}
    try:
        if who.is_admin:
            if not enterprise.strip():
                raise ProvisioningError("enterprise", "choose the enterprise")
            ent = form_row(repo.enterprise, enterprise, "enterprise")
        elif len(who.scope.enterprise_ids) == 1:
            ent = repo.enterprise(next(iter(who.scope.enterprise_ids)))
        else:
            raise ProvisioningError("enterprise", "this account belongs to no enterprise")
        if owner_kind not in {k.value for k in OwnerKind}:
            raise ProvisioningError("owner-kind", f"{owner_kind[:20]!r} is not company or person")
        dest = dest_service.add_destination(session, ent, number, owner_name=owner, owner_kind=owner_kind,
                                            relationship=relationship.strip() or None, now=config(request).now(),
                                            actor=who.actor)
        session.commit()
    except (ProvisioningError, NumberError) as exc:
        session.rollback()
        return refused(request, "destinations.html", who, exc, "number",
                       rows=[destination_view(d, config(request).now()) for d in repo.destinations()],
                       enterprises=repo.enterprises(), form=form)
    return see_other(f"/destinations/{dest.id}?saved=1")


@router.get("/destinations/{dest_id}", response_class=HTMLResponse)
def destination(request: Request, dest_id: int, who: Principal = Depends(principal),
                repo: Repository = Depends(repository)) -> HTMLResponse:
    return _detail(request, who, repo, dest_id)


@router.post("/destinations/{dest_id}/evidence", response_class=HTMLResponse)
async def upload_evidence(request: Request, dest_id: int, file: UploadFile | None = File(None),
                          who: Principal = Depends(principal), repo: Repository = Depends(repository),
                          session: Session = Depends(db)) -> Response:
    dest = repo.destination(dest_id)
    cfg = config(request)
    form = await request.form()
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    tmp: Path | None = None
    try:
        kind = values.get("kind", "")
        if kind not in {k.value for k in EvidenceKind}:
            raise ProvisioningError("kind", f"{kind[:30]!r} is not one of {', '.join(k.value for k in EvidenceKind)}")
        issuer = values.get("issuer", "").strip() or None
        if issuer is not None and issuer not in {i.value for i in Issuer}:
            raise ProvisioningError("issuer", f"{issuer[:20]!r} is not one of {', '.join(i.value for i in Issuer)}")
        attributes: dict[str, Any] = {name: True for name, _ in FLAGS if values.get(name)}
        if issuer:
            attributes["issuer"] = issuer
        for name in ("owner_name", "relationship"):
            text = values.get(name, "").strip()
            if text:
                attributes[name] = text[:200]
        valid_from = optional_date(values.get("valid-from", ""), "valid-from")
        valid_until = optional_date(values.get("valid-until", ""), "valid-until")
        long_term = bool(values.get("long-term"))
        if file is None or not file.filename:
            raise ProvisioningError("file", "choose a file (PDF or image)")
        tmp, head = await save_upload(file, cfg.store_root / ".incoming-web", cfg.max_upload_bytes)
        media = sniff_media_type(head, "")
        if media not in ACCEPTED_MEDIA:
            raise ProvisioningError("file", "not a PDF or an image (JPEG, PNG, GIF, TIFF, BMP, WebP) by its content")
        row = add_evidence(session, dest, kind, tmp, store_root=cfg.store_root, attributes=attributes,
                           valid_from=valid_from, valid_until=valid_until, long_term=long_term, now=cfg.now())
        row.original_name = display_name(file.filename)
        row.media_type = media
        changes.record(session, who, cfg, "evidence_add", enterprise_id=dest.enterprise_id, destination_id=dest.id,
                       after={"evidence": row.id, "kind": kind, "sha256": row.sha256, "size": row.size,
                              "file": row.original_name})
        session.commit()
    except (ProvisioningError, NumberError) as exc:
        session.rollback()
        field, reason = (exc.field, exc.reason) if isinstance(exc, ProvisioningError) else ("file", str(exc))
        return _detail(request, who, repo, dest_id, status_code=400, errors={field: reason}, form=values)
    finally:
        if tmp is not None and tmp.exists():
            tmp.unlink()
    return see_other(f"/destinations/{dest_id}?saved=1")


@router.get("/evidence/{evidence_id}/file")
def evidence_file(request: Request, evidence_id: int, repo: Repository = Depends(repository)) -> Response:
    row = repo.evidence(evidence_id)
    root = config(request).store_root.resolve()
    path = (root.parent / row.stored_path).resolve()
    if root not in path.parents or not path.is_file():
        raise NotFound("evidence file", evidence_id)
    name = quote(display_name(row.original_name))
    return FileResponse(path, media_type=row.media_type,
                        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"})


@router.get("/destinations/{dest_id}/letter")
def letter(request: Request, dest_id: int, repo: Repository = Depends(repository)) -> Response:
    """The company (R4) or personal (R5) authorization letter, filled in, as a printable .docx.

    The relationship and validity are the ones recorded on the destination (validity dates in the
    enterprise's zone); a destination the enterprise owns itself needs no letter (R2 holds): 400.
    """
    dest = repo.destination(dest_id)
    ent = dest.enterprise
    hotlines = sorted(ent.hotlines, key=lambda h: h.number)
    if not hotlines:
        raise ProvisioningError("hotline", f"{ent.name} has no 400 number yet")
    zone = ZoneInfo(ent.timezone)
    start = dest.valid_from.astimezone(zone).date() if dest.valid_from else None
    # valid_until is the first instant no longer valid: the letter names the last day included.
    end = (dest.valid_until.astimezone(zone) - timedelta(microseconds=1)).date() if dest.valid_until else None
    try:
        composed = compose_letter(LetterFacts(
            owner_name=dest.owner_name, owner_kind=dest.owner_kind, enterprise_name=ent.name,
            hotline_display=parse_hotline_number(hotlines[0].number).display,
            destination_display=parse_destination(dest.number).display,
            relationship=dest.relationship_note, purpose="公司销售热线",
            valid_from=start, valid_until=end, long_term=dest.long_term))
    except LetterError as exc:
        raise ProvisioningError(exc.field, exc.reason) from exc
    name = quote(f"授权证明-{dest.number}.docx")
    return Response(to_docx(composed),
                    media_type="application/vnd.openxmlformats-officedocument.wordprocessingml.document",
                    headers={"Content-Disposition": f"attachment; filename*=UTF-8''{name}"})
