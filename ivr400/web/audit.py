"""操作日志: the audit trail of the account's enterprises — who changed what, before → after."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ivr400.web.context import Principal, principal, repository
from ivr400.web.pages import render
from ivr400.web.scope import Repository

router = APIRouter()


@router.get("/audit", response_class=HTMLResponse)
def audit_trail(request: Request, who: Principal = Depends(principal), repo: Repository = Depends(repository)
                ) -> HTMLResponse:
    return render(request, "audit.html", who, events=repo.events(limit=300))
