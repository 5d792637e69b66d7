"""``agi://.../voicemail_saved?hotline=<n>&dept=<key path>&uniqueid=<id>``: a voicemail file exists.

Called from the hangup handler the voicemail context pushes, once ``Record`` wrote
``IVR400_VM_FILE`` (``<VOICEMAIL_SPOOL>/<hotline>/<UNIQUEID>.wav`` as Asterisk sees it). Reads that
variable (one ``GET VARIABLE``), checks it is a path under the hotline's voicemail spool, and records a
``voicemail`` row with ``ivr400.provisioning.voicemail.record_voicemail`` (idempotent on the uniqueid:
the spool sync records the same file).
The dialplan ignores any failure here; we log it.
"""
from __future__ import annotations

import re

from ivr400.controller.routes.context import CallSession, Dialect, RouteContext
from ivr400.controller.routes.dialect import ASTERISK
from ivr400.pbx.asterisk import dialplan_variables as v
from ivr400.provisioning.errors import ProvisioningError
from ivr400.routing.blocking import parse_caller
from ivr400.validators import DEPT_PATH, HOTLINE_NUMBER

__all__ = ["voicemail_file_ok", "voicemail_saved"]

def voicemail_file_ok(path: str, hotline: str, spool: str = v.VOICEMAIL_SPOOL) -> bool:
    """Whether ``path`` names a ``.wav`` file directly in ``hotline``'s voicemail spool directory
    (``<spool>/<hotline>/<name>.wav``, name of letters, digits, ``_ . -``, no ``..``): the only
    files this hook lets the controller look at on the host."""
    m = re.fullmatch(re.escape(spool) + r"/(400[0-9]{7})/[A-Za-z0-9_.\-]{1,80}\.wav", path)
    return m is not None and m.group(1) == hotline and ".." not in path


async def voicemail_saved(session: CallSession, ctx: RouteContext, dialect: Dialect = ASTERISK) -> None:
    params = session.params
    number = params.get("hotline", "")
    dept = params.get("dept", "")
    uniqueid = session.uniqueid or params.get("uniqueid", "")
    if (not HOTLINE_NUMBER.fullmatch(number) or not DEPT_PATH.fullmatch(dept)
            or not dialect.uniqueid.fullmatch(uniqueid)):
        session.log.warning("voicemail_saved: malformed request (hotline=%r dept=%r uniqueid=%r)", number[:40],
                            dept[:40], uniqueid[:40])
        return
    path = await session.get_variable(v.VOICEMAIL_FILE)
    if not path or not voicemail_file_ok(path, number, dialect.voicemail_spool):
        session.log.warning("voicemail_saved: %s: %s=%r is not a file under %s/%s; not recorded", number,
                            v.VOICEMAIL_FILE, (path or "")[:120], dialect.voicemail_spool, number)
        return
    caller = parse_caller(session.callerid).number
    try:
        written = await ctx.save_voicemail(hotline=number, dept=dept, uniqueid=uniqueid, caller=caller,
                                           file_path=path)
    except ProvisioningError as exc:
        session.log.warning("voicemail_saved: %s: not recorded: %s", number, exc)
        return
    session.log.info("voicemail_saved: %s dept %r from %s: %s %s", number, dept, caller or "withheld", path,
                     "recorded" if written else "already recorded")
