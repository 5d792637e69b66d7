"""账号管理 (platform admin only): the back-office accounts — add an operator for an enterprise (or an admin)
with a generated password shown once, disable and enable — through ``ivr400.provisioning.users``, as
``ivr400 user`` does. Disabling ends the account's sessions at once.
"""
from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ivr400.db.models import WebUser
from ivr400.provisioning import users
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.views import user_view
from ivr400.web.context import Principal, admin, config, db, repository
from ivr400.web.pages import form_row, render, see_other
from ivr400.web.scope import NotFound, Repository

router = APIRouter()


def _page(request: Request, who: Principal, repo: Repository, *, status_code: int = 200,
          errors: dict[str, str] | None = None, form: dict[str, str] | None = None,
          created: tuple[str, str] | None = None) -> HTMLResponse:
    now = config(request).now()
    rows = [user_view(u, now) for u in users.list_users(repo.session)]
    return render(request, "accounts.html", who, status_code=status_code, rows=rows, enterprises=repo.enterprises(),
                  errors=errors or {}, form=form or {}, created=created)


@router.get("/accounts", response_class=HTMLResponse)
def accounts(request: Request, who: Principal = Depends(admin), repo: Repository = Depends(repository)
             ) -> HTMLResponse:
    return _page(request, who, repo)


@router.post("/accounts", response_class=HTMLResponse)
def add_account(request: Request, username: str = Form(""), enterprise: str = Form(""),
                role: str = Form("operator"), who: Principal = Depends(admin), repo: Repository = Depends(repository),
                session: Session = Depends(db)) -> Response:
    form = {"username": username, "enterprise": enterprise, "role": role}
    password = secrets.token_urlsafe(12)
    try:
        ent = form_row(repo.enterprise, enterprise, "enterprise") if enterprise.strip() else None
        users.add_user(session, username, password, role=role, enterprise=ent, now=config(request).now(),
                       actor=who.actor)
        session.commit()
    except ProvisioningError as exc:
        session.rollback()
        return _page(request, who, repo, status_code=400, errors={exc.field: exc.reason}, form=form)
    # The password is shown once, on this answer only (never stored in clear, never in a URL).
    return _page(request, who, repo, created=(username.strip(), password))


@router.post("/accounts/{user_id}/disable", response_class=HTMLResponse)
def disable(request: Request, user_id: int, who: Principal = Depends(admin), session: Session = Depends(db)
            ) -> Response:
    return _set_disabled(request, user_id, True, who, session)


@router.post("/accounts/{user_id}/enable", response_class=HTMLResponse)
def enable(request: Request, user_id: int, who: Principal = Depends(admin), session: Session = Depends(db)
           ) -> Response:
    return _set_disabled(request, user_id, False, who, session)


def _set_disabled(request: Request, user_id: int, disabled: bool, who: Principal, session: Session) -> Response:
    user = session.get(WebUser, user_id)
    if user is None:
        raise NotFound("account", user_id)
    if disabled and user.id == who.user.id:
        raise ProvisioningError("account", "you cannot disable the account you are signed in with")
    users.set_disabled(session, user, disabled, now=config(request).now(), actor=who.actor)
    session.commit()
    return see_other("/accounts?saved=1")
