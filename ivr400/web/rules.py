"""路由规则: a hotline's IVR tree (departments, multi-level), time rules with the after-hours action, region
rules (来电地区路由), and call blocking (呼叫阻截) — on one page, through ``ivr400.provisioning``
(``seats.add_department``, ``time_rules``, ``region_rules``, ``blocking``), each change with its audit entry.
The controller sees a saved rule on the next call.
"""
from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import BlockEntry, Department, Hotline
from ivr400.numbers import NumberError
from ivr400.provisioning import blocking, region_rules, seats, time_rules, views
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.hotlines import check_hunt
from ivr400.provisioning.rules import list_rules
from ivr400.provisioning.status import key_path
from ivr400.routing.calendar import DayKind
from ivr400.web import changes
from ivr400.web.context import Principal, config, db, principal, repository
from ivr400.web.pages import error_of, form_row, render, see_other, whole_number
from ivr400.web.scope import Repository

router = APIRouter()

DAY_LABELS = {"workday": "工作日", "weekend": "周末", "holiday": "法定节假日", "makeup_workday": "调休上班日"}
WEEKDAY_LABELS = {1: "一", 2: "二", 3: "三", 4: "四", 5: "五", 6: "六", 7: "日"}
BLOCK_MODES = {"off": "不阻截", "blacklist": "黑名单", "whitelist_only": "仅白名单"}


def action_choices(hotline: Hotline) -> list[tuple[str, str]]:
    """(value in the CLI's action syntax, label) for the action selects."""
    out = [("menu", "播放菜单"), ("department", "转总机坐席")]
    paths = sorted(key_path(d) for d in hotline.departments)
    out += [(f"department:{p}", f"转部门 {p}") for p in paths]
    out.append(("voicemail", "语音留言"))
    out += [(f"voicemail:{p}", f"部门 {p} 语音留言") for p in paths]
    out.append(("announcement:ivr400-closed", "播放“已下班”后挂机"))
    return out


def tree(hotline: Hotline) -> list[tuple[int, Department]]:
    """Departments depth-first by key, with their depth (0 = top menu)."""
    out: list[tuple[int, Department]] = []

    def walk(nodes: list[Department], depth: int) -> None:
        for d in sorted(nodes, key=lambda d: d.key):
            out.append((depth, d))
            walk(list(d.children), depth + 1)

    walk([d for d in hotline.departments if d.parent_id is None], 0)
    return out


def page(request: Request, who: Principal, repo: Repository, hotline_id: int, *, status_code: int = 200,
         errors: dict[str, str] | None = None, form: dict[str, str] | None = None, section: str = "",
         import_report: list[tuple[int, str, str]] | None = None) -> HTMLResponse:
    hotline = repo.hotline(hotline_id)
    session = repo.session
    rules = list_rules(session, hotline)
    entries = list(session.scalars(select(BlockEntry).where(BlockEntry.hotline_id == hotline.id)
                                   .order_by(BlockEntry.prefix, BlockEntry.number)))
    return render(request, "rules.html", who, status_code=status_code, hotline=hotline, tree=tree(hotline),
                  key_path=key_path,
                  rules=rules, entries=entries, actions=action_choices(hotline),
                  days=DAY_LABELS, weekdays=WEEKDAY_LABELS, block_modes=BLOCK_MODES, errors=errors or {},
                  form=form or {}, section=section, import_report=import_report or [])


def refused(request: Request, who: Principal, repo: Repository, session: Session, hotline_id: int,
            exc: ProvisioningError | NumberError, default_field: str, section: str,
            form: dict[str, str] | None = None) -> HTMLResponse:
    session.rollback()
    field, reason = error_of(exc, default_field)
    return page(request, who, repo, hotline_id, status_code=400, errors={field: reason}, form=form, section=section)


def _done(hotline_id: int) -> Response:
    return see_other(f"/hotlines/{hotline_id}/rules?saved=1")


@router.get("/hotlines/{hotline_id}/rules", response_class=HTMLResponse)
def rules_page(request: Request, hotline_id: int, who: Principal = Depends(principal),
               repo: Repository = Depends(repository)) -> HTMLResponse:
    return page(request, who, repo, hotline_id)


@router.post("/hotlines/{hotline_id}/departments", response_class=HTMLResponse)
def add_department(request: Request, hotline_id: int, key: str = Form(""), name: str = Form(""),
                   parent: str = Form(""), hunt: str = Form("sequential"), who: Principal = Depends(principal),
                   repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    hotline = repo.hotline(hotline_id)
    form = {"key": key, "name": name, "parent": parent, "hunt": hunt}
    try:
        up = form_row(repo.department, parent, "parent") if parent.strip() else None
        if up is not None and up.hotline_id != hotline.id:
            raise ProvisioningError("parent", f"not a department of {hotline.number}")
        if len(name) > 100:
            raise ProvisioningError("name", "at most 100 characters")
        dept = seats.add_department(session, hotline, key.strip(), name, parent=up, hunt=check_hunt(hunt))
        changes.record(session, who, config(request), "department_add", enterprise_id=hotline.enterprise_id,
                       hotline=hotline.number, after={"key": key_path(dept), "name": dept.name, "hunt": hunt})
        session.commit()
    except (ProvisioningError, NumberError) as exc:
        return refused(request, who, repo, session, hotline_id, exc, "key", "departments", form)
    return _done(hotline_id)


@router.post("/hotlines/{hotline_id}/time-rules", response_class=HTMLResponse)
async def add_time_rule(request: Request, hotline_id: int, who: Principal = Depends(principal),
                        repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    hotline = repo.hotline(hotline_id)
    data = await request.form()
    form: dict[str, Any] = {k: v for k, v in data.items() if isinstance(v, str)}
    days = [v for v in data.getlist("days") if isinstance(v, str)]
    weekdays = [v for v in data.getlist("weekdays") if isinstance(v, str)]
    try:
        if any(d not in {k.value for k in DayKind} for d in days):
            raise ProvisioningError("days", "not one of " + ", ".join(k.value for k in DayKind))
        priority_text = form.get("priority", "100").strip() or "100"
        if not priority_text.lstrip("-").isdecimal() or len(priority_text) > 10:
            raise ProvisioningError("priority", f"{priority_text[:20]!r} is not a whole number")
        row = time_rules.add_time_rule(session, hotline, action=form.get("action", ""), days=days,
                                       weekdays=",".join(weekdays), segments=form.get("segments", ""),
                                       priority=int(priority_text), name=form.get("name") or None)
        changes.record(session, who, config(request), "time_rule_add", enterprise_id=hotline.enterprise_id,
                       hotline=hotline.number,
                       after={"rule": row.id, "days": row.days, "weekdays": row.weekdays, "segments": row.segments,
                              "action": form.get("action", ""), "priority": row.priority})
        session.commit()
    except (ProvisioningError, NumberError) as exc:
        return refused(request, who, repo, session, hotline_id, exc, "action", "time", form)
    return _done(hotline_id)


@router.post("/time-rules/{rule_id}/delete", response_class=HTMLResponse)
def delete_time_rule(request: Request, rule_id: int, who: Principal = Depends(principal),
                     repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    row = repo.time_rule(rule_id)
    hotline = repo.hotline(row.hotline_id)
    before = {"rule": row.id, "days": row.days, "weekdays": row.weekdays, "segments": row.segments,
              "action": row.action_kind, "priority": row.priority}
    session.delete(row)
    changes.record(session, who, config(request), "time_rule_remove", enterprise_id=hotline.enterprise_id,
                   hotline=hotline.number, before=before)
    session.commit()
    return _done(hotline.id)


@router.post("/hotlines/{hotline_id}/region-rules", response_class=HTMLResponse)
def add_region_rule(request: Request, hotline_id: int, province: str = Form(""), city: str = Form(""),
                    department: str = Form(""), priority: str = Form("100"), who: Principal = Depends(principal),
                    repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    hotline = repo.hotline(hotline_id)
    form = {"province": province, "city": city, "department": department, "priority": priority}
    try:
        row = region_rules.add_region_rule(session, hotline, province=province, city=city or None,
                                           department=department, priority=whole_number(priority or "100",
                                                                                        "priority"))
        changes.record(session, who, config(request), "region_rule_add", enterprise_id=hotline.enterprise_id,
                       hotline=hotline.number, after={"rule": row.id, "province": row.province, "city": row.city,
                                                      "department": department, "priority": row.priority})
        session.commit()
    except (ProvisioningError, NumberError) as exc:
        return refused(request, who, repo, session, hotline_id, exc, "province", "region", form)
    return _done(hotline_id)


@router.post("/region-rules/{region_rule_id}/delete", response_class=HTMLResponse)
def delete_region_rule(request: Request, region_rule_id: int, who: Principal = Depends(principal),
                       repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    row = repo.region_rule(region_rule_id)
    hotline = repo.hotline(row.hotline_id)
    before = {"rule": row.id, "province": row.province, "city": row.city, "priority": row.priority}
    session.delete(row)
    changes.record(session, who, config(request), "region_rule_remove", enterprise_id=hotline.enterprise_id,
                   hotline=hotline.number, before=before)
    session.commit()
    return _done(hotline.id)


@router.post("/hotlines/{hotline_id}/after-hours", response_class=HTMLResponse)
def after_hours(request: Request, hotline_id: int, action: str = Form(""), who: Principal = Depends(principal),
                repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    hotline = repo.hotline(hotline_id)
    try:
        before = list_rules(session, hotline)["after_hours"]
        time_rules.set_after_hours(session, hotline, action)
        changes.record(session, who, config(request), "after_hours_set", enterprise_id=hotline.enterprise_id,
                       hotline=hotline.number, before={"action": before}, after={"action": action})
        session.commit()
    except (ProvisioningError, NumberError) as exc:
        return refused(request, who, repo, session, hotline_id, exc, "action", "after-hours", {"after": action})
    return _done(hotline_id)


@router.post("/hotlines/{hotline_id}/block-mode", response_class=HTMLResponse)
def block_mode(request: Request, hotline_id: int, mode: str = Form(""), anonymous: str = Form("allow"),
               refuse_with: str = Form("busy", alias="refuse-with"), who: Principal = Depends(principal),
               repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    hotline = repo.hotline(hotline_id)
    try:
        before = views.block_settings(hotline)
        blocking.set_block_mode(session, hotline, mode, anonymous=anonymous, refuse_with=refuse_with)
        changes.record(session, who, config(request), "block_mode_set", enterprise_id=hotline.enterprise_id,
                       hotline=hotline.number, before=before, after=views.block_settings(hotline))
        session.commit()
    except (ProvisioningError, NumberError) as exc:
        return refused(request, who, repo, session, hotline_id, exc, "mode", "block")
    return _done(hotline_id)


@router.post("/hotlines/{hotline_id}/block-entries", response_class=HTMLResponse)
def add_block_entry(request: Request, hotline_id: int, number: str = Form(""), prefix: str = Form(""),
                    note: str = Form(""), who: Principal = Depends(principal), repo: Repository = Depends(repository),
                    session: Session = Depends(db)) -> Response:
    hotline = repo.hotline(hotline_id)
    try:
        row = blocking.add_block_entry(session, hotline, number, prefix=bool(prefix), note=note or None)
        changes.record(session, who, config(request), "block_add", enterprise_id=hotline.enterprise_id,
                       hotline=hotline.number, after={"number": row.number, "prefix": row.prefix})
        session.commit()
    except (ProvisioningError, NumberError) as exc:
        return refused(request, who, repo, session, hotline_id, exc, "number", "block",
                       {"number": number, "prefix": prefix, "note": note})
    return _done(hotline_id)


MAX_IMPORT_BYTES = 1024 * 1024
MAX_IMPORT_LINES = 10_000


@router.post("/hotlines/{hotline_id}/block-import", response_class=HTMLResponse)
async def import_block_entries(request: Request, hotline_id: int, file: UploadFile | None = File(None),
                               who: Principal = Depends(principal), repo: Repository = Depends(repository),
                               session: Session = Depends(db)) -> Response:
    """CSV lines ``number[,prefix][,note]`` (prefix: 1/yes/号段): all added, or none with a report per line."""
    hotline = repo.hotline(hotline_id)
    try:
        if file is None or not file.filename:
            raise ProvisioningError("file", "choose a CSV file")
        raw = await file.read(MAX_IMPORT_BYTES + 1)
        if len(raw) > MAX_IMPORT_BYTES:
            raise ProvisioningError("file", f"larger than {MAX_IMPORT_BYTES // 1024} KiB")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ProvisioningError("file", "not UTF-8 text") from None
        rows = [r for r in csv.reader(io.StringIO(text)) if any(c.strip() for c in r)]
        if not rows:
            raise ProvisioningError("file", "no lines")
        if len(rows) > MAX_IMPORT_LINES:
            raise ProvisioningError("file", f"at most {MAX_IMPORT_LINES} lines")
    except ProvisioningError as exc:
        return refused(request, who, repo, session, hotline_id, exc, "file", "import")
    report: list[tuple[int, str, str]] = []
    added = 0
    for line, row in enumerate(rows, start=1):
        number = row[0].strip()
        prefix = len(row) > 1 and row[1].strip().lower() in ("1", "yes", "true", "prefix", "号段", "是")
        note = row[2].strip() if len(row) > 2 else None
        try:  # a refused line is refused before anything is added; the whole import is rolled back below
            blocking.add_block_entry(session, hotline, number, prefix=prefix, note=note or None)
            added += 1
        except ProvisioningError as exc:
            report.append((line, number[:30], f"{exc.field}: {exc.reason}"))
    if report:
        session.rollback()
        return page(request, who, repo, hotline_id, status_code=400, section="import",
                    errors={"file": f"{len(report)} of {len(rows)} line(s) refused; nothing imported"},
                    import_report=report)
    changes.record(session, who, config(request), "block_import", enterprise_id=hotline.enterprise_id,
                   hotline=hotline.number, after={"added": added})
    session.commit()
    return _done(hotline_id)


@router.post("/block-entries/{entry_id}/delete", response_class=HTMLResponse)
def delete_block_entry(request: Request, entry_id: int, who: Principal = Depends(principal),
                       repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    row = repo.block_entry(entry_id)
    hotline = repo.hotline(row.hotline_id)
    removed = blocking.remove_block_entry(session, hotline, row.number, prefix=row.prefix)
    changes.record(session, who, config(request), "block_remove", enterprise_id=hotline.enterprise_id,
                   hotline=hotline.number, before={"entry": removed})
    session.commit()
    return _done(hotline.id)
