"""`ivr400 export`: bulk export to CSV (批量导出) that `ivr400 import` reads back unchanged.

Columns in docs/bulk.md. Destinations export one line per evidence document and copy the evidence files
beside the CSV; departments and seats may go to standard output (`-`).
"""
from __future__ import annotations

import sys
from pathlib import Path, PurePosixPath

import click

from ivr400.cli.common import CommandError, app, handle_errors
from ivr400.provisioning import lookup
from ivr400.provisioning.bulk import Export, export_departments, export_destinations, export_seats, write_export
from ivr400.provisioning.bulk_csv import CsvFileError, encode

FILE_ARGUMENT = click.argument("file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
ENCODING_OPTION = click.option(
    "--encoding", default="utf-8", show_default=True, metavar="CODEC",
    help="utf-8, utf-8-sig (UTF-8 with BOM, for Excel) or gb18030/gbk.")
HOTLINE_OPTION = click.option("--hotline", "hotline_ref", default=None, help="Only this hotline's.")


@click.group("export")
def export() -> None:
    """Bulk export to CSV: destinations (with evidence files), departments, seats."""


def _write(export: Export, file: Path, encoding: str) -> None:
    try:
        if str(file) == "-":
            out = sys.stdout.buffer
            out.write(encode(export.text(), encoding))
            out.flush()
            return
        write_export(export, file, encoding=encoding)
    except CsvFileError as exc:
        first = exc.errors[0]
        raise CommandError(f"{first.field}: {first.reason}" + (f" (line {first.line})" if first.line else "")) from exc
    except OSError as exc:
        raise CommandError(f"file: cannot write {exc.filename or file} ({exc.strerror})") from exc
    click.echo(f"exported {export.kind}: {len(export.rows)} lines"
               + (f" and {len({f.relative for f in export.files})} evidence files" if export.files else "")
               + f" to {file}")


@export.command("destinations")
@FILE_ARGUMENT
@click.option("--enterprise", "enterprise_ref", default=None, help="Only this enterprise's (id or name).")
@click.option("--files-dir", default="evidence", show_default=True,
              help="Folder beside FILE that receives the evidence files (paths in the CSV are relative to FILE).")
@ENCODING_OPTION
@handle_errors
def destinations(file: Path, enterprise_ref: str | None, files_dir: str, encoding: str) -> None:
    """Destinations with their evidence (one line per document) to FILE, evidence files copied beside it."""
    if str(file) == "-":
        raise CommandError("file: a destinations export copies evidence files beside the CSV; give a file name")
    folder = PurePosixPath(files_dir)
    if not files_dir or folder.is_absolute() or ".." in folder.parts or "\\" in files_dir:
        raise CommandError(f"files-dir: {files_dir!r}: give a folder name relative to FILE's folder, inside it")
    a = app()
    with a.session() as s:
        ent = lookup.enterprise(s, enterprise_ref) if enterprise_ref is not None else None
        result = export_destinations(s, enterprise=ent, data_dir=a.data_dir, files_dir=str(folder))
    _write(result, file, encoding)


@export.command("departments")
@FILE_ARGUMENT
@HOTLINE_OPTION
@ENCODING_OPTION
@handle_errors
def departments(file: Path, hotline_ref: str | None, encoding: str) -> None:
    """Departments (menu keys) to FILE (`-`: standard output)."""
    with app().session() as s:
        result = export_departments(s, hotline=lookup.hotline(s, hotline_ref) if hotline_ref is not None else None)
    _write(result, file, encoding)


@export.command("seats")
@FILE_ARGUMENT
@HOTLINE_OPTION
@ENCODING_OPTION
@handle_errors
def seats(file: Path, hotline_ref: str | None, encoding: str) -> None:
    """Seats in hunt order to FILE (`-`: standard output); suspended seats included."""
    with app().session() as s:
        result = export_seats(s, hotline=lookup.hotline(s, hotline_ref) if hotline_ref is not None else None)
    _write(result, file, encoding)
