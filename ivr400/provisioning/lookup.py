"""Find what an operator names on the command line: by id, number or name."""
from __future__ import annotations

from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.compliance.names import name_key
from ivr400.db.models import Department, Destination, Enterprise, Hotline, Seat
from ivr400.numbers import NumberError, parse_hotline_number
from ivr400.provisioning.errors import (
    ENTERPRISE_REFERENCE,
    ProvisioningError,
    check_reference,
    destination_id_reference,
    match_destination_number,
)
from ivr400.validators import is_row_id

T = TypeVar("T")


def _by_id(session: Session, model: type[T], text: str) -> T | None:
    """The row whose id `text` (decimal digits) is; None when there is none or it cannot be an id
    (`is_row_id`: PostgreSQL refuses to compare a larger number with its 32-bit keys)."""
    number = int(text)
    return session.get(model, number) if is_row_id(number) else None


def enterprise(session: Session, ref: str, field: str = "enterprise") -> Enterprise:
    """By id or registered name (compared as R2 compares names)."""
    check_reference(ref, field, ENTERPRISE_REFERENCE)
    found = _by_id(session, Enterprise, ref) if ref.isdecimal() else None
    if found is None:
        found = session.scalar(select(Enterprise).where(Enterprise.name_key == name_key(ref)))
    if found is None:
        raise ProvisioningError(field, f"no enterprise {ref!r}")
    return found


def hotline(session: Session, ref: str, field: str = "hotline") -> Hotline:
    """By 400 number in any usual form."""
    try:
        number = parse_hotline_number(ref).number
    except NumberError as exc:
        raise ProvisioningError(field, str(exc)) from exc
    found = session.scalar(select(Hotline).where(Hotline.number == number))
    if found is None:
        raise ProvisioningError(field, f"no hotline {number}")
    return found


def destination(session: Session, ref: str, enterprise_ref: str | None = None,
                field: str = "destination") -> Destination:
    """By id (`#12` or `12` when short) or by number; a number held by several enterprises needs --enterprise."""
    plain = destination_id_reference(ref)
    if plain is not None:
        found = _by_id(session, Destination, plain)
        if found is None:
            raise ProvisioningError(field, f"no destination #{plain}")
        return found
    ent = enterprise(session, enterprise_ref) if enterprise_ref is not None else None
    return match_destination_number(ref, lambda number: _by_number(session, number, ent), field)


def _by_number(session: Session, number: str, ent: Enterprise | None) -> list[Destination]:
    stmt = select(Destination).where(Destination.number == number)
    if ent is not None:
        stmt = stmt.where(Destination.enterprise_id == ent.id)
    return list(session.scalars(stmt))


def department(session: Session, hotline_row: Hotline, path: str, field: str = "department") -> Department:
    """By key path from the top menu: `2` or `2.1` (key 1 of department 2's sub-menu)."""
    parent_id: int | None = None
    found: Department | None = None
    for key in path.split("."):
        found = session.scalar(
            select(Department).where(
                Department.hotline_id == hotline_row.id,
                Department.key == key,
                Department.parent_id.is_(None) if parent_id is None else Department.parent_id == parent_id,
            )
        )
        if found is None:
            raise ProvisioningError(field, f"hotline {hotline_row.number} has no department at key path {path!r}")
        parent_id = found.id
    assert found is not None
    return found


def seat(session: Session, seat_id: int, field: str = "seat") -> Seat:
    found = _by_id(session, Seat, str(seat_id)) if seat_id >= 0 else None
    if found is None:
        raise ProvisioningError(field, f"no seat #{seat_id}")
    return found
