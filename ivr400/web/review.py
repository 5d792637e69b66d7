"""审核队列 (platform admin only): pending destinations with their R1–R7 checklist; approve or reject; and
pending tones (彩铃, reviewed by ``ivr400.web.tones``).

Approval goes through ``ivr400.provisioning.destinations.approve`` (which evaluates R1–R7 and records the
decision in the audit trail); a refused approval is recorded too, in its own transaction, as the CLI does.
"""
from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ivr400.db.enums import ToneStatus
from ivr400.provisioning import destinations as dest_service
from ivr400.provisioning.errors import ProvisioningError
from ivr400.web.context import Principal, admin, config, db, repository
from ivr400.web.destinations import _detail
from ivr400.web.pages import render, see_other
from ivr400.web.scope import Repository

router = APIRouter()


def review_queue_page(request: Request, who: Principal, repo: Repository, *, status_code: int = 200,
                      errors: dict[str, str] | None = None, form: dict[str, Any] | None = None) -> HTMLResponse:
    """The queue: pending destinations with their checklist, then pending tones (彩铃) beside the
    enterprise's registered name, to play, approve or reject with a reason."""
    from ivr400.web.tones import KIND_LABELS

    now = config(request).now()
    rows = [(d, dest_service.checklist(repo.session, d, now)) for d in repo.pending_review()]
    tones = repo.tones(statuses=[ToneStatus.PENDING.value])
    return render(request, "review.html", who, status_code=status_code, rows=rows, tones=tones, kinds=KIND_LABELS,
                  errors=errors or {}, form=form or {})


@router.get("/review", response_class=HTMLResponse)
def review_queue(request: Request, who: Principal = Depends(admin), repo: Repository = Depends(repository)
                 ) -> HTMLResponse:
    return review_queue_page(request, who, repo)


@router.post("/destinations/{dest_id}/approve", response_class=HTMLResponse)
def approve(request: Request, dest_id: int, who: Principal = Depends(admin), repo: Repository = Depends(repository),
            session: Session = Depends(db)) -> Response:
    dest = repo.destination(dest_id)
    now = config(request).now()
    try:
        dest_service.approve(session, dest, now=now, actor=who.actor)
        session.commit()
    except ProvisioningError as exc:
        session.rollback()
        dest = repo.destination(dest_id)
        dest_service.record_refused_approval(session, dest, exc, now=now, actor=who.actor)
        session.commit()
        return _detail(request, who, repo, dest_id, status_code=400, errors={exc.field: exc.reason})
    return see_other("/review?saved=1")


@router.post("/destinations/{dest_id}/reject", response_class=HTMLResponse)
def reject(request: Request, dest_id: int, reason: str = Form(""), who: Principal = Depends(admin),
           repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    dest = repo.destination(dest_id)
    try:
        if len(reason) > 500:
            raise ProvisioningError("reason", "at most 500 characters")
        dest_service.reject(session, dest, reason=reason, now=config(request).now(), actor=who.actor)
        session.commit()
    except ProvisioningError as exc:
        session.rollback()
        return _detail(request, who, repo, dest_id, status_code=400, errors={exc.field: exc.reason},
                       form={"reason": reason})
    return see_other("/review?saved=1")
