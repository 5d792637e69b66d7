"""`ivr400 demo --call`: the README's main job, end to end on the lab, decided by the controller.

Brings the lab up, provisions the sample enterprise (or reuses it), points each of its approved
destinations at a sipp seat on a loopback port through a per-destination trunk, deploys, then starts the
controller (`ivr400 serve` on 127.0.0.1:4573, metrics on a free port), the call-record listener
(`ivr400 cdr listen`) and the back office (`ivr400 web` on web.host:web.port, checked to answer GET /login
with 200) as child processes, places a real call to 4008123456 pressing key 1 (销售部), and stops them by
PID afterwards (also on an error or Ctrl-C). With ``on_report`` (the command's interactive mode) the
services stay up between calls: each report goes to it, and while it returns True another call is placed,
its expected seat read again from the database (a seat moved up in the browser rings first).

What it reports is read from the call, not assumed: who decided (the call record's ``decided_by``, which
the dialplan sets from the hooks' outcome), the controller's decisions and reasons (its log lines carrying
the call's uniqueid), the controller's metrics before and after the call, and the call record as the
listener stored it. Success means: answered by the first routable seat of 销售部 and by no other seat,
and a call record saying so and ``decided_by = controller``.
"""
from __future__ import annotations

import contextlib
import re
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.cdr.cdr_store import record_view
from ivr400.db.models import CallRecord, Department, Destination, Hotline, Trunk
from ivr400.db.routable import routable_seats
from ivr400.lab.core import calls_lock
from ivr400.lab.services import IvrService
from ivr400.numbers import NumberError, parse_destination
from ivr400.provisioning.sample import ENTERPRISE, HOTLINE, provision_sample

if TYPE_CHECKING:
    from ivr400.lab.sipp import SeatUas

FIRST_SEAT_PORT = 5091
CALLER = "13800138000"
KEY = "1"
TRUNK_PREFIX = "demo-seat-"
CONTROLLER = ("127.0.0.1", 4573)  # where the rendered dialplan's hooks connect
#: A controller log line: `... LEVEL logger [UNIQUEID]: message` (ivr400 serve's format).
_LOG_LINE = re.compile(r" \[(?P<uniqueid>[^\]]+)\]: (?P<message>(?:route|department): .*)$")


@dataclass
class SeatInfo:
    number: str
    display: str
    port: int
    departments: list[str] = field(default_factory=list)
    invite_at: float | None = None  # seconds after the carrier's INVITE
    answered_at: float | None = None
    cancelled: bool = False
    responses: list[int] = field(default_factory=list)


@dataclass
class DemoCallReport:
    hotline: str
    caller: str
    key: str
    department: str
    expected_seat: str
    seats: list[SeatInfo]
    reused_sample: bool
    deploy: dict[str, Any]
    responses: list[int] = field(default_factory=list)
    timeline: list[tuple[float, str]] = field(default_factory=list)
    answered_by: str | None = None
    ok: bool = False
    reason: str = ""
    lab_pid: int | None = None
    seconds: float = 0.0
    #: pid, agi, metrics URL, log path, exit status of `ivr400 serve`; pid, log, exit status of `cdr listen`.
    controller: dict[str, Any] = field(default_factory=dict)
    listener: dict[str, Any] = field(default_factory=dict)
    #: The controller's decision log lines for this call (its uniqueid), in order.
    decisions: list[str] = field(default_factory=list)
    #: How the controller's counters moved during the call: {"ivr400_decisions_total{route=...}": +n, ...}.
    metrics: dict[str, float] = field(default_factory=dict)
    #: The call record read back from the database (None: none was stored in time).
    record: dict[str, Any] | None = None
    #: `ivr400 web`: pid, url, the status of GET /login, log path, exit status.
    web: dict[str, Any] = field(default_factory=dict)
    answered: bool = False
    record_timeout_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict
        return asdict(self)


def _display(number: str) -> str:
    try:
        return parse_destination(number).display
    except NumberError:
        return number


def _listening(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


def _scrape(metrics_url: str) -> dict[str, float]:
    """The controller's decision and static-plan counters, ``name{label=value,...}`` → value."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("ivr400_decisions_total", "ivr400_static_plan_handoffs_total"):
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                out[f"{sample.name}{{{labels}}}"] = sample.value
    return out


def _moved(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: v - before.get(k, 0.0) for k, v in sorted(after.items()) if v != before.get(k, 0.0)}


def _call_record(session: Session, since: datetime) -> CallRecord | None:
    """The demo call's record: from CALLER to HOTLINE, started after ``since`` (newest first)."""
    return session.scalar(select(CallRecord).where(CallRecord.hotline == HOTLINE, CallRecord.caller == CALLER,
                                                   CallRecord.started_at >= since)
                          .order_by(CallRecord.started_at.desc()).limit(1))


def decision_lines(log: str, uniqueid: str) -> list[str]:
    """The controller's `route:`/`department:` log lines carrying ``uniqueid``, in order."""
    out = []
    for line in log.splitlines():
        m = _LOG_LINE.search(line)
        if m and m["uniqueid"] == uniqueid:
            out.append(m["message"])
    return out


def ensure_sample(session: Session, store_root: Path, now: datetime, actor: str) -> tuple[Hotline, bool]:
    """The sample hotline, provisioned if missing; (hotline, reused)."""
    hotline = session.scalar(select(Hotline).where(Hotline.number == HOTLINE))
    if hotline is not None:
        return hotline, True
    return provision_sample(session, store_root=store_root, now=now, actor=actor).hotline, False


def point_at_seats(session: Session, hotline: Hotline, first_port: int = FIRST_SEAT_PORT) -> list[SeatInfo]:
    """A trunk per approved destination of the sample enterprise, dialling a loopback seat port."""
    dests = list(session.scalars(select(Destination).where(Destination.enterprise_id == hotline.enterprise_id)
                                 .order_by(Destination.id)))
    infos = []
    port = first_port
    for dest in dests:
        if dest.status != "approved":
            continue
        name = f"{TRUNK_PREFIX}{dest.number}"
        template = f"PJSIP/pstn/sip:{{number}}@127.0.0.1:{port}"
        trunk = session.scalar(select(Trunk).where(Trunk.name == name))
        if trunk is None:
            trunk = Trunk(name=name, dial_template=template)
            session.add(trunk)
        else:
            trunk.dial_template = template
        dest.trunk = trunk
        infos.append(SeatInfo(number=dest.number, display=_display(dest.number), port=port))
        port += 1
    session.flush()
    by_number = {i.number: i for i in infos}
    for seat in hotline.seats:
        info = by_number.get(seat.destination.number)
        if info is not None:
            where = seat.department.name if seat.department else "总机"
            if where not in info.departments:
                info.departments.append(where)
    return infos


def expected_seat(session: Session, hotline: Hotline, now: datetime, key: str = KEY) -> tuple[str, str]:
    """(department name, destination number) of the first routable seat behind top-level `key`."""
    dept = session.scalar(select(Department).where(Department.hotline_id == hotline.id, Department.key == key,
                                                   Department.parent_id.is_(None)))
    if dept is None:
        raise RuntimeError(f"hotline {hotline.number} has no menu key {key}")
    for seat in routable_seats(session, now, hotline.id):
        if seat.department_id == dept.id:
            return dept.name, seat.number
    raise RuntimeError(f"department {dept.name} has no routable seat")


def check_web(url: str, timeout_s: float = 5.0) -> int:
    """The HTTP status of GET ``url``login (the back office's login page), or RuntimeError saying why not."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{url}login", timeout=timeout_s) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError as exc:
        raise RuntimeError(f"back office: {url}login does not answer ({exc})") from exc


def run_demo_call(app: Any, *, echo: Callable[[str], None] = print, lab_root: Path | None = None,  # noqa: ANN401, C901
                  first_port: int = FIRST_SEAT_PORT, answer_after_s: float = 1.0,
                  record_timeout_s: float = 20.0,
                  on_report: Callable[[DemoCallReport], bool] | None = None) -> DemoCallReport:
    """The whole demo; `app` is the CLI's AppContext (session(), now(), engine, data_dir, actor, settings).

    ``on_report``: called with each call's report while the services still run; True places another call.
    Returns the last call's report (its ``controller``/``listener``/``web`` exit statuses filled in).
    Raises ServiceError (ivr400.lab.services) if the controller, the listener or the back office does not
    start, RuntimeError if something else listens on the controller's or the back office's port or the
    back office does not answer GET /login with 200."""
    from ivr400.deploy.asterisk import deploy, render_for_deploy
    from ivr400.lab import lab_up
    from ivr400.lab.targets import lab_target

    started = time.monotonic()
    echo("lab: bringing Asterisk up (builds the chroot on first use) ...")
    lab = lab_up(lab_root)
    version = (lab.version() or "Asterisk").split(" built ")[0]
    echo(f"lab: {version} running, pid {lab.pid}, SIP {lab.sip_host}:{lab.sip_port}, "
         f"AMI {lab.ami_host}:{lab.ami_port}")
    now = app.now()
    with app.session() as s:
        hotline, reused = ensure_sample(s, app.data_dir / "evidence", now, app.actor)
        echo(f"sample: {'reusing' if reused else 'provisioned'} {ENTERPRISE}, hotline {HOTLINE} "
             f"(database {app.engine.url.render_as_string(hide_password=True)})")
        seats = point_at_seats(s, hotline, first_port)
        dept_name, expected = expected_seat(s, hotline, now)
        rendered = render_for_deploy(s, now, data_root=app.data_dir)
    for info in seats:
        echo(f"trunk: {info.display} ({', '.join(info.departments) or 'no seat'}) -> sipp seat 127.0.0.1:{info.port}")
    report = DemoCallReport(hotline=HOTLINE, caller=CALLER, key=KEY, department=dept_name,
                            expected_seat=expected, seats=seats, reused_sample=reused, deploy={}, lab_pid=lab.pid)
    database_url = app.engine.url.render_as_string(hide_password=False)
    ami = lab.ami_credentials
    # Secrets through the environment, not the command line (visible in ps).
    env = {"IVR400_DATABASE_URL": database_url, "IVR400_AMI_HOST": str(ami["host"]),
           "IVR400_AMI_PORT": str(ami["port"]), "IVR400_AMI_USER": str(ami["username"]),
           "IVR400_AMI_SECRET": str(ami["secret"]), "IVR400_ASTERISK_ROOT": str(lab.root),
           "IVR400_DATA_DIR": str(app.data_dir)}
    web_host, web_port = app.settings.web_host, app.settings.web_port
    work = Path(tempfile.mkdtemp(prefix="ivr400-demo-call-"))
    controller = IvrService("controller", ["serve", "--host", CONTROLLER[0], "--port", str(CONTROLLER[1]),
                                           "--metrics-port", "0", "--asterisk-root", str(lab.root)],
                            work / "controller.log", env=env)
    # --no-backfill: the lab's CSV also holds the test suite's calls; the demo database gets its own call.
    listener = IvrService("call-record listener", ["cdr", "listen", "--no-backfill", "--flush-delay", "0.3"],
                          work / "cdr-listen.log", env=env)
    web = IvrService("back office", ["web", "--host", web_host, "--port", str(web_port)], work / "web.log", env=env)

    with calls_lock():
        dep = deploy(rendered, lab_target(lab))
        report.deploy = {"changed": dep.files_changed, "reloaded": dep.reloaded,
                         "contexts_verified": dep.contexts_verified}
        echo(f"deploy: changed {', '.join(dep.files_changed) or 'nothing'}; reloaded: "
             f"{', '.join(dep.reloaded) or 'nothing'}; {dep.contexts_verified} contexts verified loaded")
        if _listening(*CONTROLLER):
            raise RuntimeError(f"controller: something already listens on {CONTROLLER[0]}:{CONTROLLER[1]}; the demo "
                               "starts its own `ivr400 serve` there: stop the other one first")
        if web_port and _listening("127.0.0.1" if web_host in ("0.0.0.0", "::") else web_host, web_port):
            raise RuntimeError(f"web.port: something already listens on {web_host}:{web_port}; the demo starts its "
                               "own `ivr400 web` there: stop the other one first (or set IVR400_WEB_PORT)")
        with contextlib.ExitStack() as running:  # leaving it stops every process below, whatever happened
            running.enter_context(controller)
            metrics_url = controller.ready_line.rsplit(" metrics ", 1)[-1]
            report.controller = {"pid": controller.pid, "agi": f"agi://{CONTROLLER[0]}:{CONTROLLER[1]}",
                                 "metrics": metrics_url, "log": str(controller.log_path)}
            echo(f"controller: ivr400 serve, pid {controller.pid}, {report.controller['agi']}, metrics {metrics_url}")
            running.enter_context(listener)
            report.listener = {"pid": listener.pid, "log": str(listener.log_path)}
            echo(f"call records: ivr400 cdr listen, pid {listener.pid}, AMI {ami['host']}:{ami['port']}")
            running.enter_context(web)
            web_url = web.ready_line.rsplit(", ", 1)[-1]
            report.web = {"pid": web.pid, "url": web_url, "log": str(web.log_path), "login_status": check_web(web_url)}
            if report.web["login_status"] != 200:
                raise RuntimeError(f"back office: GET {web_url}login answered {report.web['login_status']}, not 200 "
                                   f"(its log: {web.log_path})")
            echo(f"back office: ivr400 web, pid {web.pid}, {web_url} (GET /login: 200)")
            number = 0
            while True:
                number += 1
                _one_call(app, report, seats, work / f"call-{number}", metrics_url, answer_after_s, record_timeout_s,
                          echo)
                if report.record is not None:
                    report.decisions = decision_lines(controller.log_text(), report.record["uniqueid"])
                _judge(report, started)
                if on_report is None or not on_report(report):
                    break
                with app.session() as s:  # the operator may have moved seats in the browser meanwhile
                    hotline, _ = ensure_sample(s, app.data_dir / "evidence", app.now(), app.actor)
                    dept_name, expected = expected_seat(s, hotline, app.now())
                report = DemoCallReport(
                    hotline=HOTLINE, caller=CALLER, key=KEY, department=dept_name, expected_seat=expected,
                    seats=[SeatInfo(number=i.number, display=i.display, port=i.port, departments=i.departments)
                           for i in seats], reused_sample=True, deploy=report.deploy, lab_pid=lab.pid,
                    controller=report.controller, listener=report.listener, web=report.web)
                seats = report.seats
                started = time.monotonic()
        report.controller["exit"] = controller.proc.returncode if controller.proc else None
        report.listener["exit"] = listener.proc.returncode if listener.proc else None
        report.web["exit"] = web.proc.returncode if web.proc else None
        echo(f"stopped: controller (pid {controller.pid}, exit {report.controller['exit']}), call-record listener "
             f"(pid {listener.pid}, exit {report.listener['exit']}), back office (pid {web.pid}, "
             f"exit {report.web['exit']})")
    if report.record is not None:  # again, now that the controller has flushed and exited
        report.decisions = decision_lines(controller.log_text(), report.record["uniqueid"])
    return report


def _one_call(app: Any, report: DemoCallReport, seats: list[SeatInfo], work: Path, metrics_url: str,  # noqa: ANN401
              answer_after_s: float, record_timeout_s: float, echo: Callable[[str], None]) -> None:
    """One call with sipp seats started for it (and stopped after it); fills ``report``'s call fields."""
    from ivr400.lab.sipp import SeatUas, call

    uas: dict[str, SeatUas] = {}
    with contextlib.ExitStack() as running:
        for info in seats:
            uas[info.number] = SeatUas(info.port, behaviour="answer", answer_after_s=answer_after_s,
                                       workdir=work / f"seat-{info.port}").start()
            running.callback(uas[info.number].stop)
        before = _scrape(metrics_url)
        since = datetime.now(timezone.utc) - timedelta(seconds=2)
        echo(f"call: {CALLER} -> {HOTLINE}, pressing {KEY} (RFC 4733) ...")
        result = call(HOTLINE, CALLER, dtmf=KEY, dtmf_delay_s=1.5, hold_s=2.0, local_port=5070,
                      workdir=work / "carrier", timeout_s=40)
        deadline = time.monotonic() + record_timeout_s
        row = None
        while row is None and time.monotonic() < deadline:
            time.sleep(0.2)
            with Session(app.engine) as s:
                row = _call_record(s, since)
                report.record = record_view(row) if row is not None else None
        report.metrics = _moved(before, _scrape(metrics_url))
    report.record_timeout_s = record_timeout_s
    _timeline(report, result, uas)


def _timeline(report: DemoCallReport, result: Any, uas: dict[str, SeatUas]) -> None:  # noqa: ANN401
    """The SIP timeline of the carrier's and the seats' messages, and what each seat saw."""
    seats = report.seats
    t0 = result.invite_time or 0.0
    report.responses = result.responses
    seen: set[int | None] = set()
    for m in result.messages:
        if m.direction == "received" and m.is_response and m.method == "INVITE" and m.status not in seen:
            seen.add(m.status)
            extra = " with SDP (early media)" if m.status == 183 and m.has_sdp else ""
            if m.status == 200:
                extra = " (answered by the IVR: welcome prompt and menu)"
            report.timeline.append((m.time - t0, f"carrier <- {m.status} {m.reason}{extra}"))
        if m.direction == "sent" and not m.is_response and m.method == "INVITE":
            report.timeline.append((m.time - t0, f"carrier -> INVITE {HOTLINE} from {CALLER}"))
    if result.answered:
        answered = next(m.time for m in result.messages if m.status == 200 and m.method == "INVITE")
        report.timeline.append((answered + 1.5 - t0, f"carrier -> key {KEY} (RFC 4733, about)"))
    for info in seats:
        seat = uas[info.number]
        invites = seat.invites()
        if not invites:
            continue
        info.invite_at = invites[0].time - t0
        report.timeline.append((info.invite_at, f"INVITE -> seat {info.display} (127.0.0.1:{info.port})"))
        for m in seat.messages():
            if m.direction == "sent" and m.is_response and m.method == "INVITE":
                info.responses.append(m.status)  # type: ignore[arg-type]
                if m.status == 200 and info.answered_at is None:
                    info.answered_at = m.time - t0
                    report.timeline.append((info.answered_at, f"seat {info.display} answers (200 OK)"))
        info.cancelled = bool(seat.requests("CANCEL"))
    report.timeline.sort(key=lambda x: x[0])
    report.answered = result.answered


def _judge(report: DemoCallReport, started: float) -> None:
    """``ok`` and ``reason``: the expected seat answered alone, recorded as decided by the controller."""
    seats, expected, dept_name = report.seats, report.expected_seat, report.department
    record_timeout_s = report.record_timeout_s
    answered_by = [i for i in seats if i.answered_at is not None]
    rung = [i for i in seats if i.invite_at is not None]
    report.answered_by = answered_by[0].number if answered_by else None
    record = report.record
    if not report.answered:
        report.reason = f"the call was not answered (SIP responses {report.responses})"
    elif report.answered_by != expected:
        report.reason = (f"answered by {report.answered_by or 'no seat'}, expected {_display(expected)}"
                         f" (first seat of {dept_name})")
    elif len(rung) != 1:
        report.reason = f"other seats rang too: {[i.display for i in rung]}"
    elif record is None:
        report.reason = (f"no call record stored within {record_timeout_s:g} s (listener log: "
                         f"{report.listener.get('log')})")
    elif record["decided_by"] != "controller":
        report.reason = (f"the call record says decided_by={record['decided_by']}: the controller did not decide "
                         f"(controller log: {report.controller.get('log')})")
    elif record["disposition"] != "answered" or expected not in (record["seat"] or ""):
        report.reason = f"the call record says {record['disposition']} by {record['seat']}"
    elif not report.decisions:
        report.reason = f"no decision of the controller logged for call {record['uniqueid']}"
    else:
        report.ok = True
    report.seconds = time.monotonic() - started


_ROUTE_LINE = re.compile(r"route: [0-9]+ -> (?P<action>\w+): (?P<reason>.*)")
_DEPT_LINE = re.compile(r"department: [0-9]+ dept '(?P<path>[0-9.]*)' -> (?P<who>.*?): (?P<reason>.*)")
DISPLAY_TZ = "Asia/Shanghai"


def print_report(report: DemoCallReport, echo: Callable[[str], None] = print) -> None:
    from zoneinfo import ZoneInfo

    echo("")
    echo("timeline (seconds after the carrier's INVITE):")
    for t, what in report.timeline:
        echo(f"  {t:7.3f}  {what}")
    echo(f"SIP responses seen by the caller: {' '.join(str(c) for c in report.responses) or '(none)'}")
    record = report.record
    if record is not None:
        echo(f"controller log lines of call {record['uniqueid']}:")
        for line in report.decisions or ["(none)"]:
            echo(f"  {line}")
    moved = ", ".join(f"{name} {delta:+g}" for name, delta in report.metrics.items())
    echo(f"controller metrics moved by the call: {moved or 'nothing'}")
    if record is not None:
        started = record["started_at"].astimezone(ZoneInfo(DISPLAY_TZ))
        echo(f"call record #{record['id']} (stored by `ivr400 cdr listen` from AMI, read back from the database):")
        echo(f"  {record['caller']} -> {record['hotline']}, started {started:%Y-%m-%d %H:%M:%S} ({DISPLAY_TZ}), "
             f"uniqueid {record['uniqueid']}")
        echo(f"  disposition {record['disposition']}, seat {record['seat'] or '-'}, "
             f"keys {record['key_path'] or '-'}, department {record['department'] or '-'}, "
             f"decided by {record['decided_by'] or '(unknown)'}")
        echo(f"  duration {record['duration_s']} s, billsec {record['billsec']} s")
    else:
        echo("call record: none stored")
    echo("path: " + " -> ".join(_hops(report)))
    for i, why in enumerate(_reasons(report)):
        echo(("  because: " if i == 0 else "           ") + why)
    if report.ok:
        echo(f"OK: answered by the expected seat {_display(report.expected_seat)} ({report.department}), "
             f"decided by the controller")
    else:
        echo(f"FAILED: {report.reason}")
    echo("the lab keeps running; stop it with: ivr400 lab down")


def _hops(report: DemoCallReport) -> list[str]:
    """The path: the controller's decisions where it took them (from its log lines for this call)."""
    route = next((m for m in map(_ROUTE_LINE.fullmatch, report.decisions) if m), None)
    dept = next((m for m in map(_DEPT_LINE.fullmatch, report.decisions) if m), None)
    by = (report.record or {}).get("decided_by") or "unknown"
    hops = [f"hotline {report.hotline}"]
    hops.append(f"controller: {route['action']}" if route else f"{by} plan")
    hops += ["welcome", f"key {report.key}"]
    if dept:
        rings = " ".join(_display(n) for n in dept["who"].split()[1:]) or dept["who"]
        hops.append(f"controller: {report.department} rings {rings}")
    else:
        hops.append(report.department)
    seat = next((s for s in report.seats if s.number == report.answered_by), None)
    if seat is not None:
        hops.append(f"seat {seat.display} answered ({seat.answered_at:.2f} s after the INVITE)")
    else:
        hops.append("no seat answered")
    return hops


def _reasons(report: DemoCallReport) -> list[str]:
    out = []
    for line in report.decisions:
        if m := _ROUTE_LINE.fullmatch(line):
            out.append(f"entry ({m['action']}): {m['reason']}")
        elif m := _DEPT_LINE.fullmatch(line):
            out.append(f"department {m['path'] or 'switchboard'} ({m['who'].split()[0]}): {m['reason']}")
    return out
