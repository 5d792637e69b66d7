"""Plain-dict views of the model for `--json` output and tables (one shape for both).

Times are aware datetimes in the zone of the enterprise they belong to, named by a `timezone` key
(see `ivr400.localtime`): JSON writes them ISO 8601 with that zone's offset, tables with the zone's name.
"""
from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ivr400.localtime import to_zone
from ivr400.provisioning.status import effective_hunt, effective_status, key_path

if TYPE_CHECKING:  # the views read attributes only; the fast list commands pass driver rows shaped alike
    from ivr400.db.models import (
        BlockEntry,
        CalendarDay,
        ClusterNode,
        Department,
        Destination,
        Enterprise,
        Evidence,
        Hotline,
        RegionRule,
        Seat,
        TimeRule,
        Tone,
        Voicemail,
        WebUser,
        WhitelistEvent,
    )


def enterprise_view(e: Enterprise) -> dict[str, Any]:
    return {"id": e.id, "name": e.name, "area_code": e.area_code, "province": e.province, "city": e.city,
            "timezone": e.timezone, "hotlines": len(e.hotlines), "destinations": len(e.destinations)}


def hotline_view(h: Hotline, now: datetime) -> dict[str, Any]:
    bound = {s.destination_id for s in h.seats}
    routable = {s.destination_id for s in h.seats if effective_status(s.destination, now) == "approved"}
    return {"id": h.id, "number": h.number, "carrier": h.carrier, "enterprise": h.enterprise.name,
            "name": h.name, "active": h.active, "hunt": effective_hunt(h), "max_bound": h.max_bound,
            "bound": len(bound), "routable": len(routable),
            "welcome_tone": h.welcome_tone.name if h.welcome_tone else None,
            "ringback_tone": h.ringback_tone.name if h.ringback_tone else None,
            "survey": h.survey_enabled, "caller_cap_per_month": h.caller_cap_per_month,
            "fax": f"key:{h.fax_key}" if h.fax_mode == "key" else (h.fax_mode or "off")}


def destination_view(d: Destination, now: datetime) -> dict[str, Any]:
    """`valid_until` is the exclusive end of the validity (R7); times in the enterprise's zone."""
    tz = d.enterprise.timezone
    return {"id": d.id, "number": d.number, "kind": d.kind, "province": d.province, "city": d.city,
            "owner": d.owner_name, "owner_kind": d.owner_kind, "enterprise": d.enterprise.name,
            "status": effective_status(d, now), "reason": d.status_reason,
            "valid_from": to_zone(d.valid_from, tz), "valid_until": to_zone(d.valid_until, tz),
            "long_term": d.long_term, "approved_by": d.approved_by, "approved_at": to_zone(d.approved_at, tz),
            "timezone": tz, "seats": len(d.seats)}


def evidence_view(ev: Evidence) -> dict[str, Any]:
    return {"id": ev.id, "kind": ev.kind, "file": ev.original_name, "media_type": ev.media_type, "size": ev.size,
            "sha256": ev.sha256, "attributes": ev.attributes, "valid_from": ev.valid_from,
            "valid_until": ev.valid_until, "long_term": ev.long_term}


def event_view(ev: WhitelistEvent, tz: str) -> dict[str, Any]:
    """An audit row; `at` in zone `tz` (the enterprise's); `change` is "from → to" for a status change."""
    change = f"{ev.from_status or '(new)'} → {ev.to_status}" if ev.to_status else None
    return {"at": to_zone(ev.at, tz), "action": ev.action, "actor": ev.actor, "reason": ev.reason,
            "change": change, "from_status": ev.from_status, "to_status": ev.to_status,
            "destination_id": ev.destination_id, "timezone": tz}


def seat_view(s: Seat, now: datetime) -> dict[str, Any]:
    status = effective_status(s.destination, now)
    return {"id": s.id, "hotline": s.hotline.number,
            "department": key_path(s.department) if s.department else None,
            "position": s.position, "destination": s.destination.number, "destination_id": s.destination_id,
            "ring_timeout_s": s.ring_timeout_s, "weight": s.weight,
            "state": "active" if status == "approved" else f"suspended ({status})"}


def department_view(d: Department) -> dict[str, Any]:
    return {"id": d.id, "hotline": d.hotline.number, "key": key_path(d), "name": d.name, "hunt": effective_hunt(d),
            "max_attempts": d.max_attempts, "seats": len(d.seats),
            "ringback_tone": d.ringback_tone.name if d.ringback_tone else None}


def tone_view(t: Tone) -> dict[str, Any]:
    return {"id": t.id, "name": t.name, "kind": t.kind, "file": t.original_name, "duration_s": round(t.duration_s, 2),
            "sha256": t.sha256, "enterprise_id": t.enterprise_id, "status": t.status,
            "status_reason": t.status_reason, "reviewed_by": t.reviewed_by,
            "reviewed_at": t.reviewed_at.isoformat() if t.reviewed_at else None}


def user_view(user: WebUser, now: datetime) -> dict[str, Any]:
    """A web account (no password hash): `locked` while a lockout runs at `now`."""
    locked = user.locked_until is not None and now < user.locked_until
    return {"id": user.id, "username": user.username, "role": user.role,
            "enterprise": user.enterprise.name if user.enterprise else None,
            "disabled": user.disabled, "locked": locked, "created_at": user.created_at}


def voicemail_view(v: Voicemail) -> dict[str, Any]:
    """`recorded_at` in the zone of the hotline's enterprise (UTC when the hotline is gone), named by `timezone`."""
    tz = v.hotline.enterprise.timezone if v.hotline else "UTC"
    return {"id": v.id, "hotline": v.hotline.number if v.hotline else None, "caller": v.caller,
            "recorded_at": to_zone(v.recorded_at, tz), "timezone": tz, "duration_s": v.duration_s, "size": v.size,
            "heard": v.heard, "uniqueid": v.uniqueid, "file": v.file_path}


#: The action kinds whose target is a department key path: ActionKind.DEPARTMENT and .VOICEMAIL (named here,
#: not imported: ivr400.routing.model costs a list command more than the rest of it; a test holds them equal).
ACTIONS_WITH_PATH = ("department", "voicemail")


def describe_action(kind: str, path: str | None, prompt: str | None) -> str:
    """``department:2``, ``department`` (switchboard), ``announcement:ivr400/ivr400-closed``, ``menu``."""
    if kind in ACTIONS_WITH_PATH and path:
        return f"{kind}:{path}"
    if prompt:
        return f"{kind}:{prompt}"
    return kind


def time_rule_view(row: TimeRule, paths: dict[int, str]) -> dict[str, Any]:
    path = paths.get(row.action_department_id) if row.action_department_id is not None else None
    when = []
    if row.days:
        when.append("+".join(row.days))
    if row.weekdays:
        when.append("weekday " + ",".join(str(w) for w in row.weekdays))
    when.append(" ".join(row.segments) if row.segments else "all day")
    return {"id": f"time:{row.id}", "type": "time", "priority": row.priority, "name": row.name,
            "days": list(row.days or []), "weekdays": list(row.weekdays or []), "segments": list(row.segments or []),
            "when": " ".join(when), "action": describe_action(row.action_kind, path, row.action_prompt)}


def after_hours_view(hotline: Hotline, paths: dict[int, str]) -> str:
    path = paths.get(hotline.after_hours_department_id) if hotline.after_hours_department_id is not None else None
    return describe_action(hotline.after_hours_kind, path, hotline.after_hours_prompt)


def region_rule_view(row: RegionRule, paths: dict[int, str]) -> dict[str, Any]:
    where = row.province + (f"/{row.city}" if row.city else "")
    path = paths.get(row.department_id, f"#{row.department_id}")
    return {"id": f"region:{row.id}", "type": "region", "priority": row.priority, "name": None,
            "province": row.province, "city": row.city, "department": path,
            "when": f"caller from {where}", "action": f"department:{path}"}


def block_settings(hotline: Hotline) -> dict[str, Any]:
    """A hotline's call blocking (呼叫阻截) settings."""
    return {"hotline": hotline.number, "mode": hotline.block_mode, "anonymous": hotline.anonymous_policy,
            "refuse_with": hotline.refuse_with, "refuse_prompt": hotline.refuse_prompt}


def calendar_view(row: CalendarDay, enterprise_name: str | None) -> dict[str, Any]:
    """A calendar day (`day` a date) of the enterprise named `enterprise_name` (None: national)."""
    return {"id": row.id, "day": row.day.isoformat(), "weekday": row.day.isoweekday(), "kind": row.kind,
            "name": row.name, "enterprise_id": row.enterprise_id, "enterprise": enterprise_name or "national"}


def block_entry_view(entry: BlockEntry, hotline_number: str) -> dict[str, Any]:
    """An entry of a hotline's block list; `entry` is the number with `*` after a prefix."""
    return {"id": entry.id, "hotline": hotline_number, "number": entry.number, "prefix": entry.prefix,
            "entry": entry.number + ("*" if entry.prefix else ""), "note": entry.note}


def fax_view(fax: Any) -> dict[str, Any]:  # noqa: ANN401 - ivr400.provisioning.fax.FaxView or a row alike
    """A received fax (`hotline` None when its number is no longer known)."""
    return {"received_at": fax.received_at, "hotline": fax.hotline, "caller": fax.caller, "status": fax.status,
            "pages": fax.pages, "error": fax.error, "remote_station": fax.remote_station, "file": fax.file_path,
            "uniqueid": fax.uniqueid}


def node_view(node: ClusterNode) -> dict[str, Any]:
    """A cluster node: name, SIP address (`host:port`), state, priority."""
    return {"name": node.name, "sip": f"{node.sip_host}:{node.sip_port}", "state": node.state,
            "priority": node.priority}


def rules_view(hotline: Hotline, times: Iterable[TimeRule], regions: Iterable[RegionRule],
               paths: dict[int, str]) -> dict[str, Any]:
    """A hotline's routing rules in the order they are tried: time rules as given (by priority, id), region
    rules by (priority, city before province only, id); the after-hours action. `paths`: department id → key
    path."""
    ordered = sorted(regions, key=lambda r: (r.priority, 0 if r.city else 1, r.id))
    return {
        "hotline": hotline.number,
        "time_rules": [time_rule_view(r, paths) for r in times],
        "region_rules": [region_rule_view(r, paths) for r in ordered],
        "after_hours": after_hours_view(hotline, paths),
    }
