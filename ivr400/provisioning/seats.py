"""Seats (坐席) and departments (部门): who rings, in which order, behind which menu key.

The database triggers are the last word on what may be bound; this module checks first so the
operator gets a precise message, and translates a trigger refusal when a race gets past it.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ivr400.db.models import Department, Destination, Hotline, Seat
from ivr400.provisioning.errors import ProvisioningError, from_integrity_error
from ivr400.provisioning.hotlines import apply_hunt, check_hunt
from ivr400.provisioning.status import effective_status

MIN_RING_S, MAX_RING_S = 5, 120
MENU_KEYS = "0123456789"


def _check_ring(ring_timeout: int) -> None:
    if not MIN_RING_S <= ring_timeout <= MAX_RING_S:
        raise ProvisioningError("ring-timeout",
                                f"must be between {MIN_RING_S} and {MAX_RING_S} seconds (got {ring_timeout})")


def _siblings(session: Session, hotline: Hotline, department: Department | None) -> list[Seat]:
    stmt = select(Seat).where(Seat.hotline_id == hotline.id)
    stmt = stmt.where(Seat.department_id.is_(None) if department is None else Seat.department_id == department.id)
    return list(session.scalars(stmt.order_by(Seat.position, Seat.id)))


def add_seat(session: Session, hotline: Hotline, dest: Destination, *, department: Department | None = None,
             position: int | None = None, ring_timeout: int = 15, now: datetime) -> Seat:
    """Bind `dest` to the hotline (or one of its departments) at `position` (default: last)."""
    _check_ring(ring_timeout)
    if dest.enterprise_id != hotline.enterprise_id:
        raise ProvisioningError("destination",
                                f"{dest.number} belongs to another enterprise than hotline {hotline.number}")
    status = effective_status(dest, now)
    if status != "approved":
        raise ProvisioningError("destination", f"{dest.number} is {status}, not on the whitelist; "
                                f"see `ivr400 whitelist check {dest.id}`")
    siblings = _siblings(session, hotline, department)
    if any(s.destination_id == dest.id for s in siblings):
        raise ProvisioningError("destination", f"{dest.number} is already a seat there")
    if position is None:
        position = len(siblings) + 1
    if not 1 <= position <= len(siblings) + 1:
        raise ProvisioningError("position", f"must be between 1 and {len(siblings) + 1}")
    bound_query = select(func.count(func.distinct(Seat.destination_id))).where(Seat.hotline_id == hotline.id)
    bound = session.scalar(bound_query) or 0
    already = session.scalar(select(Seat.id).where(Seat.hotline_id == hotline.id, Seat.destination_id == dest.id))
    if already is None and bound >= hotline.max_bound:
        raise ProvisioningError("hotline",
                                f"{hotline.number} already has {bound} bound numbers (limit {hotline.max_bound})")
    _renumber(siblings, insert_at=position)
    seat = Seat(hotline_id=hotline.id, department_id=department.id if department else None, destination_id=dest.id,
                position=position, ring_timeout_s=ring_timeout, created_at=now)
    session.add(seat)
    try:
        session.flush()
    except IntegrityError as exc:
        raise from_integrity_error(exc, "seat") from exc
    return seat


def _renumber(seats: list[Seat], insert_at: int | None = None) -> None:
    """Positions 1..n with a gap at `insert_at`, keeping the existing order."""
    pos = 1
    for seat in seats:
        if insert_at is not None and pos == insert_at:
            pos += 1
        seat.position = pos
        pos += 1


def move_seat(session: Session, seat: Seat, *, position: int | None = None, ring_timeout: int | None = None) -> Seat:
    if ring_timeout is not None:
        _check_ring(ring_timeout)
        seat.ring_timeout_s = ring_timeout
    if position is not None:
        others = [s for s in _siblings(session, seat.hotline, seat.department) if s.id != seat.id]
        if not 1 <= position <= len(others) + 1:
            raise ProvisioningError("position", f"must be between 1 and {len(others) + 1}")
        _renumber(others, insert_at=position)
        seat.position = position
    session.flush()
    return seat


#: Largest seat weight (按比例分配), as the routing model and the tree clamp it.
MAX_WEIGHT = 1000


def set_weight(session: Session, seat: Seat, weight: int, field: str = "weight") -> Seat:
    """按比例分配: the seat's relative share of first rings in a weighted hunt group (0 = never first), 0-1000.
    ProvisioningError naming ``field`` otherwise. The weight is kept whatever the group's strategy."""
    if isinstance(weight, bool) or not isinstance(weight, int) or not 0 <= weight <= MAX_WEIGHT:
        raise ProvisioningError(field, f"must be a whole number between 0 and {MAX_WEIGHT} (got {weight!r})")
    seat.weight = weight
    session.flush()
    return seat


def remove_seat(session: Session, seat: Seat) -> None:
    siblings = [s for s in _siblings(session, seat.hotline, seat.department) if s.id != seat.id]
    session.delete(seat)
    _renumber(siblings)
    session.flush()


def add_department(session: Session, hotline: Hotline, key: str, name: str, *, parent: Department | None = None,
                   hunt: str = "sequential", max_attempts: int = 0) -> Department:
    """A menu key (部门按键) with its own seats; `parent` makes it a sub-menu entry."""
    if len(key) != 1 or key not in MENU_KEYS:
        raise ProvisioningError("key", f"{key!r} is not a single menu key 0-9")
    if not name.strip():
        raise ProvisioningError("name", "empty department name")
    check_hunt(hunt)
    if max_attempts < 0:
        raise ProvisioningError("max-attempts", "must be 0 (no cap) or more")
    taken = select(Department.id).where(Department.hotline_id == hotline.id, Department.key == key)
    taken = taken.where(Department.parent_id.is_(None) if parent is None else Department.parent_id == parent.id)
    if session.scalar(taken) is not None:
        raise ProvisioningError("key", f"key {key} is already used at that menu level of {hotline.number}")
    if parent is None and hotline.fax_mode == "key" and hotline.fax_key == key:
        raise ProvisioningError("key", f"key {key} is {hotline.number}'s fax key (传真); choose another key")
    dept = Department(hotline_id=hotline.id, parent_id=parent.id if parent else None, key=key, name=name.strip(),
                      max_attempts=max_attempts)
    apply_hunt(dept, hunt)
    session.add(dept)
    session.flush()
    return dept
