"""`ivr400 demo --call`: the README's main job, end to end on the lab.

Brings the lab up, provisions the sample enterprise (or reuses it), points each of its approved
destinations at a sipp seat on a loopback port through a per-destination trunk, deploys, starts the
seats, places a real call to 4008123456 pressing key 1 (销售部) and reports the path the call took.
Success means: answered by the first routable seat of 销售部 and by no other seat.

The FastAGI controller is not required: if nothing listens on 127.0.0.1:4573 the dialplan's hooks
fail at once and the static plan routes (the fail-safe path); if a controller runs, it decides.
"""
from __future__ import annotations

import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Department, Destination, Hotline, Trunk
from ivr400.db.routable import routable_seats
from ivr400.lab.core import calls_lock
from ivr400.numbers import NumberError, parse_destination
from ivr400.provisioning.sample import ENTERPRISE, HOTLINE, provision_sample

FIRST_SEAT_PORT = 5091
CALLER = "13800138000"
KEY = "1"
TRUNK_PREFIX = "demo-seat-"


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
    fastagi: bool = False
    lab_pid: int | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        from dataclasses import asdict
        return asdict(self)


def _display(number: str) -> str:
    try:
        return parse_destination(number).display
    except NumberError:
        return number


def _fastagi_listening(host: str = "127.0.0.1", port: int = 4573) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex((host, port)) == 0


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


def run_demo_call(app: Any, *, echo: Callable[[str], None] = print, lab_root: Path | None = None,  # noqa: ANN401, C901
                  first_port: int = FIRST_SEAT_PORT, answer_after_s: float = 1.0) -> DemoCallReport:
    """The whole demo; `app` is the CLI's AppContext (session(), now(), data_dir, actor)."""
    from ivr400.lab import lab_up
    from ivr400.lab.sipp import SeatUas, call
    from ivr400.pbx.asterisk.deploy import deploy, lab_target, render_for_deploy

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
        rendered = render_for_deploy(s, now)
    for info in seats:
        echo(f"trunk: {info.display} ({', '.join(info.departments) or 'no seat'}) -> sipp seat 127.0.0.1:{info.port}")
    fastagi = _fastagi_listening()
    report = DemoCallReport(hotline=HOTLINE, caller=CALLER, key=KEY, department=dept_name,
                            expected_seat=expected, seats=seats, reused_sample=reused, deploy={},
                            fastagi=fastagi, lab_pid=lab.pid)

    with calls_lock():
        dep = deploy(rendered, lab_target(lab))
        report.deploy = {"changed": dep.files_changed, "reloaded": dep.reloaded,
                         "contexts_verified": dep.contexts_verified}
        echo(f"deploy: changed {', '.join(dep.files_changed) or 'nothing'}; reloaded: "
             f"{', '.join(dep.reloaded) or 'nothing'}; {dep.contexts_verified} contexts verified loaded")
        echo("controller: " + ("a FastAGI server answers on 127.0.0.1:4573; it decides the routing" if fastagi else
                               "no FastAGI server on 127.0.0.1:4573: the static fail-safe plan routes"))
        work = Path(tempfile.mkdtemp(prefix="ivr400-demo-call-"))
        uas: dict[str, SeatUas] = {}
        try:
            for info in seats:
                uas[info.number] = SeatUas(info.port, behaviour="answer", answer_after_s=answer_after_s,
                                           workdir=work / f"seat-{info.port}").start()
            echo(f"call: {CALLER} -> {HOTLINE}, pressing {KEY} (RFC 4733) ...")
            result = call(HOTLINE, CALLER, dtmf=KEY, dtmf_delay_s=1.5, hold_s=2.0, local_port=5070,
                          workdir=work / "carrier", timeout_s=40)
            time.sleep(0.3)
        finally:
            for seat in uas.values():
                seat.stop()

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
    answered_by = [i for i in seats if i.answered_at is not None]
    rung = [i for i in seats if i.invite_at is not None]
    report.answered_by = answered_by[0].number if answered_by else None
    if not result.answered:
        report.reason = f"the call was not answered (SIP responses {result.responses})"
    elif report.answered_by != expected:
        report.reason = (f"answered by {report.answered_by or 'no seat'}, expected {_display(expected)}"
                         f" (first seat of {dept_name})")
    elif len(rung) != 1:
        report.reason = f"other seats rang too: {[i.display for i in rung]}"
    else:
        report.ok = True
    report.seconds = time.monotonic() - started
    return report


def print_report(report: DemoCallReport, echo: Callable[[str], None] = print) -> None:
    echo("")
    echo("timeline (seconds after the carrier's INVITE):")
    for t, what in report.timeline:
        echo(f"  {t:7.3f}  {what}")
    echo(f"SIP responses seen by the caller: {' '.join(str(c) for c in report.responses) or '(none)'}")
    seat = next((s for s in report.seats if s.number == report.answered_by), None)
    hops = [f"hotline {report.hotline}", "welcome", f"key {report.key}", report.department]
    if seat is not None:
        hops.append(f"seat {seat.display} (answered {seat.answered_at:.2f} s after the INVITE)")
    else:
        hops.append("no seat answered")
    echo("path: " + " -> ".join(hops))
    if report.ok:
        echo(f"OK: answered by the expected seat {_display(report.expected_seat)} ({report.department})")
    else:
        echo(f"FAILED: {report.reason}")
    echo("the lab keeps running; stop it with: ivr400 lab down")
