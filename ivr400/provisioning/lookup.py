"""Find what an operator names on the command line: by id, number or name."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.compliance.names import name_key
from ivr400.db.models import Department, Destination, Enterprise, Hotline, Seat
from ivr400.numbers import NumberError, parse_destination, parse_hotline_number
from ivr400.provisioning.errors import ProvisioningError


def enterprise(session: Session, ref: str, field: str = "enterprise") -> Enterprise:
    """By id or registered name (compared as R2 compares names)."""
    found = session.get(Enterprise, int(ref)) if ref.isdecimal() else None
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
    plain = ref.lstrip("#")
    if plain.isdecimal() and (ref.startswith("#") or len(plain) < 7):
        found = session.get(Destination, int(plain))
        if found is None:
            raise ProvisioningError(field, f"no destination #{plain}")
        return found
    try:
        number = parse_destination(ref).number
    except NumberError as exc:
        raise ProvisioningError(field, str(exc)) from exc
    stmt = select(Destination).where(Destination.number == number)
    if enterprise_ref is not None:
        stmt = stmt.where(Destination.enterprise_id == enterprise(session, enterprise_ref).id)
    matches = list(session.scalars(stmt))
    if not matches:
        raise ProvisioningError(field, f"no destination {number}")
    if len(matches) > 1:
        raise ProvisioningError(field, f"{number} is registered by {len(matches)} enterprises; give --enterprise")
    return matches[0]


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
    found = session.get(Seat, seat_id)
    if found is None:
        raise ProvisioningError(field, f"no seat #{seat_id}")
    return found


def key_path(dept: Department) -> str:
    keys = []
    node: Department | None = dept
    while node is not None:
        keys.append(node.key)
        node = node.parent
    return ".".join(reversed(keys))
