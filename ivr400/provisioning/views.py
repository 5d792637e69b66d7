"""Plain-dict views of the model for `--json` output and tables (one shape for both).

Times are aware datetimes in the zone of the enterprise they belong to, named by a `timezone` key
(see `ivr400.localtime`): JSON writes them ISO 8601 with that zone's offset, tables with the zone's name.
"""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ivr400.localtime import to_zone
from ivr400.provisioning.status import effective_hunt, effective_status, key_path

if TYPE_CHECKING:  # the views read attributes only; the fast list commands pass driver rows shaped alike
    from ivr400.db.models import (
        Department,
        Destination,
        Enterprise,
        Evidence,
        Hotline,
        Seat,
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
