"""Voicemail (语音留言): the recordings the dialplan leaves in Asterisk's spool, known to the database.

The rendered dialplan (`[ivr400-voicemail]`) records to
``/var/spool/asterisk/ivr400/voicemail/<hotline>/<UNIQUEID>.wav`` (dialplan_variables.VOICEMAIL_SPOOL)
and nothing else: the caller's number is not in the file name. `sync_voicemail` imports every file
of that layout, idempotent by UNIQUEID, and finds the caller in the call records Asterisk wrote for
the same UNIQUEID: the `call_record` table when the CDR import has it, else cdr_csv's Master.csv.
`record_voicemail` is the one insert both the sync and the controller's `voicemail_saved` hook use.
"""
from __future__ import annotations

import csv
import re
import wave
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import CallRecord, Department, Hotline, Voicemail
from ivr400.provisioning.errors import ProvisioningError
from ivr400.validators import ASTERISK_UNIQUEID, HOTLINE_NUMBER

#: Asterisk UNIQUEID (1700000000.7) or FreeSWITCH Unique-ID (a lower-case UUID).
_UNIQUEID = re.compile(ASTERISK_UNIQUEID.pattern + r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_CALLER = re.compile(r"\+?[0-9]{1,32}")
#: cdr_csv's Master.csv with loguniqueid=yes: src is column 1, uniqueid column 16.
CSV_SRC, CSV_UNIQUEID = 1, 16
WAV_HEADER_BYTES = 44


@dataclass
class SyncResult:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: int = 0
    ignored: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"added": self.added, "updated": self.updated, "unchanged": self.unchanged, "ignored": self.ignored}


def wav_duration(path: Path) -> float | None:
    """Seconds of audio in a WAV file (None if it is not a readable WAV)."""
    try:
        with wave.open(str(path)) as w:
            rate = w.getframerate()
            return round(w.getnframes() / rate, 3) if rate else None
    except (wave.Error, EOFError, OSError):
        return None


def callers_from_cdr_csv(path: Path | None, uniqueids: Iterable[str]) -> dict[str, str]:
    """{uniqueid: caller number} from a Master.csv (cdr_csv, loguniqueid=yes) for the ids wanted."""
    wanted = set(uniqueids)
    found: dict[str, str] = {}
    if path is None or not wanted:
        return found
    try:
        with open(path, newline="", encoding="utf-8", errors="replace") as fh:
            for row in csv.reader(fh):
                if len(row) > CSV_UNIQUEID and row[CSV_UNIQUEID] in wanted and row[CSV_UNIQUEID] not in found:
                    src = row[CSV_SRC].strip()
                    if _CALLER.fullmatch(src):
                        found[row[CSV_UNIQUEID]] = src
    except OSError:
        return found
    return found


def _department_id(session: Session, hotline: Hotline | None, path: str | None) -> int | None:
    if hotline is None or not path:
        return None
    parent_id: int | None = None
    found: Department | None = None
    for key in path.split("."):
        found = session.scalar(select(Department).where(
            Department.hotline_id == hotline.id, Department.key == key,
            Department.parent_id.is_(None) if parent_id is None else Department.parent_id == parent_id))
        if found is None:
            return None
        parent_id = found.id
    return found.id if found is not None else None


def record_voicemail(session: Session, *, hotline_number: str, uniqueid: str, file_path: str, size: int,
                     recorded_at: datetime, caller: str | None = None, duration_s: float | None = None,
                     dept_path: str | None = None) -> tuple[Voicemail, bool]:
    """Insert the message once per UNIQUEID; a later call refreshes size/duration/caller. (row, created)."""
    if not _UNIQUEID.fullmatch(uniqueid):
        raise ProvisioningError("uniqueid", f"{uniqueid!r} is not an Asterisk UNIQUEID or a FreeSWITCH Unique-ID")
    if caller is not None and not _CALLER.fullmatch(caller):
        caller = None
    row = session.scalar(select(Voicemail).where(Voicemail.uniqueid == uniqueid))
    if row is not None:
        changed = False
        # A caller that cannot see the file (size 0, no duration) never overwrites what a sync measured.
        for attr, value in (("size", size or None), ("duration_s", duration_s), ("file_path",
                                                                                 file_path if size else None)):
            if value is not None and getattr(row, attr) != value:
                setattr(row, attr, value)
                changed = True
        if caller and not row.caller:
            row.caller, changed = caller, True
        if changed:
            session.flush()
        return row, False
    hotline = session.scalar(select(Hotline).where(Hotline.number == hotline_number))
    row = Voicemail(hotline_id=hotline.id if hotline else None,
                    department_id=_department_id(session, hotline, dept_path), uniqueid=uniqueid, caller=caller,
                    file_path=file_path, size=size, duration_s=duration_s, recorded_at=recorded_at)
    session.add(row)
    session.flush()
    return row, True


def sync_voicemail(session: Session, spool_dir: Path, *, cdr_csv: Path | None = None) -> SyncResult:
    """Import <spool_dir>/<hotline>/<uniqueid>.wav into the voicemail table (idempotent by uniqueid).

    `spool_dir` is the host path of VOICEMAIL_SPOOL. Files still growing are imported with their
    current size and refreshed by the next sync. Kept out (listed in `ignored`): a file with no audio
    beyond the WAV header, and directories of hotlines this database does not know (several
    databases, e.g. tests and the demo, may share one PBX).
    """
    result = SyncResult()
    spool_dir = Path(spool_dir)
    if not spool_dir.is_dir():
        return result
    found: list[tuple[str, str, Path]] = []
    known = set(session.scalars(select(Hotline.number)))
    for hotline_dir in sorted(p for p in spool_dir.iterdir() if p.is_dir()):
        if not HOTLINE_NUMBER.fullmatch(hotline_dir.name):
            result.ignored.append(f"{hotline_dir.name}/ (not a 400 number)")
            continue
        if hotline_dir.name not in known:  # another database's hotline on the same PBX
            result.ignored.append(f"{hotline_dir.name}/ (no such hotline in this database)")
            continue
        for path in sorted(hotline_dir.glob("*.wav")):
            if not _UNIQUEID.fullmatch(path.stem):
                result.ignored.append(f"{hotline_dir.name}/{path.name} (not <uniqueid>.wav)")
                continue
            found.append((hotline_dir.name, path.stem, path))
    ids = [uid for _, uid, _ in found]
    callers: dict[str, str] = {}
    depts: dict[str, str] = {}
    if ids:
        for uid, caller, dept in session.execute(
                select(CallRecord.uniqueid, CallRecord.caller, CallRecord.department)
                .where(CallRecord.uniqueid.in_(ids))):
            if caller:
                callers[uid] = caller
            if dept:
                depts[uid] = dept
        missing = [uid for uid in ids if uid not in callers]
        callers.update(callers_from_cdr_csv(cdr_csv, missing))
    existing = {uid: (size, dur) for uid, size, dur in session.execute(
        select(Voicemail.uniqueid, Voicemail.size, Voicemail.duration_s).where(Voicemail.uniqueid.in_(ids)))} \
        if ids else {}
    for hotline, uid, path in found:
        try:
            stat = path.stat()
        except FileNotFoundError:
            continue
        if stat.st_size <= WAV_HEADER_BYTES:
            result.ignored.append(f"{hotline}/{path.name} (no audio)")
            continue
        duration = wav_duration(path)
        if uid in existing and existing[uid] == (stat.st_size, duration):
            result.unchanged += 1
            continue
        _, created = record_voicemail(
            session, hotline_number=hotline, uniqueid=uid, file_path=str(path), size=stat.st_size,
            duration_s=duration, caller=callers.get(uid), dept_path=depts.get(uid),
            recorded_at=datetime.fromtimestamp(stat.st_mtime, timezone.utc))
        (result.added if created else result.updated).append(uid)
    return result


def list_voicemail(session: Session, *, hotline: str | None = None, limit: int | None = None) -> list[Voicemail]:
    stmt = select(Voicemail).order_by(Voicemail.recorded_at.desc(), Voicemail.id.desc())
    if hotline is not None:
        stmt = stmt.join(Hotline, Hotline.id == Voicemail.hotline_id).where(Hotline.number == hotline)
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt))


