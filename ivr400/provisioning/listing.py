"""Rows for the list commands, read with SQLAlchemy Core so a list starts without loading the ORM.

`ivr400 enterprise|hotline|destination|seat|department list` run once per shell line in provisioning
scripts; importing SQLAlchemy's ORM, declaring the models and configuring their mappers costs more than
the rest of such a command (see bench/bench_cli.py). These functions read the same columns with Core
`select()` on lightweight table clauses (names and result types only; `tests/unit/test_listing.py` checks
each against the models' tables) and hand the views of `ivr400.provisioning.views` plain rows shaped like
the ORM objects, so a row is displayed by one function whichever way it was read.

They only read rows; nothing here walks the hotline tree (that is `ivr400.tree`'s) or writes.
Errors: `ProvisioningError("hotline" | "enterprise", reason)` for a reference that names nothing.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import Boolean, Connection, Integer, String, column, select, table

from ivr400.compliance.names import name_key
from ivr400.db.types import UTCDateTime
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.status import satisfaction_by_number
from ivr400.provisioning.views import (
    department_view,
    destination_view,
    enterprise_view,
    hotline_view,
    seat_view,
)

#: Larger ids cannot exist (64-bit keys) and SQLite refuses to even compare them (as in `lookup`).
MAX_ID = 2**63 - 1

ENTERPRISE = table("enterprise", column("id", Integer), column("name", String), column("name_key", String),
                   column("area_code", String), column("province", String), column("city", String),
                   column("timezone", String))
TONE = table("tone", column("id", Integer), column("name", String))
HOTLINE = table("hotline", column("id", Integer), column("number", String), column("carrier", String),
                column("enterprise_id", Integer), column("name", String), column("max_bound", Integer),
                column("active", Boolean), column("hunt_strategy", String), column("welcome_tone_id", Integer),
                column("ringback_tone_id", Integer), column("hunt_weighted", Boolean),
                column("survey_enabled", Boolean), column("caller_cap_per_month", Integer))
DESTINATION = table("destination", column("id", Integer), column("enterprise_id", Integer),
                    column("number", String), column("kind", String), column("province", String),
                    column("city", String), column("owner_name", String), column("owner_kind", String),
                    column("status", String), column("status_reason", String),
                    column("valid_from", UTCDateTime), column("valid_until", UTCDateTime),
                    column("long_term", Boolean), column("approved_at", UTCDateTime),
                    column("approved_by", String))
DEPARTMENT = table("department", column("id", Integer), column("hotline_id", Integer),
                   column("parent_id", Integer), column("key", String), column("name", String),
                   column("hunt_strategy", String), column("max_attempts", Integer),
                   column("ringback_tone_id", Integer), column("hunt_weighted", Boolean))
SEAT = table("seat", column("id", Integer), column("hotline_id", Integer), column("department_id", Integer),
             column("destination_id", Integer), column("position", Integer), column("ring_timeout_s", Integer),
             column("weight", Integer))
SURVEY_RESPONSE = table("survey_response", column("hotline", String), column("seat", String),
                        column("score", Integer))

#: The lightweight clauses, by table name (for the test comparing them with the models).
TABLES = {t.name: t for t in (ENTERPRISE, TONE, HOTLINE, DESTINATION, DEPARTMENT, SEAT, SURVEY_RESPONSE)}


def _rows(conn: Connection, stmt: Any) -> list[SimpleNamespace]:  # noqa: ANN401 - any Core select
    return [SimpleNamespace(**row._asdict()) for row in conn.execute(stmt)]


def hotline_id(conn: Connection, ref: str, field: str = "hotline") -> int:
    """The id of the hotline `ref` names (a 400 number in any usual form), as `lookup.hotline` finds it."""
    from ivr400.numbers import NumberError, parse_hotline_number  # only the commands naming a hotline pay for it

    try:
        number = parse_hotline_number(ref).number
    except NumberError as exc:
        raise ProvisioningError(field, str(exc)) from exc
    found = conn.scalar(select(HOTLINE.c.id).where(HOTLINE.c.number == number))
    if found is None:
        raise ProvisioningError(field, f"no hotline {number}")
    return int(found)


def enterprise_id(conn: Connection, ref: str, field: str = "enterprise") -> int:
    """The id of the enterprise `ref` names (id or registered name), as `lookup.enterprise` finds it."""
    found = None
    if ref.isdecimal() and int(ref) <= MAX_ID:
        found = conn.scalar(select(ENTERPRISE.c.id).where(ENTERPRISE.c.id == int(ref)))
    if found is None:
        found = conn.scalar(select(ENTERPRISE.c.id).where(ENTERPRISE.c.name_key == name_key(ref)))
    if found is None:
        raise ProvisioningError(field, f"no enterprise {ref!r}")
    return int(found)


def _tones(conn: Connection) -> dict[int, SimpleNamespace]:
    return {t.id: t for t in _rows(conn, select(TONE.c.id, TONE.c.name))}


def _destinations(conn: Connection, enterprise: int | None = None) -> list[SimpleNamespace]:
    """Destinations by id, each with `.enterprise` and `.seats` (the seats binding it: ids)."""
    enterprises = {e.id: e for e in _rows(conn, select(ENTERPRISE))}
    stmt = select(DESTINATION).order_by(DESTINATION.c.id)
    if enterprise is not None:
        stmt = stmt.where(DESTINATION.c.enterprise_id == enterprise)
    rows = _rows(conn, stmt)
    seats: dict[int, list[int]] = defaultdict(list)
    for seat_id, destination_id in conn.execute(select(SEAT.c.id, SEAT.c.destination_id)):
        seats[destination_id].append(seat_id)
    for d in rows:
        d.enterprise = enterprises[d.enterprise_id]
        d.seats = seats[d.id]
    return rows


def _departments(conn: Connection, hotline: int | None = None) -> dict[int, SimpleNamespace]:
    """Departments by id, each with `.parent` (for its key path) and `.ringback_tone`."""
    stmt = select(DEPARTMENT)
    if hotline is not None:
        stmt = stmt.where(DEPARTMENT.c.hotline_id == hotline)
    found = {d.id: d for d in _rows(conn, stmt)}
    tones = _tones(conn)
    for d in found.values():
        d.parent = found.get(d.parent_id) if d.parent_id is not None else None
        d.ringback_tone = tones.get(d.ringback_tone_id) if d.ringback_tone_id is not None else None
    return found


def enterprises(conn: Connection) -> list[dict[str, Any]]:
    """`enterprise_view` of every enterprise, by id."""
    rows = _rows(conn, select(ENTERPRISE).order_by(ENTERPRISE.c.id))
    hotlines: dict[int, list[int]] = defaultdict(list)
    destinations: dict[int, list[int]] = defaultdict(list)
    for row_id, owner in conn.execute(select(HOTLINE.c.id, HOTLINE.c.enterprise_id)):
        hotlines[owner].append(row_id)
    for row_id, owner in conn.execute(select(DESTINATION.c.id, DESTINATION.c.enterprise_id)):
        destinations[owner].append(row_id)
    for e in rows:
        e.hotlines, e.destinations = hotlines[e.id], destinations[e.id]
    return [enterprise_view(e) for e in rows]  # type: ignore[arg-type]


def hotlines(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    """`hotline_view` of every hotline at `now` (aware), by number."""
    enterprises = {e.id: e for e in _rows(conn, select(ENTERPRISE.c.id, ENTERPRISE.c.name))}
    tones = _tones(conn)
    destinations = {d.id: d for d in _rows(conn, select(DESTINATION.c.id, DESTINATION.c.status,
                                                         DESTINATION.c.valid_from, DESTINATION.c.valid_until))}
    seats: dict[int, list[SimpleNamespace]] = defaultdict(list)
    for s in _rows(conn, select(SEAT.c.hotline_id, SEAT.c.destination_id)):
        s.destination = destinations[s.destination_id]
        seats[s.hotline_id].append(s)
    rows = _rows(conn, select(HOTLINE).order_by(HOTLINE.c.number))
    for h in rows:
        h.enterprise, h.seats = enterprises[h.enterprise_id], seats[h.id]
        h.welcome_tone = tones.get(h.welcome_tone_id) if h.welcome_tone_id is not None else None
        h.ringback_tone = tones.get(h.ringback_tone_id) if h.ringback_tone_id is not None else None
    return [hotline_view(h, now) for h in rows]  # type: ignore[arg-type]


def destinations(conn: Connection, now: datetime, *, enterprise: int | None = None) -> list[dict[str, Any]]:
    """`destination_view` of every destination (of one enterprise's when given) at `now`, by id."""
    return [destination_view(d, now) for d in _destinations(conn, enterprise)]  # type: ignore[arg-type]


def seats(conn: Connection, now: datetime, *, hotline: int | None = None) -> list[dict[str, Any]]:
    """`seat_view` of every seat (of one hotline's when given) at `now`, in hunt order: by hotline, the
    switchboard's first, then by department id and position."""
    numbers = {h.id: h for h in _rows(conn, select(HOTLINE.c.id, HOTLINE.c.number))}
    departments = _departments(conn, hotline)
    destinations = {d.id: d for d in _rows(conn, select(DESTINATION.c.id, DESTINATION.c.number,
                                                         DESTINATION.c.status, DESTINATION.c.valid_from,
                                                         DESTINATION.c.valid_until))}
    stmt = select(SEAT).order_by(SEAT.c.hotline_id, SEAT.c.department_id.is_not(None), SEAT.c.department_id,
                                 SEAT.c.position)
    if hotline is not None:
        stmt = stmt.where(SEAT.c.hotline_id == hotline)
    rows = _rows(conn, stmt)
    for s in rows:
        s.hotline, s.destination = numbers[s.hotline_id], destinations[s.destination_id]
        s.department = departments[s.department_id] if s.department_id is not None else None
    wanted = {s.hotline.number for s in rows}
    scores: dict[str, list[tuple[str | None, int]]] = defaultdict(list)
    if wanted:
        for hotline_number, seat, score in conn.execute(
                select(SURVEY_RESPONSE.c.hotline, SURVEY_RESPONSE.c.seat, SURVEY_RESPONSE.c.score)
                .where(SURVEY_RESPONSE.c.hotline.in_(wanted))):
            scores[hotline_number].append((seat, score))
    satisfaction = {n: satisfaction_by_number(v) for n, v in scores.items()}
    out = []
    for s in rows:
        view = seat_view(s, now)  # type: ignore[arg-type]
        view["satisfaction"] = satisfaction.get(s.hotline.number, {}).get(s.destination.number)
        out.append(view)
    return out


def departments(conn: Connection, hotline: int) -> list[dict[str, Any]]:
    """`department_view` of one hotline's departments, in database order (the command sorts by key)."""
    number = conn.scalar(select(HOTLINE.c.number).where(HOTLINE.c.id == hotline))
    found = _departments(conn, hotline)
    seats: dict[int, list[int]] = defaultdict(list)
    for seat_id, department_id in conn.execute(select(SEAT.c.id, SEAT.c.department_id)
                                               .where(SEAT.c.hotline_id == hotline)):
        if department_id is not None:
            seats[department_id].append(seat_id)
    rows = list(found.values())
    for d in rows:
        d.hotline, d.seats = SimpleNamespace(number=number), seats[d.id]
    return [department_view(d) for d in rows]  # type: ignore[arg-type]
