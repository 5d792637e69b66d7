"""400号码: the enterprise's hotlines with their bound and routable seats."""
from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ivr400.provisioning.views import hotline_view
from ivr400.web.context import Principal, config, principal, repository
from ivr400.web.pages import render
from ivr400.web.scope import Repository

router = APIRouter()


@router.get("/hotlines", response_class=HTMLResponse)
def hotlines(request: Request, who: Principal = Depends(principal), repo: Repository = Depends(repository)
             ) -> HTMLResponse:
    now = config(request).now()
    rows = [hotline_view(h, now) for h in repo.hotlines()]
    return render(request, "hotlines.html", who, hotlines=rows)
