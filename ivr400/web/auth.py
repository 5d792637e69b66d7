"""Login, logout and the session cookie (登录).

A successful login creates a ``web_session`` row and sets ``ivr400_session`` (HttpOnly, SameSite=Lax,
Secure over https or when configured); the row, not the cookie, decides: logout, disabling the account
or changing its password revokes it. Failed logins count towards the account's lockout
(``ivr400.provisioning.users``) and the client address's throttle (``security.LoginThrottle``).
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ivr400.db.models import WebSession
from ivr400.provisioning import users
from ivr400.provisioning.errors import ProvisioningError
from ivr400.web.context import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    Principal,
    config,
    db,
    new_token,
    optional_principal,
    principal,
    token_hash,
)
from ivr400.web.pages import render, see_other

router = APIRouter()

LOGIN_MESSAGES = {
    "bad_credentials": "用户名或密码错误",
    "locked": "连续输错密码次数过多,账号已锁定,请稍后再试",
    "disabled": "账号已停用",
}


def _secure(request: Request) -> bool:
    return config(request).secure_cookies or request.url.scheme == "https"


def _login_page(request: Request, *, status_code: int = 200, errors: dict[str, str] | None = None,
                username: str = "") -> HTMLResponse:
    sent = request.cookies.get(LOGIN_CSRF_COOKIE)
    fresh = sent is None or len(sent) > 128
    token = new_token() if sent is None or fresh else sent
    response = render(request, "login.html", None, status_code=status_code, csrf_token=token,
                      errors=errors or {}, form={"username": username})
    if fresh:
        response.set_cookie(LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", secure=_secure(request),
                            path="/login")
    return response


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, who: Principal | None = Depends(optional_principal)) -> Response:
    if who is not None:
        return see_other("/")
    return _login_page(request)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, username: str = Form(""), password: str = Form(""),
          session: Session = Depends(db)) -> Response:
    cfg = config(request)
    now = cfg.now()
    client = request.client.host if request.client else "unknown"
    if not username.strip():
        return _login_page(request, status_code=400, errors={"username": "required"})
    if not password:
        return _login_page(request, status_code=400, errors={"password": "required"}, username=username)
    if not request.app.state.login_throttle.allow(client, now):
        return _login_page(request, status_code=429, username=username,
                           errors={"username": "too many login attempts from this address; wait a few minutes"})
    result = users.authenticate(session, username[:64], password[:users.MAX_PASSWORD_LENGTH], now=now)
    if result.user is None:
        session.commit()  # the failure counter and a lockout are kept even though the login is refused
        reason = result.reason or "bad_credentials"
        return _login_page(request, status_code=429 if reason == "locked" else 401, username=username,
                           errors={"password": f"{reason}: {LOGIN_MESSAGES[reason]}"})
    token = new_token()
    session.add(WebSession(token_hash=token_hash(token), user_id=result.user.id, csrf_token=new_token(),
                           created_at=now, last_seen_at=now, client=client[:64]))
    session.commit()
    response = see_other("/")
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", secure=_secure(request), path="/",
                        max_age=int(cfg.absolute_timeout.total_seconds()))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
def logout(request: Request, who: Principal = Depends(principal), session: Session = Depends(db)) -> Response:
    who.session_row.revoked_at = config(request).now()
    session.commit()
    response = see_other("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/password", response_class=HTMLResponse)
def password_form(request: Request, who: Principal = Depends(principal)) -> HTMLResponse:
    return render(request, "password.html", who)


@router.post("/password", response_class=HTMLResponse)
def change_password(request: Request, current: str = Form(""), new: str = Form(""), confirm: str = Form(""),
                    who: Principal = Depends(principal), session: Session = Depends(db)) -> Response:
    """The signed-in account's own password: every session of the account ends, this one included."""
    cfg = config(request)
    user = who.user
    errors: dict[str, str] = {}
    if not users.verify_password(user, current[:users.MAX_PASSWORD_LENGTH]):
        errors["current"] = "wrong password"
    elif new != confirm:
        errors["confirm"] = "does not match the new password"
    else:
        try:
            users.set_password(session, user, new, now=cfg.now(), actor=who.actor)
            session.commit()
        except ProvisioningError as exc:
            session.rollback()
            errors[exc.field] = exc.reason
    if errors:
        return render(request, "password.html", who, status_code=400, errors=errors)
    response = see_other("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
