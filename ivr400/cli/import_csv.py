"""`ivr400 import`: bulk import (批量导入) of destinations with evidence, departments and seats from CSV.

The CSV columns are in docs/bulk.md; the work is done by ivr400.provisioning.bulk through the same services
as the single commands. All or nothing per file; every refused value is reported as `line N: COLUMN: reason`.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
from sqlalchemy.orm import Session

from ivr400.cli.common import CommandError, app, emit_json, handle_errors, json_option
from ivr400.provisioning.bulk import FORMATS, run_import
from ivr400.provisioning.bulk_csv import ImportReport


@click.group("import")
def import_() -> None:
    """Bulk import from CSV: destinations (with evidence), departments, seats. All or nothing per file."""


def _read(file: Path) -> tuple[bytes, Path, str]:
    """(bytes, folder evidence paths are relative to, name shown in the report); `-` is standard input."""
    if str(file) == "-":
        return sys.stdin.buffer.read(), Path.cwd(), "-"
    try:
        return file.read_bytes(), file.parent, str(file)
    except OSError as exc:
        raise CommandError(f"file: cannot read {file} ({exc.strerror})") from exc


def _summary(report: ImportReport) -> str:
    counts = ", ".join(f"{n} {what}" for what, n in report.created.items()) or "nothing"
    if report.dry_run:
        return (f"dry run: {report.source} ({report.encoding}, {report.lines} lines) is valid: "
                f"would create {counts}; nothing written")
    return f"imported {report.source} ({report.encoding}, {report.lines} lines): created {counts}"


def _import_command(kind: str) -> click.Command:
    fmt = FORMATS[kind]

    @import_.command(kind, short_help=f"Import {kind} from a CSV file.",
                     help=f"Import {kind} from FILE (CSV, `-` for standard input); columns: "
                          f"{', '.join(fmt.columns)}. Required: {', '.join(sorted(fmt.required))}.")
    @click.argument("file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
    @click.option("--dry-run", is_flag=True, help="Check every line exactly as a real import would; write nothing.")
    @click.option("--encoding", default=None, metavar="CODEC",
                  help="Text encoding (default: UTF-8 with or without BOM, else GB18030/GBK).")
    @json_option
    @handle_errors
    def command(file: Path, dry_run: bool, encoding: str | None, as_json: bool) -> None:
        a = app()
        data, base_dir, source = _read(file)
        with Session(a.engine, expire_on_commit=False) as session:
            report = run_import(session, kind, data, source=source, base_dir=base_dir,
                                store_root=a.data_dir / "evidence", now=a.now(), actor=a.actor,
                                encoding=encoding, dry_run=dry_run)
        if as_json:
            emit_json(report.to_dict())
        elif report.ok:
            click.echo(_summary(report))
        for error in sorted(report.errors):
            click.echo(f"error: {error}", err=True)
        if not report.ok:
            bad = len({e.line for e in report.errors})
            raise CommandError(f"file: {source}: {bad} bad line{'s' if bad != 1 else ''}; nothing written")

    return command


destinations = _import_command("destinations")
departments = _import_command("departments")
seats = _import_command("seats")
