"""The FastAPI application: routers, static files, protections and the error pages.

Errors never show a stack trace: a service refusal the page did not catch is a 400 ``FIELD: reason``,
a row outside the account's scope a 404, a CSRF failure or an operator on an admin page a 403, anything
unexpected a plain 500 page (logged with its traceback on the server).
"""
from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint

from ivr400.numbers import NumberError
from ivr400.provisioning.errors import ProvisioningError
from ivr400.web import (
    accounts,
    audit,
    auth,
    clicktocall,
    destinations,
    fax,
    hotlines,
    overview,
    records,
    reports,
    review,
    rules,
    seats,
    simulator,
    tones,
    voicemail,
)
from ivr400.web.context import AdminRequired, LoginRequired, WebConfig
from ivr400.web.pages import render
from ivr400.web.scope import NotFound
from ivr400.web.security import CsrfRejected, LoginThrottle, csrf_guard

log = logging.getLogger("ivr400.web")

#: What a request may carry besides the file itself (the other form fields, multipart boundaries).
FORM_OVERHEAD = 1024 * 1024

ROUTERS = (auth, overview, hotlines, seats, rules, destinations, review, tones, simulator, records, reports, voicemail,
           fax, audit, accounts, clicktocall)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                                "media-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    "Cache-Control": "no-store",
}


class Protections(BaseHTTPMiddleware):
    """Refuses bodies over the upload limit before reading them; adds the security headers."""

    def __init__(self, app: FastAPI, cfg: WebConfig) -> None:
        super().__init__(app)
        self.cfg = cfg

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        length = request.headers.get("content-length")
        max_body = self.cfg.max_upload_bytes + FORM_OVERHEAD
        if length is not None and (not length.isdecimal() or int(length) > max_body):
            return PlainTextResponse("file: request larger than the upload limit", status_code=413)
        response = await call_next(request)
        for name, value in SECURITY_HEADERS.items():
            if name == "Cache-Control" and request.url.path.startswith("/static/"):
                continue
            response.headers.setdefault(name, value)
        return response


def _error_page(request: Request, status: int, title: str, message: str) -> HTMLResponse:
    who = getattr(request.state, "principal", None)
    return render(request, "error.html", who, status_code=status, title=title, message=message)


def create_app(cfg: WebConfig) -> FastAPI:
    """The back office for ``cfg`` (engine, evidence store, timeouts)."""
    app = FastAPI(title="ivr400", docs_url=None, redoc_url=None, openapi_url=None,
                  dependencies=[Depends(csrf_guard)])
    app.state.config = cfg
    app.state.login_throttle = LoginThrottle(cfg.login_attempts_per_ip, cfg.login_window)
    app.mount("/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static")
    for module in ROUTERS:
        app.include_router(module.router)
    app.add_middleware(Protections, cfg=cfg)  # type: ignore[arg-type]  # Starlette's factory protocol

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("hx-request") == "true":
            return Response(status_code=401, headers={"HX-Redirect": "/login"})
        if request.method == "GET":
            return RedirectResponse("/login", status_code=303)
        return _error_page(request, 401, "请先登录", "会话已过期或未登录。")

    @app.exception_handler(AdminRequired)
    async def _admin(request: Request, exc: AdminRequired) -> Response:
        return _error_page(request, 403, "无权访问", "此页面仅限平台管理员。")

    @app.exception_handler(CsrfRejected)
    async def _csrf(request: Request, exc: CsrfRejected) -> Response:
        log.warning("CSRF refused %s %s: %s", request.method, request.url.path, exc.reason)
        return _error_page(request, 403, "请求被拒绝", f"csrf: {exc.reason}")

    @app.exception_handler(NotFound)
    async def _not_found(request: Request, exc: NotFound) -> Response:
        return _error_page(request, 404, "未找到", f"{exc.what}: not found")

    @app.exception_handler(ProvisioningError)
    async def _provisioning(request: Request, exc: ProvisioningError) -> Response:
        return _error_page(request, 400, "输入有误", str(exc))

    @app.exception_handler(NumberError)
    async def _number(request: Request, exc: NumberError) -> Response:
        return _error_page(request, 400, "输入有误", f"number: {exc}")

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        first = exc.errors()[0] if exc.errors() else {}
        field = str(first.get("loc", ["", "input"])[-1])
        return _error_page(request, 400, "输入有误", f"{field}: {first.get('msg', 'invalid')}")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        titles = {404: "未找到", 405: "不支持的请求", 413: "文件过大"}
        return _error_page(request, exc.status_code, titles.get(exc.status_code, "错误"), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return PlainTextResponse("internal error", status_code=500)

    return app
