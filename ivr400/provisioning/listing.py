"""Rows for the list commands, read through the database driver alone (`ivr400.db.lite`).

`ivr400 enterprise|hotline|destination|seat|department list` run once per shell line in provisioning
scripts; importing SQLAlchemy costs more than the rest of such a command (see bench/bench_cli.py). These
functions read the same columns with plain SELECTs on lightweight tables (names and result kinds only;
`tests/unit/test_listing.py` checks each against the models' tables) and hand the views of
`ivr400.provisioning.views` plain rows shaped like the ORM objects, so a row is displayed by one function
whichever way it was read.

They only read rows; nothing here walks the hotline tree (that is `ivr400.tree`'s) or writes.
Errors: `ProvisioningError("hotline" | "enterprise", reason)` for a reference that names nothing.
"""
from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from ivr400.compliance.names import name_key
from ivr400.db.lite import BOOL, FLOAT, INT, STR, UTC, LiteTable, Reader, in_list
from ivr400.provisioning.errors import ENTERPRISE_REFERENCE, ProvisioningError, check_reference
from ivr400.provisioning.status import MAX_DAYS, satisfaction_by_number
from ivr400.provisioning.views import (
    department_view,
    destination_view,
    enterprise_view,
    hotline_view,
    seat_view,
    tone_view,
    user_view,
    voicemail_view,
)
from ivr400.validators import is_row_id

ENTERPRISE = LiteTable("enterprise", {"id": INT, "name": STR, "name_key": STR, "area_code": STR, "province": STR,
                                      "city": STR, "timezone": STR})
TONE = LiteTable("tone", {"id": INT, "name": STR, "kind": STR, "original_name": STR, "duration_s": FLOAT,
                          "sha256": STR, "enterprise_id": INT, "status": STR, "status_reason": STR,
                          "reviewed_by": STR, "reviewed_at": UTC})
TRUNK = LiteTable("trunk", {"id": INT, "name": STR, "dial_template": STR})
CARRIER_POLICY = LiteTable("carrier_policy", {"carrier": STR, "allow_mobile": BOOL, "note": STR})
WEB_USER = LiteTable("web_user", {"id": INT, "username": STR, "role": STR, "enterprise_id": INT, "disabled": BOOL,
                                  "locked_until": UTC, "created_at": UTC})
VOICEMAIL = LiteTable("voicemail", {"id": INT, "hotline_id": INT, "uniqueid": STR, "caller": STR, "file_path": STR,
                                    "size": INT, "duration_s": FLOAT, "recorded_at": UTC, "heard": BOOL})
HOTLINE = LiteTable("hotline", {"id": INT, "number": STR, "carrier": STR, "enterprise_id": INT, "name": STR,
                                "max_bound": INT, "active": BOOL, "hunt_strategy": STR, "welcome_tone_id": INT,
                                "ringback_tone_id": INT, "hunt_weighted": BOOL, "survey_enabled": BOOL,
                                "caller_cap_per_month": INT, "fax_mode": STR, "fax_key": STR})
DESTINATION = LiteTable("destination", {"id": INT, "enterprise_id": INT, "number": STR, "kind": STR,
                                        "province": STR, "city": STR, "owner_name": STR, "owner_kind": STR,
                                        "status": STR, "status_reason": STR, "valid_from": UTC,
                                        "valid_until": UTC, "long_term": BOOL, "approved_at": UTC,
                                        "approved_by": STR})
DEPARTMENT = LiteTable("department", {"id": INT, "hotline_id": INT, "parent_id": INT, "key": STR, "name": STR,
                                      "hunt_strategy": STR, "max_attempts": INT, "ringback_tone_id": INT,
                                      "hunt_weighted": BOOL})
SEAT = LiteTable("seat", {"id": INT, "hotline_id": INT, "department_id": INT, "destination_id": INT,
                          "position": INT, "ring_timeout_s": INT, "weight": INT})
SURVEY_RESPONSE = LiteTable("survey_response", {"hotline": STR, "seat": STR, "score": INT})

#: The lightweight tables, by table name (for the test comparing them with the models).
TABLES = {t.name: t for t in (ENTERPRISE, TONE, TRUNK, CARRIER_POLICY, WEB_USER, VOICEMAIL, HOTLINE, DESTINATION,
                              DEPARTMENT, SEAT, SURVEY_RESPONSE)}

#: A seat's hunt order: by hotline, the switchboard's (no department) first, then department and position.
SEAT_ORDER = "hotline_id, department_id IS NOT NULL, department_id, position"


def hotline_id(db: Reader, ref: str, field: str = "hotline") -> int:
    """The id of the hotline `ref` names (a 400 number in any usual form), as `lookup.hotline` finds it."""
    from ivr400.numbers import NumberError, parse_hotline_number  # only the commands naming a hotline pay for it

    try:
        number = parse_hotline_number(ref).number
    except NumberError as exc:
        raise ProvisioningError(field, str(exc)) from exc
    found = db.scalar(HOTLINE.select("id", where="number = :number"), {"number": number})
    if found is None:
        raise ProvisioningError(field, f"no hotline {number}")
    return int(found)


def enterprise_id(db: Reader, ref: str, field: str = "enterprise") -> int:
    """The id of the enterprise `ref` names (id or registered name), as `lookup.enterprise` finds it."""
    check_reference(ref, field, ENTERPRISE_REFERENCE)
    found = None
    if ref.isdecimal() and is_row_id(int(ref)):
        found = db.scalar(ENTERPRISE.select("id", where="id = :id"), {"id": int(ref)})
    if found is None:
        found = db.scalar(ENTERPRISE.select("id", where="name_key = :key"), {"key": name_key(ref)})
    if found is None:
        raise ProvisioningError(field, f"no enterprise {ref!r}")
    return int(found)


def _tones(db: Reader) -> dict[int, SimpleNamespace]:
    return {t.id: t for t in db.rows(TONE.select("id", "name"))}


def _destinations(db: Reader, enterprise: int | None = None) -> list[SimpleNamespace]:
    """Destinations by id, each with `.enterprise` and `.seats` (the seats binding it: ids)."""
    enterprises = {e.id: e for e in db.rows(ENTERPRISE.select())}
    if enterprise is None:
        rows = db.rows(DESTINATION.select(order_by="id"))
    else:
        rows = db.rows(DESTINATION.select(where="enterprise_id = :e", order_by="id"), {"e": enterprise})
    seats: dict[int, list[int]] = defaultdict(list)
    for s in db.rows(SEAT.select("id", "destination_id", order_by="id")):
        seats[s.destination_id].append(s.id)
    for d in rows:
        d.enterprise = enterprises[d.enterprise_id]
        d.seats = seats[d.id]
    return rows


def _departments(db: Reader, hotline: int | None = None) -> dict[int, SimpleNamespace]:
    """Departments by id, each with `.parent` (for its key path) and `.ringback_tone`."""
    if hotline is None:
        rows = db.rows(DEPARTMENT.select(order_by="id"))
    else:
        rows = db.rows(DEPARTMENT.select(where="hotline_id = :h", order_by="id"), {"h": hotline})
    found = {d.id: d for d in rows}
    tones = _tones(db)
    for d in found.values():
        d.parent = found.get(d.parent_id) if d.parent_id is not None else None
        d.ringback_tone = tones.get(d.ringback_tone_id) if d.ringback_tone_id is not None else None
    return found


def enterprises(db: Reader) -> list[dict[str, Any]]:
    """`enterprise_view` of every enterprise, by id."""
    rows = db.rows(ENTERPRISE.select(order_by="id"))
    hotlines: dict[int, list[int]] = defaultdict(list)
    destinations: dict[int, list[int]] = defaultdict(list)
    for h in db.rows(HOTLINE.select("id", "enterprise_id", order_by="id")):
        hotlines[h.enterprise_id].append(h.id)
    for d in db.rows(DESTINATION.select("id", "enterprise_id", order_by="id")):
        destinations[d.enterprise_id].append(d.id)
    for e in rows:
        e.hotlines, e.destinations = hotlines[e.id], destinations[e.id]
    return [enterprise_view(e) for e in rows]  # type: ignore[arg-type]


def hotlines(db: Reader, now: datetime) -> list[dict[str, Any]]:
    """`hotline_view` of every hotline at `now` (aware), by number."""
    enterprises = {e.id: e for e in db.rows(ENTERPRISE.select("id", "name"))}
    tones = _tones(db)
    destinations = {d.id: d for d in db.rows(DESTINATION.select("id", "status", "valid_from", "valid_until"))}
    seats: dict[int, list[SimpleNamespace]] = defaultdict(list)
    for s in db.rows(SEAT.select("hotline_id", "destination_id", order_by="id")):
        s.destination = destinations[s.destination_id]
        seats[s.hotline_id].append(s)
    rows = db.rows(HOTLINE.select(order_by="number"))
    for h in rows:
        h.enterprise, h.seats = enterprises[h.enterprise_id], seats[h.id]
        h.welcome_tone = tones.get(h.welcome_tone_id) if h.welcome_tone_id is not None else None
        h.ringback_tone = tones.get(h.ringback_tone_id) if h.ringback_tone_id is not None else None
    return [hotline_view(h, now) for h in rows]  # type: ignore[arg-type]


def destinations(db: Reader, now: datetime, *, enterprise: int | None = None) -> list[dict[str, Any]]:
    """`destination_view` of every destination (of one enterprise's when given) at `now`, by id."""
    return [destination_view(d, now) for d in _destinations(db, enterprise)]  # type: ignore[arg-type]


def expiring(db: Reader, now: datetime, *, days: int, enterprise: int | None = None) -> list[dict[str, Any]]:
    """`destination_view` of the approved destinations whose authorization ends within `days` of `now`
    (already expired ones included), by end then id: what `provisioning.destinations.expiring` selects.

    Raises ProvisioningError("days") for a negative count.
    """
    if days < 0:
        raise ProvisioningError("days", "must be 0 or more")
    if days > MAX_DAYS:
        raise ProvisioningError("days", f"at most {MAX_DAYS} (100 years)")
    until = now + timedelta(days=days)
    found = [d for d in _destinations(db, enterprise)
             if d.status == "approved" and d.valid_until is not None and d.valid_until <= until]
    found.sort(key=lambda d: (d.valid_until, d.id))
    return [destination_view(d, now) for d in found]  # type: ignore[arg-type]


def tones(db: Reader) -> list[dict[str, Any]]:
    """`tone_view` of every ringback/welcome tone (彩铃) with its review status, by id."""
    return [tone_view(t) for t in db.rows(TONE.select(order_by="id"))]  # type: ignore[arg-type]


def trunks(db: Reader) -> list[dict[str, Any]]:
    """Every trunk as {id, name, template}, by name."""
    return [{"id": t.id, "name": t.name, "template": t.dial_template} for t in db.rows(TRUNK.select(order_by="name"))]


def seats(db: Reader, now: datetime, *, hotline: int | None = None) -> list[dict[str, Any]]:
    """`seat_view` of every seat (of one hotline's when given) at `now`, in hunt order (`SEAT_ORDER`),
    each with the seat's survey average (`satisfaction`, None without a score)."""
    numbers = {h.id: h for h in db.rows(HOTLINE.select("id", "number"))}
    departments = _departments(db, hotline)
    destinations = {d.id: d for d in db.rows(DESTINATION.select("id", "number", "status", "valid_from",
                                                                "valid_until"))}
    if hotline is None:
        rows = db.rows(SEAT.select(order_by=SEAT_ORDER))
    else:
        rows = db.rows(SEAT.select(where="hotline_id = :h", order_by=SEAT_ORDER), {"h": hotline})
    for s in rows:
        s.hotline, s.destination = numbers[s.hotline_id], destinations[s.destination_id]
        s.department = departments[s.department_id] if s.department_id is not None else None
    wanted = sorted({s.hotline.number for s in rows})
    scores: dict[str, list[tuple[str | None, int]]] = defaultdict(list)
    if wanted:
        among, params = in_list("n", wanted)
        for r in db.rows(SURVEY_RESPONSE.select(where=f"hotline IN {among}"), params):
            scores[r.hotline].append((r.seat, r.score))
    satisfaction = {n: satisfaction_by_number(v) for n, v in scores.items()}
    out = []
    for s in rows:
        view = seat_view(s, now)  # type: ignore[arg-type]
        view["satisfaction"] = satisfaction.get(s.hotline.number, {}).get(s.destination.number)
        out.append(view)
    return out


def departments(db: Reader, hotline: int) -> list[dict[str, Any]]:
    """`department_view` of one hotline's departments, by id (the command sorts by key)."""
    number = db.scalar(HOTLINE.select("number", where="id = :h"), {"h": hotline})
    found = _departments(db, hotline)
    seats: dict[int, list[int]] = defaultdict(list)
    for s in db.rows(SEAT.select("id", "department_id", where="hotline_id = :h", order_by="id"), {"h": hotline}):
        if s.department_id is not None:
            seats[s.department_id].append(s.id)
    rows = list(found.values())
    for d in rows:
        d.hotline, d.seats = SimpleNamespace(number=number), seats[d.id]
    return [department_view(d) for d in rows]  # type: ignore[arg-type]


def carriers(db: Reader) -> list[dict[str, Any]]:
    """Each carrier's policy (运营商: may its hotlines bind mobiles?) as {carrier, allow_mobile, note}, by name."""
    return [vars(p) for p in db.rows(CARRIER_POLICY.select(order_by="carrier"))]


def users(db: Reader, now: datetime, *, enterprise: int | None = None) -> list[dict[str, Any]]:
    """`user_view` of every web account (of one enterprise's when given) at `now`, by id."""
    names = {e.id: e for e in db.rows(ENTERPRISE.select("id", "name"))}
    if enterprise is None:
        rows = db.rows(WEB_USER.select(order_by="id"))
    else:
        rows = db.rows(WEB_USER.select(where="enterprise_id = :e", order_by="id"), {"e": enterprise})
    for u in rows:
        u.enterprise = names.get(u.enterprise_id) if u.enterprise_id is not None else None
    return [user_view(u, now) for u in rows]  # type: ignore[arg-type]


def voicemails(db: Reader, *, hotline: int | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """`voicemail_view` of the messages (留言), newest first (of the hotline whose id is `hotline` when given:
    see `hotline_id`; at most `limit`)."""
    enterprises = {e.id: e for e in db.rows(ENTERPRISE.select("id", "timezone"))}
    numbers = {h.id: h for h in db.rows(HOTLINE.select("id", "number", "enterprise_id"))}
    params: dict[str, Any] = {}
    where = ""
    if hotline is not None:
        where, params["h"] = "hotline_id = :h", hotline
    sql, kinds = VOICEMAIL.select(where=where, order_by="recorded_at DESC, id DESC")
    if limit is not None:
        sql, params["limit"] = f"{sql} LIMIT :limit", limit
    rows = db.rows((sql, kinds), params)
    for v in rows:
        h = numbers.get(v.hotline_id) if v.hotline_id is not None else None
        if h is not None:
            h.enterprise = enterprises[h.enterprise_id]
        v.hotline = h
    return [voicemail_view(v) for v in rows]  # type: ignore[arg-type]
