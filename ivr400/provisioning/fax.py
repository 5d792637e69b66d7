"""Faxes (传真): a hotline's fax setting; received faxes recorded once per call (idempotent on the UNIQUEID),
listed, and looked up within one enterprise.

    set_fax(s, hotline, "detect")           # or "off", "key:9"; ProvisioningError("fax", ...) otherwise

    row, created = record_fax(s, hotline_number="4008000003", uniqueid="1796064749.0", caller="13800138000",
                              status="SUCCESS", pages=1, error=None, remote_station="...", file_path="...",
                              received_at=now)
    list_faxes(s, hotline="4008000003")     # [FaxView], newest first
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.enums import FaxMode
from ivr400.db.models import Department, Fax, Hotline
from ivr400.provisioning.errors import ProvisioningError
from ivr400.validators import ASTERISK_UNIQUEID

__all__ = ["FAX_MODES", "MAX_PDF_PAGES", "FaxView", "fax_setting", "find_fax", "list_faxes", "parse_fax_setting",
           "record_fax", "set_fax", "tiff_to_pdf"]

#: Most pages rendered into one PDF (a fax of more is refused rather than rendered for minutes).
MAX_PDF_PAGES = 200

#: A hotline's fax modes: no fax; CNG / T.38 detection while the call plays its welcome and menu; a top-menu key.
FAX_MODES: tuple[str, ...] = tuple(m.value for m in FaxMode)

_UNIQUEID = ASTERISK_UNIQUEID
_CALLER = re.compile(r"\+?[0-9]{1,31}")
_STATUS = re.compile(r"[A-Z_]{1,16}")
_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def parse_fax_setting(text: str) -> tuple[str, str | None]:
    """``"off"`` | ``"detect"`` | ``"key:<digit>"`` → (mode, key). ProvisioningError ``fax`` otherwise."""
    value = (text or "").strip().lower()
    if value in ("off", "detect"):
        return value, None
    if value.startswith("key:") and len(value) == 5 and value[4] in "0123456789":
        return "key", value[4]
    raise ProvisioningError("fax", f"{text!r} is not a fax setting: off, detect, or key:<digit 0-9> "
                                   "(a key of the top menu that takes faxes)")


def fax_setting(hotline: Hotline) -> str:
    """The hotline's fax setting as ``set_fax`` takes it: ``off``, ``detect`` or ``key:<digit>``."""
    return f"key:{hotline.fax_key}" if hotline.fax_mode == "key" and hotline.fax_key else hotline.fax_mode


def set_fax(session: Session, hotline: Hotline, text: str) -> Hotline:
    """Set the hotline's fax mode from ``off`` | ``detect`` | ``key:<digit>``. ProvisioningError ``fax`` for
    another value, or a key a department of the top menu already uses."""
    mode, key = parse_fax_setting(text)
    if key is not None:
        taken = session.scalar(select(Department.name).where(Department.hotline_id == hotline.id,
                                                             Department.parent_id.is_(None), Department.key == key))
        if taken is not None:
            raise ProvisioningError("fax", f"key {key} already opens department {taken!r} of {hotline.number}'s "
                                           "top menu; choose a free key")
    hotline.fax_mode, hotline.fax_key = mode, key
    session.flush()
    return hotline


@dataclass(frozen=True)
class FaxView:
    """A received fax; ``hotline`` None when its number is no longer known. ``file_path`` as Asterisk saw it."""

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


def find_fax(session: Session, fax_id: int, *, enterprise_id: int | None) -> FaxView | None:
    """One fax by id, only if it was sent to a hotline of ``enterprise_id`` (None = any: the platform admin);
    None otherwise, whatever the reason (no such fax, another enterprise's, a hotline that is gone)."""
    query = select(Fax, Hotline.number, Hotline.enterprise_id).outerjoin(Hotline, Fax.hotline_id == Hotline.id)
    row = session.execute(query.where(Fax.id == fax_id)).first()
    if row is None:
        return None
    f, number, owner = row
    if enterprise_id is not None and owner != enterprise_id:
        return None
    return FaxView(f.id, number, f.uniqueid, f.caller, f.status, f.pages, f.error, f.remote_station, f.file_path,
                   f.received_at)


def tiff_to_pdf(path: Path) -> bytes:
    """The PDF (bytes) of a received fax's TIFF, one page per TIFF directory, each page the size the fax's
    resolution says (G3 fine is 204x196 dpi: pixels are not square). Pillow decodes, re-encodes, writes the PDF.
    ProvisioningError ``file`` for a file that is not a readable TIFF, or has more than MAX_PDF_PAGES pages."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    try:
        with Image.open(path, formats=["TIFF"]) as im:
            if getattr(im, "n_frames", 1) > MAX_PDF_PAGES:
                raise ProvisioningError("file", f"the fax has more than {MAX_PDF_PAGES} pages")
            pages = []
            for frame in ImageSequence.Iterator(im):
                dpi = frame.info.get("dpi") or (204.0, 196.0)
                page = frame.convert("1") if frame.mode not in ("1", "L", "RGB") else frame.copy()
                page.info["dpi"] = dpi
                pages.append(page)
    except (OSError, UnidentifiedImageError, Image.DecompressionBombError) as exc:
        raise ProvisioningError("file", f"the stored fax is not a readable TIFF: {exc}") from exc
    buf = io.BytesIO()
    first, rest = pages[0], pages[1:]
    dpi = tuple(float(x) for x in first.info["dpi"])
    first.save(buf, "PDF", save_all=True, append_images=rest, dpi=dpi, title="fax")
    return buf.getvalue()
