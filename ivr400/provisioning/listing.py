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
from collections.abc import Iterable
from datetime import date, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from ivr400.compliance.names import name_key
from ivr400.db.lite import BOOL, DATE, FLOAT, INT, JSON, STR, UTC, LiteTable, Reader, in_list
from ivr400.provisioning.errors import (
    ENTERPRISE_REFERENCE,
    ProvisioningError,
    check_calendar_year,
    check_reference,
    destination_id_reference,
    match_destination_number,
)
from ivr400.provisioning.status import MAX_DAYS, key_path, satisfaction_by_number
from ivr400.provisioning.views import (
    block_entry_view,
    block_settings,
    calendar_view,
    department_view,
    destination_view,
    enterprise_view,
    evidence_view,
    fax_view,
    hotline_view,
    node_view,
    rules_view,
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
                                "caller_cap_per_month": INT, "fax_mode": STR, "fax_key": STR, "block_mode": STR,
                                "anonymous_policy": STR, "refuse_with": STR, "refuse_prompt": STR,
                                "after_hours_kind": STR, "after_hours_department_id": INT,
                                "after_hours_prompt": STR})
#: What hotlines() reads of a hotline (hotline_view's columns).
HOTLINE_VIEW = ("id", "number", "carrier", "enterprise_id", "name", "max_bound", "active", "hunt_strategy",
                "welcome_tone_id", "ringback_tone_id", "hunt_weighted", "survey_enabled", "caller_cap_per_month",
                "fax_mode", "fax_key")
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
EVIDENCE = LiteTable("evidence", {"id": INT, "destination_id": INT, "kind": STR, "original_name": STR,
                                  "media_type": STR, "size": INT, "sha256": STR, "attributes": JSON,
                                  "valid_from": DATE, "valid_until": DATE, "long_term": BOOL})
BLOCK_ENTRY = LiteTable("block_entry", {"id": INT, "hotline_id": INT, "number": STR, "prefix": BOOL, "note": STR})
CALENDAR_DAY = LiteTable("calendar_day", {"id": INT, "enterprise_id": INT, "day": DATE, "kind": STR, "name": STR})
FAX = LiteTable("fax", {"id": INT, "hotline_id": INT, "uniqueid": STR, "caller": STR, "status": STR, "pages": INT,
                        "error": STR, "remote_station": STR, "file_path": STR, "received_at": UTC})
CLUSTER_NODE = LiteTable("cluster_node", {"id": INT, "name": STR, "sip_host": STR, "sip_port": INT, "state": STR,
                                          "priority": INT})
REGION_OVERRIDE = LiteTable("region_override", {"id": INT, "prefix": STR, "province": STR, "city": STR})
TIME_RULE = LiteTable("time_rule", {"id": INT, "hotline_id": INT, "priority": INT, "name": STR, "days": JSON,
                                    "weekdays": JSON, "segments": JSON, "action_kind": STR,
                                    "action_department_id": INT, "action_prompt": STR})
REGION_RULE = LiteTable("region_rule", {"id": INT, "hotline_id": INT, "priority": INT, "province": STR, "city": STR,
                                        "department_id": INT})
CALLBACK_ENTRY = LiteTable("callback_entry", {"id": INT, "hotline": STR, "caller": STR, "first_missed_at": UTC,
                                              "last_missed_at": UTC, "missed": INT, "last_uniqueid": STR,
                                              "status": STR, "handled_by": STR, "handled_at": UTC, "note": STR})
CLICKTOCALL_ATTEMPT = LiteTable("clicktocall_attempt", {"id": INT, "hotline": STR, "target": STR, "client_ip": STR,
                                                        "source": STR, "outcome": STR, "reason": STR, "at": UTC})
CALL_RECORD = LiteTable("call_record", {"id": INT, "uniqueid": STR, "linkedid": STR, "hotline": STR, "caller": STR,
                                        "caller_province": STR, "caller_city": STR, "started_at": UTC,
                                        "answered_at": UTC, "ended_at": UTC, "duration_s": INT, "billsec": INT,
                                        "key_path": STR, "department": STR, "seat": STR, "disposition": STR,
                                        "recording_path": STR, "source": STR, "decided_by": STR,
                                        "balance_flagged": BOOL})

#: The lightweight tables, by table name (for the test comparing them with the models).
TABLES = {t.name: t for t in (ENTERPRISE, TONE, TRUNK, CARRIER_POLICY, WEB_USER, VOICEMAIL, HOTLINE, DESTINATION,
                              DEPARTMENT, SEAT, SURVEY_RESPONSE, EVIDENCE, BLOCK_ENTRY, CALENDAR_DAY, FAX,
                              CLUSTER_NODE, REGION_OVERRIDE, TIME_RULE, REGION_RULE, CALLBACK_ENTRY, CALL_RECORD,
                              CLICKTOCALL_ATTEMPT)}

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
    rows = db.rows(HOTLINE.select(*HOTLINE_VIEW, order_by="number"))
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


# -- call blocking, calendar, faxes, cluster nodes, region overrides, routing rules, evidence ------------------
def block_entries(db: Reader, *, hotline: int | None = None) -> list[dict[str, Any]]:
    """`block_entry_view` of the block list entries (of the hotline whose id is `hotline` when given), by hotline
    number, numbers before prefixes, then number: what `provisioning.blocking.list_block_entries` selects."""
    sql = ("SELECT b.id, b.number, b.prefix, b.note, h.number AS hotline_number FROM block_entry b "
           "JOIN hotline h ON h.id = b.hotline_id")
    params: dict[str, Any] = {}
    if hotline is not None:
        sql, params["h"] = f"{sql} WHERE b.hotline_id = :h", hotline
    rows = db.rows((f"{sql} ORDER BY h.number, b.prefix, b.number", {**BLOCK_ENTRY.columns, "hotline_number": STR}),
                   params)
    return [block_entry_view(r, r.hotline_number) for r in rows]  # type: ignore[arg-type]


def block_settings_of(db: Reader, hotline: int) -> dict[str, Any]:
    """`block_settings` of the hotline whose id is `hotline`."""
    found = db.rows(HOTLINE.select("number", "block_mode", "anonymous_policy", "refuse_with", "refuse_prompt",
                                   where="id = :h"), {"h": hotline})
    return block_settings(found[0])  # type: ignore[arg-type]


def calendar_days(db: Reader, *, year: int | None = None, enterprise: int | None = None) -> list[dict[str, Any]]:
    """`calendar_view` of the national days and enterprise overrides (only the enterprise's whose id is
    `enterprise` when given; of `year` when given), by day, national first: what
    `provisioning.calendar.list_calendar` selects. Raises ProvisioningError("year") as it does."""
    sql = ("SELECT c.id, c.enterprise_id, c.day, c.kind, c.name, e.name AS enterprise_name FROM calendar_day c "
           "LEFT JOIN enterprise e ON e.id = c.enterprise_id")
    where: list[str] = []
    params: dict[str, Any] = {}
    if year is not None:
        check_calendar_year(year)
        where.append("c.day >= :first AND c.day <= :last")
        params.update(first=db.day(date(year, 1, 1)), last=db.day(date(year, 12, 31)))
    if enterprise is not None:
        where.append("c.enterprise_id = :e")
        params["e"] = enterprise
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY c.day, c.enterprise_id IS NOT NULL, c.enterprise_id"
    rows = db.rows((sql, {**CALENDAR_DAY.columns, "enterprise_name": STR}), params)
    return [calendar_view(r, r.enterprise_name) for r in rows]  # type: ignore[arg-type]


def faxes(db: Reader, *, hotline: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """`fax_view` of the faxes received, newest first (of the hotline whose id is `hotline` when given: see
    `hotline_id`; at most `limit`): what `provisioning.fax.list_faxes` selects."""
    sql = ("SELECT f.id, f.uniqueid, f.caller, f.status, f.pages, f.error, f.remote_station, f.file_path, "
           "f.received_at, h.number AS hotline FROM fax f LEFT JOIN hotline h ON f.hotline_id = h.id")
    params: dict[str, Any] = {"limit": limit}
    if hotline is not None:
        sql, params["h"] = f"{sql} WHERE f.hotline_id = :h", hotline
    rows = db.rows((f"{sql} ORDER BY f.received_at DESC, f.id DESC LIMIT :limit", {**FAX.columns, "hotline": STR}),
                   params)
    return [fax_view(r) for r in rows]


def cluster_nodes(db: Reader) -> list[dict[str, Any]]:
    """`node_view` of every cluster node, by priority (higher first) then name, as
    `provisioning.cluster.list_nodes` orders them."""
    return [node_view(n) for n in db.rows(CLUSTER_NODE.select(order_by="priority DESC, name"))]  # type: ignore[arg-type]


def region_overrides(db: Reader) -> list[dict[str, Any]]:
    """Every region override as {id, prefix, province, city}, by prefix (`region_rules.list_region_overrides`)."""
    return [vars(r) for r in db.rows(REGION_OVERRIDE.select("id", "prefix", "province", "city", order_by="prefix"))]


def rules(db: Reader, hotline: int) -> dict[str, Any]:
    """`rules_view` of the hotline whose id is `hotline` (see `hotline_id`), with its enterprise's `timezone`
    (the zone its times of day are in): what `provisioning.rules.list_rules` gives."""
    h = db.rows(HOTLINE.select("id", "number", "enterprise_id", "after_hours_kind", "after_hours_department_id",
                               "after_hours_prompt", where="id = :h"), {"h": hotline})[0]
    paths = {d.id: key_path(d) for d in _departments(db, hotline).values()}
    times = db.rows(TIME_RULE.select(where="hotline_id = :h", order_by="priority, id"), {"h": hotline})
    regions = db.rows(REGION_RULE.select(where="hotline_id = :h"), {"h": hotline})
    zone = db.scalar(ENTERPRISE.select("timezone", where="id = :e"), {"e": h.enterprise_id})
    return rules_view(h, times, regions, paths) | {"timezone": zone}  # type: ignore[arg-type]


def destination_id(db: Reader, ref: str, enterprise_ref: str | None = None, field: str = "destination") -> int:
    """The id of the destination `ref` names, found and refused as `lookup.destination` does: `#12` (or `12`
    when shorter than 7 digits) by id; else by number as stored or typed in any usual form, among those of
    `enterprise_ref` (see `enterprise_id`) when given. Raises ProvisioningError(field | "enterprise", reason)."""
    plain = destination_id_reference(ref)
    if plain is not None:
        found = db.scalar(DESTINATION.select("id", where="id = :id"), {"id": int(plain)}) \
            if is_row_id(int(plain)) else None
        if found is None:
            raise ProvisioningError(field, f"no destination #{plain}")
        return int(found)
    owner = enterprise_id(db, enterprise_ref) if enterprise_ref is not None else None

    def by_number(number: str) -> list[int]:
        where, params = "number = :n", dict[str, Any](n=number)
        if owner is not None:
            where += " AND enterprise_id = :e"
            params["e"] = owner
        return [r.id for r in db.rows(DESTINATION.select("id", where=where), params)]

    return match_destination_number(ref, by_number, field)


def evidence(db: Reader, destination: int) -> list[dict[str, Any]]:
    """`evidence_view` of the evidence of the destination whose id is `destination`, by id (its relationship's
    order)."""
    rows = db.rows(EVIDENCE.select(where="destination_id = :d", order_by="id"), {"d": destination})
    return [evidence_view(e) for e in rows]  # type: ignore[arg-type]


# -- call records and callbacks ------------------------------------------------------------------------------
def hotline_zones(db: Reader) -> dict[str, str]:
    """Hotline number → its enterprise's time zone (IANA name)."""
    sql = "SELECT h.number, e.timezone FROM hotline h JOIN enterprise e ON e.id = h.enterprise_id"
    return {r.number: r.timezone for r in db.rows((sql, {"number": STR, "timezone": STR}))}


def callbacks(db: Reader, *, hotline: str | None = None, status: str | None = None,
              limit: int = 200) -> list[SimpleNamespace]:
    """Callback entries (未接来电回拨), most recently missed first (of the 400 number `hotline`, stored form, and
    with `status`, when given; at most `limit`), as rows shaped like `CallbackEntry`."""
    where: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    if hotline is not None:
        where.append("hotline = :n")
        params["n"] = hotline
    if status is not None:
        where.append("status = :s")
        params["s"] = status
    sql, kinds = CALLBACK_ENTRY.select(where=" AND ".join(where), order_by="last_missed_at DESC, id DESC")
    return db.rows((f"{sql} LIMIT :limit", kinds), params)


def call_records(db: Reader, *, hotline: str | None = None, caller: str | None = None,
                 start: datetime | None = None, end: datetime | None = None, dispositions: Iterable[str] = (),
                 decided_by: Iterable[str] = (), limit: int = 100) -> list[SimpleNamespace]:
    """Call records, newest first, as rows shaped like `CallRecord`: of the 400 number `hotline` and from
    `caller` (stored forms) when given, started in [`start`, `end`) (aware), with one of `dispositions` and of
    `decided_by` when not empty; at most `limit`."""
    where: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    for column, value in (("hotline", hotline), ("caller", caller)):
        if value is not None:
            where.append(f"{column} = :{column}")
            params[column] = value
    if start is not None:
        where.append("started_at >= :start")
        params["start"] = db.moment(start)
    if end is not None:
        where.append("started_at < :end")
        params["end"] = db.moment(end)
    for column, values in (("disposition", dispositions), ("decided_by", decided_by)):
        among, found = in_list(column, values)
        if found:
            where.append(f"{column} IN {among}")
            params.update(found)
    sql, kinds = CALL_RECORD.select(where=" AND ".join(where), order_by="started_at DESC, id DESC")
    return db.rows((f"{sql} LIMIT :limit", kinds), params)


def clicktocall_attempts(db: Reader, hotline: int, *, limit: int = 50) -> list[dict[str, Any]]:
    """The latest click-to-call attempts (WEB呼叫) of the hotline whose id is `hotline`, newest first, at most
    `limit`: {id, at (ISO 8601 UTC, seconds), hotline, target, source, client_ip, outcome, reason}."""
    number = db.scalar(HOTLINE.select("number", where="id = :h"), {"h": hotline})
    sql, kinds = CLICKTOCALL_ATTEMPT.select(where="hotline = :n", order_by="at DESC, id DESC")
    return [{"id": r.id, "at": r.at.isoformat(timespec="seconds"), "hotline": r.hotline, "target": r.target,
             "source": r.source, "client_ip": r.client_ip, "outcome": r.outcome, "reason": r.reason}
            for r in db.rows((f"{sql} LIMIT :limit", kinds), {"n": number, "limit": limit})]
