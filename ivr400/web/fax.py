"""传真 (fax): the faxes the enterprise's hotlines received, listed and downloaded as PDF; a hotline's fax setting.

The setting (off | detect | key:N, ``ivr400.provisioning.fax.set_fax``) is a form of the hotline's rules page
(路由规则); a refused value is shown beside the field (400), a saved one goes to the audit trail with the
change, in the same transaction.

Rows come through the scoped repository (a fax by its hotline's enterprise; one whose hotline is gone is the
platform admin's only), so another enterprise's fax id is a 404 like an unknown one. The PDF is rendered on
request from the stored TIFF (``ivr400.provisioning.fax.tiff_to_pdf``, Pillow). The file is the one the
database names, never a path from the client, and only if it has the spool's shape: ``…/fax/<the fax's
hotline>/<name>.tif`` with no ``..`` (mapped into Asterisk's root when the path is Asterisk's own); otherwise,
or when it is missing or unreadable, 404.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ivr400.db.models import Fax
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.fax import fax_setting, set_fax, tiff_to_pdf
from ivr400.web import changes
from ivr400.web.context import Principal, config, db, principal, repository
from ivr400.web.pages import render, see_other
from ivr400.web.rules import refused
from ivr400.web.scope import NotFound, Repository

router = APIRouter()

#: res_fax's FAXOPT(status) values shown in Chinese.
STATUS_LABELS = {"SUCCESS": "成功", "FAILED": "失败"}


def fax_file(row: Fax, asterisk_root: Path | None) -> Path:
    """Host path of the fax's TIFF, or NotFound (no file, or a stored path not shaped like the fax spool)."""
    path = Path(row.file_path or "")
    number = row.hotline.number if row.hotline is not None else None
    if (path.suffix.lower() != ".tif" or ".." in path.parts or not path.is_absolute() or number is None
            or path.parent.name != number or path.parent.parent.name != "fax"):
        raise NotFound("fax", row.id)
    candidates = [path]
    if asterisk_root is not None:
        candidates.insert(0, asterisk_root / path.relative_to("/"))
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise NotFound("fax", row.id)


@router.get("/fax", response_class=HTMLResponse)
def fax_list(request: Request, who: Principal = Depends(principal), repo: Repository = Depends(repository)
             ) -> HTMLResponse:
    return render(request, "fax.html", who, rows=repo.faxes(), labels=STATUS_LABELS)


@router.get("/fax/{fax_id}/pdf")
def fax_pdf(request: Request, fax_id: int, repo: Repository = Depends(repository)) -> Response:
    row = repo.fax(fax_id)
    path = fax_file(row, config(request).asterisk_root)
    try:
        pdf = tiff_to_pdf(path)
    except ProvisioningError as exc:
        raise NotFound("fax", fax_id) from exc
    name = f"fax-{row.hotline.number if row.hotline else 'x'}-{row.id}.pdf"
    return Response(pdf, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post("/hotlines/{hotline_id}/fax", response_class=HTMLResponse)
def fax_set(request: Request, hotline_id: int, fax: str = Form(""), who: Principal = Depends(principal),
            repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    hotline = repo.hotline(hotline_id)
    try:
        before = fax_setting(hotline)
        set_fax(session, hotline, fax)
        changes.record(session, who, config(request), "fax_set", enterprise_id=hotline.enterprise_id,
                       hotline=hotline.number, before={"fax": before}, after={"fax": fax_setting(hotline)})
        session.commit()
    except ProvisioningError as exc:
        return refused(request, who, repo, session, hotline_id, exc, "fax", "fax")
    return see_other(f"/hotlines/{hotline_id}/rules?saved=1")
