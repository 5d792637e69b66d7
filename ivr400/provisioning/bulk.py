"""Bulk import and export (批量导入/导出) of destinations with their evidence, departments and seats.

Every line goes through the same provisioning services as the single commands (`destination add`,
`evidence add`, `destination approve|reject|revoke`, `trunk use`, `department add`, `seat add`), so the
R1–R7 checklist, the seat limits and the database's whitelist triggers apply unchanged. The CSV columns are
defined here (`DESTINATIONS`, `DEPARTMENTS`, `SEATS`) and documented in docs/bulk.md.

All or nothing per file: one transaction; each line runs in a savepoint so a refused line is rolled back
alone and the following lines are still checked, and the transaction is committed only when no line was
refused and it is not a dry run. Evidence files stored for a transaction that is not committed are removed
again; a dry run stores them in a temporary directory. Export writes what import reads back: exporting,
importing into a database with the same enterprises, hotlines, tones and trunks but no destinations,
departments or seats, and exporting again gives the same files.
"""
from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, selectinload

from ivr400.db.enums import OwnerKind, WhitelistStatus
from ivr400.db.models import Department, Destination, Enterprise, Evidence, Hotline, Seat
from ivr400.fsutil import atomic_write
from ivr400.numbers import DestinationNumber, NumberError, NumberKind, parse_destination
from ivr400.provisioning import destinations as destination_service
from ivr400.provisioning import lookup
from ivr400.provisioning.bulk_csv import (
    CellError,
    CsvFileError,
    CsvFormat,
    ImportReport,
    LineError,
    Row,
    bool_cell,
    day_cell,
    decode,
    encode,
    parse_bool,
    parse_choice,
    parse_day,
    parse_int,
    read_rows,
    write_rows,
)
from ivr400.provisioning.errors import ProvisioningError, from_integrity_error
from ivr400.provisioning.evidence import add_evidence
from ivr400.provisioning.hotlines import check_hunt
from ivr400.provisioning.seats import add_department, add_seat
from ivr400.provisioning.status import effective_hunt, key_path
from ivr400.provisioning.tones import find_tone
from ivr400.provisioning.trunks import find_trunk
from ivr400.validators import DEPT_PATH

T = TypeVar("T")

#: Evidence attributes (the flags and texts R3–R5 look at) ↔ their CSV columns.
EVIDENCE_ATTRIBUTE_COLUMNS: dict[str, str] = {
    "issuer": "issuer",
    "shows_number": "shows_number",
    "shows_owner": "shows_owner",
    "owner_name": "owner_on_document",
    "sealed_by_owner": "sealed_by_owner",
    "sealed_by_enterprise": "sealed_by_enterprise",
    "signed_by_person": "signed_by_person",
    "relationship": "evidence_relationship",
}
_EVIDENCE_FLAGS = ("shows_number", "shows_owner", "sealed_by_owner", "sealed_by_enterprise", "signed_by_person")

DESTINATIONS = CsvFormat(
    "destinations",
    columns=("enterprise", "number", "owner", "owner_kind", "relationship", "status", "reason", "trunk",
             "evidence_kind", "evidence_file", *EVIDENCE_ATTRIBUTE_COLUMNS.values(),
             "evidence_valid_from", "evidence_valid_until", "evidence_long_term"),
    required=frozenset({"enterprise", "number", "owner"}),
)
DEPARTMENTS = CsvFormat(
    "departments",
    columns=("hotline", "key", "name", "hunt", "max_attempts", "ringback_tone", "prompt_tone"),
    required=frozenset({"hotline", "key", "name"}),
)
SEATS = CsvFormat(
    "seats",
    columns=("hotline", "department", "position", "destination", "ring_timeout"),
    required=frozenset({"hotline", "destination"}),
)
FORMATS: dict[str, CsvFormat] = {f.kind: f for f in (DESTINATIONS, DEPARTMENTS, SEATS)}

#: Destination columns that describe the destination itself: equal (or empty) on all of its lines.
_DESTINATION_COLUMNS = ("owner", "owner_kind", "relationship", "status", "reason", "trunk")
_EVIDENCE_COLUMNS = tuple(c for c in DESTINATIONS.columns if c.startswith("evidence_")) + tuple(
    c for c in EVIDENCE_ATTRIBUTE_COLUMNS.values() if not c.startswith("evidence_"))
_EVIDENCE_FLAG_COLUMNS = frozenset({*(EVIDENCE_ATTRIBUTE_COLUMNS[f] for f in _EVIDENCE_FLAGS), "evidence_long_term"})
_STATUSES = tuple(s.value for s in WhitelistStatus)
_OWNER_KINDS = tuple(k.value for k in OwnerKind)

#: The services' error fields (named after CLI options) → this file's columns, per step.
_DESTINATION_FIELDS = {"owner-kind": "owner_kind"}
_EVIDENCE_FIELDS = {"kind": "evidence_kind", "file": "evidence_file", "valid-from": "evidence_valid_from",
                    "valid-until": "evidence_valid_until", "destination": "evidence_kind"}
_STATUS_FIELDS = {"destination": "status"}
_DEPARTMENT_FIELDS = {"parent": "key", "max-attempts": "max_attempts", "ringback-tone": "ringback_tone",
                      "prompt-tone": "prompt_tone"}
_SEAT_FIELDS = {"ring-timeout": "ring_timeout", "seat": "destination"}


@dataclass
class ImportContext:
    """What an import needs besides the session: where relative evidence paths start, where evidence is
    stored, the clock and the actor recorded in the audit trail."""

    base_dir: Path
    store_root: Path
    now: datetime
    actor: str
    stored_files: list[Path] = field(default_factory=list)


# Import ---------------------------------------------------------------------------------------------
def run_import(session: Session, kind: str, data: bytes, *, source: str, base_dir: Path, store_root: Path,
               now: datetime, actor: str, encoding: str | None = None, dry_run: bool = False) -> ImportReport:
    """Import one CSV file of `kind` (destinations, departments or seats) in one transaction.

    `data` is the file's bytes, `base_dir` the folder evidence paths are relative to, `store_root` the
    evidence store. Returns the report; commits only when every line is accepted and `dry_run` is false,
    otherwise rolls everything back (the session must not have pending work of its own).
    """
    fmt = FORMATS[kind]
    report = ImportReport(kind=kind, source=source, dry_run=dry_run)
    try:
        text, report.encoding = decode(data, encoding)
        rows, malformed = read_rows(text, fmt)
    except CsvFileError as exc:
        report.errors.extend(exc.errors)
        return report
    # Malformed lines are reported and the others still checked, so one run names every bad line; with
    # any error the transaction is rolled back (all or nothing).
    report.errors.extend(malformed)
    report.lines = len(rows) + len(malformed)
    store_existed = store_root.exists()
    with tempfile.TemporaryDirectory(prefix="ivr400-dry-run-") as scratch:
        ctx = ImportContext(base_dir=base_dir, store_root=Path(scratch) / "evidence" if dry_run else store_root,
                            now=now, actor=actor)
        _begin(session)
        try:
            _IMPORTERS[kind](session, rows, report, ctx)
            if report.ok and not dry_run:
                session.commit()
                return report
            session.rollback()
        except BaseException:
            session.rollback()
            _remove(ctx.stored_files, None if store_existed else store_root)
            raise
        _remove(ctx.stored_files, None if store_existed else store_root)
    return report


def _begin(session: Session) -> None:
    """Start the file's transaction. On SQLite, an explicit `BEGIN IMMEDIATE`: the pysqlite driver opens
    no transaction before the first write, so releasing the first savepoint would commit it; IMMEDIATE also
    takes the write lock now, so a concurrent writer cannot invalidate what the checks read."""
    conn = session.connection()
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def _remove(paths: list[Path], created_root: Path | None) -> None:
    """Evidence files this import added to the store, when its transaction is not committed, with the
    directories they leave empty (`created_root`: the store itself, when this import created it). (A
    concurrent command committing the very same content between our store and this removal would lose its
    copy; the store is content-addressed, so that needs identical files imported at the same moment.)"""
    for path in paths:
        path.unlink(missing_ok=True)
        _rmdir_if_empty(path.parent)
    if created_root is not None:
        _rmdir_if_empty(created_root)


def _rmdir_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:  # not empty (another file, another import), or already gone
        pass


def _attempt(session: Session, report: ImportReport, line: int, fields: dict[str, str], default: str,
             step: Callable[[], T]) -> tuple[bool, T | None]:
    """Run one service call in a savepoint: (True, result), or (False, None) with the refusal reported at
    `line` under the column `fields` maps the service's field to (`default` for database refusals)."""
    try:
        with session.begin_nested():
            return True, step()
    except ProvisioningError as exc:
        report.refuse(line, fields.get(exc.field, exc.field.replace("-", "_")), exc.reason)
    except NumberError as exc:
        report.refuse(line, default, str(exc))
    except DBAPIError as exc:
        err = from_integrity_error(exc, default)  # type: ignore[arg-type]
        report.refuse(line, fields.get(err.field, err.field), err.reason)
    return False, None


def _cell_parser(report: ImportReport, line: int) -> Callable[[str, Callable[[], Any]], Any]:
    """`cell(column, parse)`: the parsed value, or None with the refusal reported at (`line`, `column`)."""

    def cell(column: str, parse: Callable[[], Any]) -> Any:  # noqa: ANN401
        try:
            return parse()
        except CellError as exc:
            report.refuse(line, column, str(exc))
        except ProvisioningError as exc:
            report.refuse(line, column, exc.reason)
        except NumberError as exc:
            report.refuse(line, column, str(exc))
        return None

    return cell


def _required(row: Row, column: str) -> str:
    value = row.get(column)
    if not value:
        raise CellError("required")
    return value


# Destinations with their evidence ------------------------------------------------------------------------
@dataclass
class _EvidenceLine:
    line: int
    kind: str
    file: Path
    attributes: dict[str, Any]
    valid_from: date | None
    valid_until: date | None
    long_term: bool


@dataclass
class _DestinationGroup:
    """All lines of one destination (same enterprise and number), in file order."""

    enterprise: Enterprise
    number: str
    first_line: int
    values: dict[str, str] = field(default_factory=dict)
    evidence: list[_EvidenceLine] = field(default_factory=list)
    refused: bool = False


def _import_destinations(session: Session, rows: list[Row], report: ImportReport, ctx: ImportContext) -> None:
    groups: dict[tuple[int, str], _DestinationGroup] = {}
    for row in rows:
        _read_destination(session, row, report, ctx, groups)
    for group in groups.values():
        _apply_destination(session, group, report, ctx)


def _read_destination(session: Session, row: Row, report: ImportReport, ctx: ImportContext,
                      groups: dict[tuple[int, str], _DestinationGroup]) -> None:
    """Parse one line into its destination's group (made on its first line), reporting every bad cell."""
    before = len(report.errors)
    cell = _cell_parser(report, row.line)
    ent = cell("enterprise", lambda: lookup.enterprise(session, _required(row, "enterprise")))
    parsed = cell("number", lambda: parse_destination(_required(row, "number")))
    values = {
        "owner": row.get("owner"),
        "owner_kind": cell("owner_kind", lambda: parse_choice(row.get("owner_kind"), _OWNER_KINDS, "")),
        "relationship": row.get("relationship"),
        "status": cell("status", lambda: parse_choice(row.get("status"), _STATUSES, "")),
        "reason": row.get("reason"),
        "trunk": row.get("trunk"),
    }
    evidence = _evidence_line(row, cell, ctx.base_dir)
    if ent is None or parsed is None:
        return
    group = groups.setdefault((ent.id, parsed.number), _DestinationGroup(ent, row.get("number"), row.line))
    for column in _DESTINATION_COLUMNS:
        value, known = values[column] or "", group.values.get(column, "")
        if value and known and value != known:
            report.refuse(row.line, column, f"{value!r} differs from {known!r} given before for "
                                            f"{parsed.display}; a destination's lines must agree")
        elif value:
            group.values[column] = value
    if len(report.errors) > before:
        group.refused = True
    elif evidence is not None:
        group.evidence.append(evidence)


def _evidence_line(row: Row, cell: Callable[[str, Callable[[], Any]], Any], base_dir: Path) -> _EvidenceLine | None:
    """The evidence document a line carries, if any (every bad cell reported through `cell`)."""
    kind = row.get("evidence_kind")
    if not kind:
        for column in _EVIDENCE_COLUMNS:
            if _given(column, row.get(column)):
                cell("evidence_kind", partial(_raise, f"required when {column} is given"))
                break
        return None
    path = cell("evidence_file", lambda: _evidence_path(_required(row, "evidence_file"), base_dir))
    attributes: dict[str, Any] = {}
    for attribute, column in EVIDENCE_ATTRIBUTE_COLUMNS.items():
        if attribute in _EVIDENCE_FLAGS:
            if cell(column, partial(parse_bool, row.get(column))):
                attributes[attribute] = True
        elif row.get(column):
            attributes[attribute] = row.get(column)
    valid_from = cell("evidence_valid_from", lambda: parse_day(row.get("evidence_valid_from")))
    valid_until = cell("evidence_valid_until", lambda: parse_day(row.get("evidence_valid_until")))
    long_term = cell("evidence_long_term", lambda: parse_bool(row.get("evidence_long_term")))
    if path is None:
        return None
    return _EvidenceLine(row.line, kind, path, attributes, valid_from, valid_until, bool(long_term))


def _given(column: str, value: str) -> bool:
    """A filled evidence cell; a flag reading "no" counts as empty."""
    if column in _EVIDENCE_FLAG_COLUMNS:
        try:
            return parse_bool(value)
        except CellError:
            return True
    return bool(value)


def _raise(reason: str) -> None:
    raise CellError(reason)


def _evidence_path(text: str, base_dir: Path) -> Path:
    """A path relative to the CSV's folder and inside it (`/` or `\\` separators)."""
    relative = PurePosixPath(text.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts:
        raise CellError(f"{text!r}: give a path relative to the CSV file's folder, inside it")
    path = base_dir.joinpath(*relative.parts)
    if not path.resolve().is_relative_to(base_dir.resolve()):
        raise CellError(f"{text!r} leads outside the CSV file's folder")
    if not path.is_file():
        raise CellError(f"{text!r} is not a readable file (relative to {base_dir})")
    return path


def _apply_destination(session: Session, group: _DestinationGroup, report: ImportReport,
                       ctx: ImportContext) -> None:
    v = group.values
    line = group.first_line
    ok, dest = _attempt(session, report, line, _DESTINATION_FIELDS, "number", lambda: (
        destination_service.add_destination(session, group.enterprise, group.number, owner_name=v.get("owner", ""),
                                            owner_kind=v.get("owner_kind") or OwnerKind.COMPANY.value,
                                            relationship=v.get("relationship") or None, now=ctx.now,
                                            actor=ctx.actor)))
    if not ok or dest is None:
        return
    report.count("destinations")
    for ev in group.evidence:
        ok, _ = _attempt(session, report, ev.line, _EVIDENCE_FIELDS, "evidence_kind", partial(
            add_evidence, session, dest, ev.kind, ev.file, store_root=ctx.store_root, attributes=ev.attributes,
            valid_from=ev.valid_from, valid_until=ev.valid_until, long_term=ev.long_term, now=ctx.now,
            stored=ctx.stored_files))
        if ok:
            report.count("evidence")
        else:
            group.refused = True
    if v.get("trunk"):
        ok, _ = _attempt(session, report, line, {}, "trunk",
                         lambda: setattr(dest, "trunk", find_trunk(session, v["trunk"])))
        group.refused |= not ok
    status, reason = v.get("status") or WhitelistStatus.PENDING.value, v.get("reason", "")
    if reason and status not in (WhitelistStatus.REJECTED.value, WhitelistStatus.REVOKED.value):
        report.refuse(line, "reason", f"only a rejected or revoked destination has a reason (status is {status})")
        return
    if group.refused or status == WhitelistStatus.PENDING.value:
        return
    steps: list[Callable[[], Any]] = []
    if status in (WhitelistStatus.APPROVED.value, WhitelistStatus.REVOKED.value):
        steps.append(lambda: destination_service.approve(session, dest, now=ctx.now, actor=ctx.actor))
    if status == WhitelistStatus.REJECTED.value:
        steps.append(lambda: destination_service.reject(session, dest, reason=reason, now=ctx.now, actor=ctx.actor))
    if status == WhitelistStatus.REVOKED.value:
        steps.append(lambda: destination_service.revoke(session, dest, reason=reason, now=ctx.now, actor=ctx.actor))
    for step in steps:
        ok, _ = _attempt(session, report, line, _STATUS_FIELDS, "status", step)
        if not ok:
            return
    report.count(status)


# Departments ----------------------------------------------------------------------------------------------
@dataclass
class _DepartmentLine:
    line: int
    hotline: Hotline
    parent_path: str | None
    key: str
    name: str
    hunt: str
    max_attempts: int
    ringback_tone: str
    prompt_tone: str


def _import_departments(session: Session, rows: list[Row], report: ImportReport, ctx: ImportContext) -> None:
    lines = [d for d in (_read_department(session, row, report) for row in rows) if d is not None]
    # Parents before their sub-menus, whatever the order of the file.
    for d in sorted(lines, key=lambda d: 0 if d.parent_path is None else d.parent_path.count(".") + 1):
        ok, _ = _attempt(session, report, d.line, _DEPARTMENT_FIELDS, "key", partial(_add_department, session, d))
        if ok:
            report.count("departments")


def _read_department(session: Session, row: Row, report: ImportReport) -> _DepartmentLine | None:
    before = len(report.errors)
    cell = _cell_parser(report, row.line)
    h = cell("hotline", lambda: lookup.hotline(session, _required(row, "hotline")))
    path = cell("key", lambda: _key_path(_required(row, "key")))
    name = cell("name", lambda: _required(row, "name"))
    hunt = cell("hunt", lambda: check_hunt(row.get("hunt") or "sequential"))
    attempts = cell("max_attempts", lambda: parse_int(row.get("max_attempts"), 0))
    if len(report.errors) > before or h is None or path is None:
        return None
    parent, _, key = path.rpartition(".")
    return _DepartmentLine(row.line, h, parent or None, key, name or "", hunt or "", attempts or 0,
                           row.get("ringback_tone"), row.get("prompt_tone"))


def _key_path(text: str) -> str:
    if not text or not DEPT_PATH.fullmatch(text):
        raise CellError(f"{text!r} is not a menu key path such as 2 or 2.1 (keys 0-9)")
    return text


def _add_department(session: Session, d: _DepartmentLine) -> Department:
    parent = lookup.department(session, d.hotline, d.parent_path, "parent") if d.parent_path else None
    dept = add_department(session, d.hotline, d.key, d.name, parent=parent, hunt=d.hunt, max_attempts=d.max_attempts)
    if d.ringback_tone:
        dept.ringback_tone = find_tone(session, d.ringback_tone, d.hotline.enterprise, "ringback-tone")
    if d.prompt_tone:
        dept.prompt_tone = find_tone(session, d.prompt_tone, d.hotline.enterprise, "prompt-tone")
    session.flush()
    return dept


# Seats -------------------------------------------------------------------------------------------------------
@dataclass
class _SeatLine:
    line: int
    hotline: Hotline
    department: Department | None
    destination: Destination
    position: int | None
    ring_timeout: int


def _import_seats(session: Session, rows: list[Row], report: ImportReport, ctx: ImportContext) -> None:
    groups: dict[tuple[int, int | None], list[_SeatLine]] = {}
    for row in rows:
        seat = _read_seat(session, row, report)
        if seat is not None:
            key = (seat.hotline.id, seat.department.id if seat.department else None)
            groups.setdefault(key, []).append(seat)
    for group in groups.values():
        # Numbered lines in hunt order (each inserted at its position), then unnumbered ones appended.
        for s in sorted(group, key=lambda s: (s.position is None, s.position or 0)):
            ok, _ = _attempt(session, report, s.line, _SEAT_FIELDS, "destination", partial(
                add_seat, session, s.hotline, s.destination, department=s.department, position=s.position,
                ring_timeout=s.ring_timeout, now=ctx.now))
            if ok:
                report.count("seats")


def _read_seat(session: Session, row: Row, report: ImportReport) -> _SeatLine | None:
    before = len(report.errors)
    cell = _cell_parser(report, row.line)
    h: Hotline | None = cell("hotline", lambda: lookup.hotline(session, _required(row, "hotline")))
    if h is None:
        return None
    dest = cell("destination", lambda: lookup.destination(session, _required(row, "destination"),
                                                          str(h.enterprise_id)))
    path = row.get("department")
    dept = cell("department", lambda: lookup.department(session, h, path)) if path else None
    position = cell("position", lambda: parse_int(row.get("position")))
    ring = cell("ring_timeout", lambda: parse_int(row.get("ring_timeout"), 15))
    if len(report.errors) > before or dest is None or ring is None:
        return None
    return _SeatLine(row.line, h, dept, dest, position, ring)


_IMPORTERS: dict[str, Callable[[Session, list[Row], ImportReport, ImportContext], None]] = {
    "destinations": _import_destinations,
    "departments": _import_departments,
    "seats": _import_seats,
}


# Export -----------------------------------------------------------------------------------------------------
@dataclass
class ExportFile:
    """One evidence file to copy beside the CSV: where it goes (relative, `/`), where it is stored, its hash."""

    relative: str
    stored: Path
    sha256: str


@dataclass
class Export:
    kind: str
    rows: list[dict[str, str]]
    files: list[ExportFile] = field(default_factory=list)

    def text(self) -> str:
        return write_rows(FORMATS[self.kind], self.rows)


def destination_display(d: Destination) -> str:
    """The number as operators write it (010-62345678, 138 0013 8000): Excel keeps it as text."""
    return DestinationNumber(d.number, NumberKind(d.kind), d.area_code, d.province, d.city).display


def hotline_display(h: Hotline) -> str:
    return f"{h.number[:3]}-{h.number[3:6]}-{h.number[6:]}"


def export_destinations(session: Session, *, enterprise: Enterprise | None, data_dir: Path,
                        files_dir: str = "evidence") -> Export:
    """One line per evidence document (a destination without evidence: one line), destinations in the
    order they were registered; evidence files go to `files_dir/<sha256 prefix>/<original name>`."""
    stmt = (select(Destination).order_by(Destination.enterprise_id, Destination.id)
            .options(selectinload(Destination.enterprise), selectinload(Destination.evidence),
                     selectinload(Destination.trunk)))
    if enterprise is not None:
        stmt = stmt.where(Destination.enterprise_id == enterprise.id)
    export = Export("destinations", [])
    for d in session.scalars(stmt):
        base = {
            "enterprise": d.enterprise.name, "number": destination_display(d), "owner": d.owner_name,
            "owner_kind": d.owner_kind, "relationship": d.relationship_note or "", "status": d.status,
            "reason": (d.status_reason or "") if d.status in ("rejected", "revoked") else "",
            "trunk": d.trunk.name if d.trunk else "",
        }
        if not d.evidence:
            export.rows.append(base)
        for ev in d.evidence:
            relative = f"{files_dir}/{ev.sha256[:16]}/{_safe_name(ev.original_name, ev.sha256)}"
            export.files.append(ExportFile(relative, data_dir / ev.stored_path, ev.sha256))
            export.rows.append(base | _evidence_cells(ev, relative))
    return export


def _evidence_cells(ev: Evidence, relative: str) -> dict[str, str]:
    cells = {"evidence_kind": ev.kind, "evidence_file": relative,
             "evidence_valid_from": day_cell(ev.valid_from), "evidence_valid_until": day_cell(ev.valid_until),
             "evidence_long_term": bool_cell(ev.long_term)}
    attributes = ev.attributes or {}
    for attribute, column in EVIDENCE_ATTRIBUTE_COLUMNS.items():
        value = attributes.get(attribute)
        cells[column] = bool_cell(bool(value)) if attribute in _EVIDENCE_FLAGS else str(value or "")
    return cells


def _safe_name(name: str, sha256: str) -> str:
    """The original file name when it is a plain name, else one made from the hash."""
    if name and "/" not in name and "\\" not in name and "\x00" not in name and not name.startswith("."):
        return name
    return f"{sha256[:16]}.bin"


def export_departments(session: Session, *, hotline: Hotline | None) -> Export:
    """Departments by hotline and key path (a menu before its sub-menus)."""
    stmt = select(Department).options(selectinload(Department.hotline), selectinload(Department.ringback_tone),
                                      selectinload(Department.prompt_tone))
    if hotline is not None:
        stmt = stmt.where(Department.hotline_id == hotline.id)
    ordered = sorted(((d.hotline.number, key_path(d)), d) for d in session.scalars(stmt))
    rows = [{"hotline": hotline_display(d.hotline), "key": path, "name": d.name, "hunt": effective_hunt(d),
             "max_attempts": str(d.max_attempts), "ringback_tone": d.ringback_tone.name if d.ringback_tone else "",
             "prompt_tone": d.prompt_tone.name if d.prompt_tone else ""} for (_, path), d in ordered]
    return Export("departments", rows)


def export_seats(session: Session, *, hotline: Hotline | None) -> Export:
    """Seats by hotline, department (switchboard first) and hunt position; suspended seats included
    (importing them is refused: the database binds only whitelisted destinations)."""
    stmt = select(Seat).options(selectinload(Seat.hotline), selectinload(Seat.department),
                                selectinload(Seat.destination))
    if hotline is not None:
        stmt = stmt.where(Seat.hotline_id == hotline.id)
    seats = sorted(session.scalars(stmt), key=lambda s: (
        s.hotline.number, key_path(s.department) if s.department else "", s.position))
    rows = [{"hotline": hotline_display(s.hotline), "department": key_path(s.department) if s.department else "",
             "position": str(s.position), "destination": destination_display(s.destination),
             "ring_timeout": str(s.ring_timeout_s)} for s in seats]
    return Export("seats", rows)


def write_export(export: Export, target: Path, *, encoding: str = "utf-8") -> None:
    """Write the CSV (atomically) and copy the evidence files beside it, each checked against its hash.

    Raises CsvFileError (encoding) or ProvisioningError("evidence", …) for a stored file that is missing or
    altered, before anything is written. Every stored file is checked first, then the copies are written
    and the CSV last, so a CSV never points at a missing copy; a write failure removes the copies this
    call created (a copy that replaced a different older file stays replaced).
    """
    payload = encode(export.text(), encoding)
    for f in export.files:  # 1. check every stored file: a refusal leaves nothing behind
        _verified(f)
    created: list[Path] = []
    created_dirs: list[Path] = []
    try:
        for f in export.files:  # 2. copy (re-checked: what is copied is what was checked)
            content = _verified(f)
            copy = target.parent.joinpath(*PurePosixPath(f.relative).parts)
            if not (copy.is_file() and copy.read_bytes() == content):
                new = not copy.exists()
                missing_dirs = [p for p in (copy.parent, *copy.parent.parents) if not p.exists()]
                atomic_write(copy, content, mode=0o640)
                if new:
                    created.append(copy)
                created_dirs.extend(missing_dirs)
        atomic_write(target, payload)
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        for path in sorted(created_dirs, key=lambda p: len(p.parts), reverse=True):
            _rmdir_if_empty(path)
        raise


def _verified(f: ExportFile) -> bytes:
    """The stored file's bytes; ProvisioningError('evidence') when it is missing or does not match its hash."""
    try:
        content = f.stored.read_bytes()
    except OSError as exc:
        raise ProvisioningError("evidence", f"stored file {f.stored} cannot be read ({exc.strerror})") from exc
    if hashlib.sha256(content).hexdigest() != f.sha256:
        raise ProvisioningError("evidence", f"stored file {f.stored} does not match its sha256 (altered?)")
    return content


__all__ = ["DEPARTMENTS", "DESTINATIONS", "FORMATS", "SEATS", "CsvFileError", "Export", "ImportReport",
           "LineError", "export_departments", "export_destinations", "export_seats", "run_import", "write_export"]
