"""The rules of a hotline as ``ivr400 rule list`` / ``ivr400 rule remove`` see them: time and region rules
together, with the after-hours action."""
from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Department, Hotline
from ivr400.db.models import RegionRule as RegionRuleRow
from ivr400.db.models import TimeRule as TimeRuleRow
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.status import key_path
from ivr400.provisioning.views import rules_view
from ivr400.validators import is_row_id

__all__ = [
    "department_paths",
    "list_rules",
    "remove_rule",
]


def department_paths(session: Session, hotline: Hotline) -> dict[int, str]:
    """Key path (``2.1``) of every department of ``hotline``, by department id."""
    departments = session.scalars(select(Department).where(Department.hotline_id == hotline.id))
    return {d.id: key_path(d) for d in departments}


def list_rules(session: Session, hotline: Hotline) -> dict[str, Any]:
    """Time rules by (priority, id), region rules by (priority, city first, id), and the after-hours action."""
    times = session.scalars(select(TimeRuleRow).where(TimeRuleRow.hotline_id == hotline.id)
                            .order_by(TimeRuleRow.priority, TimeRuleRow.id))
    regions = session.scalars(select(RegionRuleRow).where(RegionRuleRow.hotline_id == hotline.id))
    return rules_view(hotline, times, regions, department_paths(session, hotline))


def remove_rule(session: Session, ref: str) -> str:
    """Remove ``time:N`` or ``region:N`` (a bare N when only one kind of rule has that id)."""
    text = (ref or "").strip().lower()
    m = re.fullmatch(r"(?:(time|region|t|r):)?([0-9]{1,18})", text)
    if m is None:
        raise ProvisioningError("id", f"{ref!r} is not a rule id like time:3 or region:5")
    kind, rule_id = m[1], int(m[2])
    candidates: list[tuple[str, TimeRuleRow | RegionRuleRow]] = []
    possible = is_row_id(rule_id)  # a larger id names nothing (and PostgreSQL refuses to compare it)
    if possible and kind in (None, "time", "t"):
        time_row = session.get(TimeRuleRow, rule_id)
        if time_row is not None:
            candidates.append(("time", time_row))
    if possible and kind in (None, "region", "r"):
        region_row = session.get(RegionRuleRow, rule_id)
        if region_row is not None:
            candidates.append(("region", region_row))
    if not candidates:
        raise ProvisioningError("id", f"no rule {ref}")
    if len(candidates) > 1:
        raise ProvisioningError("id", f"both time:{rule_id} and region:{rule_id} exist; say which")
    name, row = candidates[0]
    session.delete(row)
    session.flush()
    return f"{name}:{rule_id}"
