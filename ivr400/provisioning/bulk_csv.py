"""CSV files for bulk import and export (批量导入/导出): decoding, the header, cells, the per-line report.

Pure: bytes and text in, rows and errors out; no database, no file system. `ivr400.provisioning.bulk`
applies the rows through the provisioning services.

Text encodings: a UTF-8 byte order mark means UTF-8; otherwise strict UTF-8 is tried, then GB18030 (the
superset of GBK/GB2312 that Excel on a Chinese Windows writes as "CSV (逗号分隔)"). An explicit encoding
is used as given. Line numbers are physical lines of the file, the header being line 1, so they match a
text editor and, for cells without line breaks, Excel's row numbers.
"""
from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

UTF8_BOM = codecs.BOM_UTF8
#: Tried in this order when no encoding is given (after the UTF-8 byte order mark check).
FALLBACK_ENCODINGS = ("utf-8", "gb18030")

_TRUE = frozenset({"yes", "y", "true", "1", "是", "x", "√", "✓"})
_FALSE = frozenset({"", "no", "n", "false", "0", "否"})


@dataclass(frozen=True, order=True)
class LineError:
    """One refused value: physical `line` of the file (header = 1), the CSV column, and why."""

    line: int
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.field}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "field": self.field, "reason": self.reason}


class CsvFileError(ValueError):
    """The file as a whole cannot be read (encoding, header); carries the errors found."""

    def __init__(self, errors: Sequence[LineError]) -> None:
        super().__init__("; ".join(str(e) for e in errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class CsvFormat:
    """Columns of one kind of file, in the order export writes them; `required` must be in the header."""

    kind: str
    columns: tuple[str, ...]
    required: frozenset[str]


@dataclass
class Row:
    """One data record: its first physical line and its cells by column (missing columns read as "")."""

    line: int
    cells: dict[str, str]

    def get(self, column: str) -> str:
        return self.cells.get(column, "")


@dataclass
class ImportReport:
    """What an import did or would do: counts per thing created and every refused value.

    `ok` is true when no line was refused; nothing is written unless `ok` and not `dry_run`.
    """

    kind: str
    source: str
    encoding: str = ""
    dry_run: bool = False
    lines: int = 0
    created: dict[str, int] = field(default_factory=dict)
    errors: list[LineError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    def refuse(self, line: int, column: str, reason: str) -> None:
        self.errors.append(LineError(line, column, reason))

    def count(self, what: str, n: int = 1) -> None:
        self.created[what] = self.created.get(what, 0) + n

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "file": self.source, "encoding": self.encoding, "dry_run": self.dry_run,
                "ok": self.ok, "written": self.ok and not self.dry_run, "lines": self.lines,
                "created": dict(self.created), "errors": [e.to_dict() for e in sorted(self.errors)]}


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """(text, encoding used). Raises CsvFileError naming the line of the first undecodable byte."""
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError as exc:
            raise CsvFileError([LineError(0, "encoding", f"unknown encoding {encoding!r}")]) from exc
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise CsvFileError([_decode_error(data, exc, encoding)]) from exc
    if data.startswith(UTF8_BOM):
        try:
            return data.decode("utf-8-sig"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            raise CsvFileError([_decode_error(data, exc, "utf-8")]) from exc
    last: UnicodeDecodeError | None = None
    for candidate in FALLBACK_ENCODINGS:
        try:
            return data.decode(candidate), candidate
        except UnicodeDecodeError as exc:
            last = exc
    assert last is not None
    err = _decode_error(data, last, " or ".join(FALLBACK_ENCODINGS))
    raise CsvFileError([LineError(err.line, err.field, err.reason + "; give --encoding")])


def _decode_error(data: bytes, exc: UnicodeDecodeError, encoding: str) -> LineError:
    line = data.count(b"\n", 0, exc.start) + 1
    return LineError(line, "encoding", f"byte 0x{data[exc.start]:02x} is not {encoding} text")


def read_rows(text: str, fmt: CsvFormat) -> tuple[list[Row], list[LineError]]:
    """(rows, errors): the well-formed data records of `text` under `fmt`'s header, and one LineError
    (field `file`) for every malformed record, which is left out of the rows. Reading goes on after a
    malformed record, so every bad line of the file is reported at once.

    Malformed: not CSV (a quote in the middle of an unquoted cell, text after a closing quote, a quoted
    cell never closed — which runs to the end of the file), or more non-empty cells than the header
    names. Fewer cells than the header is not an error: the missing cells read as "".
    Raises CsvFileError for a bad header (line 1), which leaves nothing to read the records by: header
    names are matched after trimming and lower-casing; unknown, repeated or missing required columns are
    refused. Blank records are skipped; cells are trimmed.
    """
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise CsvFileError([LineError(1, "file", f"not CSV: {exc}")]) from exc
    if header is None or not any(h.strip() for h in header):
        raise CsvFileError([LineError(1, "file", f"empty: the first line must name the columns "
                                                 f"({', '.join(fmt.columns)})")])
    names = [h.strip().lower() for h in header]
    errors: list[LineError] = []
    seen: set[str] = set()
    for name in names:
        if name not in fmt.columns:
            errors.append(LineError(1, name or "(empty)", f"unknown column for {fmt.kind}; "
                                                          f"columns are {', '.join(fmt.columns)}"))
        elif name in seen:
            errors.append(LineError(1, name, "column given twice"))
        seen.add(name)
    errors.extend(LineError(1, name, "required column missing from the header") for name in sorted(fmt.required - seen))
    if errors:
        raise CsvFileError(errors)
    rows: list[Row] = []
    line = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:  # the reader goes on with the next physical line
            errors.append(LineError(line, "file", f"not CSV: {exc}"))
            line = reader.line_num + 1
            continue
        if any(cell.strip() for cell in record):
            if len(record) > len(names) and any(c.strip() for c in record[len(names):]):
                errors.append(LineError(line, "file", f"{len(record)} cells but the header names {len(names)}"))
            else:
                rows.append(Row(line, {name: cell.strip() for name, cell in zip(names, record, strict=False)}))
        line = reader.line_num + 1
    return rows, errors


def write_rows(fmt: CsvFormat, rows: Iterable[dict[str, str]]) -> str:
    """The CSV text (header first, CRLF line ends as RFC 4180 and Excel) that `read_rows` reads back."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(fmt.columns)
    for row in rows:
        writer.writerow([row.get(col, "") for col in fmt.columns])
    return out.getvalue()


def encode(text: str, encoding: str) -> bytes:
    """`text` in `encoding`; raises CsvFileError naming the line of a character it cannot hold."""
    try:
        codecs.lookup(encoding)
    except LookupError as exc:
        raise CsvFileError([LineError(0, "encoding", f"unknown encoding {encoding!r}")]) from exc
    try:
        return text.encode(encoding)
    except UnicodeEncodeError as exc:
        line = text.count("\n", 0, exc.start) + 1
        raise CsvFileError([LineError(line, "encoding", f"{text[exc.start]!r} cannot be written in {encoding}; "
                                                        f"use utf-8 or gb18030")]) from exc


# Cells ----------------------------------------------------------------------------------------------
class CellError(ValueError):
    """A cell that does not parse; the message is the reason (the caller knows line and column)."""


def parse_bool(value: str) -> bool:
    """yes/no, true/false, 1/0, y/n, 是/否, x/√ for yes; empty is no."""
    low = value.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise CellError(f"{value!r} is not yes or no")


def parse_int(value: str, default: int | None = None) -> int | None:
    """A whole number; empty gives `default`."""
    if not value.strip():
        return default
    try:
        return int(value.strip())
    except ValueError as exc:
        raise CellError(f"{value!r} is not a whole number") from exc


def parse_day(value: str) -> date | None:
    """A date YYYY-MM-DD (also YYYY/MM/DD, which Excel writes in Chinese locales); empty is none."""
    text = value.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text.replace("/", "-"))
    except ValueError:
        pass
    parts = text.replace("/", "-").split("-")
    if len(parts) == 3 and all(p.isdecimal() for p in parts):
        try:
            return date(int(parts[0]), int(parts[1]), int(parts[2]))
        except ValueError as exc:
            raise CellError(f"{value!r} is not a date YYYY-MM-DD ({exc})") from exc
    raise CellError(f"{value!r} is not a date YYYY-MM-DD")


def parse_choice(value: str, choices: Sequence[str], default: str) -> str:
    text = value.strip().lower()
    if not text:
        return default
    if text not in choices:
        raise CellError(f"{value!r} is not one of {', '.join(choices)}")
    return text


def bool_cell(value: bool) -> str:
    """How export writes a flag: `yes`, or empty for no (what import reads back)."""
    return "yes" if value else ""


def day_cell(value: date | None) -> str:
    return value.isoformat() if value else ""
