"""通话记录: call records of the account's hotlines, filtered, newest first, and exported as CSV.

The same filters for the page and the export (both through ``Repository.call_records``, so an export
never reaches another enterprise's calls). Dates are days in China Standard Time; numbers typed in the
filters are normalized by ``ivr400.numbers`` as the CLI's ``cdr list`` does.
"""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from ivr400.cdr.cdr_model import DISPOSITIONS, seat_label
from ivr400.db.models import CallRecord
from ivr400.numbers import NumberError, normalize_caller, parse_hotline_number
from ivr400.provisioning.errors import ProvisioningError
from ivr400.web.context import Principal, principal, repository
from ivr400.web.pages import date_range, local, render
from ivr400.web.scope import RecordFilter, Repository

router = APIRouter()
PAGE_LIMIT = 200
EXPORT_LIMIT = 100_000
CSV_COLUMNS = ("id", "started_at", "hotline", "caller", "caller_province", "caller_city", "key_path", "department",
               "seat", "disposition", "billsec", "duration_s", "balance_flagged")


@dataclass
class ParsedFilter:
    values: dict[str, str]
    dispositions: list[str]
    filter: RecordFilter | None
    errors: dict[str, str]


def parse_filter(request: Request, limit: int, repo: Repository) -> ParsedFilter:
    q = request.query_params
    values = {k: q.get(k, "")[:64] for k in ("hotline", "caller", "since", "until")}
    dispositions = [d for d in q.getlist("disposition") if d]
    errors: dict[str, str] = {}
    hotline = caller = None
    try:
        if values["hotline"].strip():
            hotline = parse_hotline_number(values["hotline"]).number
            if hotline not in repo.hotline_numbers():
                errors["hotline"] = f"no hotline {hotline}"
    except NumberError as exc:
        errors["hotline"] = str(exc)
    if values["caller"].strip():
        caller = normalize_caller(values["caller"])
        if caller is None:
            errors["caller"] = f"{values['caller']!r} is not a phone number"
    since, until = date_range(values, errors)
    bad = [d for d in dispositions if d not in DISPOSITIONS]
    if bad:
        errors["disposition"] = f"{bad[0][:20]!r} is not one of {', '.join(DISPOSITIONS)}"
    parsed = None if errors else RecordFilter(hotline=hotline, caller=caller, since=since, until=until,
                                              dispositions=tuple(dispositions), limit=limit)
    return ParsedFilter(values, dispositions, parsed, errors)


@router.get("/records", response_class=HTMLResponse)
def records(request: Request, who: Principal = Depends(principal), repo: Repository = Depends(repository)
            ) -> HTMLResponse:
    parsed = parse_filter(request, PAGE_LIMIT, repo)
    rows: list[CallRecord] = repo.call_records(parsed.filter) if parsed.filter else []
    return render(request, "records.html", who, status_code=400 if parsed.errors else 200, rows=rows,
                  form=parsed.values, selected=parsed.dispositions, errors=parsed.errors,
                  dispositions=DISPOSITIONS, hotlines=repo.hotlines(), seat_label=seat_label,
                  export=request.url.query)


@router.get("/records.csv")
def export(request: Request, repo: Repository = Depends(repository)) -> Response:
    parsed = parse_filter(request, EXPORT_LIMIT, repo)
    if parsed.filter is None:
        field, reason = next(iter(parsed.errors.items()))
        raise ProvisioningError(field, reason)
    out = io.StringIO()
    out.write("\ufeff")  # Excel opens UTF-8 CSV with Chinese correctly only with a BOM
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in repo.call_records(parsed.filter):
        writer.writerow([r.id, local(r.started_at, "%Y-%m-%d %H:%M:%S"), r.hotline, r.caller, r.caller_province,
                         r.caller_city, r.key_path, r.department, seat_label(r.seat), r.disposition, r.billsec,
                         r.duration_s, int(r.balance_flagged)])
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": 'attachment; filename="call-records.csv"'})
