"""Enterprises (企业): the registered holders of 400 numbers."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.compliance.names import name_key
from ivr400.db.models import Enterprise
from ivr400.localtime import iana_zone
from ivr400.numbers import NumberError, parse_area_code
from ivr400.provisioning.errors import ProvisioningError


def add_enterprise(session: Session, name: str, area_code: str, *, timezone: str = "Asia/Shanghai",
                   now: datetime) -> Enterprise:
    clean = " ".join(name.split())
    if not clean:
        raise ProvisioningError("name", "empty enterprise name")
    if len(clean) > 200:
        raise ProvisioningError("name", "longer than 200 characters")
    try:
        area = parse_area_code(area_code)
    except NumberError as exc:
        raise ProvisioningError("area-code", str(exc)) from exc
    try:
        iana_zone(timezone)
    except ValueError as exc:
        raise ProvisioningError("timezone", str(exc)) from exc
    key = name_key(clean)
    if session.scalar(select(Enterprise.id).where(Enterprise.name_key == key)) is not None:
        raise ProvisioningError("name", f"an enterprise named {clean!r} already exists")
    row = Enterprise(name=clean, name_key=key, area_code=area.code, province=area.province, city=area.city,
                     timezone=timezone, created_at=now)
    session.add(row)
    session.flush()
    return row
