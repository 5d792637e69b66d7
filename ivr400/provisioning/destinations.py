"""Destinations (目的码) and their whitelist lifecycle: pending → approved → revoked/expired.

Approval evaluates R1–R7 (ivr400.compliance.rules) and refuses with everything that is missing.
Revocation and expiry never delete seats: the routable-now query simply stops returning them.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.compliance.rules import Checklist, DestinationFacts, EnterpriseFacts, EvidenceFacts, evaluate
from ivr400.db.enums import OwnerKind, WhitelistStatus
from ivr400.db.models import CarrierPolicy, Destination, Enterprise, Hotline
from ivr400.numbers import NumberError, parse_destination
from ivr400.provisioning import audit
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.status import MAX_DAYS


def add_destination(session: Session, enterprise: Enterprise, number: str, *, owner_name: str, owner_kind: str,
                    relationship: str | None = None, now: datetime, actor: str) -> Destination:
    try:
        parsed = parse_destination(number)
    except NumberError as exc:
        raise ProvisioningError("number", str(exc)) from exc
    owner = " ".join(owner_name.split())
    if not owner:
        raise ProvisioningError("owner", "empty owner name (the registered owner on the carrier's documents)")
    if owner_kind not in {k.value for k in OwnerKind}:
        raise ProvisioningError("owner-kind", f"{owner_kind!r} is not company or person")
    exists = session.scalar(select(Destination.id).where(
        Destination.enterprise_id == enterprise.id, Destination.number == parsed.number))
    if exists is not None:
        raise ProvisioningError("number", f"{parsed.display} is already registered for {enterprise.name} (#{exists})")
    row = Destination(
        enterprise_id=enterprise.id, number=parsed.number, kind=parsed.kind.value, area_code=parsed.area_code,
        province=parsed.province, city=parsed.city, owner_name=owner, owner_kind=owner_kind,
        relationship_note=relationship, status=WhitelistStatus.PENDING.value, created_at=now,
    )
    session.add(row)
    audit.complete_status_event(session, row, "register", now=now, actor=actor,
                                detail={"number": row.number, "owner": owner, "owner_kind": owner_kind})
    return row


def local_today(enterprise: Enterprise, now: datetime) -> date:
    return now.astimezone(ZoneInfo(enterprise.timezone)).date()


def checklist(session: Session, dest: Destination, now: datetime) -> Checklist:
    """R1–R7 for `dest` as of `now`, against the carriers of its enterprise's hotlines."""
    ent = dest.enterprise
    rows = session.execute(
        select(CarrierPolicy.carrier, CarrierPolicy.allow_mobile)
        .join(Hotline, Hotline.carrier == CarrierPolicy.carrier)
        .where(Hotline.enterprise_id == ent.id)
    ).tuples()
    policies: dict[str, bool] = dict(rows.all())
    evidence = [
        EvidenceFacts(kind=ev.kind, media_type=ev.media_type, attributes=ev.attributes or {},
                      valid_from=ev.valid_from, valid_until=ev.valid_until, long_term=ev.long_term,
                      label=f"#{ev.id} {ev.kind}")
        for ev in dest.evidence
    ]
    return evaluate(
        EnterpriseFacts(name=ent.name, area_code=ent.area_code, city=ent.city),
        DestinationFacts(number=dest.number, kind=dest.kind, area_code=dest.area_code, city=dest.city,
                         owner_name=dest.owner_name, owner_kind=dest.owner_kind),
        policies, evidence, local_today(ent, now),
    )


def _day_start_utc(day: date, tz: str) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(tz)).astimezone(timezone.utc)


def approve(session: Session, dest: Destination, *, now: datetime, actor: str) -> Checklist:
    """Approve (or renew) when the checklist passes; otherwise raise with every missing item.

    The validity window is the intersection of the authorizations relied on (R7), in the
    enterprise's time zone: valid from the start of the first day to the end of the last day.
    """
    result = checklist(session, dest, now)
    if not result.ok:
        raise ProvisioningError(
            "destination",
            f"cannot approve {dest.number}: " + "; ".join(f"{i.rule} {i.message}" for i in result.missing)
        )
    tz = dest.enterprise.timezone
    renewal = dest.status == WhitelistStatus.APPROVED.value
    dest.status = WhitelistStatus.APPROVED.value
    dest.status_reason = None
    dest.approved_at = now
    dest.approved_by = actor
    dest.long_term = result.long_term
    dest.valid_from = _day_start_utc(result.valid_from, tz) if result.valid_from else None
    dest.valid_until = _day_start_utc(result.valid_until + timedelta(days=1), tz) if result.valid_until else None
    if renewal:  # no status change: the database writes a row only if the validity window moved (0008)
        audit.complete_or_record(session, dest, "approve", now=now, actor=actor, detail=result.to_dict())
    else:
        audit.complete_status_event(session, dest, "approve", now=now, actor=actor, detail=result.to_dict())
    return result


def record_refused_approval(session: Session, dest: Destination, error: ProvisioningError, *, now: datetime,
                            actor: str) -> None:
    """A refused approval is a decision too: it goes to the audit trail (in its own transaction)."""
    audit.record(session, "approve_refused", now=now, actor=actor, destination_id=dest.id,
                 enterprise_id=dest.enterprise_id, reason=error.reason)


def _set_status(session: Session, dest: Destination, status: WhitelistStatus, action: str, *, reason: str,
                now: datetime, actor: str) -> None:
    if not reason.strip():
        raise ProvisioningError("reason", f"say why the destination is {status.value} (--reason)")
    unchanged = dest.status == status.value  # e.g. rejected again with a new reason: no row from the database
    dest.status = status.value
    dest.status_reason = reason.strip()
    detail = {"seats_suspended": len(dest.seats)}
    if unchanged:
        audit.record(session, action, now=now, actor=actor, destination_id=dest.id, enterprise_id=dest.enterprise_id,
                     reason=reason.strip(), detail=detail)
        session.flush()
    else:
        audit.complete_status_event(session, dest, action, now=now, actor=actor, reason=reason.strip(), detail=detail)


def reject(session: Session, dest: Destination, *, reason: str, now: datetime, actor: str) -> None:
    if dest.status == WhitelistStatus.APPROVED.value:
        raise ProvisioningError("destination", f"{dest.number} is approved; revoke it instead")
    _set_status(session, dest, WhitelistStatus.REJECTED, "reject", reason=reason, now=now, actor=actor)


def revoke(session: Session, dest: Destination, *, reason: str, now: datetime, actor: str) -> None:
    """Unroutable at once; seats stay (suspended) so re-approval restores the hunt order."""
    if dest.status != WhitelistStatus.APPROVED.value:
        raise ProvisioningError("destination", f"{dest.number} is {dest.status}, not approved")
    _set_status(session, dest, WhitelistStatus.REVOKED, "revoke", reason=reason, now=now, actor=actor)


def expiring(session: Session, *, days: int, now: datetime, enterprise: Enterprise | None = None) -> list[Destination]:
    """Approved destinations whose authorization ends within `days` (already expired ones included)."""
    if days < 0:
        raise ProvisioningError("days", "must be 0 or more")
    if days > MAX_DAYS:
        raise ProvisioningError("days", f"at most {MAX_DAYS} (100 years)")
    stmt = (select(Destination)
            .where(Destination.status == WhitelistStatus.APPROVED.value, Destination.valid_until.is_not(None),
                   Destination.valid_until <= now + timedelta(days=days))
            .order_by(Destination.valid_until, Destination.id))
    if enterprise is not None:
        stmt = stmt.where(Destination.enterprise_id == enterprise.id)
    return list(session.scalars(stmt))
