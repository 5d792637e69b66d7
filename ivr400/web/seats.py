"""坐席: seats of a hotline in hunt order, per group (the switchboard and each department).

Reorder (up/down), ring timeout, weight (按比例分配), add, remove, the group's hunt strategy — all through
``ivr400.provisioning.seats`` / ``hotlines.check_hunt`` — and a department's ringback tone (彩铃), chosen among
the enterprise's **approved** ringback tones (a pending or rejected tone is neither offered nor accepted; the
department may also inherit the hotline's), each with its audit entry in the same commit.
A saved change reaches the next call with no deploy: the triggers bump the configuration generation
that the controller polls.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from ivr400.db.enums import ToneKind, ToneStatus
from ivr400.db.models import Department, Hotline, Seat, Tone
from ivr400.numbers import NumberError
from ivr400.provisioning import seats as seat_service
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.hotlines import apply_hunt, check_hunt
from ivr400.provisioning.status import effective_hunt, effective_status, key_path
from ivr400.web import changes
from ivr400.web.context import Principal, config, db, principal, repository
from ivr400.web.pages import form_row, render, see_other, whole_number
from ivr400.web.scope import NotFound, Repository

router = APIRouter()


@dataclass
class SeatGroup:
    """The switchboard (department None) or one department, with its seats in hunt order."""

    key: str
    name: str
    department: Department | None
    hunt: str
    seats: list[Seat]


def groups(hotline: Hotline) -> list[SeatGroup]:
    switchboard = SeatGroup("", "总机", None, effective_hunt(hotline),
                            [s for s in hotline.seats if s.department_id is None])
    departments = (SeatGroup(key_path(d), d.name, d, effective_hunt(d),
                             sorted(d.seats, key=lambda s: (s.position, s.id)))
                   for d in sorted(hotline.departments, key=key_path))
    return [switchboard, *departments]


def seat_state(seat: Seat, now: datetime) -> str:
    status = effective_status(seat.destination, now)
    return "active" if status == "approved" else status


def _page(request: Request, who: Principal, repo: Repository, hotline: Hotline, *, status_code: int = 200,
          errors: dict[str, str] | None = None, error_seat: int | None = None, error_dept: int | None = None,
          form: dict[str, str] | None = None) -> HTMLResponse:
    now = config(request).now()
    approved = [d for d in repo.destinations() if d.enterprise_id == hotline.enterprise_id
                and effective_status(d, now) == "approved"]
    return render(request, "seats.html", who, status_code=status_code, hotline=hotline, groups=groups(hotline),
                  approved=approved, now=now, seat_state=seat_state, errors=errors or {}, error_seat=error_seat,
                  error_dept=error_dept, ringback_tones=approved_ringbacks(repo, hotline), form=form or {})


def approved_ringbacks(repo: Repository, hotline: Hotline) -> list[Tone]:
    """The ringback tones (彩铃) a department of `hotline` may use: its enterprise's, approved, by name."""
    return [t for t in repo.tones(statuses=(ToneStatus.APPROVED.value,))
            if t.enterprise_id == hotline.enterprise_id and t.kind == ToneKind.RINGBACK.value]


def ringback_choice(repo: Repository, hotline: Hotline, text: str) -> Tone | None:
    """The tone a department picker's `ringback` field names ('' = inherit the hotline's). Raises
    ProvisioningError('ringback', reason): not a whole number, no such tone of this enterprise (another
    tenant's id reads the same as a missing one), not a ringback tone, not approved."""
    if not text.strip():
        return None
    ident = whole_number(text, "ringback")
    try:
        tone = repo.tone(ident)
    except NotFound:
        tone = None
    if tone is None or tone.enterprise_id != hotline.enterprise_id:
        raise ProvisioningError("ringback", f"no tone #{ident} of this enterprise")
    if tone.kind != ToneKind.RINGBACK.value:
        raise ProvisioningError("ringback", f"tone {tone.name!r} is a {tone.kind} tone, not a ringback tone")
    if tone.status != ToneStatus.APPROVED.value:
        raise ProvisioningError("ringback", f"tone {tone.name!r} is {tone.status}: only approved tones play")
    return tone


def _refused(request: Request, who: Principal, repo: Repository, session: Session, hotline_id: int,
             exc: ProvisioningError | NumberError, default_field: str, *, error_seat: int | None = None,
             form: dict[str, str] | None = None) -> HTMLResponse:
    session.rollback()
    hotline = repo.hotline(hotline_id)
    field, reason = (exc.field, exc.reason) if isinstance(exc, ProvisioningError) else (default_field, str(exc))
    return _page(request, who, repo, hotline, status_code=400, errors={field: reason}, error_seat=error_seat,
                 form=form)


def _order(seat: Seat) -> list[str]:
    """The group's hunt order as destination numbers (for the audit trail's before → after)."""
    siblings = seat.department.seats if seat.department is not None else [
        s for s in seat.hotline.seats if s.department_id is None]
    return [s.destination.number for s in sorted(siblings, key=lambda s: (s.position, s.id))]


@router.get("/hotlines/{hotline_id}/seats", response_class=HTMLResponse)
def seats_page(request: Request, hotline_id: int, who: Principal = Depends(principal),
               repo: Repository = Depends(repository)) -> HTMLResponse:
    return _page(request, who, repo, repo.hotline(hotline_id))


@router.post("/hotlines/{hotline_id}/seats", response_class=HTMLResponse)
def add_seat(request: Request, hotline_id: int, destination: str = Form(""), department: str = Form(""),
             ring_timeout: str = Form("15", alias="ring-timeout"), who: Principal = Depends(principal),
             repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    hotline = repo.hotline(hotline_id)
    form = {"destination": destination, "department": department, "ring-timeout": ring_timeout}
    try:
        if not destination.strip():
            raise ProvisioningError("destination", "choose an approved destination")
        dest = form_row(repo.destination, destination, "destination")
        dept = form_row(repo.department, department, "department") if department.strip() else None
        if dept is not None and dept.hotline_id != hotline.id:
            raise ProvisioningError("department", f"not a department of {hotline.number}")
        seat = seat_service.add_seat(session, hotline, dest, department=dept,
                                     ring_timeout=whole_number(ring_timeout, "ring-timeout"), now=config(request).now())
        changes.record(session, who, config(request), "seat_add", enterprise_id=hotline.enterprise_id,
                       destination_id=dest.id, hotline=hotline.number,
                       after={"seat": seat.id, "department": key_path(dept) if dept else None,
                              "position": seat.position, "ring_timeout_s": seat.ring_timeout_s})
        session.commit()
    except (ProvisioningError, NumberError) as exc:
        return _refused(request, who, repo, session, hotline_id, exc, "destination", form=form)
    return see_other(f"/hotlines/{hotline.id}/seats?saved=1")


@router.post("/hotlines/{hotline_id}/hunt", response_class=HTMLResponse)
def set_hunt(request: Request, hotline_id: int, hunt: str = Form(""), department: str = Form(""),
             who: Principal = Depends(principal), repo: Repository = Depends(repository),
             session: Session = Depends(db)) -> Response:
    hotline = repo.hotline(hotline_id)
    try:
        strategy = check_hunt(hunt.strip())
        target: Hotline | Department = hotline
        if department.strip():
            target = form_row(repo.department, department, "department")
            if target.hotline_id != hotline.id:
                raise ProvisioningError("department", f"not a department of {hotline.number}")
        before = effective_hunt(target)
        apply_hunt(target, strategy)
        session.flush()
        changes.record(session, who, config(request), "hunt_set", enterprise_id=hotline.enterprise_id,
                       hotline=hotline.number,
                       department=key_path(target) if isinstance(target, Department) else None,
                       before={"hunt": before}, after={"hunt": strategy})
        session.commit()
    except (ProvisioningError, NumberError) as exc:
        return _refused(request, who, repo, session, hotline_id, exc, "hunt")
    return see_other(f"/hotlines/{hotline.id}/seats?saved=1")


@router.post("/departments/{department_id}/ringback", response_class=HTMLResponse)
def set_department_ringback(request: Request, department_id: int, ringback: str = Form(""),
                            who: Principal = Depends(principal), repo: Repository = Depends(repository),
                            session: Session = Depends(db)) -> Response:
    """部门彩铃: the department's ringback tone, an approved ringback tone of the enterprise ('' = the hotline's).
    400 with the reason beside the department's field otherwise; 404 for another tenant's department."""
    dept = repo.department(department_id)
    hotline = dept.hotline
    try:
        tone = ringback_choice(repo, hotline, ringback)
    except (ProvisioningError, NumberError) as exc:
        session.rollback()
        field, reason = (exc.field, exc.reason) if isinstance(exc, ProvisioningError) else ("ringback", str(exc))
        return _page(request, who, repo, hotline, status_code=400, errors={field: reason}, error_dept=dept.id,
                     form={"ringback": ringback[:20]})
    before = dept.ringback_tone_id
    dept.ringback_tone_id = tone.id if tone is not None else None
    changes.record(session, who, config(request), "department_ringback", enterprise_id=hotline.enterprise_id,
                   hotline=hotline.number, department=key_path(dept), before={"ringback_tone": before},
                   after={"ringback_tone": dept.ringback_tone_id})
    session.commit()
    return see_other(f"/hotlines/{hotline.id}/seats?saved=1")


@router.post("/seats/{seat_id}/move", response_class=HTMLResponse)
def move_seat(request: Request, seat_id: int, direction: str = Form(""), position: str = Form(""),
              who: Principal = Depends(principal), repo: Repository = Depends(repository),
              session: Session = Depends(db)) -> Response:
    seat = repo.seat(seat_id)
    hotline_id = seat.hotline_id
    try:
        if position.strip():
            target = whole_number(position, "position")
        elif direction in ("up", "down"):
            target = seat.position - 1 if direction == "up" else seat.position + 1
        else:
            raise ProvisioningError("direction", "up or down (or give a position)")
        before = _order(seat)
        seat_service.move_seat(session, seat, position=target)
        session.expire_all()
        seat = repo.seat(seat_id)
        changes.record(session, who, config(request), "seat_move", enterprise_id=seat.hotline.enterprise_id,
                       destination_id=seat.destination_id, hotline=seat.hotline.number,
                       department=key_path(seat.department) if seat.department else None,
                       before={"order": before}, after={"order": _order(seat)})
        session.commit()
    except (ProvisioningError, NumberError) as exc:
        return _refused(request, who, repo, session, hotline_id, exc, "position", error_seat=seat_id)
    return see_other(f"/hotlines/{hotline_id}/seats?saved=1")


@router.post("/seats/{seat_id}/timeout", response_class=HTMLResponse)
def seat_timeout(request: Request, seat_id: int, ring_timeout: str = Form("", alias="ring-timeout"),
                 who: Principal = Depends(principal), repo: Repository = Depends(repository),
                 session: Session = Depends(db)) -> Response:
    seat = repo.seat(seat_id)
    hotline_id = seat.hotline_id
    try:
        before = seat.ring_timeout_s
        seat_service.move_seat(session, seat, ring_timeout=whole_number(ring_timeout, "ring-timeout"))
        changes.record(session, who, config(request), "seat_timeout", enterprise_id=seat.hotline.enterprise_id,
                       destination_id=seat.destination_id, hotline=seat.hotline.number, seat=seat.id,
                       before={"ring_timeout_s": before}, after={"ring_timeout_s": seat.ring_timeout_s})
        session.commit()
    except (ProvisioningError, NumberError) as exc:
        return _refused(request, who, repo, session, hotline_id, exc, "ring-timeout", error_seat=seat_id)
    return see_other(f"/hotlines/{hotline_id}/seats?saved=1")


@router.post("/seats/{seat_id}/weight", response_class=HTMLResponse)
def seat_weight(request: Request, seat_id: int, weight: str = Form(""), who: Principal = Depends(principal),
                repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    """按比例分配: the seat's weight (0-1000) in a weighted hunt group."""
    seat = repo.seat(seat_id)
    hotline_id = seat.hotline_id
    try:
        before = seat.weight
        seat_service.set_weight(session, seat, whole_number(weight, "weight"))
        changes.record(session, who, config(request), "seat_weight", enterprise_id=seat.hotline.enterprise_id,
                       destination_id=seat.destination_id, hotline=seat.hotline.number, seat=seat.id,
                       before={"weight": before}, after={"weight": seat.weight})
        session.commit()
    except (ProvisioningError, NumberError) as exc:
        return _refused(request, who, repo, session, hotline_id, exc, "weight", error_seat=seat_id)
    return see_other(f"/hotlines/{hotline_id}/seats?saved=1")


@router.post("/seats/{seat_id}/delete", response_class=HTMLResponse)
def delete_seat(request: Request, seat_id: int, who: Principal = Depends(principal),
                repo: Repository = Depends(repository), session: Session = Depends(db)) -> Response:
    seat = repo.seat(seat_id)
    hotline_id, enterprise_id = seat.hotline_id, seat.hotline.enterprise_id
    detail = {"seat": seat.id, "destination": seat.destination.number, "position": seat.position,
              "department": key_path(seat.department) if seat.department else None}
    destination_id, number = seat.destination_id, seat.hotline.number
    seat_service.remove_seat(session, seat)
    changes.record(session, who, config(request), "seat_remove", enterprise_id=enterprise_id,
                   destination_id=destination_id, hotline=number, before=detail)
    session.commit()
    return see_other(f"/hotlines/{hotline_id}/seats?saved=1")
