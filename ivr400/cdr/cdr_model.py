"""Call records (通话详单) from Asterisk's own CDRs: pure parsing and aggregation, no I/O.

Asterisk's CDR engine writes several CDRs per call: one per dialed leg (busy seat, then the seat that
answered, ...) plus sometimes a trailing one for the dialplan run after the last Dial, all with the
same ``linkedid`` (the inbound channel's uniqueid). They reach us two ways, carrying the same fields:

* live, as AMI ``Cdr`` events (cdr_manager, with the ``[mappings]`` of :func:`cdr_manager_mappings`);
* durably, as lines of ``cdr-custom/ivr400.csv`` (cdr_custom, columns :data:`CSV_COLUMNS`).

Both are parsed into :class:`Leg` objects; :func:`aggregate` folds the legs of each linkedid into one
:class:`Call` (one ``call_record`` row), and :func:`merge_calls` joins a call with what is already
stored, so replaying the same events or CSV lines any number of times gives the same rows.

Times are taken as epoch seconds (``${CDR(start,u)}``), so the PBX's time zone never matters.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone, tzinfo
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from ivr400.localtime import to_zone, zone_name
from ivr400.numbers import normalize_caller
from ivr400.pbx.asterisk.dialplan_variables import (
    CDR_CALL,
    CDR_DECIDED_BY,
    CDR_DEPT,
    CDR_DISPOSITION,
    CDR_HOTLINE,
    CDR_HUNT_AT,
    CDR_KEYS,
    CDR_RECORDING,
    CDR_SEAT,
    CDR_SEAT_ANSWER,
)
from ivr400.validators import HOTLINE_NUMBER

if TYPE_CHECKING:  # a row of the model or of the driver-only reader (ivr400.provisioning.listing)
    from ivr400.db.models import CallRecord

__all__ = [
    "CALLBACK_STATUSES",
    "CSV_COLUMNS",
    "CSV_FILE",
    "CSV_FORMAT",
    "PACKED_COLUMNS",
    "DECIDED_BY",
    "DISPOSITIONS",
    "EVENT_HEADERS",
    "MISSED_DISPOSITIONS",
    "Call",
    "CdrParseError",
    "CsvBatch",
    "Leg",
    "aggregate",
    "call_from_legs",
    "cdr_custom_mapping",
    "cdr_manager_mappings",
    "leg_from_csv_row",
    "leg_from_event",
    "merge_calls",
    "parse_csv_text",
    "record_view",
    "seat_label",
]

# -- the contract with Asterisk's configuration ---------------------------------------------------

#: File name cdr_custom writes (relative names land in /var/log/asterisk/cdr-custom/).
CSV_FILE = "ivr400.csv"
#: First column of every line: lets a later layout change coexist with old lines in one file.
CSV_FORMAT = "ivr400/4"
#: CSV columns in order: the format tag, then CDR fields (start/answer/end as epoch seconds), then
#: the ivr400_* CDR variables the dialplan's hangup handler sets: ivr400_hotline, then the rest (PACKED_COLUMNS)
#: in one CDR variable (dialplan_variables.CDR_CALL). Nothing is written earlier in the call: a CDR() write waits
#: for Asterisk's CDR thread, whose queue grows with the load.
CSV_COLUMNS: tuple[str, ...] = (
    "format",
    "linkedid",
    "uniqueid",
    "sequence",
    "clid",
    "src",
    "dst",
    "dcontext",
    "channel",
    "dstchannel",
    "lastapp",
    "lastdata",
    "start",
    "answer",
    "end",
    "duration",
    "billsec",
    "disposition",
    "amaflags",
    "accountcode",
    "userfield",
    CDR_HOTLINE,
    CDR_KEYS,
    CDR_DEPT,
    CDR_SEAT,
    CDR_DISPOSITION,
    CDR_RECORDING,
    CDR_DECIDED_BY,
    CDR_HUNT_AT,
    CDR_SEAT_ANSWER,
)
#: The columns the hangup handler writes in one CDR variable (CDR_CALL): one CDR() write is one hand-off to
#: Asterisk's CDR thread, so one write instead of eight is what a call costs. Its value is already CSV (each
#: field CSV_QUOTEd, comma-joined), and cdr_custom writes it into the line as it is.
PACKED_COLUMNS: tuple[str, ...] = CSV_COLUMNS[CSV_COLUMNS.index(CDR_HOTLINE) + 1:]
#: Every layout still read, by format tag: ivr400/1 lines (written before ivr400_decided_by) have no
#: decided_by column; ivr400/2 lines (before the report timestamps) no hunt and seat answer columns;
#: ivr400/3 lines (each variable set on its own) the same columns as ivr400/4.
CSV_LAYOUTS: dict[str, tuple[str, ...]] = {"ivr400/1": CSV_COLUMNS[:-3], "ivr400/2": CSV_COLUMNS[:-2],
                                           "ivr400/3": CSV_COLUMNS, CSV_FORMAT: CSV_COLUMNS}
#: Columns written raw (``${CDR(name,u)}``): epoch seconds with microseconds, 0 when unset.
EPOCH_COLUMNS = frozenset({"start", "answer", "end"})

#: cdr_manager.conf [mappings]: CDR field or variable (with CDR() options) => extra Cdr event header.
EVENT_HEADERS: tuple[tuple[str, str], ...] = (
    ("linkedid", "LinkedID"),
    ("sequence", "Sequence"),
    ("start,u", "StartEpoch"),
    ("answer,u", "AnswerEpoch"),
    ("end,u", "EndEpoch"),
    (CDR_HOTLINE, "IVR400Hotline"),
    (CDR_CALL, "IVR400Call"),
)
#: Headers of the packed columns as separate variables (events from a dialplan older than ivr400/4).
_LEGACY_EVENT_HEADERS: tuple[tuple[str, str], ...] = (
    (CDR_KEYS, "IVR400Keys"),
    (CDR_DEPT, "IVR400Dept"),
    (CDR_SEAT, "IVR400Seat"),
    (CDR_DISPOSITION, "IVR400Disp"),
    (CDR_RECORDING, "IVR400Rec"),
    (CDR_DECIDED_BY, "IVR400DecidedBy"),
    (CDR_HUNT_AT, "IVR400Hunt"),
    (CDR_SEAT_ANSWER, "IVR400SeatAnswer"),
)

#: Standard Cdr event headers (cdr_manager) for each CSV column that has one.
_STANDARD_HEADERS = {
    "uniqueid": "UniqueID",
    "clid": "CallerID",
    "src": "Source",
    "dst": "Destination",
    "dcontext": "DestinationContext",
    "channel": "Channel",
    "dstchannel": "DestinationChannel",
    "lastapp": "LastApplication",
    "lastdata": "LastData",
    "duration": "Duration",
    "billsec": "BillableSeconds",
    "disposition": "Disposition",
    "amaflags": "AMAFlags",
    "accountcode": "AccountCode",
    "userfield": "UserField",
}
#: Local-time headers used when the epoch mappings are missing (a cdr_manager.conf without them).
_LOCAL_TIME_HEADERS = {"start": "StartTime", "answer": "AnswerTime", "end": "EndTime"}


def cdr_custom_mapping() -> str:
    """The cdr_custom.conf ``[mappings]`` line writing :data:`CSV_COLUMNS` to :data:`CSV_FILE`: each column
    CSV-quoted, then the packed variable (already CSV) as it is; a CDR the hangup handler never reached (a seat
    that was busy before another answered) has an empty ivr400_hotline and ends with an empty column (the call's
    last CDR has both)."""
    fields = [CSV_FORMAT]
    for name in CSV_COLUMNS[1:len(CSV_COLUMNS) - len(PACKED_COLUMNS)]:
        ref = f"{name},u" if name in EPOCH_COLUMNS else name
        fields.append(f"${{CSV_QUOTE(${{CDR({ref})}})}}")
    fields.append(f"${{CDR({CDR_CALL})}}")
    return f"{CSV_FILE} => " + ",".join(fields)


def _unpack(value: str) -> dict[str, str]:
    """The packed columns from a CDR_CALL value ("" → all empty).

    Raises:
        CdrParseError: the value is not one CSV line of :data:`PACKED_COLUMNS` fields.
    """
    if not value:
        return dict.fromkeys(PACKED_COLUMNS, "")
    try:
        rows = list(csv.reader(io.StringIO(value), strict=True))
    except csv.Error as exc:
        raise CdrParseError(f"{CDR_CALL}: {exc}") from exc
    if len(rows) != 1 or len(rows[0]) != len(PACKED_COLUMNS):
        raise CdrParseError(f"{CDR_CALL}: expected {len(PACKED_COLUMNS)} fields, got {value[:80]!r}")
    return {name: field.strip() for name, field in zip(PACKED_COLUMNS, rows[0], strict=True)}


def cdr_manager_mappings() -> list[str]:
    """The cdr_manager.conf ``[mappings]`` lines (``name => Header``)."""
    return [f"{name} => {header}" for name, header in EVENT_HEADERS]


# -- what a call can end as ------------------------------------------------------------------------

#: Dispositions of a call record (the dialplan's ivr400_disp values), strongest first: when two
#: partial views of one call disagree, the stronger wins (see merge_calls).
DISPOSITIONS: tuple[str, ...] = (
    "answered",
    "fax",  # 传真: the hotline received a fax (ivr400-fax); nobody to call back
    "voicemail",
    "blocked",
    "unknown_number",
    "noanswer",
    "busy",
    "abandoned",
)
_RANK = {d: len(DISPOSITIONS) - i for i, d in enumerate(DISPOSITIONS)}
#: Who decided a call's routing (the dialplan's ivr400_decided_by): the FastAGI controller, the static
#: plan rendered beside it (the controller was down, slow, or declined), or each for a part of the call
#: (e.g. the entry by the controller, the hunt after a key press by the static plan). Empty: nobody had
#: to (a call to a number that is not a hotline, or one that ended before the first decision).
DECIDED_BY: tuple[str, ...] = ("controller", "static", "mixed")
#: Dispositions of calls nobody took: their callers are to be called back (cdr missed).
MISSED_DISPOSITIONS: tuple[str, ...] = ("noanswer", "busy", "abandoned", "voicemail")
_EPOCH = re.compile(r"([0-9]+)(?:\.([0-9]*))?")


class CdrParseError(ValueError):
    """A CDR event or CSV line that cannot be read as a call leg."""


@dataclass(frozen=True)
class Leg:
    """One CDR: Party A (the caller's channel) and at most one Party B (a dialed seat)."""

    linkedid: str
    uniqueid: str
    sequence: int | None
    start: datetime
    answer: datetime | None
    end: datetime | None
    disposition: str  # Asterisk's: ANSWERED, BUSY, NO ANSWER, FAILED, CONGESTION
    src: str = ""
    clid: str = ""
    dst: str = ""
    dcontext: str = ""
    channel: str = ""
    dstchannel: str = ""
    lastapp: str = ""
    lastdata: str = ""
    duration: int = 0
    billsec: int = 0
    hotline: str = ""
    keys: str = ""
    dept: str = ""
    seat: str = ""
    disp: str = ""
    rec: str = ""
    decided_by: str = ""
    hunt: str = ""
    seat_answer: str = ""

    @property
    def has_party_b(self) -> bool:
        return bool(self.dstchannel)

    @property
    def seat_answered(self) -> bool:
        """A dialed party (a seat) answered on this leg."""
        return self.has_party_b and self.disposition == "ANSWERED" and self.answer is not None

    @property
    def order(self) -> tuple[int, float, float]:
        """Order of CDRs within a call: Asterisk's global CDR sequence, then times."""
        end = self.end or self.start
        return (self.sequence if self.sequence is not None else -1, end.timestamp(), self.start.timestamp())


@dataclass(frozen=True)
class Call:
    """One call record (one ``call_record`` row), keyed by the linkedid."""

    uniqueid: str
    linkedid: str
    started_at: datetime
    disposition: str
    hotline: str | None = None
    caller: str | None = None
    caller_province: str | None = None
    caller_city: str | None = None
    answered_at: datetime | None = None
    ended_at: datetime | None = None
    duration_s: int | None = None
    billsec: int | None = None
    key_path: str | None = None
    department: str | None = None
    seat: str | None = None
    recording_path: str | None = None
    decided_by: str | None = None
    #: Whether the dialplan said the disposition (ivr400_disp) rather than it being derived.
    disposition_explicit: bool = field(default=False, compare=False)
    #: For the fact row (not in call_record): when the first seat was rung (ivr400_hunt), when the seat answered
    #: (ivr400_seat_answer; answered_at may be the IVR's Answer()), and the dial strings of every seat rung (sorted).
    hunt_at: datetime | None = field(default=None, compare=False)
    seat_answered_at: datetime | None = field(default=None, compare=False)
    seats_rung: tuple[str, ...] = field(default=(), compare=False)

    #: Columns of call_record this dataclass fills (all but id and source).
    COLUMNS = (
        "uniqueid", "linkedid", "hotline", "caller", "caller_province", "caller_city", "started_at",
        "answered_at", "ended_at", "duration_s", "billsec", "key_path", "department", "seat",
        "disposition", "recording_path", "decided_by",
    )

    def values(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.COLUMNS}


@dataclass
class CsvBatch:
    """Legs parsed from a chunk of the CSV, and the lines that could not be read."""

    legs: list[Leg] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


# -- parsing ----------------------------------------------------------------------------------------
def _text(value: Any) -> str:  # noqa: ANN401
    if value is None:
        return ""
    if isinstance(value, list):  # a header repeated in one AMI message: the last one counts
        value = value[-1] if value else ""
    return str(value).strip()


def _int(value: str, name: str) -> int:
    if value == "":
        return 0
    try:
        return int(float(value))
    except ValueError as exc:
        raise CdrParseError(f"{name}: {value!r} is not a number") from exc


def _epoch(value: str, name: str) -> datetime | None:
    """``1795655519.861525`` (as ``${CDR(start,u)}`` writes it) → aware UTC, exact to the microsecond."""
    if value == "":
        return None
    m = _EPOCH.fullmatch(value)
    if m is None:
        raise CdrParseError(f"{name}: {value!r} is not an epoch time")
    seconds, fraction = int(m.group(1)), (m.group(2) or "").ljust(6, "0")[:6]
    if seconds <= 0:
        return None
    return datetime.fromtimestamp(seconds, tz=timezone.utc).replace(microsecond=int(fraction))


def _local(value: str, name: str, tz: tzinfo) -> datetime | None:
    if value == "":
        return None
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=tz).astimezone(timezone.utc)
    except ValueError as exc:
        raise CdrParseError(f"{name}: {value!r} is not a time YYYY-MM-DD HH:MM:SS") from exc


def _leg(fields: Mapping[str, str], start: datetime | None, answer: datetime | None,
         end: datetime | None) -> Leg:
    uniqueid = fields.get("uniqueid", "")
    linkedid = fields.get("linkedid", "") or uniqueid
    if not linkedid:
        raise CdrParseError("linkedid: missing (and no uniqueid)")
    if start is None:
        raise CdrParseError("start: missing")
    seq = fields.get("sequence", "")
    return Leg(
        linkedid=linkedid,
        uniqueid=uniqueid or linkedid,
        sequence=_int(seq, "sequence") if seq else None,
        start=start,
        answer=answer,
        end=end,
        disposition=fields.get("disposition", "").upper(),
        src=fields.get("src", ""),
        clid=fields.get("clid", ""),
        dst=fields.get("dst", ""),
        dcontext=fields.get("dcontext", ""),
        channel=fields.get("channel", ""),
        dstchannel=fields.get("dstchannel", ""),
        lastapp=fields.get("lastapp", ""),
        lastdata=fields.get("lastdata", ""),
        duration=_int(fields.get("duration", ""), "duration"),
        billsec=_int(fields.get("billsec", ""), "billsec"),
        hotline=fields.get(CDR_HOTLINE, ""),
        keys=fields.get(CDR_KEYS, ""),
        dept=fields.get(CDR_DEPT, ""),
        seat=fields.get(CDR_SEAT, ""),
        disp=fields.get(CDR_DISPOSITION, ""),
        rec=fields.get(CDR_RECORDING, ""),
        decided_by=fields.get(CDR_DECIDED_BY, ""),
        hunt=fields.get(CDR_HUNT_AT, ""),
        seat_answer=fields.get(CDR_SEAT_ANSWER, ""),
    )


def leg_from_event(event: Mapping[str, Any], tz: tzinfo = timezone.utc) -> Leg:
    """A leg from an AMI ``Cdr`` event (a panoramisk Message or any header mapping).

    Header names are matched case-insensitively; a header Asterisk left out (it drops a trailing
    empty one) reads as empty. Without the epoch mappings the local StartTime/AnswerTime/EndTime
    are read in `tz` (the PBX's time zone).
    """
    headers = {str(k).lower(): _text(v) for k, v in event.items()}
    if headers.get("event", "cdr").lower() != "cdr":
        raise CdrParseError(f"event: {headers.get('event')!r} is not a Cdr event")
    fields: dict[str, str] = {col: headers.get(h.lower(), "") for col, h in _STANDARD_HEADERS.items()}
    for name, header in EVENT_HEADERS + _LEGACY_EVENT_HEADERS:
        fields[name.split(",")[0]] = headers.get(header.lower(), "")
    packed = fields.pop(CDR_CALL, "")
    if packed:
        fields.update(_unpack(packed))
    times: dict[str, datetime | None] = {}
    for col in ("start", "answer", "end"):
        raw = fields.get(col, "")
        if raw:
            times[col] = _epoch(raw, col)
        else:
            times[col] = _local(headers.get(_LOCAL_TIME_HEADERS[col].lower(), ""), col, tz)
    return _leg(fields, times["start"], times["answer"], times["end"])


def leg_from_csv_row(row: list[str]) -> Leg:
    """A leg from one parsed line of :data:`CSV_FILE` (columns :data:`CSV_COLUMNS`, or an older layout
    of :data:`CSV_LAYOUTS` named by its first column)."""
    columns = CSV_LAYOUTS.get(row[0]) if row else None
    if columns is None:
        raise CdrParseError(f"format: expected one of {sorted(CSV_LAYOUTS)} in the first column, got {row[:1]!r}")
    if row[0] == CSV_FORMAT and len(row) == len(columns) - len(PACKED_COLUMNS) + 1 and not row[-1].strip():
        row = row[:-1] + [""] * len(PACKED_COLUMNS)  # a CDR closed before the hangup handler ran
    if len(row) != len(columns):
        raise CdrParseError(f"columns: expected {len(columns)} for {row[0]}, got {len(row)}")
    fields = {name: value.strip() for name, value in zip(columns, row, strict=True)}
    return _leg(
        fields,
        _epoch(fields["start"], "start"),
        _epoch(fields["answer"], "answer"),
        _epoch(fields["end"], "end"),
    )


def parse_csv_text(text: str) -> CsvBatch:
    """Legs from complete lines of the CSV; unreadable lines are reported, never fatal."""
    batch = CsvBatch()
    reader = csv.reader(io.StringIO(text), strict=False)
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            batch.errors.append(f"line {reader.line_num}: {exc}")
            continue
        if not row or (len(row) == 1 and not row[0].strip()):
            continue
        try:
            batch.legs.append(leg_from_csv_row(row))
        except CdrParseError as exc:
            batch.errors.append(f"line {reader.line_num}: {exc}")
    return batch


# -- aggregation ------------------------------------------------------------------------------------
def _latest(legs: list[Leg], attr: str) -> str:
    """The value the dialplan set last: CDR variables set late only reach the CDRs still open."""
    for leg in reversed(legs):
        value = getattr(leg, attr)
        if value:
            return value
    return ""


def _dial_target(lastdata: str) -> str | None:
    """The dial string of a single-target Dial (None for `A&B` groups: which one answered is unknown)."""
    target = lastdata.split(",", 1)[0].strip()
    return target if target and "&" not in target else None


def _derived_disposition(legs: list[Leg]) -> str:
    if any(leg.seat_answered for leg in legs):
        return "answered"
    dialed = [leg for leg in legs if leg.has_party_b]
    if dialed:
        last = dialed[-1].disposition
        return "busy" if last == "BUSY" else "noanswer"
    if any(leg.disposition == "BUSY" for leg in legs):
        return "busy"
    return "abandoned"  # never rang a seat: the caller hung up in the IVR or before anything


def _hotline(legs: list[Leg]) -> str | None:
    value = _latest(legs, "hotline")
    digits = re.sub(r"[^0-9]", "", value)
    if digits:
        return digits[:10]
    for leg in legs:  # fallback: the number the carrier called, when it is a 400 number
        candidate = re.sub(r"[^0-9]", "", leg.dst)
        if HOTLINE_NUMBER.fullmatch(candidate):
            return candidate
    return None


RegionLookup = Callable[[str | None], tuple[str | None, str | None]]


def _no_region(_number: str | None) -> tuple[str | None, str | None]:
    return None, None


def _seconds(a: datetime | None, b: datetime | None) -> int | None:
    if a is None or b is None:
        return None
    return max(0, round((b - a).total_seconds()))


def call_from_legs(legs: Iterable[Leg], region: RegionLookup = _no_region) -> Call:
    """Fold the legs of one call (same linkedid) into a call record.

    started = earliest start; ended = latest end; answered = the first time a seat answered; seat =
    ivr400_seat, else the dial string of the answered leg; disposition = ivr400_disp when the dialplan
    set one, else derived from the CDR dispositions (a seat answered → answered; the last dialed seat
    BUSY → busy, NO ANSWER/FAILED/CONGESTION → noanswer; no seat ever dialed → abandoned, or busy when
    the dialplan played busy itself); decided_by = ivr400_decided_by when it is one of
    :data:`DECIDED_BY`. CDR variables: the value set last (highest CDR sequence) wins.
    """
    ordered = sorted(legs, key=lambda leg: leg.order)
    if not ordered:
        raise ValueError("call_from_legs: no legs")
    linkedids = {leg.linkedid for leg in ordered}
    if len(linkedids) != 1:
        raise ValueError(f"call_from_legs: legs of several calls {sorted(linkedids)}")
    linkedid = ordered[0].linkedid
    started = min(leg.start for leg in ordered)
    ends = [leg.end for leg in ordered if leg.end is not None]
    ended = max(ends) if ends else None
    answered_legs = [leg for leg in ordered if leg.seat_answered]
    answered_at = min(leg.answer for leg in answered_legs) if answered_legs else None  # type: ignore[type-var]
    billsec = max(leg.billsec for leg in answered_legs) if answered_legs else 0

    explicit = _latest(ordered, "disp").lower()
    if explicit in _RANK:
        disposition, is_explicit = explicit, True
    else:
        disposition, is_explicit = _derived_disposition(ordered), False

    seat = _latest(ordered, "seat") or None
    if seat is None and answered_legs:
        seat = _dial_target(answered_legs[0].lastdata) or answered_legs[0].dstchannel.rsplit("-", 1)[0] or None

    caller = None
    for leg in ordered:
        caller = normalize_caller(leg.src)
        if caller:
            break
    province, city = region(caller)
    hunts = [t for t in (_var_epoch(leg.hunt) for leg in ordered) if t is not None]
    seat_answers = [t for t in (_var_epoch(leg.seat_answer) for leg in ordered) if t is not None]
    rung: set[str] = set()
    for leg in ordered:
        if leg.has_party_b and leg.lastapp.lower() == "dial":
            target = leg.lastdata.split(",", 1)[0].strip()
            rung.update(t for t in target.split("&") if t)
    return Call(
        uniqueid=linkedid,
        linkedid=linkedid,
        hotline=_hotline(ordered),
        caller=caller,
        caller_province=province,
        caller_city=city,
        started_at=started,
        answered_at=answered_at,
        ended_at=ended,
        duration_s=_seconds(started, ended),
        billsec=billsec,
        key_path=_latest(ordered, "keys") or None,
        department=_latest(ordered, "dept") or None,
        seat=seat,
        disposition=disposition,
        recording_path=_latest(ordered, "rec") or None,
        decided_by=_decided_by(_latest(ordered, "decided_by")),
        disposition_explicit=is_explicit,
        hunt_at=min(hunts) if hunts else None,
        seat_answered_at=min(seat_answers) if seat_answers else None,
        seats_rung=tuple(sorted(rung)),
    )


def _var_epoch(value: str) -> datetime | None:
    """A CDR variable holding epoch seconds (``${EPOCH}``, ``1796066870.123``); unreadable or empty → None."""
    try:
        return _epoch(value.strip(), "epoch") if value.strip() else None
    except CdrParseError:
        return None


def _decided_by(value: str) -> str | None:
    value = value.strip().lower()
    return value if value in DECIDED_BY else None


def aggregate(legs: Iterable[Leg], region: RegionLookup = _no_region) -> list[Call]:
    """One call record per linkedid, in order of first appearance."""
    groups: dict[str, list[Leg]] = {}
    for leg in legs:
        groups.setdefault(leg.linkedid, []).append(leg)
    return [call_from_legs(group, region) for group in groups.values()]


# -- joining with what is stored ---------------------------------------------------------------------
def _pick(a: str | None, b: str | None) -> str | None:
    """Either non-empty value; on a conflict the larger, so the result never depends on order."""
    if not a:
        return b or None
    if not b or a == b:
        return a
    return max(a, b)


def _pick_longest(a: str | None, b: str | None) -> str | None:
    """Key paths and department paths only grow during a call: the longer one is the later one."""
    if not a:
        return b or None
    if not b:
        return a
    return max(a, b, key=lambda s: (len(s), s))


def _join_decided_by(a: str | None, b: str | None) -> str | None:
    """Two views that disagree on who decided: both did, for parts of the call."""
    if not a or not b or a == b:
        return a or b or None
    return "mixed"


def _min(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: datetime | None, b: datetime | None) -> datetime | None:
    return b if a is None else a if b is None else max(a, b)


def _max_int(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def merge_calls(stored: Call, new: Call, region: RegionLookup | None = None) -> Call:
    """Join two views of one call (a stored row and freshly aggregated legs).

    A join in the lattice sense: commutative, associative and idempotent, so events and CSV lines
    can be applied in any order and any number of times. Times widen (earliest start and answer,
    latest end), billsec takes the maximum, paths take the longer, the disposition the stronger
    (:data:`DISPOSITIONS` order). All legs of a call normally arrive together (Asterisk posts a
    channel's CDRs at its hangup), so this only decides between partial views of one call.
    """
    if stored.uniqueid != new.uniqueid:
        raise ValueError(f"merge_calls: {stored.uniqueid} is not {new.uniqueid}")
    started = min(stored.started_at, new.started_at)
    ended = _max(stored.ended_at, new.ended_at)
    caller = _pick(stored.caller, new.caller)
    if region is not None:
        province, city = region(caller)
    elif caller == stored.caller and caller == new.caller:
        province, city = _pick(stored.caller_province, new.caller_province), _pick(stored.caller_city, new.caller_city)
    elif caller == new.caller:
        province, city = new.caller_province, new.caller_city
    else:
        province, city = stored.caller_province, stored.caller_city
    if _RANK.get(new.disposition, 0) > _RANK.get(stored.disposition, 0):
        disposition = new.disposition
    else:
        disposition = stored.disposition
    return replace(
        stored,
        linkedid=_pick(stored.linkedid, new.linkedid) or stored.uniqueid,
        hotline=_pick(stored.hotline, new.hotline),
        caller=caller,
        caller_province=province,
        caller_city=city,
        started_at=started,
        answered_at=_min(stored.answered_at, new.answered_at),
        ended_at=ended,
        duration_s=_seconds(started, ended),
        billsec=_max_int(stored.billsec, new.billsec),
        key_path=_pick_longest(stored.key_path, new.key_path),
        department=_pick_longest(stored.department, new.department),
        seat=_pick(stored.seat, new.seat),
        disposition=disposition,
        recording_path=_pick(stored.recording_path, new.recording_path),
        decided_by=_join_decided_by(stored.decided_by, new.decided_by),
        disposition_explicit=stored.disposition_explicit or new.disposition_explicit,
        hunt_at=_min(stored.hunt_at, new.hunt_at),
        seat_answered_at=_min(stored.seat_answered_at, new.seat_answered_at),
        seats_rung=tuple(sorted({*stored.seats_rung, *new.seats_rung})),
    )



def seat_label(seat: str | None) -> str | None:
    """A short label for a seat dial string: the number/user it dials.

    ``PJSIP/01062345678@out`` → ``01062345678``; ``PJSIP/pstn/sip:seat@127.0.0.1:5071`` → ``seat@127.0.0.1:5071``.
    """
    if not seat:
        return None
    rest = seat.split("/", 1)[1] if "/" in seat else seat
    if "/sip:" in rest or rest.startswith("sip:"):
        return rest.split("sip:", 1)[1]
    return rest.split("@", 1)[0] if "@" in rest else rest


#: Callback list statuses: 待回拨, 已回拨, 无需回拨.
CALLBACK_STATUSES = {"pending": "待回拨", "called_back": "已回拨", "not_needed": "无需回拨"}


def record_view(row: CallRecord | SimpleNamespace, tz: tzinfo | None = None) -> dict[str, Any]:
    """A call record as a dict of every column (``balance_flagged``: routed at a zero balance, choice keep).

    Times are aware datetimes (JSON writers make them ISO 8601): UTC, or the same instants in `tz` when it is
    given, which is then named by the ``timezone`` key (an IANA name).
    """
    view: dict[str, Any] = {
        "id": row.id,
        "uniqueid": row.uniqueid,
        "linkedid": row.linkedid,
        "hotline": row.hotline,
        "caller": row.caller,
        "caller_province": row.caller_province,
        "caller_city": row.caller_city,
        "started_at": to_zone(row.started_at, tz) if tz else row.started_at,
        "answered_at": to_zone(row.answered_at, tz) if tz else row.answered_at,
        "ended_at": to_zone(row.ended_at, tz) if tz else row.ended_at,
        "duration_s": row.duration_s,
        "billsec": row.billsec,
        "key_path": row.key_path,
        "department": row.department,
        "seat": row.seat,
        "disposition": row.disposition,
        "recording_path": row.recording_path,
        "source": row.source,
        "decided_by": row.decided_by,
        "balance_flagged": row.balance_flagged,
    }
    if tz is not None:
        view["timezone"] = zone_name(tz)
    return view
