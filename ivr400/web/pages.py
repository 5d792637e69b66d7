"""Templates and the one way a page shows a refusal: ``FIELD: reason`` beside the field, HTTP 400.

Service errors (:class:`~ivr400.provisioning.errors.ProvisioningError`, :class:`~ivr400.numbers.NumberError`)
carry the field the command line names; :func:`field_errors` maps them to the form's input of the same name.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from ivr400.localtime import parse_bound
from ivr400.numbers import NumberError
from ivr400.provisioning.errors import ProvisioningError
from ivr400.web.context import Principal
from ivr400.web.scope import NotFound

T = TypeVar("T")

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
DISPLAY_ZONE = ZoneInfo("Asia/Shanghai")

STATUS_LABELS = {
    "pending": "待审核", "approved": "已通过", "rejected": "已驳回", "revoked": "已撤销", "expired": "已过期",
    "not_yet_valid": "未生效",
}
HUNT_LABELS = {"sequential": "顺序振铃", "simultaneous": "同时振铃(全通达)", "round_robin": "轮流振铃",
               "weighted": "按比例分配"}
DISPOSITION_LABELS = {"answered": "已接听", "fax": "传真", "voicemail": "留言", "blocked": "已阻截",
                      "unknown_number": "空号",
                      "noanswer": "无人接听", "busy": "忙", "abandoned": "放弃"}


def local(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if moment is None else moment.astimezone(DISPLAY_ZONE).strftime(fmt)


TEMPLATES.env.filters["local"] = local
TEMPLATES.env.filters["json"] = lambda value: json.dumps(value, ensure_ascii=False, default=str)
TEMPLATES.env.globals.update(STATUS_LABELS=STATUS_LABELS, HUNT_LABELS=HUNT_LABELS,
                             DISPOSITION_LABELS=DISPOSITION_LABELS)


def error_of(exc: ProvisioningError | NumberError, default_field: str) -> tuple[str, str]:
    if isinstance(exc, ProvisioningError):
        return exc.field, exc.reason
    return default_field, str(exc)


def render(request: Request, template: str, who: Principal | None, *, status_code: int = 200,
           **context: object) -> HTMLResponse:
    context.setdefault("errors", {})
    context.setdefault("form", {})
    return TEMPLATES.TemplateResponse(
        request, template, {"who": who, "csrf_token": who.csrf_token if who else context.get("csrf_token", ""),
                            **context},
        status_code=status_code)


def refused(request: Request, template: str, who: Principal | None, exc: ProvisioningError | NumberError,
            default_field: str, **context: object) -> HTMLResponse:
    """The page again, with the refusal beside its field and what was typed kept, HTTP 400."""
    field, reason = error_of(exc, default_field)
    return render(request, template, who, status_code=400, errors={field: reason}, **context)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def whole_number(text: str, field: str) -> int:
    """A form's integer field, refused as ``FIELD: reason`` (never a validation 500 or 422)."""
    value = text.strip()
    if not value or not value.lstrip("-").isdecimal() or len(value) > 9:
        raise ProvisioningError(field, f"{text[:20]!r} is not a whole number")
    return int(value)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


def optional_date(text: str, field: str) -> date | None:
    value = text.strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ProvisioningError(field, f"{value[:20]!r} is not a date YYYY-MM-DD") from None


def date_range(values: dict[str, str], errors: dict[str, str]) -> tuple[datetime | None, datetime | None]:
    """The ``since`` and ``until`` days of a filter form (YYYY-MM-DD in `DISPLAY_ZONE`; empty: no bound) → aware
    UTC bounds [since 00:00, the midnight after until), through the CLI's parser (`ivr400.localtime.parse_bound`).

    A bad or out-of-range day, or an until before since, is put in `errors` under its field (and that bound is
    None); nothing is raised.
    """
    bounds: dict[str, datetime | None] = {"since": None, "until": None}
    for name in bounds:
        try:
            if optional_date(values[name], name) is not None:
                bounds[name] = parse_bound(values[name], DISPLAY_ZONE, end_of_day=name == "until")
        except ProvisioningError as exc:
            errors[name] = exc.reason
        except ValueError as exc:
            errors[name] = str(exc)
    since, until = bounds["since"], bounds["until"]
    if since and until and until <= since:
        errors["until"] = "must not be before since"
    return since, until


def form_row(getter: Callable[[int], T], text: str, field: str) -> T:
    """A row chosen in a form (a scoped repository getter): not found is a field error, not a 404 page."""
    ident = whole_number(text, field)
    try:
        return getter(ident)
    except NotFound:
        raise ProvisioningError(field, f"no {field} #{ident}") from None
