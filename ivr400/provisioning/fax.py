"""Received faxes (传真): record one per call (idempotent on the UNIQUEID), list them.

    row, created = record_fax(s, hotline_number="4008000003", uniqueid="1796064749.0", caller="13800138000",
                              status="SUCCESS", pages=1, error=None, remote_station="...", file_path="...",
                              received_at=now)
    list_faxes(s, hotline="4008000003")     # [FaxView], newest first
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Fax, Hotline
from ivr400.provisioning.errors import ProvisioningError
from ivr400.validators import ASTERISK_UNIQUEID

__all__ = ["FaxView", "list_faxes", "record_fax"]

_UNIQUEID = ASTERISK_UNIQUEID
_CALLER = re.compile(r"\+?[0-9]{1,31}")
_STATUS = re.compile(r"[A-Z_]{1,16}")
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


@dataclass(frozen=True)
class FaxView:
    id: int
    hotline: str | None
    uniqueid: str
    caller: str | None
    status: str
    pages: int
    error: str | None
    remote_station: str | None
    file_path: str
    received_at: datetime


def _clean(text: str | None, limit: int) -> str | None:
    if not text:
        return None
    return _PRINTABLE.sub("?", text)[:limit] or None


def record_fax(session: Session, *, hotline_number: str, uniqueid: str, caller: str | None, status: str,
               pages: int, error: str | None, remote_station: str | None, file_path: str,
               received_at: datetime) -> tuple[Fax, bool]:
    """Insert the fax once per UNIQUEID: (row, created). ProvisioningError('uniqueid' | 'status' | 'pages')
    for values res_fax never produces. A caller that is not a number is stored empty (withheld)."""
    if not _UNIQUEID.fullmatch(uniqueid):
        raise ProvisioningError("uniqueid", f"{uniqueid!r} is not an Asterisk UNIQUEID")
    if not _STATUS.fullmatch(status or ""):
        raise ProvisioningError("status", f"{status!r} is not a res_fax status (SUCCESS, FAILED, ...)")
    if pages < 0:
        raise ProvisioningError("pages", f"{pages} is negative")
    row = session.scalar(select(Fax).where(Fax.uniqueid == uniqueid))
    if row is not None:
        return row, False
    hotline = session.scalar(select(Hotline).where(Hotline.number == hotline_number))
    row = Fax(hotline_id=hotline.id if hotline else None, uniqueid=uniqueid,
              caller=caller if caller and _CALLER.fullmatch(caller) else None, status=status, pages=pages,
              error=_clean(error, 120), remote_station=_clean(remote_station, 40), file_path=file_path[:255],
              received_at=received_at)
    session.add(row)
    session.flush()
    return row, True


def list_faxes(session: Session, *, hotline: str | None = None, limit: int = 100) -> list[FaxView]:
    """Faxes, newest first (of one hotline when given; a fax to a number no longer known shows hotline None)."""
    query = select(Fax, Hotline.number).outerjoin(Hotline, Fax.hotline_id == Hotline.id)
    if hotline is not None:
        query = query.where(Hotline.number == hotline)
    query = query.order_by(Fax.received_at.desc(), Fax.id.desc()).limit(limit)
    return [FaxView(f.id, number, f.uniqueid, f.caller, f.status, f.pages, f.error, f.remote_station, f.file_path,
                    f.received_at) for f, number in session.execute(query)]
