"""Is the database at the schema this ivr400 expects? One SELECT, without loading Alembic.

Every command opens the database and must refuse an outdated schema. Alembic answers that question
correctly but importing it (and its migration runtime) costs more than the rest of a `list` command, so the
usual case — a database already at the head revision — is decided here: the head is read from the
migration files shipped with this ivr400 (their `revision = "…"` and `down_revision = …` lines), so it can
never disagree with them, and the database's revision from its `alembic_version` row. Anything else (an
empty database, another revision, several heads, a file this reader does not understand) answers "not
known to be current" and the caller falls back to Alembic (`ivr400.db.migrate.ensure_schema`).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ivr400.paths import resource_dir

if TYPE_CHECKING:  # the list commands read the head without SQLAlchemy (ivr400.db.lite)
    from sqlalchemy import Engine

#: `revision = "0003"` (optionally annotated, `revision: str = "0003"`), at the start of a line.
_REVISION = re.compile(r"""^revision\s*(?::[^=\n]*)?=\s*(['"])([^'"\n]+)\1\s*(?:#.*)?$""", re.MULTILINE)
#: `down_revision = "0002"`, `= None`, or a one-line tuple of quoted ids (a merge).
_DOWN_REVISION = re.compile(r"""^down_revision\s*(?::[^=\n]*)?=\s*([^#\n]*?)\s*(?:#.*)?$""", re.MULTILINE)
_QUOTED = re.compile(r"""(['"])([^'"\n]+)\1""")
#: Alembic skips these in a versions directory (its `_only_source_rev_file` pattern).
_NOT_A_REVISION = re.compile(r"^(\.#|__init__)")


class SchemaError(RuntimeError):
    """The database schema is not the one this ivr400 expects."""


def versions_dir() -> Path:
    return resource_dir("alembic") / "versions"


def head_from_files(versions: Path) -> str | None:
    """The single head revision id of the migration files in `versions`, or None when that is not plain.

    None for: no files, a file without exactly one `revision` and one `down_revision` line this reader
    understands, a parent that is not in the directory, or more than one head.
    """
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in sorted(versions.glob("*.py")):
        if _NOT_A_REVISION.match(path.name):
            continue
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.findall(source), _DOWN_REVISION.findall(source)
        if len(revision) != 1 or len(down) != 1:
            return None
        revisions.add(revision[0][1])
        if down[0] != "None":
            ids = [m[1] for m in _QUOTED.findall(down[0])]
            if not ids or _QUOTED.sub("", down[0]).strip("()[], ") != "":
                return None
            parents.update(ids)
    heads = revisions - parents
    if len(heads) != 1 or not parents <= revisions:
        return None
    return heads.pop()


def database_revisions(engine: Engine) -> tuple[str, ...] | None:
    """The revision ids in the database's `alembic_version` table, sorted; None without that table.

    Connection failures propagate (a dead server is reported as such, not as a schema problem).
    """
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    with engine.connect() as conn:
        try:
            rows = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        except DBAPIError:
            return None
    return tuple(sorted(rows))


def schema_is_current(engine: Engine, versions: Path | None = None) -> bool:
    """True when the database is known to be exactly at the head of the shipped migrations."""
    head = head_from_files(versions or versions_dir())
    return head is not None and database_revisions(engine) == (head,)
