"""Small builders for tests: an enterprise with a hotline and approved destinations, via the services."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from ivr400.db.models import Destination, Enterprise, Evidence, Hotline, Tone, Trunk
from ivr400.provisioning import destinations, evidence
from ivr400.provisioning.enterprises import add_enterprise
from ivr400.provisioning.hotlines import add_hotline

ACTOR = "test"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@dataclass
class World:
    enterprise: Enterprise
    hotline: Hotline
    store: Path


def world(session: Session, tmp: Path, now: datetime, *, name: str = "北京甲科技有限公司", area: str = "010",
          hotline: str = "4008000001", max_bound: int = 20) -> World:
    ent = add_enterprise(session, name, area, now=now)
    h = add_hotline(session, hotline, ent, max_bound=max_bound, now=now)
    store = tmp / "evidence"
    return World(ent, h, store)


def doc(tmp: Path, name: str, content: bytes = PNG) -> Path:
    path = tmp / name
    path.write_bytes(content + name.encode())
    return path


def approved(session: Session, w: World, number: str, now: datetime, *, tmp: Path,
             valid_until: date | None = None) -> Destination:
    """A self-owned local landline with a carrier bill, approved (long-term unless valid_until)."""
    d = destinations.add_destination(session, w.enterprise, number, owner_name=w.enterprise.name,
                                     owner_kind="company", now=now, actor=ACTOR)
    evidence.add_evidence(session, d, "carrier_bill", doc(tmp, f"bill-{number}.png"), store_root=w.store,
                          attributes={"issuer": "telecom", "shows_number": True, "shows_owner": True},
                          valid_from=None, valid_until=None, long_term=False, now=now)
    destinations.approve(session, d, now=now, actor=ACTOR)
    if valid_until is not None:
        # An approval whose authorization ends: emulate by setting the window directly.
        from datetime import time, timezone
        d.valid_until = datetime.combine(valid_until, time.min, tzinfo=timezone.utc)
        d.long_term = False
    session.flush()
    return d


def pending(session: Session, w: World, number: str, now: datetime, **kw) -> Destination:  # noqa: ANN003
    kw.setdefault("owner_name", w.enterprise.name)
    kw.setdefault("owner_kind", "company")
    return destinations.add_destination(session, w.enterprise, number, now=now, actor=ACTOR, **kw)


def destination_row(session: Session, ent: Enterprise, number: str, now: datetime, *,
                    valid_until: datetime | None = None, trunk: Trunk | None = None) -> Destination:
    """An approved landline written directly (for render and routing tests: the evidence path is the
    provisioning tests' business). The database refuses an approval without a carrier bill on file
    (migration 0004), so the row is inserted pending, given one, then approved."""
    row = Destination(enterprise_id=ent.id, number=number, kind="landline", area_code=number[:3],
                      owner_name=ent.name, owner_kind="company", status="pending", valid_until=valid_until,
                      long_term=valid_until is None, trunk_id=trunk.id if trunk else None, created_at=now)
    session.add(row)
    session.flush()
    session.add(Evidence(destination_id=row.id, kind="carrier_bill", original_name="bill.png", media_type="image/png",
                         size=len(PNG), sha256="0" * 64, stored_path="evidence/00/bill",
                         attributes={"issuer": "telecom", "shows_number": True, "shows_owner": True}, created_at=now))
    session.flush()
    row.status, row.approved_at, row.approved_by = "approved", now, ACTOR
    session.flush()
    return row


def tone_row(session: Session, tone_id: int, name: str, kind: str, ent: Enterprise | None, now: datetime) -> Tone:
    """A stored tone with a fixed id (its sound and music-on-hold class names follow from it)."""
    row = Tone(id=tone_id, enterprise_id=ent.id if ent else None, name=name, kind=kind, original_name=f"{name}.mp3",
               sha256=f"{tone_id:064x}", stored_path=f"tones/{tone_id:064x}.wav", duration_s=3.0, created_at=now,
               status="approved")
    session.add(row)
    session.flush()
    return row
