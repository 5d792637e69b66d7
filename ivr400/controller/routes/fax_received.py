"""``agi://.../fax_received?hotline=<n>``: a fax (传真) was received, or its reception ended.

Called from the hangup handler the fax extension pushes before ``ReceiveFAX`` wrote ``IVR400_FAX_FILE``
(``<FAX_SPOOL>/<hotline>/<UNIQUEID>.tif`` as Asterisk sees it). Reads that variable and res_fax's outcome
(``FAXOPT(status)``, ``pages``, ``error``, ``remotestationid``: one ``GET VARIABLE`` each), checks the path
is a TIFF directly under the hotline's fax spool, and records a ``fax`` row with
``ivr400.provisioning.fax.record_fax`` (idempotent on the uniqueid). The dialplan ignores any failure here;
we log it. Asterisk only (res_fax): on another PBX's session the hook logs and records nothing.
"""
from __future__ import annotations

import re

from ivr400.controller.routes.context import CallSession, Dialect, RouteContext
from ivr400.controller.routes.dialect import ASTERISK
from ivr400.pbx.asterisk import dialplan_variables as v
from ivr400.pbx.asterisk.fastagi import AGISession
from ivr400.provisioning.errors import ProvisioningError
from ivr400.routing.blocking import parse_caller
from ivr400.validators import ASTERISK_UNIQUEID, HOTLINE_NUMBER

__all__ = ["fax_file_ok", "fax_received"]

_UNIQUEID = ASTERISK_UNIQUEID
_FAX_FILE = re.compile(re.escape(v.FAX_SPOOL) + r"/(400[0-9]{7})/[A-Za-z0-9_.\-]{1,80}\.tif")


def fax_file_ok(path: str, hotline: str) -> bool:
    """Whether ``path`` names a ``.tif`` file directly in ``hotline``'s fax spool directory (no ``..``)."""
    m = _FAX_FILE.fullmatch(path)
    return m is not None and m.group(1) == hotline and ".." not in path


async def fax_received(session: CallSession, ctx: RouteContext, dialect: Dialect = ASTERISK) -> None:
    if not isinstance(session, AGISession):
        session.log.warning("fax_received: faxes are received by Asterisk (res_fax) only; nothing recorded")
        return
    number = session.params.get("hotline", "")
    uniqueid = session.uniqueid or ""
    if not HOTLINE_NUMBER.fullmatch(number) or not _UNIQUEID.fullmatch(uniqueid):
        session.log.warning("fax_received: malformed request (hotline=%r uniqueid=%r)", number[:40], uniqueid[:40])
        return
    path = await session.get_variable(v.FAX_FILE)
    if not path or not fax_file_ok(path, number):
        session.log.warning("fax_received: %s: %s=%r is not a file under %s/%s; not recorded", number, v.FAX_FILE,
                            (path or "")[:120], v.FAX_SPOOL, number)
        return
    status = (await session.get_variable("FAXOPT(status)") or "FAILED").strip().upper()
    pages_text = (await session.get_variable("FAXOPT(pages)") or "0").strip()
    error = await session.get_variable("FAXOPT(error)")
    station = await session.get_variable("FAXOPT(remotestationid)")
    pages = int(pages_text) if pages_text.isdigit() else 0
    caller = parse_caller(session.callerid).number
    try:
        written = await ctx.save_fax(hotline=number, uniqueid=uniqueid, caller=caller, status=status, pages=pages,
                                     error=error, remote_station=station, file_path=path)
    except ProvisioningError as exc:
        session.log.warning("fax_received: %s: not recorded: %s", number, exc)
        return
    session.log.info("fax_received: %s from %s: %s, %d page(s), %s %s", number, caller or "withheld", status, pages,
                     path, "recorded" if written else "already recorded")
