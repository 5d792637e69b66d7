"""模拟来电 (call simulator): the path a call would take, computed by the controller's own code.

Input: the hotline, a caller number, a date-time (in the enterprise's zone) and the keys pressed. The
configuration is built by the controller's loader (:func:`ivr400.controller.loader.load_config`) from the
database as it is now, and the decision by :func:`ivr400.routing.decide.decide` then, for a menu,
:func:`~ivr400.routing.decide.decide_department` per key — exactly what the ``route`` and ``department``
AGI hooks run on a real call. Nothing here decides anything itself; it lays the decision out in steps.
A round-robin department is shown from position 0 (the live counter is not advanced by a simulation).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse

from ivr400.controller.loader import HotlineEntry, load_config
from ivr400.numbers import NumberError, parse_hotline_number
from ivr400.routing.decide import decide, decide_department
from ivr400.routing.model import ActionKind, Decision, HotlineRouting
from ivr400.web.context import Principal, config, principal, repository
from ivr400.web.pages import is_htmx, render
from ivr400.web.scope import Repository

router = APIRouter()

ACTION_LABELS = {"menu": "播放菜单(IVR)", "department": "转接坐席", "voicemail": "语音留言",
                 "announcement": "播放提示音后挂机", "refuse": "拒接(呼叫阻截)"}


@dataclass
class Step:
    title: str
    detail: str = ""
    targets: list[dict[str, object]] = field(default_factory=list)


@dataclass
class Simulation:
    steps: list[Step]
    final: Decision
    local_time: datetime


def key_paths(routing: HotlineRouting, keys: str) -> list[str]:
    """Digits pressed → the department key paths reached: ``"21"`` → ``["2", "2.1"]`` when 2 has a sub-menu."""
    paths: list[str] = []
    current = ""
    for key in keys:
        candidate = f"{current}.{key}" if current else key
        paths.append(candidate)
        has_children = any(d.key.startswith(candidate + ".") for d in routing.departments)
        if not has_children:
            break
        current = candidate
    return paths


def _targets(entry: HotlineEntry, decision: Decision) -> list[dict[str, object]]:
    return [{"position": i, "destination": t.destination, "ring_timeout_s": t.ring_timeout_s,
             "dial": entry.dial_for(t)} for i, t in enumerate(decision.targets, start=1)]


def _describe(entry: HotlineEntry, decision: Decision, steps: list[Step]) -> None:
    kind = decision.action
    title = ACTION_LABELS.get(kind.value, kind.value)
    if kind is ActionKind.DEPARTMENT:
        dept = decision.department or ""
        found = entry.routing.department(dept)
        name = found.name if found is not None else ""
        label = "总机" if dept in ("", "switchboard") else f"部门 {dept} {name}".strip()
        hunt = decision.hunt_strategy.value if decision.hunt_strategy else ""
        ringback = f",彩铃 {decision.ringback}" if decision.ringback else ",回铃音"
        steps.append(Step(f"{title}:{label}", f"振铃方式 {hunt}{ringback}", _targets(entry, decision)))
        fallback = "语音留言" if entry.routing.voicemail_enabled else "播放“已下班”提示后挂机"
        steps.append(Step(f"全部坐席未接 → {fallback}"))
    elif kind is ActionKind.REFUSE:
        steps.append(Step(title, decision.refuse_with.value if decision.refuse_with else ""))
    else:
        steps.append(Step(title, decision.prompt or ""))


def simulate(entry: HotlineEntry, caller: str, moment: datetime, keys: str) -> Simulation:
    routing = entry.routing
    decision = decide(routing, caller or None, moment, entry.calendar)
    steps = [Step("来电判定", decision.reason)]
    if decision.action is ActionKind.MENU:
        steps.append(Step(ACTION_LABELS["menu"], decision.prompt or "欢迎词 + 按键菜单"))
        paths = key_paths(routing, keys)
        if not paths:
            steps.append(Step("未按键", "按菜单的超时与重试设置处理"))
            return Simulation(steps, decision, decision.local_time or moment)
        steps.extend(Step(f"按键 {path} → 子菜单") for path in paths[:-1])
        decision = decide_department(routing, paths[-1], moment)
        steps.append(Step(f"按键 {paths[-1]}", decision.reason))
    _describe(entry, decision, steps)
    return Simulation(steps, decision, decision.local_time or moment)


@router.get("/simulator", response_class=HTMLResponse)
def simulator(request: Request, who: Principal = Depends(principal), repo: Repository = Depends(repository)
              ) -> HTMLResponse:
    q = request.query_params
    form = {k: q.get(k, "")[:64] for k in ("hotline", "caller", "at", "keys")}
    hotlines = repo.hotlines()
    errors: dict[str, str] = {}
    result: Simulation | None = None
    if q.get("hotline"):
        number = None
        try:
            number = parse_hotline_number(form["hotline"]).number
        except NumberError as exc:
            errors["hotline"] = str(exc)
        allowed = {h.number: h for h in hotlines}
        if number is not None and number not in allowed:
            errors["hotline"] = f"no hotline {number}"
        keys = form["keys"].replace(" ", "").replace(",", "").replace(".", "")
        if keys and not keys.isdecimal():
            errors["keys"] = "menu keys are digits 0-9"
        moment = None
        if number is not None and not errors:
            zone = ZoneInfo(allowed[number].enterprise.timezone)
            if form["at"].strip():
                try:
                    moment = datetime.fromisoformat(form["at"].strip()).replace(tzinfo=zone)
                except ValueError:
                    errors["at"] = f"{form['at']!r} is not a date-time YYYY-MM-DDTHH:MM"
            else:
                moment = config(request).now()
        if not errors and number is not None and moment is not None:
            loaded = load_config(repo.session, moment)
            entry = loaded.get(number)
            if entry is None:
                errors["hotline"] = loaded.skipped.get(number, "inactive, or nothing routable")
            elif not entry.rules_ok:
                errors["hotline"] = f"rules invalid ({entry.problem}): calls take the static plan"
            else:
                result = simulate(entry, form["caller"], moment, keys)
    template = "_simulation.html" if is_htmx(request) else "simulator.html"
    return render(request, template, who, status_code=400 if errors else 200, hotlines=hotlines, form=form,
                  errors=errors, result=result)
