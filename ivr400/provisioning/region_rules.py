"""Region rules (来电地区路由: callers of a province or city go to a department) and the region override
table (number prefixes whose region the geocoder gets wrong): ``ivr400 rule region``, ``ivr400 rule override``.

Rows are written in the caller's transaction; the tables bump ``config_generation`` through their triggers.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Hotline
from ivr400.db.models import RegionOverride as RegionOverrideRow
from ivr400.db.models import RegionRule as RegionRuleRow
from ivr400.numbers import NumberError, normalize_number
from ivr400.provisioning import lookup
from ivr400.provisioning.actions import check_priority, optional_text
from ivr400.provisioning.errors import ProvisioningError
from ivr400.provisioning.status import key_path
from ivr400.routing.model import RegionOverride, RegionRule

__all__ = [
    "add_region_override",
    "add_region_rule",
    "list_region_overrides",
    "remove_region_override",
]


def add_region_rule(session: Session, hotline: Hotline, *, province: str, department: str, city: str | None = None,
                    priority: int = 100) -> RegionRuleRow:
    """来电地区路由: callers from ``province`` (and ``city``) go straight to the department at key path
    ``department`` (when the call would otherwise get the menu or the switchboard)."""
    priority = check_priority(priority)
    if not isinstance(department, str) or not department.strip():
        raise ProvisioningError("department", "give the department's key path, e.g. 2 or 2.1")
    dept = lookup.department(session, hotline, department.strip())
    city = optional_text(city, "city", 20)
    try:
        model = RegionRule(id=0, department=key_path(dept), province=(province or "").strip(), city=city,
                           priority=priority)
    except ValueError as exc:
        field = "province" if "province" in str(exc) else "city" if "city" in str(exc) else "department"
        raise ProvisioningError(field, str(exc).split(": ", 1)[-1]) from None
    dup = select(RegionRuleRow.id).where(RegionRuleRow.hotline_id == hotline.id,
                                         RegionRuleRow.province == model.province,
                                         RegionRuleRow.department_id == dept.id,
                                         RegionRuleRow.priority == priority)
    dup = dup.where(RegionRuleRow.city.is_(None) if model.city is None else RegionRuleRow.city == model.city)
    if session.scalar(dup) is not None:
        raise ProvisioningError("province", "the same region rule already exists")
    row = RegionRuleRow(hotline_id=hotline.id, priority=priority, province=model.province, city=model.city,
                        department_id=dept.id)
    session.add(row)
    session.flush()
    return row


def add_region_override(session: Session, prefix: str, province: str, city: str | None = None) -> RegionOverrideRow:
    """Callers whose number starts with ``prefix`` are from ``province``/``city`` whatever the geocoder says."""
    city = optional_text(city, "city", 20)
    try:
        model = RegionOverride(prefix, (province or "").strip(), city)
    except ValueError as exc:
        message = str(exc)
        field = "prefix" if "prefix" in message else "province" if "province" in message else "city"
        raise ProvisioningError(field, message.split(": ", 1)[-1]) from None
    if len(model.prefix) > 20:
        raise ProvisioningError("prefix", "at most 20 characters")
    if session.scalar(select(RegionOverrideRow.id).where(RegionOverrideRow.prefix == model.prefix)) is not None:
        raise ProvisioningError("prefix", f"an override for {model.prefix} already exists")
    row = RegionOverrideRow(prefix=model.prefix, province=model.province, city=model.city)
    session.add(row)
    session.flush()
    return row


def list_region_overrides(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(select(RegionOverrideRow).order_by(RegionOverrideRow.prefix))
    return [{"id": r.id, "prefix": r.prefix, "province": r.province, "city": r.city} for r in rows]


def remove_region_override(session: Session, prefix: str) -> str:
    try:
        normalized = normalize_number(prefix, prefix=True).value
    except NumberError as exc:
        raise ProvisioningError("prefix", str(exc)) from None
    row = session.scalar(select(RegionOverrideRow).where(RegionOverrideRow.prefix == normalized))
    if row is None:
        raise ProvisioningError("prefix", f"no override for {normalized}")
    session.delete(row)
    session.flush()
    return normalized
