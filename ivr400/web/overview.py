"""概览: today's calls, answered, missed, callers to call back (the 未接回拨 list's pending entries, the same count
its page shows), authorizations expiring within 30 days."""
from __future__ import annotations

from datetime import datetime, time, timedelta

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import func, select

from ivr400.cdr.cdr_model import MISSED_DISPOSITIONS
from ivr400.db.models import CallbackEntry
from ivr400.web.context import Principal, config, principal, repository
from ivr400.web.pages import DISPLAY_ZONE, render
from ivr400.web.scope import RecordFilter, Repository

router = APIRouter()
EXPIRING_DAYS = 30


def day_bounds(now: datetime) -> tuple[datetime, datetime]:
    """[start, end) of ``now``'s day in the display zone (China Standard Time), as aware datetimes."""
    start = datetime.combine(now.astimezone(DISPLAY_ZONE).date(), time.min, tzinfo=DISPLAY_ZONE)
    return start, start + timedelta(days=1)


@router.get("/", response_class=HTMLResponse)
def overview(request: Request, who: Principal = Depends(principal), repo: Repository = Depends(repository)
             ) -> HTMLResponse:
    now = config(request).now()
    start, end = day_bounds(now)
    today = repo.call_records(RecordFilter(since=start, until=end, limit=100_000))
    callbacks = repo.session.scalar(select(func.count()).select_from(CallbackEntry).where(
        CallbackEntry.hotline.in_(repo.hotline_numbers() or [""]), CallbackEntry.status == "pending"))
    stats = {
        "calls": len(today),
        "answered": sum(1 for r in today if r.disposition == "answered"),
        "missed": sum(1 for r in today if r.disposition in MISSED_DISPOSITIONS),
        "callbacks": callbacks,
    }
    return render(request, "overview.html", who, stats=stats, expiring=repo.expiring(now, EXPIRING_DAYS),
                  hotlines=repo.hotlines(), days=EXPIRING_DAYS, now=now)
