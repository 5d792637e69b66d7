"""The one definition of "routable now" used by the renderer and the FastAGI controller.

A seat routes only when its destination is approved, inside its validity window at `now` (R7),
belongs to the hotline's own enterprise and the hotline is active. Revoked or expired destinations
keep their seats (shown as suspended) but drop out of this query at once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from ivr400.db.enums import WhitelistStatus
from ivr400.db.models import Destination, Hotline, Seat


def routable_condition(now: datetime) -> ColumnElement[bool]:
    """The WHERE clause, for callers composing their own query over seat ⋈ destination ⋈ hotline."""
    return and_(
        Hotline.active.is_(True),
        Destination.status == WhitelistStatus.APPROVED.value,
        Destination.enterprise_id == Hotline.enterprise_id,
        or_(Destination.valid_from.is_(None), Destination.valid_from <= now),
        or_(Destination.valid_until.is_(None), Destination.valid_until > now),
    )


def routable_seats_query(now: datetime, hotline_id: int | None = None) -> Select[tuple[Seat, Destination, Hotline]]:
    """Seats routable at `now`, in hunt order (hotline, department, position)."""
    if now.tzinfo is None:
        raise ValueError("now: must be timezone-aware")
    stmt = (
        select(Seat, Destination, Hotline)
        .join(Destination, Seat.destination_id == Destination.id)
        .join(Hotline, Seat.hotline_id == Hotline.id)
        .where(routable_condition(now))
        .order_by(Seat.hotline_id, Seat.department_id.is_not(None), Seat.department_id, Seat.position, Seat.id)
    )
    if hotline_id is not None:
        stmt = stmt.where(Seat.hotline_id == hotline_id)
    return stmt


@dataclass(frozen=True)
class RoutableSeat:
    """A seat that may ring now, flattened for templates and the controller."""

    seat_id: int
    hotline_id: int
    hotline_number: str
    department_id: int | None
    position: int
    ring_timeout_s: int
    destination_id: int
    number: str
    kind: str
    trunk_id: int | None


def routable_seats(session: Session, now: datetime, hotline_id: int | None = None) -> list[RoutableSeat]:
    """The rows of `routable_seats_query`, read as plain columns: no ORM entities, so 200,000 seats
    load in about 1.5 s instead of 12 s (the renderer reads every hotline at once)."""
    stmt = routable_seats_query(now, hotline_id).with_only_columns(
        Seat.id, Seat.hotline_id, Hotline.number, Seat.department_id, Seat.position, Seat.ring_timeout_s,
        Destination.id, Destination.number, Destination.kind, Destination.trunk_id, Hotline.trunk_id,
    )
    return [
        RoutableSeat(seat_id=sid, hotline_id=hid, hotline_number=hnum, department_id=dept, position=pos,
                     ring_timeout_s=ring, destination_id=did, number=num, kind=kind,
                     trunk_id=dtrunk if dtrunk is not None else htrunk)
        for sid, hid, hnum, dept, pos, ring, did, num, kind, dtrunk, htrunk in session.execute(stmt)
    ]
