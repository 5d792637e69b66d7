"""WEB呼叫 (click-to-call): the public endpoint a visitor's browser posts a phone number to.

``POST /c2c/<token>`` (form field ``number``), where ``<token>`` is the hotline's unguessable public token
(``ivr400 call setup``). Public and CSRF-exempt by design — the visitor has no session on the back office —
but protected: the token names one hotline whose click-to-call is enabled, the page's ``Origin`` must be
one the hotline allows (when it lists any), and ``ivr400.provisioning.clicktocall.place_callback`` applies
the number rule, the blacklist, business hours and the per-number / per-IP / per-hotline limits and
records every attempt. The answer is JSON ``{"accepted": bool, "outcome": str, "message": str}`` (202 when
the visitor is being called, 403/429/400 otherwise) with ``Access-Control-Allow-Origin`` for an allowed
origin, so the embeddable script (``/static/clicktocall.js``) can show it beside the field.
"""
from __future__ import annotations

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.controller.loader import load_config
from ivr400.db.models import ClickToCallSetting, Hotline
from ivr400.provisioning.clicktocall import place_callback
from ivr400.web.context import config, db
from ivr400.web.security import PUBLIC_PREFIX

__all__ = ["PUBLIC_PREFIX", "router"]

router = APIRouter()

_STATUS = {"accepted": 202, "refused_number": 400, "refused_blocked": 403, "refused_closed": 403,
           "refused_rate_number": 429, "refused_rate_ip": 429, "refused_busy": 429, "failed": 503}
_MESSAGES = {"accepted": "正在呼叫您的电话,接听后请按1。", "refused_number": "请输入中国大陆的手机或固定电话号码。",
             "refused_blocked": "该号码无法回拨。", "refused_closed": "现在是非工作时间,请在工作时间再试。",
             "refused_rate_number": "该号码刚刚呼叫过,请稍后再试。", "refused_rate_ip": "请求过于频繁,请稍后再试。",
             "refused_busy": "线路繁忙,请稍后再试。", "failed": "暂时无法呼叫,请稍后再试。",
             "refused_disabled": "此功能未开通。"}


def _answer(outcome: str, reason: str, allow_origin: str | None, status: int | None = None) -> JSONResponse:
    headers = {"Access-Control-Allow-Origin": allow_origin, "Vary": "Origin"} if allow_origin else {"Vary": "Origin"}
    return JSONResponse({"accepted": outcome == "accepted", "outcome": outcome,
                         "message": _MESSAGES.get(outcome, reason), "reason": reason},
                        status_code=status or _STATUS.get(outcome, 403), headers=headers)


@router.post(PUBLIC_PREFIX + "{token}")
def request_callback(request: Request, token: str, number: str = Form(""),
                     session: Session = Depends(db)) -> JSONResponse:
    cfg = config(request)
    now = cfg.now()
    origin = request.headers.get("origin")
    row = session.execute(select(ClickToCallSetting, Hotline).join(Hotline, Hotline.id == ClickToCallSetting.hotline_id)
                          .where(ClickToCallSetting.token == token[:64])).first()
    if row is None or not row[0].enabled or not row[1].active:
        return _answer("refused_disabled", "token: unknown or disabled", None, 404)
    setting, hotline = row
    allowed = setting.origins.split()
    if allowed and origin not in allowed:
        return _answer("refused_origin", "origin: this page may not request callbacks", None, 403)
    allow_origin = origin if origin and origin != "null" else None
    entry = load_config(session, now).get(hotline.number)
    if entry is None:
        return _answer("refused_disabled", "hotline: not active", allow_origin, 404)
    ami = cfg.originator() if cfg.originator is not None else None
    try:
        result = place_callback(session, ami, hotline=hotline, target=number, now=now, block=entry.routing.block,
                                time_rules=entry.routing.time_rules, calendar=entry.calendar, zone=entry.routing.zone,
                                source="web", actor="web", client_ip=request.client.host if request.client else None,
                                origin=origin)
    finally:
        close = getattr(ami, "close", None)
        if callable(close):
            close()
    session.commit()
    return _answer(result.outcome, result.reason, allow_origin)
