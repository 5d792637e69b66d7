"""统计报表, 未接来电回拨 and 话费余额: the reports of the account's hotlines, with charts and CSV exports.

Every query goes through the hotline numbers the account's scope allows (``Repository.hotline_numbers``): an
operator never counts another enterprise's calls. The charts (ECharts, vendored in static/) read the data
from a JSON block of the page; static/reports.js draws them (no inline script: the CSP allows none). No map
(published China maps must follow the map regulations): provinces as a ranked bar chart and a table.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.cdr import reports as rep
from ivr400.cdr.billing import balance
from ivr400.cdr.cdr_model import seat_label
from ivr400.cdr.fact_store import CALLBACK_STATUSES, CallbackError, set_callback_status
from ivr400.db.models import CallbackEntry
from ivr400.numbers import NumberError, parse_hotline_number
from ivr400.provisioning.errors import ProvisioningError
from ivr400.web.context import Principal, config, db, principal, repository
from ivr400.web.pages import DISPLAY_ZONE, date_range, local, render, see_other
from ivr400.web.scope import NotFound, Repository

router = APIRouter()

#: CSV exports: name → (columns, how to get the rows).
TABLES = ("traffic", "provinces", "cities", "seats", "departments", "repeat", "heatmap")


@dataclass
class ParsedReport:
    values: dict[str, str]
    filter: rep.ReportFilter | None
    errors: dict[str, str]
    bucket: str


def parse_report(request: Request, repo: Repository) -> ParsedReport:
    q = request.query_params
    values = {k: q.get(k, "")[:64] for k in ("hotline", "department", "since", "until", "by")}
    errors: dict[str, str] = {}
    allowed = repo.hotline_numbers()
    hotlines: list[str] = allowed
    if values["hotline"].strip():
        try:
            number = parse_hotline_number(values["hotline"]).number
        except NumberError as exc:
            errors["hotline"] = str(exc)
        else:
            if number not in allowed:
                errors["hotline"] = f"no hotline {number}"
            hotlines = [number]
    department = values["department"].strip() or None
    if department is not None and not all(p.isdigit() and len(p) == 1 for p in department.split(".")):
        errors["department"] = f"{department!r} is not a key path (e.g. 2 or 2.1)"
    since, until = date_range(values, errors)
    bucket = values["by"] or "day"
    if bucket not in rep.BUCKETS:
        errors["by"] = f"{bucket[:10]!r} is not one of {', '.join(rep.BUCKETS)}"
        bucket = "day"
    parsed = None if errors else rep.ReportFilter(hotlines=hotlines, start=since, end=until,
                                                  department=department, tz=DISPLAY_ZONE)
    return ParsedReport(values, parsed, errors, bucket)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request, who: Principal = Depends(principal), repo: Repository = Depends(repository)
                 ) -> HTMLResponse:
    parsed = parse_report(request, repo)
    data: dict[str, Any] = {}
    if parsed.filter is not None:
        s = repo.session
        f = parsed.filter
        data = {
            "summary": rep.summary(s, f),
            "traffic": rep.traffic(s, f, parsed.bucket),
            "heatmap": rep.heatmap(s, f),
            "regions": rep.regions(s, f),
            "seats": rep.seats(s, f),
            "departments": rep.departments(s, f),
            "repeat": rep.repeat_callers(s, f, 2, 50),
        }
    chart_data = {k: data[k] for k in ("traffic", "heatmap")} if data else {}
    if data:
        chart_data["provinces"] = data["regions"]["provinces"][:20]
    return render(request, "reports.html", who, status_code=400 if parsed.errors else 200, data=data,
                  chart_data=chart_data, form=parsed.values, errors=parsed.errors, bucket=parsed.bucket,
                  buckets=rep.BUCKETS, hotlines=repo.hotlines(), percent=_percent, seat_label=seat_label,
                  export=request.url.query)


def _rows(session: Session, f: rep.ReportFilter, table: str, bucket: str) -> tuple[list[str], list[dict[str, Any]]]:
    if table == "traffic":
        return (["period", "offered", "answered", "abandoned", "abandoned_menu", "missed_calls", "service_level",
                 "abandon_rate", "asa_s", "avg_talk_s"], rep.traffic(session, f, bucket))
    if table in ("provinces", "cities"):
        cols = ["rank", "province", *(["city"] if table == "cities" else []), "calls", "answered", "share"]
        return cols, rep.regions(session, f)[table]
    if table == "seats":
        rows = rep.seats(session, f)
        return (["hotline", "seat", "offered", "answered", "missed", "avg_ring_s", "talk_s", "avg_talk_s",
                 "satisfaction", "surveys"], rows)
    if table == "departments":
        return (["hotline", "department", "offered", "answered", "abandoned", "missed_calls", "service_level",
                 "abandon_rate", "asa_s", "avg_talk_s"], rep.departments(session, f))
    if table == "repeat":
        rows = rep.repeat_callers(session, f, 2, 100_000)
        for r in rows:
            r["first_call"], r["last_call"] = local(r["first_call"], "%Y-%m-%d %H:%M:%S"), local(
                r["last_call"], "%Y-%m-%d %H:%M:%S")
        return ["hotline", "caller", "calls", "answered", "first_call", "last_call", "province", "city"], rows
    heat = rep.heatmap(session, f)
    return ["weekday", "hour", "offered"], [{"weekday": heat["weekdays"][d], "hour": h, "offered": n}
                                            for d, h, n in heat["cells"]]


def _csv(columns: list[str], rows: list[dict[str, Any]], name: str) -> Response:
    out = io.StringIO()
    out.write("\ufeff")  # Excel opens UTF-8 CSV with Chinese correctly only with a BOM
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="report-{name}.csv"'})


@router.get("/reports.csv")
def report_csv(request: Request, repo: Repository = Depends(repository)) -> Response:
    """One table of the page as CSV: ``?table=`` one of :data:`TABLES`, with the page's filters."""
    table = request.query_params.get("table", "")
    if table not in TABLES:
        raise ProvisioningError("table", f"{table[:20]!r} is not one of {', '.join(TABLES)}")
    parsed = parse_report(request, repo)
    if parsed.filter is None:
        field, reason = next(iter(parsed.errors.items()))
        raise ProvisioningError(field, reason)
    columns, rows = _rows(repo.session, parsed.filter, table, parsed.bucket)
    return _csv(columns, rows, table)


# -- 未接来电回拨 ----------------------------------------------------------------------------------------
def _entries(repo: Repository, status: str | None) -> list[CallbackEntry]:
    stmt = select(CallbackEntry).where(CallbackEntry.hotline.in_(repo.hotline_numbers() or [""]))
    if status:
        stmt = stmt.where(CallbackEntry.status == status)
    return list(repo.session.scalars(stmt.order_by(CallbackEntry.last_missed_at.desc(), CallbackEntry.id.desc())
                                     .limit(500)))


@router.get("/callbacks", response_class=HTMLResponse)
def callbacks_page(request: Request, who: Principal = Depends(principal), repo: Repository = Depends(repository)
                   ) -> HTMLResponse:
    status = request.query_params.get("status", "pending")
    if status not in CALLBACK_STATUSES and status != "all":
        status = "pending"
    rows = _entries(repo, None if status == "all" else status)
    return render(request, "callbacks.html", who, rows=rows, status=status, statuses=CALLBACK_STATUSES,
                  errors={})


@router.get("/callbacks.csv")
def callbacks_csv(request: Request, repo: Repository = Depends(repository)) -> Response:
    status = request.query_params.get("status") or None
    rows = [{"id": e.id, "hotline": e.hotline, "caller": e.caller, "missed": e.missed,
             "first_missed": local(e.first_missed_at, "%Y-%m-%d %H:%M:%S"),
             "last_missed": local(e.last_missed_at, "%Y-%m-%d %H:%M:%S"), "status": CALLBACK_STATUSES[e.status],
             "handled_by": e.handled_by, "handled_at": local(e.handled_at, "%Y-%m-%d %H:%M:%S") if e.handled_at
             else None, "note": e.note}
            for e in _entries(repo, status if status in CALLBACK_STATUSES else None)]
    return _csv(["id", "hotline", "caller", "missed", "first_missed", "last_missed", "status", "handled_by",
                 "handled_at", "note"], rows, "callbacks")


@router.post("/callbacks/{callback_id}", response_class=HTMLResponse)
def callback_set(request: Request, callback_id: int, status: str = Form(...), note: str = Form(""),
                 who: Principal = Depends(principal), repo: Repository = Depends(repository),
                 session: Session = Depends(db)) -> Response:
    entry = session.get(CallbackEntry, callback_id)
    if entry is None or entry.hotline not in repo.hotline_numbers():
        raise NotFound("callback", callback_id)
    try:
        set_callback_status(session, callback_id, status, who.actor, config(request).now(), note.strip() or None)
    except CallbackError as exc:
        session.rollback()
        return render(request, "callbacks.html", who, status_code=400, rows=_entries(repo, "pending"),
                      status="pending", statuses=CALLBACK_STATUSES, errors={f"{exc.field}-{callback_id}": str(exc)})
    session.commit()
    return see_other("/callbacks?saved=1")


# -- 话费余额 --------------------------------------------------------------------------------------------
@router.get("/billing", response_class=HTMLResponse)
def billing_page(request: Request, who: Principal = Depends(principal), repo: Repository = Depends(repository)
                 ) -> HTMLResponse:
    rows = [balance(repo.session, h.number) for h in repo.hotlines()]
    return render(request, "billing.html", who, rows=rows)
