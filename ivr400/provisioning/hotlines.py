"""Hotlines (400电话): the number, its carrier and how calls are hunted."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.enums import HuntStrategy
from ivr400.db.models import Enterprise, Hotline
from ivr400.numbers import NumberError, parse_hotline_number
from ivr400.provisioning.errors import ProvisioningError

MAX_BOUND_LIMIT = 200


def check_hunt(strategy: str, field: str = "hunt") -> str:
    values = [s.value for s in HuntStrategy]
    if strategy not in values:
        raise ProvisioningError(field, f"{strategy!r} is not one of {', '.join(values)}")
    return strategy


def add_hotline(session: Session, number: str, enterprise: Enterprise, *, name: str | None = None,
                max_bound: int = 20, hunt: str = "sequential", max_attempts: int = 0, now: datetime) -> Hotline:
    try:
        parsed = parse_hotline_number(number)
    except NumberError as exc:
        raise ProvisioningError("number", str(exc)) from exc
    if not 1 <= max_bound <= MAX_BOUND_LIMIT:
        raise ProvisioningError("max-bound", f"must be between 1 and {MAX_BOUND_LIMIT} (got {max_bound})")
    if max_attempts < 0:
        raise ProvisioningError("max-attempts", "must be 0 (no cap) or more")
    check_hunt(hunt)
    if session.scalar(select(Hotline.id).where(Hotline.number == parsed.number)) is not None:
        raise ProvisioningError("number", f"hotline {parsed.number} already exists")
    row = Hotline(number=parsed.number, carrier=parsed.carrier.value, enterprise_id=enterprise.id, name=name,
                  max_bound=max_bound, hunt_strategy=hunt, max_attempts=max_attempts, created_at=now)
    session.add(row)
    session.flush()
    return row
