"""Call records in the database: idempotent upserts, and the CSV backfill with its remembered offset.

    stats = store_calls(engine, aggregate(legs, region), source="ami")
    result = import_csv(engine, csv_path)           # from the remembered offset to the end

The import offset lives in a small JSON state file (``data_dir()/cdr-import-state.json`` unless told
otherwise), keyed by database and CSV path, and is only moved after the rows it covers are committed.
Rotation (a new file under the name: another inode, or other first bytes) and truncation are detected;
the rotated file's unread tail is read first when it is still beside the new one. Re-reading is always
safe, because upserts are idempotent.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine, and_, func, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from ivr400.cdr.cdr_model import (
    CSV_FILE,
    MISSED_DISPOSITIONS,
    Call,
    Leg,
    RegionLookup,
    aggregate,
    merge_calls,
    parse_csv_text,
    record_view,
)
from ivr400.cdr.fact_store import apply_calls
from ivr400.db.models import CallRecord, ClickToCallAttempt
from ivr400.db.models import RegionOverride as RegionOverrideRow
from ivr400.fsutil import atomic_write
from ivr400.paths import data_dir
from ivr400.routing.model import RegionOverride
from ivr400.routing.region import caller_region

__all__ = [
    "DEFAULT_CSV_PATH",
    "ImportResult",
    "UpsertStats",
    "call_from_row",
    "default_csv_path",
    "default_state_path",
    "import_csv",
    "missed_callers",
    "record_view",
    "region_lookup",
    "store_calls",
    "store_legs",
    "upsert_calls",
]

#: Where cdr_custom writes ivr400.csv on a PBX host (as Asterisk sees it).
DEFAULT_CSV_PATH = f"/var/log/asterisk/cdr-custom/{CSV_FILE}"
SOURCES = ("ami", "csv", "esl")  # esl: FreeSWITCH CHANNEL_HANGUP_COMPLETE events (cdr.fs_events)
_IN_CHUNK = 500
#: Bytes hashed to recognise a file again (its first line is unique: it starts with a linkedid).
_HEAD_BYTES = 256


# -- rows -------------------------------------------------------------------------------------------
def call_from_row(row: CallRecord) -> Call:
    return Call(**{name: getattr(row, name) for name in Call.COLUMNS})


def region_lookup(session: Session) -> RegionLookup:
    """Caller region with the database's override table applied (see ivr400.routing.region)."""
    index: dict[str, RegionOverride] = {}
    for row in session.scalars(select(RegionOverrideRow)):
        try:
            override = RegionOverride(prefix=row.prefix, province=row.province, city=row.city)
        except ValueError:
            continue  # an override the routing model refuses is ignored here as it is at call time
        index[override.prefix] = override  # keyed by the normalized prefix, as at call time

    def lookup(number: str | None) -> tuple[str | None, str | None]:
        found = caller_region(number, index)
        return found.province, found.city

    return lookup


@dataclass
class UpsertStats:
    """Calls written: new rows; rows whose call record or fact row (charge, 欠费接通 flag, roll-ups) changed; rows
    whose record and fact stayed as they were."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0

    @property
    def written(self) -> int:
        return self.inserted + self.updated

    def add(self, other: UpsertStats) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def upsert_calls(session: Session, calls: Iterable[Call], source: str,
                 region: RegionLookup | None = None, node: str | None = None) -> UpsertStats:
    """Insert new calls, join known ones into their row (:func:`merge_calls`), and write their fact rows and
    hourly roll-ups (:func:`ivr400.cdr.fact_store.apply_calls`); flushes, no commit.

    `source` ('ami' | 'csv' | 'esl') is recorded when a row is created and never changed afterwards. With
    `region`, the caller's region is (re)computed from the caller number on every write. `node` (the cluster
    node whose listener stores the call) is written when a row is created, or given to a row that has none.
    """
    if source not in SOURCES:
        raise ValueError(f"source: {source!r} is not one of {SOURCES}")
    batch: dict[str, Call] = {}
    for call in calls:
        prev = batch.get(call.uniqueid)
        batch[call.uniqueid] = call if prev is None else merge_calls(prev, call, region)
    stats = UpsertStats()
    if not batch:
        return stats
    facts: list[Call] = []
    same: list[str] = []  # records unchanged: "unchanged" only if their fact is too
    existing: dict[str, CallRecord] = {}
    for ids in _chunks(sorted(batch), _IN_CHUNK):
        stmt = select(CallRecord).where(CallRecord.uniqueid.in_(ids)).with_for_update()
        existing.update({row.uniqueid: row for row in session.scalars(stmt)})
    for uid, call in batch.items():
        row = existing.get(uid)
        if row is None:
            if region is not None:
                province, city = region(call.caller)
                call = replace(call, caller_province=province, caller_city=city)
            session.add(CallRecord(**call.values(), source=source, node=node))
            facts.append(call)
            stats.inserted += 1
            continue
        before = call_from_row(row)
        merged = merge_calls(before, call, region)
        facts.append(merged)
        if node is not None and row.node is None:
            row.node = node
        if merged.values() == before.values():
            same.append(uid)
            continue
        for name, value in merged.values().items():
            setattr(row, name, value)
        stats.updated += 1
    session.flush()
    changed: set[str] = set()
    apply_calls(session, facts, changed_ids=changed)  # the fact rows and hourly roll-ups, in the same transaction
    stats.unchanged = sum(uid not in changed for uid in same)
    stats.updated += len(same) - stats.unchanged  # a fact (charge, flag, roll-ups) written under an unchanged record
    return stats


def _retrying(engine: Engine, work: Callable[[Session], UpsertStats], attempts: int) -> UpsertStats:
    """Run `work` in its own transaction, retried when a concurrent writer (the listener and
    `cdr import` at once) inserted the same call first or held the database."""
    for attempt in range(attempts):
        try:
            with Session(engine, expire_on_commit=False) as session, session.begin():
                return work(session)
        except (IntegrityError, OperationalError):
            if attempt == attempts - 1:
                raise
            time.sleep(0.05 * 2**attempt)
    raise AssertionError("unreachable")


def store_calls(engine: Engine, calls: Iterable[Call], source: str, *, attempts: int = 5) -> UpsertStats:
    """:func:`upsert_calls` in its own transaction (retried on a concurrent writer)."""
    calls = list(calls)
    return _retrying(engine, lambda s: upsert_calls(s, calls, source, region_lookup(s)), attempts)


def close_callbacks(session: Session, legs: Iterable[Leg]) -> int:
    """WEB呼叫: close the click-to-call attempts whose originated channel these CDR legs are (leg uniqueid =
    the Originate's ChannelId): ``ended_at`` = the leg's end (else its start), ``final`` = its disposition,
    lowercase. Asterisk posts a channel's CDRs when it ends, so a closed attempt is no longer in flight.
    Already closed ones are left as they are. Returns how many were closed; flushes, no commit."""
    ends: dict[str, tuple[datetime, str]] = {}
    for leg in legs:
        when = leg.end or leg.start
        if leg.uniqueid and (leg.uniqueid not in ends or when > ends[leg.uniqueid][0]):
            ends[leg.uniqueid] = (when, leg.disposition.lower()[:16])
    if not ends:
        return 0
    closed = 0
    ids = sorted(ends)
    for i in range(0, len(ids), 500):
        for row in session.scalars(select(ClickToCallAttempt).where(
                ClickToCallAttempt.channel_id.in_(ids[i:i + 500]), ClickToCallAttempt.ended_at.is_(None))):
            row.ended_at, row.final = ends[row.channel_id]  # type: ignore[index]
            closed += 1
    session.flush()
    return closed


def store_legs(engine: Engine, legs: Iterable[Leg], source: str, *, attempts: int = 5,
               node: str | None = None) -> tuple[list[Call], UpsertStats]:
    """Aggregate legs into calls (caller region with the database's overrides) and upsert them (new rows get
    `node`, the cluster node they came from)."""
    legs = list(legs)
    calls: list[Call] = []

    def work(session: Session) -> UpsertStats:
        region = region_lookup(session)
        calls[:] = aggregate(legs, region)
        stats = upsert_calls(session, calls, source, region, node=node)
        close_callbacks(session, legs)
        return stats

    stats = _retrying(engine, work, attempts)
    return calls, stats


# -- the CSV backfill ---------------------------------------------------------------------------------
def default_state_path() -> Path:
    """cdr-import-state.json in the data directory (the CLI passes cdr.state of ivr400.config instead)."""
    return data_dir() / "cdr-import-state.json"


def default_csv_path() -> Path:
    """cdr_custom's file where a stock Asterisk writes it (the CLI passes cdr.csv of ivr400.config)."""
    return Path(DEFAULT_CSV_PATH)


@dataclass
class ImportResult:
    """What one `import_csv` run read and wrote."""

    path: str
    start_offset: int = 0
    end_offset: int = 0
    bytes_read: int = 0
    legs: int = 0
    calls: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)
    #: 'rotated' (another file under the name), 'truncated', 'missing' (no file yet) or None.
    reset: str | None = None
    rotated_tail_from: str | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class _FileState:
    offset: int = 0
    inode: int | None = None
    head: str | None = None  # sha256 of the first _HEAD_BYTES bytes (or fewer, with head_len)
    head_len: int = 0


def _state_key(engine: Engine, csv_path: Path) -> str:
    return f"{engine.url.render_as_string(hide_password=True)}|{csv_path.resolve()}"


def _save_state(state_path: Path, data: dict) -> None:
    atomic_write(state_path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode=0o600)


@contextmanager
def _locked_state(state_path: Path) -> Iterator[dict]:
    """Load the state file under an exclusive lock (one import at a time); the caller saves it."""
    state_path.parent.mkdir(parents=True, exist_ok=True)
    with open(state_path.with_name(state_path.name + ".lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            try:
                data = json.loads(state_path.read_text())
                if not isinstance(data, dict):
                    data = {}
            except FileNotFoundError:
                data = {}
            except (OSError, ValueError):
                data = {}  # unreadable state: start over; the upserts make re-reading harmless
            data.setdefault("version", 1)
            data.setdefault("files", {})
            yield data
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _head(path: Path, length: int) -> str | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read(length)
    except OSError:
        return None
    if len(data) < length:
        return None
    return hashlib.sha256(data).hexdigest()


def _same_head(path: Path, saved: _FileState) -> bool:
    if saved.head is None or not saved.head_len:
        return True
    return _head(path, saved.head_len) == saved.head


def _find_rotated(path: Path, inode: int | None) -> Path | None:
    """The file a rotation moved away (same inode, beside the current one: ivr400.csv.1, ...)."""
    if inode is None:
        return None
    try:
        siblings = list(path.parent.iterdir())
    except OSError:
        return None
    for candidate in sorted(siblings):
        if candidate == path or not candidate.name.startswith(path.name):
            continue
        try:
            if candidate.is_file() and candidate.stat().st_ino == inode:
                return candidate
        except OSError:
            continue
    return None


def _skip_line(fh: BinaryIO, offset: int) -> int | None:
    """Length of the line at `offset` including its newline (None if it has no newline yet)."""
    fh.seek(offset)
    length = 0
    while True:
        block = fh.read(1 << 16)
        if not block:
            return None
        cut = block.find(b"\n")
        if cut >= 0:
            return length + cut + 1
        length += len(block)


def _read_from(engine: Engine, path: Path, offset: int, result: ImportResult, chunk_bytes: int,
               committed: Callable[[int], None], node: str | None = None) -> int:
    """Store the complete lines of `path` from `offset`, chunk by chunk, calling `committed(offset)`
    after each chunk's rows are committed; return the final offset."""
    with open(path, "rb") as fh:
        while True:
            fh.seek(offset)
            data = fh.read(chunk_bytes)
            if not data:
                return offset
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) < chunk_bytes:
                    return offset  # a line still being written
                skipped = _skip_line(fh, offset)
                if skipped is None:
                    return offset  # an overlong line still being written
                result.errors.append(f"{path.name} @{offset}: line of {skipped} bytes (over {chunk_bytes}) skipped")
                cut = skipped - 1
            else:
                batch = parse_csv_text(data[: cut + 1].decode("utf-8", errors="replace"))
                result.errors.extend(f"{path.name} @{offset}: {e}" for e in batch.errors)
                if batch.legs:
                    calls, stats = store_legs(engine, batch.legs, "csv", node=node)
                    result.legs += len(batch.legs)
                    result.calls += len(calls)
                    result.inserted += stats.inserted
                    result.updated += stats.updated
                    result.unchanged += stats.unchanged
            result.bytes_read += cut + 1
            offset += cut + 1
            committed(offset)


def import_csv(
    engine: Engine,
    csv_path: Path | str | None = None,
    *,
    state_path: Path | str | None = None,
    from_start: bool = False,
    chunk_bytes: int = 4 << 20,
    node: str | None = None,
) -> ImportResult:
    """Upsert the calls of ivr400.csv written since the last import (or all of it with from_start).

    Chunks are line-aligned; a call's CDR lines sit together in the file (Asterisk posts a channel's
    CDRs at its hangup), so a call is rarely split across chunks, and when it is the join of the two
    parts is stored. The offset is saved only up to rows already committed, also when a chunk fails.
    """
    path = Path(csv_path) if csv_path is not None else default_csv_path()
    state_file = Path(state_path) if state_path is not None else default_state_path()
    result = ImportResult(path=str(path))
    with _locked_state(state_file) as state:
        key = _state_key(engine, path)
        raw = {} if from_start else (state["files"].get(key) or {})
        saved = _FileState(
            offset=int(raw.get("offset", 0)), inode=raw.get("inode"), head=raw.get("head"),
            head_len=int(raw.get("head_len", 0)),
        )
        try:
            st = path.stat()
        except FileNotFoundError:
            # Nothing written yet (or rotated away with no successor): keep the state as it is.
            result.reset = "missing" if saved.offset else None
            result.start_offset = result.end_offset = saved.offset
            return result
        offset = saved.offset
        if offset and saved.inode is not None and saved.inode != st.st_ino:
            rotated = _find_rotated(path, saved.inode)
            if rotated is not None:
                result.rotated_tail_from = str(rotated)
                # A failure here leaves the saved state untouched: the tail is tried again next time.
                _read_from(engine, rotated, offset, result, chunk_bytes, lambda _o: None, node)
            result.reset = "rotated"
            offset = 0
        elif offset > st.st_size:
            result.reset = "truncated"
            offset = 0
        elif offset and not _same_head(path, saved):
            result.reset = "rotated"  # other content under the same inode (copytruncate + new lines)
            offset = 0
        result.start_offset = result.end_offset = offset

        def committed(new_offset: int) -> None:
            result.end_offset = new_offset

        try:
            _read_from(engine, path, offset, result, chunk_bytes, committed, node)
        finally:
            head_len = min(_HEAD_BYTES, result.end_offset)
            state["files"][key] = {
                "path": str(path),
                "offset": result.end_offset,
                "inode": st.st_ino,
                "head": _head(path, head_len) if head_len else None,
                "head_len": head_len,
                "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            }
            _save_state(state_file, state)
    return result


# -- queries -------------------------------------------------------------------------------------------
def missed_callers(session: Session, hotline: str | None = None, since: datetime | None = None) -> dict[str, Any]:
    """Callers to call back: their calls were not answered (noanswer, busy, abandoned, voicemail) and
    no answered call from the same number to the same hotline came after the last of them. Only the
    missed calls after the caller's last answered call are counted.

    Returns {"callers": [...], "callers_count", "missed_calls", "anonymous_calls"}; callers sorted
    by their last missed call, newest first.
    """
    stmt = select(CallRecord).where(CallRecord.disposition.in_(MISSED_DISPOSITIONS))
    if hotline:
        stmt = stmt.where(CallRecord.hotline == hotline)
    if since:
        stmt = stmt.where(CallRecord.started_at >= since)
    missed = list(session.scalars(stmt.order_by(CallRecord.started_at, CallRecord.id)))
    anonymous = sum(1 for r in missed if not r.caller)  # nobody to call back
    groups: dict[tuple[str | None, str], list[CallRecord]] = {}
    for r in missed:
        if r.caller:
            groups.setdefault((r.hotline, r.caller), []).append(r)
    # The last answered call per (hotline, caller), whenever it was.
    answered: dict[tuple[str | None, str], datetime] = {}
    callers = sorted({c for _, c in groups})
    for i in range(0, len(callers), 500):
        chunk = callers[i : i + 500]
        q = (
            select(CallRecord.hotline, CallRecord.caller, func.max(CallRecord.started_at))
            .where(and_(CallRecord.disposition == "answered", CallRecord.caller.in_(chunk)))
            .group_by(CallRecord.hotline, CallRecord.caller)
        )
        if hotline:
            q = q.where(CallRecord.hotline == hotline)
        for h, c, last in session.execute(q):
            if isinstance(last, datetime) and last.tzinfo is None:  # an aggregate skips the column type
                last = last.replace(tzinfo=timezone.utc)
            elif isinstance(last, str):
                last = datetime.fromisoformat(last).replace(tzinfo=timezone.utc)
            answered[(h, c)] = last
    rows = []
    for (h, c), calls in groups.items():
        reached = answered.get((h, c))
        if reached is not None:
            calls = [r for r in calls if r.started_at > reached]  # only what came after the last answer
        if not calls:
            continue
        last = calls[-1]
        rows.append({
            "hotline": h,
            "caller": c,
            "caller_province": last.caller_province,
            "caller_city": last.caller_city,
            "missed": len(calls),
            "first_missed": calls[0].started_at,
            "last_missed": last.started_at,
            "last_disposition": last.disposition,
            "last_answered": reached,
            "uniqueids": [r.uniqueid for r in calls],
        })
    rows.sort(key=lambda r: (r["last_missed"], r["caller"]), reverse=True)
    return {
        "callers": rows,
        "callers_count": len(rows),
        "missed_calls": sum(r["missed"] for r in rows),
        "anonymous_calls": anonymous,
    }
