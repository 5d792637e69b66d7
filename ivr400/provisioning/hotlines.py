"""Hotlines (400电话): the number, its carrier and how calls are hunted."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.enums import HuntStrategy
from ivr400.db.models import Department, Enterprise, Hotline
from ivr400.numbers import NumberError, parse_hotline_number
from ivr400.provisioning.errors import ProvisioningError

MAX_BOUND_LIMIT = 200


def check_hunt(strategy: str, field: str = "hunt") -> str:
    values = [s.value for s in HuntStrategy]
    if strategy not in values:
        raise ProvisioningError(field, f"{strategy!r} is not one of {', '.join(values)}")
    return strategy


def apply_hunt(row: Hotline | Department, strategy: str, field: str = "hunt") -> str:
    """Set a hunt group's strategy (``field``: the form field named in an error). ``weighted`` (按比例分配) is
    stored as ``hunt_strategy = 'sequential'`` plus ``hunt_weighted`` (migration 0012), which is also what
    the static plan does with it; any other strategy clears the flag. ProvisioningError for an unknown one."""
    check_hunt(strategy, field)
    weighted = strategy == HuntStrategy.WEIGHTED.value
    row.hunt_strategy = HuntStrategy.SEQUENTIAL.value if weighted else strategy
    row.hunt_weighted = weighted
    return strategy


#: Largest monthly caller cap (呼叫限制), as the routing model bounds it.
MAX_CALLER_CAP = 100_000


def set_caller_cap(session: Session, hotline: Hotline, cap: int, field: str = "caller-cap") -> Hotline:
    """呼叫限制: at most ``cap`` calls per caller per calendar month (the enterprise's zone), then the
    hotline's refuse action; 0 = no cap. ProvisioningError naming ``field`` outside 0-100000."""
    if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= MAX_CALLER_CAP:
        raise ProvisioningError(field, f"must be a whole number between 0 (no cap) and {MAX_CALLER_CAP} (got {cap!r})")
    hotline.caller_cap_per_month = cap
    session.flush()
    return hotline


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
                  max_bound=max_bound, max_attempts=max_attempts, created_at=now)
    apply_hunt(row, hunt)
    session.add(row)
    session.flush()
    return row
